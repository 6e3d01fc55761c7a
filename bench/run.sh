#!/usr/bin/env bash
# bench/run.sh - runs every benchmark script bench/*/run.sh (each prints its own table).
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bench/*/run.sh; do
	echo "== $b"
	bash "$b"
done
