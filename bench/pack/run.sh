#!/usr/bin/env bash
# bench/pack/run.sh - `spindle pack` throughput (uncompressed and zstd) beside the time to merely read
# the same input (`cat FILE > /dev/null`, page cache warm) in the same run, and the reader's
# sequences/s and tokens/s (lib/shards.c, one consumer thread) from uncompressed and zstd shards.
# N_TOKENS (default 50M) sets the input size. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s all build/libspindle.a
N=${N_TOKENS:-50000000}
# tmpfs by default: the figures are the tools' own work, not this VM's disk writeback (very noisy)
W=${BENCH_DIR:-$( [ -d /dev/shm ] && echo /dev/shm/spindle-bench-pack || echo bench/out/pack )}
mkdir -p "$W"
B=bin/spindle
cc -O2 -std=c11 -D_GNU_SOURCE -Ilib/include -o "$W/reader_bench" bench/pack/reader_bench.c build/libspindle.a \
	$(pkg-config --libs libzstd json-c libxxhash zlib) -lpthread -lm
[ -s "$W/in.bin" ] || /usr/bin/python3 bench/pack/gen_stream.py "$W/in.bin" "$N"
bytes=$(stat -c %s "$W/in.bin")
ntok=$(( (bytes - 40) / 4 ))   # close enough: ids dominate the stream
cat "$W/in.bin" > /dev/null    # warm the page cache
best() { # "wall cpu" seconds of the fastest of 3 runs of "$@" (cpu = user + system)
	local b=999999 bc=0
	for _ in 1 2 3; do
		/usr/bin/time -f "%e %U %S" -o "$W/.time" "$@" >/dev/null 2>&1
		read -r e u s < "$W/.time"
		if awk -v a="$e" -v b="$b" 'BEGIN{exit !(a < b)}'; then b=$e; bc=$(awk -v u="$u" -v s="$s" 'BEGIN{print u + s}'); fi
	done
	echo "$b $bc"
}
t_cat=$(best sh -c "cat '$W/in.bin' > /dev/null")
t_cp=$(best sh -c "cp '$W/in.bin' '$W/copy.bin'")
rm -f "$W/copy.bin"
t_plain=$(best $B pack -q --force --no-sync --seq-len 4096 -o "$W/plain" "$W/in.bin")
t_sync=$(best $B pack -q --force --seq-len 4096 -o "$W/plain" "$W/in.bin")
t_zstd=$(best $B pack -q --force --no-sync --zstd --seq-len 4096 -o "$W/zstd" "$W/in.bin")
t_plain2=$(best $B pack -q --force --no-sync --threads 2 --seq-len 4096 -o "$W/plain" "$W/in.bin")
t_zstd2=$(best $B pack -q --force --no-sync --zstd --threads 2 --seq-len 4096 -o "$W/zstd" "$W/in.bin")
rate() { awk -v n="$ntok" -v t="${1% *}" 'BEGIN{printf "%.1f", n / t / 1e6}'; }
ratio() { awk -v a="${1% *}" -v b="${t_cat% *}" 'BEGIN{printf "%.2f", a / b}'; }
cpu() { echo "${1#* }"; }
cratio() { awk -v a="${1#* }" -v b="${t_cat#* }" 'BEGIN{printf "%.1f", (b > 0) ? a / b : 0}'; }
row() { echo "| $1 | ${2% *} | $(rate "$2") | $(ratio "$2") | $(cpu "$2") | $(cratio "$2") |"; }
echo "input: $W/in.bin (pack writes there too), $bytes bytes, ~$ntok tokens; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| run | wall s | M tokens/s | wall / cat | cpu s | cpu / cat |"
echo "|---|---|---|---|---|---|"
row "cat FILE > /dev/null (reference)" "$t_cat"
row "cp FILE (read + write the same bytes; reference)" "$t_cp"
row "spindle pack, uncompressed, --no-sync" "$t_plain"
row "spindle pack, uncompressed, fsync per shard" "$t_sync"
row "spindle pack --threads 2, uncompressed, --no-sync" "$t_plain2"
row "spindle pack --zstd (level 3, frame per sequence)" "$t_zstd"
row "spindle pack --zstd --threads 2" "$t_zstd2"
pb=$(cat "$W"/plain/shard-*.bin | wc -c); zb=$(cat "$W"/zstd/shard-*.bin | wc -c)
echo
echo "shards: uncompressed $pb bytes, zstd $zb bytes ($(awk -v a="$zb" -v b="$pb" 'BEGIN{printf "%.2f", a/b}') of uncompressed; random ids compress poorly, real text better)"
echo
echo "| reader (one consumer thread, page cache warm) | sequences/s | M tokens/s |"
echo "|---|---|---|"
for ds in plain zstd; do
	for pf in 0 8; do
		cat "$W/$ds"/shard-*.bin > /dev/null
		best_line=""; best_t=999999
		for _ in 1 2 3; do
			line=$("$W/reader_bench" "$W/$ds" $pf)
			t=$(echo "$line" | cut -d' ' -f3)
			if awk -v a="$t" -v b="$best_t" 'BEGIN{exit !(a < b)}'; then best_t=$t; best_line=$line; fi
		done
		read -r nseq slen t _ <<<"$best_line"
		echo "| $ds, prefetch $pf | $(awk -v n="$nseq" -v t="$t" 'BEGIN{printf "%.0f", n/t}') | $(awk -v n="$nseq" -v l="$slen" -v t="$t" 'BEGIN{printf "%.0f", n*l/t/1e6}') |"
	done
done
[ -n "${KEEP:-}" ] || rm -rf "$W"
