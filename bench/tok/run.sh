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
            f.write(x.replace("\r", "") + "\n")  # spindle --text reads CRLF lines as lines
print(n)
' "$OUT/docs.jsonl" "$OUT/lines.txt" > "$OUT/bytes"
BYTES=$(cat "$OUT/bytes")
MB=$(awk -v b="$BYTES" 'BEGIN{printf "%.1f", b/1e6}')
echo "corpus: $(wc -l < "$OUT/docs.jsonl") documents, $MB MB of text; cores: $(nproc)"

# measure NAME CMD...: wall and CPU seconds (user+sys) of CMD; stdout to /dev/null unless redirected
measure() {
	local name=$1; shift
	/usr/bin/time -f "%e %U %S" -o "$OUT/time.$name" "$@"
	read -r W U S < "$OUT/time.$name"
	WALL[$name]=$W CPU[$name]=$(awk -v u="$U" -v s="$S" 'BEGIN{print u+s}')
}
mbs() { awk -v b="$BYTES" -v s="$1" 'BEGIN{ if (s > 0) printf "%.2f", b/1e6/s; else print "n/a" }'; }
declare -A WALL CPU

measure spindle_1 "$SPINDLE" tok encode -m "$LL/tokenizer.model" --threads 1 -o "$OUT/spindle.ids" "$OUT/docs.jsonl"
measure spindle_2 "$SPINDLE" tok encode -m "$LL/tokenizer.model" --threads 2 -o "$OUT/spindle2.ids" "$OUT/docs.jsonl"
cmp -s "$OUT/spindle.ids" "$OUT/spindle2.ids" || echo "WARNING: --threads 2 output differs"
measure spindle_lines "$SPINDLE" tok encode --text -m "$LL/tokenizer.model" -o "$OUT/spindle-lines.ids" "$OUT/lines.txt"
measure spm_1 sh -c "spm_encode --model '$LL/tokenizer.model' --output_format=id < '$OUT/lines.txt' > '$OUT/spm.ids'"
# spm_encode has no threads: two processes on the two halves
half=$(( $(wc -l < "$OUT/lines.txt") / 2 ))
head -n "$half" "$OUT/lines.txt" > "$OUT/l1.txt"
tail -n +"$((half + 1))" "$OUT/lines.txt" > "$OUT/l2.txt"
measure spm_2 sh -c "spm_encode --model '$LL/tokenizer.model' --output_format=id < '$OUT/l1.txt' > /dev/null &
	spm_encode --model '$LL/tokenizer.model' --output_format=id < '$OUT/l2.txt' > /dev/null; wait"
tr -d '[]' < "$OUT/spindle-lines.ids" | tr ',' ' ' | cmp -s - "$OUT/spm.ids" || echo "WARNING: spindle and spm_encode ids differ"

HF=tests/tokenizer/hf_encode.js
if [ -d tests/node_modules/@anush008/tokenizers ]; then
	read -r W _ C < <(UV_THREADPOOL_SIZE=1 RAYON_NUM_THREADS=1 node $HF "$LL/tokenizer-nospecial.json" "$OUT/docs.jsonl" --time 2>&1 >/dev/null)
	WALL[hf_1]=$W CPU[hf_1]=$C
	read -r W _ C < <(RAYON_NUM_THREADS=2 node $HF "$LL/tokenizer-nospecial.json" "$OUT/docs.jsonl" --time --batch 2>&1 >/dev/null)
	WALL[hf_2]=$W CPU[hf_2]=$C
