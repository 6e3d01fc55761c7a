#!/usr/bin/env bash
# scripts/demo.sh - `make demo`: the whole pipeline on a real corpus found on this machine
# (its documentation). Each stage is a script in scripts/demo.d/, run in name order, sharing
# $DEMO (the work folder, default demo-out/) and $SPINDLE. A stage prints what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
export SPINDLE=${SPINDLE:-$PWD/bin/spindle}
export DEMO=${DEMO:-$PWD/demo-out}
mkdir -p "$DEMO"
echo "demo: working in $DEMO"
for stage in scripts/demo.d/*.sh; do
	echo
	echo "== ${stage##*/}"
	bash "$stage"
done
echo
echo "demo: done; outputs are in $DEMO"
