#!/usr/bin/env bash
# 82-dpo.sh - demo stage: Direct Preference Optimisation of the demo's SFT model on the annotate
# stage's preference export (a few pairs held out): prints the held-out chosen-over-rejected
# log-ratio before and after, the per-step loss, reward accuracy and implicit-reward margin, and
# shows the reference log-probability cache being reused by a resumed run.
set -euo pipefail
: "${SPINDLE:?}" "${DEMO:?}"
PY=/usr/bin/python3
A=$DEMO/annotate R=$DEMO/dpo
tok=
for m in "$DEMO"/tok.model "$DEMO"/tokenizer.model "$DEMO"/tokenizer.json; do
	[ -f "$m" ] && { tok=$m; break; }
done
if [ -z "$tok" ] || [ ! -s "$DEMO/train/sft/model.safetensors" ] || [ ! -s "$A/preference.jsonl" ]; then
	echo "dpo: needs the tokenizer, the SFT model (train stage) and the preference export (annotate stage); skipping"
	exit 0
fi
rm -rf "$R"
mkdir -p "$R"
n=$(wc -l < "$A/preference.jsonl")
held=$(( n >= 8 ? n / 4 : 0 ))
if [ "$held" -gt 0 ]; then
	head -n $((n - held)) "$A/preference.jsonl" > "$R/train.jsonl"
	tail -n "$held" "$A/preference.jsonl" > "$R/heldout.jsonl"
else
	cp "$A/preference.jsonl" "$R/train.jsonl"
	cp "$A/preference.jsonl" "$R/heldout.jsonl"
fi
echo "dpo: $(wc -l < "$R/train.jsonl") training pairs, $(wc -l < "$R/heldout.jsonl") held out"
ARGS=(--data "$R/train.jsonl" --tokenizer "$tok" --init-from "$DEMO/train/sft" --eval-data "$R/heldout.jsonl"
	--steps 20 --batch 4 --lr 5e-4 --beta 0.1)
t0=$(date +%s)
"$SPINDLE" train dpo "${ARGS[@]}" --out "$R/run" > "$R/dpo.jsonl" 2> "$R/dpo.err" || { cat "$R/dpo.err"; exit 1; }
t1=$(date +%s)
sed 's/^/dpo: /' "$R/dpo.err"
$PY - "$R/dpo.jsonl" <<'P'
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("event") == "eval":
        print(f"dpo:   held-out at step {d['step']:3d}: log-ratio {d['delta']:+.4f}  accuracy {d['reward_accuracy']:.2f}  ({d['pairs']} pairs)")
    elif d["step"] in (1, 5, 10, 15, 20):
        print(f"dpo:   step {d['step']:3d}  loss {d['loss']:.4f}  reward accuracy {d['reward_accuracy']:.2f}"
              f"  chosen {d['reward_chosen']:+.4f}  rejected {d['reward_rejected']:+.4f}  margin {d['reward_margin']:+.4f}")
P
echo "dpo: 20 steps in $((t1 - t0)) s; step 1 is at the reference (loss log 2 = 0.6931)"
"$SPINDLE" train dpo "${ARGS[@]}" --steps 24 --resume --out "$R/run" >/dev/null 2> "$R/dpo2.err" || { cat "$R/dpo2.err"; exit 1; }
echo "dpo: resumed to step 24 (same data and reference): $(grep -o 'log-probabilities of .*' "$R/dpo2.err")"
