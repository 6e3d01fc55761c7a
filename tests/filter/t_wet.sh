#!/usr/bin/env bash
# t_wet.sh - `spindle extract` on WET files (Common Crawl's extracted text: conversion records), built
# here in Common Crawl's layout from WARC files of real HTML (the Bash manual from bash-doc): the text
# comes through exactly, meta names the page and the WARC response it came from (the WARC -> WET
# pairing), per-record gzip and zstd read alike, WARC and WET mixed in one run, bad records counted.
source "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
cd "$T"

pages=()
for p in /usr/share/doc/bash-doc/bashref.html /usr/share/doc/bash-doc/bash.html /usr/share/doc/bash/bashref.html; do
	[ -f "$p" ] && pages+=("$p")
done
for p in /usr/share/doc/*/*.html; do
	[ ${#pages[@]} -ge 5 ] && break
	[ -f "$p" ] && [ "$(wc -c < "$p")" -gt 2000 ] && pages+=("$p")
done
if [ ${#pages[@]} -lt 2 ]; then
	skip "WET input" "fewer than 2 HTML pages on this machine (scripts/deps.sh installs bash-doc)"
	exit 0
fi
specs=(request:)
for p in "${pages[@]}"; do specs+=("response:$p"); done
specs+=("status404:${pages[0]}")
$PY "$here/make_warc.py" a.warc plain "${specs[@]}"
$PY "$here/make_wet.py" a.warc a.wet plain --bad-utf8 --empty > pairs.tsv
$PY "$here/make_wet.py" a.warc b.warc.wet.gz gzip-records --bad-utf8 --empty > /dev/null
n=${#pages[@]}

check "extract reads a WET file" "$SPINDLE" extract --stats st.json -o a.jsonl a.wet
check_eq "one document per conversion record of text" "$n" "$(wc -l < a.jsonl)"
$PY - a.wet a.jsonl > cmp.txt <<'PYEOF'
import json, sys
data = open(sys.argv[1], "rb").read()
want = []
i = 0
while True:
    j = data.find(b"WARC/", i)
    if j < 0: break
    e = data.index(b"\r\n\r\n", j)
    hdr = dict(l.split(": ", 1) for l in data[j:e].decode().split("\r\n")[1:])
    n = int(hdr["Content-Length"]); block = data[e + 4:e + 4 + n]; i = e + 4 + n
    if hdr["WARC-Type"] == "conversion" and block and hdr.get("WARC-Refers-To"):
        want.append((hdr["WARC-Record-ID"], block.decode(), hdr["WARC-Target-URI"], hdr["WARC-Date"], hdr["WARC-Refers-To"], len(block)))
got = [json.loads(l) for l in open(sys.argv[2])]
g = [(d["id"], d["text"], d["meta"]["url"], d["meta"]["date"], d["meta"]["refers_to"], d["meta"]["bytes"]) for d in got]
print("same" if g == want else "differ: %r" % [(a[0], b[0]) for a, b in zip(g, want) if a != b][:3])
assert all(d["meta"]["content_type"] == "text/plain" and d["meta"]["source"] == sys.argv[1] and d["meta"]["warc_record_id"] == d["id"] for d in got)
PYEOF
check_eq "texts, ids, urls, dates, refers_to and sizes equal the WET records exactly" "same" "$(cat cmp.txt)"
skips=$($PY -c 'import json; s=json.load(open("st.json"))["skipped"]; print(" ".join("%s=%d" % kv for kv in sorted(s.items())))')
check_eq "bad and other records counted by reason" "empty=1 invalid_utf8=1 warc_warcinfo=1" "$skips"
check "documents validate against the schema" $PY "$root/tests/schemas/validate.py" "$root/schemas/document.schema.json" a.jsonl
check "stats validate against the schema" $PY "$root/tests/schemas/validate.py" "$root/schemas/stats.schema.json" st.json

"$SPINDLE" extract b.warc.wet.gz | sed 's/"source":"[^"]*"//' > b.jsonl
check_files "per-record gzip WET gives the same documents" <(sed 's/"source":"[^"]*"//' a.jsonl) b.jsonl
zstd -q a.wet -o c.wet.zst
"$SPINDLE" extract c.wet.zst | sed 's/"source":"[^"]*"//' > c.jsonl
check_files "zstd WET gives the same documents" <(sed 's/"source":"[^"]*"//' a.jsonl) c.jsonl

# the WARC -> WET pairing: each WET document's refers_to is the warc_record_id extract gives the same
# page from the WARC file, and the HTML extraction of that page shares most of its words
"$SPINDLE" extract --stats mst.json a.warc b.warc.wet.gz > mixed.jsonl
$PY - mixed.jsonl pairs.tsv > pair.txt <<'PYEOF'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
warc = {d["meta"]["url"]: d for d in docs if d["meta"].get("content_type") == "text/html"}
wet = {d["meta"]["url"]: d for d in docs if d["meta"].get("content_type") == "text/plain"}
pairs = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[2]))
bad = []
for url, d in wet.items():
    w = warc.get(url)
    if not w or d["meta"]["refers_to"] != w["meta"]["warc_record_id"] or pairs[url] != d["meta"]["refers_to"]:
        bad.append(url); continue
    a, b = set(d["text"].split()), set(w["text"].split())
    if len(a & b) < 0.8 * min(len(a), len(b)): bad.append(url + " (words)")
print("paired %d %d" % (len(wet), len(warc)) if not bad and len(wet) == len(warc) else "unpaired: %r" % bad)
PYEOF
check_eq "mixed WARC + WET run: every WET page pairs with its WARC response" "paired $n $n" "$(cat pair.txt)"
mskips=$($PY -c 'import json; s=json.load(open("mst.json"))["skipped"]; print(" ".join("%s=%d" % kv for kv in sorted(s.items())))')
check_eq "mixed run counts both files' skips" "empty=1 http_status=1 invalid_utf8=1 warc_request=1 warc_warcinfo=2" "$mskips"

# a truncated WET: the damaged last record is counted, the others kept
head -c $(( $(wc -c < a.wet) - 30 )) a.wet > cut.wet
"$SPINDLE" extract --stats cst.json cut.wet > cut.jsonl 2> cut.err
check_eq "a truncated WET keeps the whole records" "$n" "$(wc -l < cut.jsonl)"
check_grep "... and counts the cut one" '"damaged_record":1' cst.json
