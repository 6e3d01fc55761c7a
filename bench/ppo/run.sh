#!/usr/bin/env bash
# bench/ppo/run.sh - one PPO iteration (issue 13) of a ~10M-parameter Llama policy with a same-size
# reward model and critic: `spindle train ppo` beside the same PPO step written in PyTorch on the CPU
# (bench/ppo/torch_ppo.py: batched KV-cache sampling, reward, reference and critic forwards, GAE,
# clipped policy and value steps with AdamW), same sizes, same threads, same machine, same run.
# Prints a markdown table of seconds per phase (median over the iterations after the first) and the
# ratio PyTorch / spindle of the totals (above 1: spindle faster). Env: THREADS (default "1 2"),
# ROLLOUTS (16), GEN (32 tokens), MB (8), ITERS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
SPINDLE=${SPINDLE:-bin/spindle}
THREADS=${THREADS:-"1 2"}
N=${ROLLOUTS:-16} G=${GEN:-32} MB=${MB:-8} ITERS=${ITERS:-3}
DIM=256 LAYERS=8 HEADS=8 KV=4 HIDDEN=688 VOCAB=8192   # the 10m preset
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# annotate-format prompts (the RLHF test world) and a tokenizer of 8192 pieces trained on this
# machine's documentation; 10m models (the SFT and reward-model steps are one each: the weights' values
# do not change the cost, and a near-uniform policy rarely samples EOS, so nearly every response has G
# tokens, as in the PyTorch run)
/usr/bin/python3 tests/train/rlhf_fixture.py "$tmp/d" 16
"$SPINDLE" corpus -q --max-docs 600 --max-bytes 200000 /usr/share/doc > "$tmp/docs.jsonl"
/usr/bin/python3 -c "
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], 'w') as o:
    for l in f: o.write(json.loads(l)['text'].replace('\\n', ' ')[:20000] + '\\n')
    o.write(open(sys.argv[3]).read())" "$tmp/docs.jsonl" "$tmp/docs.txt" "$tmp/d/text.txt"
spm_train --input="$tmp/docs.txt" --model_prefix="$tmp/tok" --vocab_size=$VOCAB --model_type=bpe \
	--character_coverage=1.0 --byte_fallback=true --minloglevel=2 >/dev/null 2>&1
"$SPINDLE" train sft --data "$tmp/d/sft.jsonl" --tokenizer "$tmp/tok.model" --preset 10m --steps 1 --batch 1 --out "$tmp/pol" >/dev/null 2>&1
"$SPINDLE" train rm --data "$tmp/d/prefs.jsonl" --tokenizer "$tmp/tok.model" --preset 10m --steps 1 --batch 1 --out "$tmp/rm" >/dev/null 2>&1
P=20
echo "| threads | phase | spindle s | PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') s |"
echo "|---|---|---|---|"
for th in $THREADS; do
	rm -rf "$tmp/run"
	"$SPINDLE" train ppo --model "$tmp/pol" --tokenizer "$tmp/tok.model" --prompts "$tmp/d/prompts.jsonl" --rm-helpful "$tmp/rm" \
		--out "$tmp/run" --iterations "$ITERS" --rollouts "$N" --minibatch "$MB" --micro "$MB" --max-new-tokens "$G" \
		--threads "$th" --spike-k 0 > "$tmp/log" 2> "$tmp/err" || { cat "$tmp/err"; exit 1; }
	read -r o1 o2 o3 o4 o5 len < <(/usr/bin/python3 -c '
import json, statistics, sys
d = [json.loads(l) for l in open(sys.argv[1])][1:]
ph = ["generate", "score", "forward", "train"]
m = [statistics.median(x["time"][p] for x in d) for p in ph]
k = "response_length"
print(" ".join(f"{v:.3f}" for v in m + [sum(m)]), f"{statistics.mean(x[k] for x in d):.1f}")' "$tmp/log")
	theirs=$(/usr/bin/python3 bench/ppo/torch_ppo.py $DIM $LAYERS $HEADS $KV $HIDDEN $VOCAB "$N" "$P" "$G" "$MB" "$ITERS" "$th")
	read -r p1 p2 p3 p4 p5 <<<"$theirs"
	echo "| $th | generation | $o1 | $p1 |"
	echo "| $th | scoring | $o2 | $p2 |"
	echo "| $th | reference + critic + old-policy forwards | $o3 | $p3 |"
	echo "| $th | training (policy + critic steps) | $o4 | $p4 |"
	echo "| $th | **total** (ratio PyTorch/spindle $(/usr/bin/python3 -c "print(f'{$p5 / $o5:.2f}')")) | $o5 | $p5 |"
	echo "(threads $th: spindle's responses averaged $len generated tokens of $G; prompts ~20 tokens)" >&2
done
echo
echo "$N rollouts x $G tokens, mini-batches of $MB, 10m preset (dim $DIM, $LAYERS layers, vocabulary $VOCAB); load $(cut -d' ' -f1 /proc/loadavg)"
