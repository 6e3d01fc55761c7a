#!/usr/bin/env bash
# 70-train.sh - demo stage: pretrains the tiny Llama preset (GQA, ~1M parameters with the demo
# vocabulary) on the pack stage's shards ($DEMO/shards) on the CPU for a few hundred steps, prints
# the falling loss, draws the loss curve ($DEMO/train/loss.png and a text sparkline), evaluates,
# and samples a few completions. When the annotate stage left exports, it also runs a short SFT
# and a helpfulness reward model from the pretrained weights and samples responses to its prompts
# in the record format `spindle annotate import responses` takes.
set -euo pipefail
: "${SPINDLE:?}" "${DEMO:?}"
R=$DEMO/train
STEPS=${DEMO_TRAIN_STEPS:-300}
if [ ! -s "$DEMO/shards/manifest.json" ]; then
	echo "train: no $DEMO/shards (the pack stage did not run); skipping"
	exit 0
fi
tok=
for m in "$DEMO"/tok.model "$DEMO"/tokenizer.model "$DEMO"/tokenizer.json; do
	[ -f "$m" ] && { tok=$m; break; }
done
rm -rf "$R"
mkdir -p "$R"
t0=$(date +%s)
"$SPINDLE" train pretrain --data "$DEMO/shards" --preset tiny --steps "$STEPS" --batch 8 --lr 2e-3 \
	${tok:+--tokenizer "$tok"} --out "$R/pretrain" > "$R/pretrain.jsonl" 2> "$R/pretrain.err" || {
	cat "$R/pretrain.err"; exit 1; }
t1=$(date +%s)
sed 's/^/train: /' "$R/pretrain.err"
echo "train: loss every $((STEPS / 10)) steps (of $STEPS, $((t1 - t0)) s):"
/usr/bin/python3 - "$R/pretrain.jsonl" "$((STEPS / 10))" <<'PY'
import json, sys
every = max(1, int(sys.argv[2]))
for l in open(sys.argv[1]):
    d = json.loads(l)
    if "event" in d:
        print(f"train:   spike at step {d['step']}: loss {d['loss']:.3f} vs mean {d['mean']:.3f}; batch {json.dumps(d['batch'])[:160]}")
    elif d["step"] == 1 or d["step"] % every == 0:
        print(f"train:   step {d['step']:5d}  loss {d['loss']:.4f}  lr {d['lr']:.2e}  grad_norm {d['grad_norm']:.3f}  {d['tokens_per_s']:.0f} tok/s")
PY
"$SPINDLE" train plot "$R/pretrain.jsonl" -o "$R/loss.png" 2>&1 | sed 's/^/train: /'
echo "train: eval on 8 batches of the shards: $("$SPINDLE" train eval --model "$R/pretrain" --data "$DEMO/shards" --max-batches 8)"
ls -la "$R/pretrain" | awk 'NR>1 {print "train:   " $5 "\t" $9}'
if [ -z "$tok" ]; then
	echo "train: no tokenizer from the tok stage; not sampling"
	exit 0
fi
echo "train: completions (temperature 0.8, top-p 0.9):"
for p in "The" "This program is free software" "To install the package"; do
	"$SPINDLE" train sample --model "$R/pretrain" --tokenizer "$tok" --prompt "$p" --max-new-tokens 24 --seed 7 |
		/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("train:   " + repr(d["prompt"] + d["completion"])[:200])'
done
A=$DEMO/annotate
if [ -s "$A/sft.jsonl" ]; then
	"$SPINDLE" train sft --data "$A/sft.jsonl" --tokenizer "$tok" --init-from "$R/pretrain" --steps 20 --batch 4 \
		--lr 1e-3 --out "$R/sft" > "$R/sft.jsonl" 2> "$R/sft.err"
	echo "train: sft, 20 steps: $(head -1 "$R/sft.jsonl" | cut -c1-60) ... $(tail -1 "$R/sft.jsonl" | cut -c1-60)"
	if [ -s "$A/prompts.jsonl" ]; then
		head -3 "$A/prompts.jsonl" > "$R/prompts.jsonl"
		"$SPINDLE" train sample --model "$R/sft" --tokenizer "$tok" --prompts "$R/prompts.jsonl" -n 2 \
			--max-new-tokens 24 --variant sft-demo -o "$R/responses.jsonl"
		echo "train: $(wc -l < "$R/responses.jsonl") sampled responses for annotation -> $R/responses.jsonl"
	fi
fi
if [ -s "$A/preference.jsonl" ]; then
	if "$SPINDLE" train rm --data "$A/preference.jsonl" --tokenizer "$tok" --init-from "$R/pretrain" --category helpfulness \
		--steps 20 --batch 4 --lr 1e-3 --out "$R/rm" > "$R/rm.jsonl" 2> "$R/rm.err"; then
		echo "train: reward model (helpfulness), 20 steps: $(tail -1 "$R/rm.jsonl" | cut -c1-90)"
	else
		echo "train: reward model skipped: $(tail -1 "$R/rm.err")"
	fi
fi
