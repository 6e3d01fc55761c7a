#!/usr/bin/env bash
# 30-dedup.sh - demo stage: exact, then MinHash near-duplicate removal of the filtered corpus
# ($DEMO/filtered.jsonl.zst, or $DEMO/corpus.jsonl.zst when the filter stage made none) into
# $DEMO/dedup.jsonl.zst; prints how many documents each step removed.
set -euo pipefail
: "${SPINDLE:?}" "${DEMO:?}"
mkdir -p "$DEMO"
in=$DEMO/filtered.jsonl.zst
[ -s "$in" ] || in=$DEMO/corpus.jsonl.zst
if [ ! -s "$in" ]; then
	echo "dedup: no corpus from earlier stages; making one from /usr/share/doc"
	"$SPINDLE" corpus -q --max-docs 3000 -o "$DEMO/corpus.jsonl.zst" /usr/share/doc
	in=$DEMO/corpus.jsonl.zst
fi
"$SPINDLE" dedup exact -q --threads 2 --stats "$DEMO/dedup-exact.stats.json" -o "$DEMO/dedup-exact.jsonl.zst" "$in"
"$SPINDLE" dedup minhash -q --threads 2 --threshold 0.8 --verify --clusters "$DEMO/dedup-clusters.jsonl" \
	--stats "$DEMO/dedup-minhash.stats.json" -o "$DEMO/dedup.jsonl.zst" "$DEMO/dedup-exact.jsonl.zst"
num() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }
e=$DEMO/dedup-exact.stats.json m=$DEMO/dedup-minhash.stats.json
echo "dedup: $(num "$e" records_in) documents in ${in##*/}"
echo "dedup: exact (nfkc,case,space) removed $(num "$e" removed)"
echo "dedup: minhash (threshold 0.8, 5-word shingles, $(num "$m" bands)x$(num "$m" rows), verified) removed $(num "$m" removed) in $(num "$m" clusters) clusters"
echo "dedup: $(num "$m" records_out) documents kept -> $DEMO/dedup.jsonl.zst (clusters: dedup-clusters.jsonl)"
