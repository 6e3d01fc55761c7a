# 20-filter.sh - extract text from real HTML found on this machine, then filter the demo corpus
# ($DEMO/corpus.jsonl.zst from 10-corpus.sh) into $DEMO/filtered.jsonl.zst with PII redaction.
#
# The corpus is documentation (man page sources, changelogs, licenses), not web text: with the
# web-text defaults (Gopher/C4/FineWeb, English only) about six in seven documents go: roff sources
# repeat macro lines (.PP, .TP: gopher_dup_lines, fineweb_char_dup) and put one short sentence per
# line (fineweb_list_ratio, fineweb_short_lines, c4_lines), changelogs and sources have code
# (c4_curly_brace) and repeated phrasing (gopher_dup_ngrams). The demo switches those seven off and
# keeps every language; the other rules run at their defaults. The edited config is $DEMO/filter.conf.
set -euo pipefail
py=/usr/bin/python3

# ---- extract: a few real HTML manuals on this machine
mapfile -t pages < <(find /usr/share/doc -type f -name '*.html' -size +2k 2>/dev/null | sort | head -40)
if [ ${#pages[@]} -gt 0 ]; then
	"$SPINDLE" extract -q -j 2 --stats "$DEMO/extract.stats.json" -o "$DEMO/extracted.jsonl" "${pages[@]}"
	echo "extract: ${#pages[@]} HTML files from /usr/share/doc -> $(wc -l < "$DEMO/extracted.jsonl") documents -> $DEMO/extracted.jsonl"
	$py - "$DEMO/extracted.jsonl" "$DEMO/extract.stats.json" <<'PY'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
st = json.load(open(sys.argv[2]))
html = st["bytes_in"]; text = sum(len(d["text"].encode()) for d in docs)
print("extract: %d bytes of HTML -> %d bytes of text (%.0f%%); charsets: %s" % (html, text, 100.0 * text / max(1, html),
      ", ".join(sorted({d["meta"]["charset"] + "/" + d["meta"]["charset_source"] for d in docs}))))
d = max(docs, key=lambda d: len(d["text"]))
print("extract: largest page %s (title %r), first lines:" % (d["id"], d["meta"].get("title", "")))
for line in [l for l in d["text"].split("\n") if l.strip()][:5]:
    print("    " + line[:110])
PY
else
	echo "extract: no HTML files under /usr/share/doc (install bash-doc)"
fi

# ---- filter: the demo corpus
in="$DEMO/corpus.jsonl.zst"
if [ ! -s "$in" ]; then
	echo "filter: $in is missing (run 10-corpus.sh first)"
	exit 1
fi
"$SPINDLE" filter --print-config | sed \
	-e 's/^c4_curly_brace = on$/c4_curly_brace = off/' \
	-e 's/^c4_lines = on$/c4_lines = off/' \
	-e 's/^fineweb_char_dup = on$/fineweb_char_dup = off/' \
	-e 's/^gopher_dup_ngrams = on$/gopher_dup_ngrams = off/' \
	-e 's/^gopher_dup_lines = on$/gopher_dup_lines = off/' \
	-e 's/^fineweb_list_ratio = on$/fineweb_list_ratio = off/' \
	-e 's/^fineweb_short_lines = on$/fineweb_short_lines = off/' \
	-e 's/^lang.keep = .*/lang.keep = */' > "$DEMO/filter.conf"
"$SPINDLE" filter -q -j 2 --config "$DEMO/filter.conf" --pii redact --stats "$DEMO/filter.stats.json" \
	--rejects "$DEMO/filter.rejects.jsonl" -o "$DEMO/filtered.jsonl.zst" "$in"
$py - "$DEMO/filter.stats.json" "$DEMO/filtered.jsonl.zst" <<'PY'
import collections, json, subprocess, sys
st = json.load(open(sys.argv[1]))
n_in, n_out = st["records_in"], st["records_out"]
print("filter: %d documents in, %d kept (%.0f%%), %.1f MB -> %.1f MB in %.1f s" % (
    n_in, n_out, 100.0 * n_out / max(1, n_in), st["bytes_in"] / 1e6, st["bytes_out"] / 1e6, st["seconds"]))
print("filter: dropped per rule (documents, MB):")
c = st["counters"]
for rule, n in sorted(st["skipped"].items(), key=lambda kv: -kv[1]):
    print("    %-28s %6d  %7.2f" % (rule, n, c.get("bytes_dropped_" + rule, 0) / 1e6))
pii = {k[4:]: v for k, v in c.items() if k.startswith("pii_")}
print("filter: PII redacted:", ", ".join("%s %d" % kv for kv in sorted(pii.items())) or "none")
out = subprocess.run(["zstdcat", sys.argv[2]], capture_output=True, text=True).stdout.splitlines()
langs = collections.Counter(json.loads(l)["meta"].get("lang", "?") for l in out)
print("filter: languages kept:", ", ".join("%s %d" % kv for kv in langs.most_common(8)))
PY
echo "filter: kept -> $DEMO/filtered.jsonl.zst; every dropped document with its rule -> $DEMO/filter.rejects.jsonl"
