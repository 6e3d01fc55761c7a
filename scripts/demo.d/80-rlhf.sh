#!/usr/bin/env bash
# 80-rlhf.sh - demo stage: one RLHF round at tiny scale (issue 13) on a toy world whose helpfulness
# reward model learns to prefer answers holding the word "please" (tests/train/rlhf_fixture.py, in
# annotate's formats): SFT and reward model (from the pretrained weights when the train stage left
# them), rejection sampling (best-of-K table) -> SFT on the best samples -> a few PPO iterations,
# printing the reward going up and the KL to the reference. About a minute on 2 cores.
set -euo pipefail
: "${SPINDLE:?}" "${DEMO:?}"
R=$DEMO/rlhf
tok=
for m in "$DEMO"/tok.model "$DEMO"/tokenizer.model "$DEMO"/tokenizer.json; do
	[ -f "$m" ] && { tok=$m; break; }
done
if [ -z "$tok" ]; then
	echo "rlhf: no tokenizer from the tok stage; skipping"
	exit 0
fi
rm -rf "$R"
mkdir -p "$R"
t0=$(date +%s)
/usr/bin/python3 tests/train/rlhf_fixture.py "$R/data" 24
D=$R/data
init="--preset tiny --seq-len 64"
if [ -s "$DEMO/train/pretrain/model.safetensors" ]; then
	init="--init-from $DEMO/train/pretrain"
	echo "rlhf: starting from the train stage's pretrained model"
fi
# one thread: these models are tiny, and OpenMP teams cost more than they save at this size
TK="--tokenizer $tok --threads 1"
"$SPINDLE" train sft --data "$D/sft.jsonl" $TK $init --steps 60 --batch 8 --lr 3e-3 --out "$R/sft" > "$R/sft.jsonl" 2> "$R/sft.err" ||
	{ cat "$R/sft.err"; exit 1; }
"$SPINDLE" train rm --data "$D/prefs.jsonl" $TK $init --steps 60 --batch 8 --lr 3e-3 --out "$R/rm" > "$R/rm.jsonl" 2> "$R/rm.err" ||
	{ cat "$R/rm.err"; exit 1; }
echo "rlhf: sft $(tail -1 "$R/sft.err" | sed 's/.*steps, //'); reward model $(tail -1 "$R/rm.err" | sed 's/.*steps, //')"
RS="$TK --prompts $D/prompts.jsonl --rm-helpful $R/rm -k 8 --max-new-tokens 24 --pool $R/pool.jsonl"
"$SPINDLE" train rs --model "$R/sft" $RS --round 1 --best "$R/best1.jsonl" -o "$R/rs1.jsonl" 2>&1 | sed 's/^spindle train /rlhf: /'
"$SPINDLE" train sft --data "$R/best1.jsonl" $TK --init-from "$R/sft" --steps 40 --batch 8 --lr 2e-3 --out "$R/sft_rs" > /dev/null 2> "$R/sft_rs.err" ||
	{ cat "$R/sft_rs.err"; exit 1; }
echo "rlhf: sft on the 24 best samples (40 steps) -> $R/sft_rs"
"$SPINDLE" train rs --model "$R/sft_rs" $RS --round 2 --best "$R/best2.jsonl" -o "$R/rs2.jsonl" 2>&1 | grep -E "mean combined|pool" | sed 's/^spindle train /rlhf: /'
echo "rlhf: PPO from the RS policy (32 rollouts an iteration, mini-batches of 8):"
"$SPINDLE" train ppo --model "$R/sft_rs" $TK --prompts "$D/prompts.jsonl" --rm-helpful "$R/rm" --out "$R/ppo" --iterations 8 \
	--rollouts 32 --minibatch 8 --max-new-tokens 24 --lr 3e-4 --critic-lr 1e-3 > "$R/ppo.jsonl" 2> "$R/ppo.err" || { cat "$R/ppo.err"; exit 1; }
/usr/bin/python3 - "$R/ppo.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    t = d["time"]
    print(f"rlhf:   iteration {d['iteration']:2d}  reward {d['reward']:.3f}  KL {d['kl']:6.3f}  entropy {d['entropy']:.2f}  "
          f"clip {d['clip_frac']:.3f}  value loss {d['value_loss']:.3f}  length {d['response_length']:.1f}  "
          f"{d['tokens_per_s']:.0f} tok/s (gen {t['generate']:.2f}s, score {t['score']:.2f}s, fwd {t['forward']:.2f}s, train {t['train']:.2f}s)")
PY
tail -1 "$R/ppo.err" | sed 's/^spindle train /rlhf: /'
"$SPINDLE" train sample --model "$R/ppo" $TK --prompts "$D/prompts.jsonl" --max-new-tokens 24 --seed 3 -o "$R/ppo_samples.jsonl" 2>/dev/null
"$SPINDLE" train score --rm-helpful "$R/rm" --tokenizer "$tok" --prompts "$D/prompts.jsonl" "$R/ppo_samples.jsonl" -o "$R/ppo_scored.jsonl"
/usr/bin/python3 - "$R/ppo_scored.jsonl" <<'PY'
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
print(f"rlhf: the PPO policy's samples (train sample + train score): mean reward {sum(x['scores']['combined'] for x in d) / len(d):.3f}; e.g.")
for x in d[:3]:
    print(f"rlhf:   {x['prompt_id']}: {x['response'][:60]!r}  reward {x['scores']['combined']:.3f}")
PY
echo "rlhf: done in $(( $(date +%s) - t0 )) s; outputs in $R"
