#!/usr/bin/env bash
# t_merge_twice.sh - `shards merge` refuses the same dataset twice (issue 19, class 10): by the
# same folder (also through another path) or by a copy of it (the same shard checksums), which
# would duplicate every sequence; two different datasets still merge.
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
PY=/usr/bin/python3
$PY -c "import json; [print(json.dumps(list(range(i % 50 + 1, i % 50 + 40)))) for i in range(60)]" > "$T/a.jsonl"
$PY -c "import json; [print(json.dumps(list(range(i % 30 + 2, i % 30 + 25)))) for i in range(50)]" > "$T/b.jsonl"
"$S" pack -q --vocab-size 200 --seq-len 32 --shard-size 16 -o "$T/A" "$T/a.jsonl"
"$S" pack -q --vocab-size 200 --seq-len 32 --shard-size 16 -o "$T/B" "$T/b.jsonl"
check "two datasets are packed" test -s "$T/A/manifest.json" -a -s "$T/B/manifest.json"
check_rc "two different datasets merge" 0 "$S" shards merge -o "$T/AB" "$T/A" "$T/B"
check_rc "and the merge verifies" 0 "$S" shards verify "$T/AB"
check_rc "the same dataset twice is refused" 2 "$S" shards merge -o "$T/AA" "$T/A" "$T/B" "$T/A"
check_grep "naming both" "A: the same dataset as .*/A, given twice" "$T/.out"
check_rc "also through another path" 2 "$S" shards merge -o "$T/AA2" "$T/A" "$T/./A/"
cp -r "$T/A" "$T/Acopy"
check_rc "a copy of a dataset is refused" 1 "$S" shards merge -o "$T/AA3" "$T/A" "$T/Acopy"
check_grep "naming the shard it repeats" "Acopy: shard shard-00000.bin is the same as .*/A/shard-00000.bin" "$T/.out"
check "no manifest was written for a refused merge" test ! -e "$T/AA3/manifest.json" -a ! -e "$T/AA/manifest.json"
