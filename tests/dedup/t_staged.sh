#!/usr/bin/env bash
# t_staged.sh - the staged commands (signatures, buckets, pairs, clusters, filter) give byte-identical
# results to the one-process `dedup minhash`, for any number of jobs, threads or shards, with and
# without --verify; a killed stage leaves no output and a rerun completes.
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
"$S" corpus -q --max-docs 600 --max-bytes 200000 /usr/share/doc > "$T/all.jsonl"
# split into 4 input files (the staged jobs take shares of files)
split -n l/4 -d --additional-suffix=.jsonl "$T/all.jsonl" "$T/in-"
IN=("$T"/in-0*.jsonl)

staged() { # staged OUTDIR NSIG NBKT NPAIR NCLU [minhash options...]
	local d=$1 ns=$2 nb=$3 np=$4 nc=$5; shift 5
	mkdir -p "$d"
	local sigargs=()
	for ((i = 0; i < ns; i++)); do
		"$S" dedup signatures -q "$@" --shard $i/$ns -o "$d/sig-$i.bin" "${IN[@]}" || return 1
		sigargs+=(--sig "$d/sig-$i.bin")
	done
	for ((i = 0; i < nb; i++)); do "$S" dedup buckets --shard $i/$nb -o "$d/bkt-$i.bin" "$d"/sig-*.bin || return 1; done
	local v=()
	for a in "$@"; do [ "$a" == --verify ] || [ "$a" == --no-estimate ] && v=("$a"); done
	for ((i = 0; i < np; i++)); do "$S" dedup pairs "${v[@]}" --shard $i/$np -o "$d/pairs-$i.bin" "$d"/bkt-*.bin || return 1; done
	for ((i = 0; i < nc; i++)); do "$S" dedup clusters --shard $i/$nc -o "$d/part-$i.bin" "$d"/pairs-*.bin || return 1; done
	"$S" dedup clusters --final "${sigargs[@]}" $KEEP --clusters "$d/clusters.jsonl" -o "$d/removed.bin" "$d"/part-*.bin || return 1
	"$S" dedup filter -q --removed "$d/removed.bin" -o "$d/kept.jsonl" "${IN[@]}"
}

KEEP=
"$S" dedup minhash -q --clusters "$T/pipe-clusters.jsonl" "${IN[@]}" > "$T/pipe.jsonl"
check "pipe mode removes near-duplicates" test "$(wc -l < "$T/pipe.jsonl")" -lt "$(wc -l < "$T/all.jsonl")"
"$S" dedup minhash -q < "$T/all.jsonl" > "$T/pipe-stdin.jsonl"
check_files "files in sorted order == stdin" "$T/pipe.jsonl" "$T/pipe-stdin.jsonl"
"$S" dedup minhash -q --threads 3 "${IN[@]}" > "$T/pipe3.jsonl"
check_files "--threads 3 == --threads 1" "$T/pipe.jsonl" "$T/pipe3.jsonl"
check "staged 1/1/1/1 runs" staged "$T/s1" 1 1 1 1
check_files "staged 1 job == pipe" "$T/pipe.jsonl" "$T/s1/kept.jsonl"
check_files "staged clusters file == pipe" "$T/pipe-clusters.jsonl" "$T/s1/clusters.jsonl"
check "staged 3/4/2/3 runs" staged "$T/s2" 3 4 2 3
check_files "staged 3 sig, 4 bucket, 2 pair, 3 cluster jobs == pipe" "$T/pipe.jsonl" "$T/s2/kept.jsonl"
# per-shard filter outputs, concatenated in input order, are the same
for i in 0 1 2 3; do "$S" dedup filter -q --removed "$T/s2/removed.bin" --shard $i/4 "${IN[@]}" > "$T/s2/f-$i.jsonl"; done
cat "$T"/s2/f-{0,1,2,3}.jsonl > "$T/s2/f-all.jsonl"
check_files "filter --shard I/4 outputs concatenated == pipe" "$T/pipe.jsonl" "$T/s2/f-all.jsonl"

"$S" dedup minhash -q --verify --keep longest --clusters "$T/pipe-vc.jsonl" "${IN[@]}" > "$T/pipe-v.jsonl"
KEEP="--keep longest"
check "staged --verify runs" staged "$T/s3" 2 3 2 2 --verify --keep longest
check_files "staged --verify --keep longest == pipe" "$T/pipe-v.jsonl" "$T/s3/kept.jsonl"
check_files "staged --verify clusters file == pipe" "$T/pipe-vc.jsonl" "$T/s3/clusters.jsonl"
KEEP=
"$S" dedup minhash -q --no-estimate "${IN[@]}" > "$T/pipe-ne.jsonl"
check "staged --no-estimate runs" staged "$T/s4" 2 2 2 2 --no-estimate
check_files "staged --no-estimate == pipe" "$T/pipe-ne.jsonl" "$T/s4/kept.jsonl"
check "the estimate check removes fewer than bare LSH candidates" test "$(wc -l < "$T/pipe.jsonl")" -gt "$(wc -l < "$T/pipe-ne.jsonl")"

# a stage killed mid-write leaves no file under its name; the rerun gives the same bytes
big=("$T/all.jsonl" "$T/all.jsonl" "$T/all.jsonl")
cp "$T/all.jsonl" "$T/all2.jsonl"; cp "$T/all.jsonl" "$T/all3.jsonl"
# (the last input is a pipe that stalls after half the corpus, so the kill lands mid-job on any machine)
mkfifo "$T/stall.jsonl"
( head -n 300 "$T/all.jsonl"; exec sleep 30 ) > "$T/stall.jsonl" &
feeder=$!
"$S" dedup signatures -q --verify -o "$T/k.bin" "$T/all.jsonl" "$T/all2.jsonl" "$T/stall.jsonl" 2>/dev/null &
job=$!
for _ in $(seq 100); do ls "$T"/.k.bin.tmp.* >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.3
ls "$T"/.k.bin.tmp.* >/dev/null 2>&1 && ok "the stage was writing when killed" || not_ok "the stage was writing when killed" "$(ls -a "$T")"
kill -KILL $job; wait $job 2>/dev/null
kill $feeder 2>/dev/null; wait $feeder 2>/dev/null
check "killed stage leaves no output file" test ! -e "$T/k.bin"
"$S" dedup signatures -q --verify -o "$T/k.bin" "$T/all.jsonl" "$T/all2.jsonl" "$T/all3.jsonl"
"$S" dedup signatures -q --verify -o "$T/k2.bin" "$T/all.jsonl" "$T/all2.jsonl" "$T/all3.jsonl"
check_files "rerun stage output is deterministic" "$T/k.bin" "$T/k2.bin"
check "the killed job left at most a hidden temporary file" test "$(ls "$T" | grep -c '^k')" -eq 2

check_rc "--bands without --rows is refused" 2 "$S" dedup signatures -q --bands 10 -o "$T/x.bin" "${IN[0]}"
"$S" dedup signatures -q --bands 10 --rows 5 -o "$T/x.bin" "${IN[0]}"
check_rc "buckets refuse mixed signature options" 2 "$S" dedup buckets -o "$T/y.bin" "$T/x.bin" "$T/s1/sig-0.bin"
printf 'garbage' > "$T/bad.bin"
check_rc "a file that is not a signature file is refused" 1 "$S" dedup buckets -o "$T/y.bin" "$T/bad.bin"
check_grep "error names the file" "bad.bin" "$T/.out"
