#!/usr/bin/env bash
# bench/dedup/run.sh - spindle dedup minhash vs a numpy reference MinHash (datasketch's algorithm,
# bench/dedup/minhash_ref.py) on this machine's documentation: signature throughput on 1 and 2
# threads, memory per million documents, and precision/recall at threshold 0.8 vs `dedup eval`.
# Prints a table; bench/RESULTS.md keeps the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${SPINDLE:-$PWD/bin/spindle}
W=$(mktemp -d "${TMPDIR:-/tmp}/spindle-bench-dedup.XXXXXX")
trap 'rm -rf "$W"' EXIT
N=${DEDUP_BENCH_DOCS:-3000}
"$S" corpus -q --max-docs "$N" --max-bytes 1000000 /usr/share/doc > "$W/docs.jsonl"
for i in 1 2 3 4 5; do cat "$W/docs.jsonl"; done > "$W/docs5.jsonl"
MB=$(stat -c %s "$W/docs.jsonl")
TEXTB=$(/usr/bin/python3 -c 'import json,sys; print(sum(len(json.loads(l)["text"].encode()) for l in open(sys.argv[1])))' "$W/docs.jsonl")
echo "corpus: $N documents, $((MB / 1000000)) MB of JSONL, $((TEXTB / 1000000)) MB of text"

best() { # best of 3 wall-clock seconds of a command
	local b=999999 t
	for _ in 1 2 3; do
		/usr/bin/time -f %e -o "$W/t" "$@" > /dev/null 2>&1
		t=$(tail -1 "$W/t")
		b=$(awk -v a="$b" -v c="$t" 'BEGIN{print (c<a)?c:a}')
	done
	echo "$b"
}
# signatures alone, in memory (bench/dedup/sig_bench.c): CPU seconds, so "per core" survives a busy machine
cc -std=c11 -D_GNU_SOURCE -O2 -pthread -Ilib/include $(pkg-config --cflags json-c) -o "$W/sig_bench" bench/dedup/sig_bench.c \
	build/libspindle.a $(pkg-config --libs libzstd sqlite3 libxml-2.0 libpcre2-8 icu-uc icu-i18n json-c libxxhash zlib) -lm
read -r _ _ cpu1 wall1 < <("$W/sig_bench" "$W/docs.jsonl" 1)
read -r _ _ cpu2 wall2 < <("$W/sig_bench" "$W/docs.jsonl" 2)
read -r _ _ cpu256 _ < <("$W/sig_bench" "$W/docs.jsonl" 1 256)
t1=$(best "$S" dedup minhash -q --threads 1 "$W/docs.jsonl")
t2=$(best "$S" dedup minhash -q --threads 2 "$W/docs.jsonl")
# the reference is slow: time it on the first 300 documents
head -300 "$W/docs.jsonl" > "$W/ref.jsonl"
read -r _ rbytes rcpu _ < <(/usr/bin/python3 bench/dedup/minhash_ref.py < "$W/ref.jsonl")
rate() { awk -v b="$1" -v t="$2" 'BEGIN{printf "%.1f", b/t/1e6}'; }
echo
echo "| measure (MB of document text per second) | value |"
echo "|---|---|"
echo "| spindle signatures (shingles + 112 permutations + 14 band keys), 1 thread, per CPU second | $(rate "$TEXTB" "$cpu1") MB/s |"
echo "| same, 2 threads: per CPU second / wall clock | $(rate "$TEXTB" "$cpu2") MB/s per core / $(rate "$TEXTB" "$wall2") MB/s (1 thread wall: $(rate "$TEXTB" "$wall1")) |"
echo "| spindle signatures with 256 permutations (the default when the estimate check is on), 1 thread, per CPU second | $(rate "$TEXTB" "$cpu256") MB/s |"
echo "| numpy reference (datasketch's algorithm, 112 permutations), per CPU second | $(rate "$rbytes" "$rcpu") MB/s |"
echo "| ratio spindle / reference, per core | x$(awk -v a="$TEXTB" -v b="$cpu1" -v c="$rbytes" -v d="$rcpu" 'BEGIN{printf "%.0f", (a/b)/(c/d)}') |"
echo "| spindle dedup minhash end to end (JSON in, records out), wall, 1 / 2 threads | $(rate "$TEXTB" "$t1") / $(rate "$TEXTB" "$t2") MB/s |"

# memory: max RSS on N and 5N documents
rss() { /usr/bin/time -f %M -o "$W/m" "$@" > /dev/null 2>&1; tail -1 "$W/m"; }
m1=$(rss "$S" dedup minhash -q "$W/docs.jsonl")
m5=$(rss "$S" dedup minhash -q "$W/docs5.jsonl")
mv=$(rss "$S" dedup minhash -q --verify "$W/docs5.jsonl")
echo "| minhash max RSS, $N docs / $((5 * N)) docs / $((5 * N)) with --verify | $((m1 / 1024)) / $((m5 / 1024)) / $((mv / 1024)) MiB |"
echo "| memory per million documents (RSS slope) | $(awk -v a="$m1" -v b="$m5" -v n="$N" 'BEGIN{printf "%.0f", (b-a)*1024/(4*n)*1e6/1048576}') MiB |"

# quality vs the exact similarity join
for v in "" --verify; do
	r=$("$S" dedup eval -q --threshold 0.8 $v "$W/docs.jsonl")
	g() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$r"; }
	echo "| threshold 0.8 ${v:-(no verify)}: exact pairs $(g exact_pairs), candidates $(g candidate_pairs) | precision $(g precision), recall $(g recall), cluster recall $(g cluster_recall), cluster precision $(g cluster_precision) |"
done
r=$("$S" dedup eval -q "$W/docs.jsonl")
g() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$r"; }
echo "| default 13x8, T=0.8 (no verify) | precision $(g precision), recall $(g recall) |"