else
	WALL[hf_1]=0 CPU[hf_1]=0 WALL[hf_2]=0 CPU[hf_2]=0
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a > 0 && b > 0) printf "%.1fx", b/a; else print "n/a" }'; }
echo
echo "MB/s of text (wall clock; in brackets: MB per CPU-second, which the other jobs on a shared machine disturb less)"
echo
echo "| encoder (Llama 2 tokenizer) | 1 thread | 2 threads |"
echo "|---|---|---|"
echo "| spindle tok encode (JSONL documents, whole process) | $(mbs "${WALL[spindle_1]}") ($(mbs "${CPU[spindle_1]}")) | $(mbs "${WALL[spindle_2]}") |"
echo "| spindle tok encode --text (lines, whole process) | $(mbs "${WALL[spindle_lines]}") ($(mbs "${CPU[spindle_lines]}")) | |"
echo "| HuggingFace tokenizers (Node, native; encode loop only) | $(mbs "${WALL[hf_1]}") ($(mbs "${CPU[hf_1]}")) | $(mbs "${WALL[hf_2]}") (encodeBatch) |"
echo "| spm_encode (lines, whole process) | $(mbs "${WALL[spm_1]}") ($(mbs "${CPU[spm_1]}")) | $(mbs "${WALL[spm_2]}") (2 processes) |"
echo
echo "spindle vs HF, 1 thread: $(ratio "${WALL[spindle_1]}" "${WALL[hf_1]}") wall, $(ratio "${CPU[spindle_1]}" "${CPU[hf_1]}") CPU; 2 threads: $(ratio "${WALL[spindle_2]}" "${WALL[hf_2]}") wall"
echo "spindle vs spm_encode, 1 thread: $(ratio "${WALL[spindle_lines]}" "${WALL[spm_1]}") wall, $(ratio "${CPU[spindle_lines]}" "${CPU[spm_1]}") CPU; 2 threads: $(ratio "${WALL[spindle_2]}" "${WALL[spm_2]}") wall"
echo "spindle 2 threads vs 1 thread (wall): $(ratio "${WALL[spindle_2]}" "${WALL[spindle_1]}"); load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- training
if "$SPINDLE" tok train --help >/dev/null 2>&1; then
	V=${BENCH_VOCAB:-8000}
	head -c 20000000 "$OUT/lines.txt" > "$OUT/train.txt"
	tail -n 20000 "$OUT/lines.txt" > "$OUT/held.txt"
	measure spm_train spm_train --input="$OUT/train.txt" --model_prefix="$OUT/spm" --vocab_size="$V" --model_type=bpe \
		--byte_fallback=true --split_digits=true --allow_whitespace_only_pieces=true \
		--normalization_rule_name=identity --remove_extra_whitespaces=false --character_coverage=0.99995 \
		--num_threads=1 --minloglevel=2
	measure spindle_train "$SPINDLE" tok train -q --vocab-size "$V" -o "$OUT/spindle.model" "$OUT/train.txt"
	hb=$(wc -c < "$OUT/held.txt")
	ns=$(spm_encode --model "$OUT/spm.model" --output_format=id < "$OUT/held.txt" | wc -w)
	nt=$(spm_encode --model "$OUT/spindle.model" --output_format=id < "$OUT/held.txt" | wc -w)
	"$SPINDLE" tok encode --text -m "$OUT/spindle.model" "$OUT/held.txt" | tr -d '[]' | tr ',' ' ' |
		cmp -s - <(spm_encode --model "$OUT/spindle.model" --output_format=id < "$OUT/held.txt") ||
		echo "WARNING: spm_encode and spindle differ on spindle's model"
	echo
	echo "training: vocab $V, $(wc -c < "$OUT/train.txt") bytes of lines, 1 thread each; bytes/token on $hb held-out bytes"
	echo
	echo "| trainer | wall s | CPU s | held-out bytes/token |"
	echo "|---|---|---|---|"
	echo "| spm_train | ${WALL[spm_train]} | ${CPU[spm_train]} | $(awk -v b="$hb" -v n="$ns" 'BEGIN{printf "%.3f", b/n}') |"
	echo "| spindle tok train | ${WALL[spindle_train]} | ${CPU[spindle_train]} | $(awk -v b="$hb" -v n="$nt" 'BEGIN{printf "%.3f", b/n}') |"
	echo
	echo "spindle train vs spm_train: $(ratio "${WALL[spindle_train]}" "${WALL[spm_train]}") wall, $(ratio "${CPU[spindle_train]}" "${CPU[spm_train]}") CPU; tokens on held-out text: $nt vs $ns"
fi
