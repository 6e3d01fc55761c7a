#!/usr/bin/env bash
# bench/filter/run.sh - speed of `spindle extract` on real HTML (every *.html under /usr/share/doc)
# and of `spindle filter` with all default rules on plain text (this machine's documentation via
# `spindle corpus`), with 1 and 2 threads. References in the same run: Python's html.parser text
# dump (tests/filter/ref_text.py) for extract, and `spindle filter` with every rule off (JSON in/out
# only: the floor) for filter. MB/s = input bytes / wall seconds; "per core" = input bytes / CPU
# (user+sys) seconds. Prints a markdown table for bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
SPINDLE=${SPINDLE:-$PWD/bin/spindle}
out=${BENCH_OUT:-bench/out/filter}
mkdir -p "$out"
PY=/usr/bin/python3

mapfile -t pages < <(find /usr/share/doc -type f -name '*.html' -size +1k | sort)
html_bytes=$(cat "${pages[@]}" | wc -c)
max_docs=${FILTER_BENCH_DOCS:-4000}
"$SPINDLE" corpus -q --max-docs "$max_docs" --max-bytes 2000000 /usr/share/doc /usr/share/man > "$out/docs.jsonl"
docs_bytes=$(wc -c < "$out/docs.jsonl")
n_docs=$(wc -l < "$out/docs.jsonl")
"$SPINDLE" filter --print-config | sed -E 's/^([a-z0-9_]+) = on$/\1 = off/' > "$out/none.conf"
cat "${pages[@]}" > /dev/null; cat "$out/docs.jsonl" > /dev/null # warm the page cache

# run NAME BYTES DOCS COMMAND...: best of 3 (wall), with its CPU time
run() {
	local name=$1 bytes=$2 docs=$3
	shift 3
	local best_wall=999999 best_cpu=0
	for _ in 1 2 3; do
		/usr/bin/time -f "%e %U %S" -o "$out/time" "$@" > /dev/null 2> "$out/err" || { cat "$out/err"; exit 1; }
		read -r wall user sys < "$out/time"
		if $PY -c "import sys; sys.exit(not ($wall < $best_wall))"; then
			best_wall=$wall
			best_cpu=$($PY -c "print($user + $sys)")
		fi
	done
	$PY -c "
b, d, w, c = $bytes, $docs, max($best_wall, 0.01), max($best_cpu, 0.01)
print('| %s | %.1f | %.1f | %.0f | %.2f |' % ('$name', b / 1e6 / w, b / 1e6 / c, d / w, w))"
}

echo "HTML: ${#pages[@]} files, $((html_bytes / 1000000)) MB; text: $n_docs documents, $((docs_bytes / 1000000)) MB of JSONL ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| run | MB/s | MB/s per core (CPU time) | docs/s | wall s |"
echo "|---|---|---|---|---|"
run "extract, 1 thread" "$html_bytes" "${#pages[@]}" "$SPINDLE" extract -q -j 1 "${pages[@]}"
run "extract, 2 threads" "$html_bytes" "${#pages[@]}" "$SPINDLE" extract -q -j 2 "${pages[@]}"
run "reference: python html.parser text dump" "$html_bytes" "${#pages[@]}" \
	bash -c 'for f in "$@"; do /usr/bin/python3 tests/filter/ref_text.py "$f"; done' _ "${pages[@]}"
run "filter, all default rules, 1 thread" "$docs_bytes" "$n_docs" "$SPINDLE" filter -q -j 1 "$out/docs.jsonl"
run "filter, all default rules, 2 threads" "$docs_bytes" "$n_docs" "$SPINDLE" filter -q -j 2 "$out/docs.jsonl"
run "filter, defaults + --pii redact + --annotate, 1 thread" "$docs_bytes" "$n_docs" "$SPINDLE" filter -q -j 1 --pii redact --annotate "$out/docs.jsonl"
run "reference: filter with every rule off (JSON in/out floor), 1 thread" "$docs_bytes" "$n_docs" "$SPINDLE" filter -q -j 1 -c "$out/none.conf" --set normalize=none "$out/docs.jsonl"
