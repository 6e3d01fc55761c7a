#!/usr/bin/env bash
# t_pack_tok.sh - the pipeline with the real Llama 2 tokenizer: `spindle tok encode --format bin |
# spindle pack -m tokenizer.model`, on this machine's documentation. Skipped while `spindle tok` is
# not in the build.
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
M="$SHARED/llama2/tokenizer.model"
cd "$T"
if ! "$SPINDLE" tok --help >/dev/null 2>&1; then
	skip "pack with the real tokenizer" "spindle tok is not in this build"
	exit 0
fi
if [ ! -f "$M" ]; then
	skip "pack with the real tokenizer" "no $M"
	exit 0
fi
"$SPINDLE" corpus -q --max-docs 80 --max-bytes 40000 /usr/share/doc > docs.jsonl
"$SPINDLE" tok encode -q -m "$M" --format bin < docs.jsonl | "$SPINDLE" pack -q -m "$M" --seq-len 512 --shard-size 16 --no-sync -o ds
check_eq "tok encode | pack -m succeeds" "0 0" "${PIPESTATUS[*]}"
check "the dataset verifies" "$SPINDLE" shards verify ds
"$SPINDLE" tok encode -q -m "$M" --format jsonl --with-id < docs.jsonl > ids.jsonl
$PY "$HERE/shards_read.py" docs ds > back.jsonl
check "round trip: the ids of every document come back (vs tok encode --format jsonl)" $PY -c '
import json, sys
a = [json.loads(l) for l in open("ids.jsonl")]
b = [json.loads(l) for l in open("back.jsonl")]
sys.exit(not (len(a) == 80 and a == b))'
id=$("$SPINDLE" tok info -m "$M" | sed -n 's/^identity: *//p')
check_grep "the manifest carries the tokenizer identity" "\"id\": \"$id\"" ds/manifest.json
check_grep "and its BOS/EOS" '"bos_id": 1, "eos_id": 2' ds/manifest.json
check "cat decodes a sequence through the tokenizer" "$SPINDLE" shards cat ds --seq 0
cp "$T/.out" cat0.txt
first=$($PY -c 'import json; print(json.loads(open("docs.jsonl").readline())["text"].split("\n")[0][:40])')
check_grep "cat's text is the first document's" "$first" cat0.txt
check_grep "cat marks the document boundary" "^### doc 0 \"" cat0.txt
"$PY" "$HERE/gen_tokens.py" other.bin 10 --vocab 32000
check_rc "a stream made by another tokenizer is refused" 1 "$SPINDLE" pack -q -m "$M" --no-sync -o other other.bin
check_grep "saying so" "another tokenizer" "$T/.out"
