#!/usr/bin/env bash
# 50-pack.sh - demo stage: packs the tok stage's token stream ($DEMO/tokens.bin) into 256-token
# sequences for the tiny demo model ($DEMO/shards), verifies them, and prints `shards stats` and the
# start of one decoded sequence.
set -euo pipefail
: "${SPINDLE:?}" "${DEMO:?}"
in=$DEMO/tokens.bin
if [ ! -s "$in" ]; then
	echo "pack: no $in (the tok stage did not run); skipping"
	exit 0
fi
model=
for m in "$DEMO"/tokenizer.model "$DEMO"/tok.model "$DEMO"/tokenizer.json; do
	[ -f "$m" ] && { model=$m; break; }
done
"$SPINDLE" pack -q ${model:+-m "$model"} --seq-len "${DEMO_SEQ_LEN:-256}" --shard-size 4096 --shuffle --seed 1 --force -o "$DEMO/shards" "$in"
"$SPINDLE" shards verify "$DEMO/shards"
"$SPINDLE" shards stats "$DEMO/shards"
if [ -n "$model" ]; then
	echo "-- sequence 0, decoded:"
	"$SPINDLE" shards cat "$DEMO/shards" --seq 0 | head -c 600
	echo
fi
