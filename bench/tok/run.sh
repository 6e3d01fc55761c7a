#!/usr/bin/env bash
# bench/tok/run.sh - `spindle tok encode` vs HuggingFace tokenizers (npm @anush008/tokenizers, native
# Rust, from Node) vs Debian's spm_encode, with the Llama 2 tokenizer, on the same real documents
# (this machine's /usr/share/doc and man pages), 1 and 2 threads; then `spindle tok train` vs
# spm_train (same corpus, same vocabulary size) with bytes/token of both models on held-out text.
# Prints MB/s (text bytes per second, whole process for spindle and spm_encode, the encode loop
# only for HF) and ratios. BENCH_DOCS (default 1500) sets the corpus size.
set -euo pipefail
cd "$(dirname "$0")/../.."
SPINDLE=${SPINDLE:-$PWD/bin/spindle}
LL=${SPINDLE_SHARED:-$PWD/../shared}/llama2
OUT=bench/out/tok
mkdir -p "$OUT"
N=${BENCH_DOCS:-1500}

"$SPINDLE" corpus -q --max-docs "$N" --max-bytes 300000 /usr/share/doc /usr/share/man > "$OUT/docs.jsonl"
/usr/bin/python3 -c '
import json, sys
n = 0
with open(sys.argv[2], "w") as f:
    for l in open(sys.argv[1]):
        t = json.loads(l)["text"]
        n += len(t.encode())
        for x in t.split("\n"):
            f.write(x + "\n")
print(n)
' "$OUT/docs.jsonl" "$OUT/lines.txt" > "$OUT/bytes"
BYTES=$(cat "$OUT/bytes")
MB=$(awk -v b="$BYTES" 'BEGIN{printf "%.1f", b/1e6}')
echo "corpus: $(wc -l < "$OUT/docs.jsonl") documents, $MB MB of text; cores: $(nproc)"

now() { date +%s.%N; }
rate() { awk -v b="$BYTES" -v s="$1" 'BEGIN{printf "%.2f", b/1e6/s}'; }
declare -A R

for th in 1 2; do
	t0=$(now)
	"$SPINDLE" tok encode -m "$LL/tokenizer.model" --threads $th "$OUT/docs.jsonl" > "$OUT/spindle.ids"
	t1=$(now)
	R[spindle_$th]=$(rate "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
done
t0=$(now)
"$SPINDLE" tok encode --text -m "$LL/tokenizer.model" "$OUT/lines.txt" > /dev/null
t1=$(now)
R[spindle_lines]=$(rate "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")

t0=$(now)
spm_encode --model "$LL/tokenizer.model" --output_format=id < "$OUT/lines.txt" > "$OUT/spm.ids"
t1=$(now)
R[spm_1]=$(rate "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")
# spm_encode has no threads: two processes on the two halves
half=$(( $(wc -l < "$OUT/lines.txt") / 2 ))
head -n "$half" "$OUT/lines.txt" > "$OUT/l1.txt"
tail -n +"$((half + 1))" "$OUT/lines.txt" > "$OUT/l2.txt"
t0=$(now)
spm_encode --model "$LL/tokenizer.model" --output_format=id < "$OUT/l1.txt" > /dev/null &
spm_encode --model "$LL/tokenizer.model" --output_format=id < "$OUT/l2.txt" > /dev/null
wait
t1=$(now)
R[spm_2]=$(rate "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")

HF=tests/tokenizer/hf_encode.js
if [ -d tests/node_modules/@anush008/tokenizers ]; then
	s=$(UV_THREADPOOL_SIZE=1 RAYON_NUM_THREADS=1 node $HF "$LL/tokenizer-nospecial.json" "$OUT/docs.jsonl" --time 2>&1 >/dev/null | awk '{print $1}')
	R[hf_1]=$(rate "$s")
	s=$(RAYON_NUM_THREADS=2 node $HF "$LL/tokenizer-nospecial.json" "$OUT/docs.jsonl" --time --batch 2>&1 >/dev/null | awk '{print $1}')
	R[hf_2]=$(rate "$s")
else
	R[hf_1]=0 R[hf_2]=0
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.1fx", a/b; else print "n/a" }'; }
echo
echo "| encoder (Llama 2 tokenizer) | 1 thread MB/s | 2 threads MB/s |"
echo "|---|---|---|"
echo "| spindle tok encode (JSONL docs) | ${R[spindle_1]} | ${R[spindle_2]} |"
echo "| spindle tok encode --text (lines) | ${R[spindle_lines]} | |"
echo "| HuggingFace tokenizers 0.6 (Node, native) | ${R[hf_1]} | ${R[hf_2]} (encodeBatch) |"
echo "| spm_encode (Debian sentencepiece) | ${R[spm_1]} | ${R[spm_2]} (2 processes) |"
echo
echo "spindle vs HF: $(ratio "${R[spindle_1]}" "${R[hf_1]}") (1 thread), $(ratio "${R[spindle_2]}" "${R[hf_2]}") (2 threads)"
echo "spindle vs spm_encode: $(ratio "${R[spindle_1]}" "${R[spm_1]}") (1 thread), $(ratio "${R[spindle_2]}" "${R[spm_2]}") (2 threads)"
echo "spindle 2 threads / 1 thread: $(ratio "${R[spindle_2]}" "${R[spindle_1]}")"

# ---- training
if "$SPINDLE" tok train --help >/dev/null 2>&1; then
	V=${BENCH_VOCAB:-8000}
	head -c 20000000 "$OUT/lines.txt" > "$OUT/train.txt"
	tail -n 20000 "$OUT/lines.txt" > "$OUT/held.txt"
	t0=$(now)
	spm_train --input="$OUT/train.txt" --model_prefix="$OUT/spm" --vocab_size="$V" --model_type=bpe \
		--byte_fallback=true --split_digits=true --allow_whitespace_only_pieces=true \
		--normalization_rule_name=identity --remove_extra_whitespaces=false --character_coverage=0.99995 \
		--max_sentence_length=1000000 --num_threads=2 --minloglevel=2 >/dev/null 2>&1
	t1=$(now)
	ts=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
	t0=$(now)
	"$SPINDLE" tok train --vocab-size "$V" --threads 2 -o "$OUT/spindle.model" "$OUT/train.txt" > /dev/null
	t1=$(now)
	tt=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
	hb=$(wc -c < "$OUT/held.txt")
	ns=$(spm_encode --model "$OUT/spm.model" --output_format=id < "$OUT/held.txt" | wc -w)
	nt=$(spm_encode --model "$OUT/spindle.model" --output_format=id < "$OUT/held.txt" | wc -w)
	echo
	echo "training, vocab $V on $(wc -c < "$OUT/train.txt") bytes (2 threads):"
	echo "| trainer | seconds | held-out bytes/token |"
	echo "|---|---|---|"
	echo "| spm_train | $ts | $(awk -v b="$hb" -v n="$ns" 'BEGIN{printf "%.3f", b/n}') |"
	echo "| spindle tok train | $tt | $(awk -v b="$hb" -v n="$nt" 'BEGIN{printf "%.3f", b/n}') |"
	echo "spindle train speed vs spm_train: $(ratio "$ts" "$tt")"
fi
