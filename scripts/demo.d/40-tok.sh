#!/usr/bin/env bash
# 40-tok.sh - demo stage: trains a SentencePiece-BPE tokenizer (Llama 2's settings) on a sample of
# the corpus of the earlier stages ($DEMO/dedup.jsonl.zst, else filtered, else corpus) into
# $DEMO/tok.model, checks that Debian's spm_encode agrees with it, and encodes every document into
# the token stream $DEMO/tokens.bin (schemas/tokens.md) that the pack stage reads. If training fails,
# Llama 2's own tokenizer.model is used instead.
set -euo pipefail
: "${SPINDLE:?}" "${DEMO:?}"
mkdir -p "$DEMO"
SHARED=${SPINDLE_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
in=
for f in dedup filtered corpus; do
	[ -s "$DEMO/$f.jsonl.zst" ] && { in=$DEMO/$f.jsonl.zst; break; }
done
if [ -z "$in" ]; then
	echo "tok: no corpus from earlier stages; making one from /usr/share/doc"
	"$SPINDLE" corpus -q --max-docs 3000 -o "$DEMO/corpus.jsonl.zst" /usr/share/doc
	in=$DEMO/corpus.jsonl.zst
fi
V=${DEMO_VOCAB:-8000}
t0=$(date +%s.%N)
if "$SPINDLE" tok train --vocab-size "$V" --sample-size 300000 --character-coverage 0.9995 \
	-o "$DEMO/tok.model" "$in" 2> "$DEMO/tok-train.log"; then
	t1=$(date +%s.%N)
	echo "tok: trained a $V-piece tokenizer on a sample of ${in##*/} in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s -> $DEMO/tok.model"
	sed 's/^/tok:   /' "$DEMO/tok-train.log"
else
	echo "tok: training failed ($(tail -1 "$DEMO/tok-train.log")); using Llama 2's tokenizer.model"
	cp "$SHARED/llama2/tokenizer.model" "$DEMO/tok.model"
fi
"$SPINDLE" tok info -m "$DEMO/tok.model" | grep -E '^(vocab_size|identity|byte_fallback)' | sed 's/^/tok:   /'
# spm_encode must read the model as spindle does: compare on some lines of the corpus
if command -v spm_encode >/dev/null; then
	"$SPINDLE" cat "$in" 2>/dev/null | head -200 | /usr/bin/python3 -c '
import json, sys
for l in sys.stdin:
    for x in json.loads(l).get("text", "").split("\n")[:50]:
        if "\r" not in x: print(x)' > "$DEMO/tok-check.txt" || true
	a=$(spm_encode --model "$DEMO/tok.model" --output_format=id < "$DEMO/tok-check.txt" | md5sum)
	b=$("$SPINDLE" tok encode --text -m "$DEMO/tok.model" "$DEMO/tok-check.txt" | tr -d '[]' | tr ',' ' ' | md5sum)
	[ "$a" = "$b" ] && echo "tok: spm_encode gives the same ids as spindle on $(wc -l < "$DEMO/tok-check.txt") lines" \
		|| echo "tok: WARNING: spm_encode and spindle differ on $DEMO/tok-check.txt"
fi
t0=$(date +%s.%N)
"$SPINDLE" tok encode -q -m "$DEMO/tok.model" --threads 2 --format bin --stats "$DEMO/tok-encode.stats.json" \
	-o "$DEMO/tokens.bin" "$in"
t1=$(date +%s.%N)
num() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }
s=$DEMO/tok-encode.stats.json
echo "tok: encoded $(num "$s" records_out) documents ($(num "$s" bytes_in) bytes of JSONL) into $(num "$s" tokens) tokens in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s -> $DEMO/tokens.bin"
