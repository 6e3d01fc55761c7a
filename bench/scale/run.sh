#!/usr/bin/env bash
# bench/scale/run.sh - the cost model of the data pipeline (bench/SCALE.md): the demo pipeline
# (tests/pipeline/demo.pipeline.in: filter -> dedup staged -> tok encode -> pack -> merge) run by the
# Slurm executor on a private single-node cluster (tests/cluster/slurm.sh) over inputs of growing
# size (the machine's documentation plus generated near-duplicates, tests/pipeline/neardup.py).
# Per size and stage it prints CPU seconds (sum over tasks), CPU seconds per input GB, peak memory
# of the largest task and the stage's output on disk, from the tasks' completion markers.
#   SCALE_MB="32 64 128 256" SCALE_TASKS=4 bash bench/scale/run.sh [RESULTS.tsv]
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
S=${SPINDLE:-$ROOT/bin/spindle}
MODEL=${SCALE_MODEL:-$(cd .. && pwd)/shared/llama2/tokenizer.model}
SIZES=${SCALE_MB:-32 64 128 256}
N=${SCALE_TASKS:-4}
OUT=${1:-$ROOT/bench/scale/results.tsv}
W=$(mktemp -d "${TMPDIR:-/tmp}/spindle-scale.XXXXXX")
source tests/cluster/slurm.sh
trap 'slurm_down; rm -rf "$W"' EXIT
[ -f "$MODEL" ] || { echo "scale: no tokenizer at $MODEL" >&2; exit 1; }
slurm_up || { echo "scale: no Slurm: $SLURM_SKIP_REASON" >&2; exit 1; }

# The base documents: those of the machine's documentation that the filter keeps, plus as many
# bytes of others (mostly rejected: changelogs, listings), so that about half the input bytes pass.
"$S" corpus -q /usr/share/doc > "$W/all.jsonl"
"$S" filter -q -j 2 "$W/all.jsonl" > "$W/kept.jsonl"
/usr/bin/python3 - "$W/all.jsonl" "$W/kept.jsonl" > "$W/docs.jsonl" <<'PYEOF'
import json, sys
kept = [l for l in open(sys.argv[2], encoding="utf-8")]
ids = {json.loads(l)["id"] for l in kept}
budget = sum(len(l.encode()) for l in kept)
out = list(kept)
for l in open(sys.argv[1], encoding="utf-8"):
    if budget <= 0:
        break
    if json.loads(l)["id"] not in ids and len(l) < 200000:
        out.append(l)
        budget -= len(l.encode())
out.sort(key=lambda l: json.loads(l)["id"])
sys.stdout.write("".join(out))
PYEOF
printf 'mb\tstage\ttasks\tinput_bytes\tcpu_s\twall_s\tmax_rss_kb\tdisk_bytes\tstage_in_bytes\tstage_out_bytes\n' > "$OUT"
for mb in $SIZES; do
	in=$W/in-$mb
	/usr/bin/python3 tests/pipeline/neardup.py "$W/docs.jsonl" "$in" "$N" --bytes $((mb * 1000000)) >&2
	bytes=$(cat "$in"/*.jsonl | wc -c)
	sed -e "s#@IN@#$in#; s#@MODEL@#$MODEL#; s#@N@#$N#" tests/pipeline/demo.pipeline.in > "$W/p-$mb.conf"
	run=$W/run-$mb
	t0=$(date +%s.%N)
	"$S" pipeline run -e slurm --wait -q -d "$run" "$W/p-$mb.conf" > "$W/status-$mb.txt" || { cat "$W/status-$mb.txt" >&2; exit 1; }
	echo "scale: $mb MB ($bytes bytes): pipeline wall $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
	"$S" pipeline status "$run" > "$ROOT/bench/scale/status-$mb.txt"
	for stage in filter sig buckets pairs clusters dedup tok pack merge; do
		cpu=$(cat "$run"/done/$stage/*.json | jq -s 'map(.cpu_seconds) | add')
		wall=$(cat "$run"/done/$stage/*.json | jq -s 'map(.wall_seconds) | max')
		rss=$(cat "$run"/done/$stage/*.json | jq -s 'map(.max_rss_kb) | max')
		tasks=$(ls "$run"/done/$stage | wc -l)
		disk=$(du -sb "$run/out/$stage" | cut -f1)
		sin=0 sout=0
		[ -f "$run/stats/$stage.json" ] && sin=$(jq .bytes_in "$run/stats/$stage.json") && sout=$(jq .bytes_out "$run/stats/$stage.json")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mb" "$stage" "$tasks" "$bytes" "$cpu" "$wall" "$rss" "$disk" "$sin" "$sout" >> "$OUT"
	done
	cp "$run/stats/filter.json" "$ROOT/bench/scale/filter-$mb.stats.json"
	cp "$run/stats/dedup.json" "$ROOT/bench/scale/dedup-$mb.stats.json"
	cp "$run/stats/tok.json" "$ROOT/bench/scale/tok-$mb.stats.json"
	rm -rf "$run" "$in"
done
# The table: CPU seconds per input GB and peak task memory, per stage and size.
awk -F'\t' 'NR > 1 { printf "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f |\n", $1, $2, $3, $5, $5 / ($4 / 1e9), $7 / 1024, $8 / 1e6 }' "$OUT"
