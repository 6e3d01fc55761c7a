#!/usr/bin/env bash
# bench/json/run.sh - JSON library parse speed on the machine's documentation as JSONL.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/out/json; mkdir -p "$out"
bin/spindle corpus -q --max-docs 6000 /usr/share/doc > "$out/docs.jsonl"
gcc -O2 -o "$out/json_parse_bench" bench/json/json_parse_bench.c bench/json/json_parse_jansson.c \
	$(pkg-config --cflags --libs json-c jansson libcjson)
"$out/json_parse_bench" "$out/docs.jsonl"
