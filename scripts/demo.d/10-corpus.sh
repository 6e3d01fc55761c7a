# 10-corpus.sh - gather the demo corpus: this machine's documentation as JSONL (zstd-compressed).
set -euo pipefail
"$SPINDLE" corpus -q --stats "$DEMO/corpus.stats.json" -o "$DEMO/corpus.jsonl.zst" \
	/usr/share/doc /usr/share/man /usr/share/common-licenses
echo "corpus: $(zstdcat "$DEMO/corpus.jsonl.zst" | wc -l) documents, $(zstdcat "$DEMO/corpus.jsonl.zst" | wc -c) bytes of JSONL -> $DEMO/corpus.jsonl.zst"
echo "corpus: stats $(cat "$DEMO/corpus.stats.json")"
