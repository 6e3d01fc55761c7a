#!/usr/bin/env bash
# bench/train/run.sh - training throughput (tokens/s, forward + backward + AdamW step) of a ~10M-
# parameter Llama model at sequence length 256: `spindle train pretrain` (synthetic data) beside the
# same model in PyTorch on the CPU (bench/train/torch_llama.py), same threads, same machine, same run.
# Prints a markdown table; the ratio is spindle / PyTorch. Env: THREADS (default "1 2"), STEPS, BATCH.
set -euo pipefail
cd "$(dirname "$0")/../.."
SPINDLE=${SPINDLE:-bin/spindle}
STEPS=${STEPS:-8}
BATCH=${BATCH:-4}
THREADS=${THREADS:-"1 2"}
# the 10m preset: dim 256, 8 layers, 8 heads, 4 kv heads, hidden 688, context 256
DIM=256 LAYERS=8 HEADS=8 KV=4 HIDDEN=688 VOCAB=8192 SEQ=256
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| threads | spindle tokens/s | PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') tokens/s | ratio |"
echo "|---|---|---|---|"
for th in $THREADS; do
	# T = seq 256 positions per row (the model's context), batch rows, median over steps 3..
	"$SPINDLE" train pretrain --data synthetic:$VOCAB --preset 10m --batch "$BATCH" --steps "$STEPS" \
		--threads "$th" --spike-k 0 --out "$tmp/run" >"$tmp/log" 2>"$tmp/err"
	ours=$(/usr/bin/python3 -c '
import json, statistics, sys
v = [json.loads(l)["tokens_per_s"] for l in open(sys.argv[1]) if "tokens_per_s" in l][2:]
print(f"{statistics.median(v):.1f}")' "$tmp/log")
	read -r theirs n_params < <(/usr/bin/python3 bench/train/torch_llama.py $DIM $LAYERS $HEADS $KV $HIDDEN $VOCAB "$BATCH" $SEQ "$STEPS" "$th")
	ratio=$(/usr/bin/python3 -c "print(f'{$ours / $theirs:.2f}')")
	echo "| $th | $ours | $theirs | $ratio |"
done
echo
echo "model: $n_params parameters, batch $BATCH x $SEQ tokens, $STEPS steps (median of steps 3..$STEPS)"
