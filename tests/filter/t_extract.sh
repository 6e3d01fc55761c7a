#!/usr/bin/env bash
# t_extract.sh - `spindle extract` on real HTML from Debian's bash-doc package (the Bash manual),
# wrapped into WARC files here (plain, per-record gzip as Common Crawl writes, whole-file gzip and
# zstd), and on made pages: broken markup, boilerplate, charsets (latin-1, windows-1252, Shift_JIS,
# UTF-16 made with iconv), a truncated gzip record, binary and non-HTML records.
source "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
cd "$T"

REAL=/usr/share/doc/bash-doc/bashref.html
[ -f "$REAL" ] || REAL=/usr/share/doc/bash/bashref.html
REAL2=/usr/share/doc/bash-doc/bash.html
[ -f "$REAL2" ] || REAL2=/usr/share/doc/bash/bash.html
if [ ! -f "$REAL" ] || [ ! -f "$REAL2" ]; then
	skip "real HTML" "bash-doc is not installed (scripts/deps.sh installs it)"
	REAL=""
fi

# ---------------------------------------------------------------- real pages, differential
if [ -n "$REAL" ]; then
	"$SPINDLE" extract "$REAL" > real.jsonl 2> err.txt
	check_eq "one document from one HTML file" 1 "$(wc -l < real.jsonl)"
	$PY -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); open("real.txt","w").write(d["text"]); assert d["id"]==sys.argv[2], d["id"]' real.jsonl "$REAL" \
		&& ok "id is the file name" || not_ok "id is the file name"
	check_grep "manual prose is kept" "Bash is the shell, or command language interpreter" real.txt
	$PY "$here/ref_text.py" "$REAL" > ref.txt
	# every extracted line (whitespace collapsed) must occur in the reference text: nothing invented,
	# nothing garbled; and the extracted text must cover most of the reference's words
	out=$($PY - real.txt ref.txt <<'PYEOF'
import re, sys
ours = open(sys.argv[1], encoding="utf-8").read()
ref = open(sys.argv[2], encoding="utf-8").read()
# list markers ("- ", "2. ") and cell separators (" | ") are ours: take them out
lines = [re.sub(r"\s+", " ", re.sub(r"^\s*(- |\d+\. )", "", l).replace(" | ", " ")).strip() for l in ours.split("\n")]
lines = [l for l in lines if len(l) >= 40]
missing = [l for l in lines if l not in ref]
cover = len(ours.split()) / max(1, len(ref.split()))
print(len(lines), len(missing), "%.2f" % cover, (missing[:1] or [""])[0][:120])
PYEOF
)
	set -- $out
	# (a line may miss only through our " | " cell separators meeting a real "|": allow 0.5%)
	check "extracted lines occur in python's html.parser text ($1 lines, $2 missing)" test $(( $2 * 200 )) -le "$1" -a "$1" -gt 200
	check "extracted text covers most of the page (ratio $3)" $PY -c "import sys; sys.exit(not (0.6 <= $3 <= 1.01))"
	check_grep "preformatted examples keep their line breaks" '^ *\$ echo' real.txt
fi

# ---------------------------------------------------------------- made pages
mk() { printf '%s' "$2" > "$1"; }
mk boiler.html '<!DOCTYPE html><html><head><title>Boiler  test</title><style>body{color:red}</style>
<script>var x = "SCRIPTTEXT";</script></head><body>
<nav><a href="/">Home</a> <a href="/a">NAVTEXT</a></nav>
<header><h1>SITEHEADER</h1></header>
<div class="cookie-banner">We use cookies COOKIETEXT</div>
<article><h1>The Article Title<a class="mark" href="#t">#</a></h1>
<p>First paragraph of the article, with <b>bold</b> and <a href="/x">one link</a> inside it.</p>
<ul><li>alpha item</li><li>beta item</li></ul>
<ol><li>first step</li><li>second step</li></ol>
<pre>line one
    indented line two</pre>
<table><tr><td>cell a</td><td>cell b</td></tr></table>
<p>Second&nbsp;paragraph &amp; entities &eacute;t&eacute;.</p></article>
<div id="sidebar">SIDEBARTEXT</div>
<ul><li><a href="/1">Link one</a></li><li><a href="/2">Link two</a></li><li><a href="/3">Link three</a></li></ul>
<div style="display: none">HIDDENTEXT</div>
<footer>FOOTERTEXT</footer></body></html>'
mk broken.html '<html><body><div><p>Unclosed paragraph one<p>Paragraph two <b>bold <i>both</b> italic?</i>
</div></div></span><table><td>stray cell<p>after table</body><p>after body'
mk frag.html 'Just some text <p>and a paragraph without html or body'

"$SPINDLE" extract boiler.html broken.html frag.html > made.jsonl
$PY -c '
import json, sys
for i, line in enumerate(open("made.jsonl")):
    d = json.loads(line)
    open("made%d.txt" % i, "w").write(d["text"])
    open("made%d.meta" % i, "w").write(json.dumps(d["meta"]))
'
for w in SCRIPTTEXT NAVTEXT SITEHEADER COOKIETEXT SIDEBARTEXT HIDDENTEXT FOOTERTEXT "Link one" "body{"; do
	if grep -q "$w" made0.txt; then not_ok "boilerplate '$w' dropped"; else ok "boilerplate '$w' dropped"; fi
done
check_grep "article heading kept" "^The Article Title$" made0.txt
check_grep "paragraph with a single link kept" "with bold and one link inside it." made0.txt
check_grep "list items on their own lines" "^- alpha item$" made0.txt
check_grep "ordered list numbered" "^2. second step$" made0.txt
check_grep "pre keeps indentation" "^    indented line two$" made0.txt
check_grep "table cells separated" "cell a | cell b" made0.txt
check_grep "entities decoded, nbsp a space" "Second paragraph & entities été." made0.txt
check_grep "title in meta" '"title": "Boiler test"' made0.meta
check_grep "broken HTML still yields text" "Unclosed paragraph one" made1.txt
check_grep "broken HTML: text after the body" "after body" made1.txt
check_grep "fragment without html/body" "and a paragraph without html or body" made2.txt

# ---------------------------------------------------------------- charsets
utf='<html><head>%s</head><body><p>Caf\xc3\xa9 na\xc3\xafve \xe2\x80\x9cquoted\xe2\x80\x9d r\xc3\xa9sum\xc3\xa9 d\xc3\xa9j\xc3\xa0 vu, \xc3\xa0 la fa\xc3\xa7on de gar\xc3\xa7on tr\xc3\xa8s \xc3\xa9l\xc3\xa9gant.</p></body></html>'
printf "$utf" '<meta charset="iso-8859-1">' | sed 's/\xe2\x80\x9c\|\xe2\x80\x9d/"/g' | iconv -f UTF-8 -t LATIN1 > latin1.html
printf "$utf" '' | iconv -f UTF-8 -t WINDOWS-1252 > cp1252.html
printf "$utf" '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">' | sed 's/\xe2\x80\x9c\|\xe2\x80\x9d/"/g' | iconv -f UTF-8 -t LATIN1 > wrongdecl.html
jp='<html><head>%s</head><body><p>日本語のテキストです。これは文字コードの試験のための文章で、シフトJISで書かれています。東京都の天気は晴れです。</p></body></html>'
printf "$jp" '' | iconv -f UTF-8 -t SHIFT_JIS > sjis_nodecl.html
printf "$jp" '' | iconv -f UTF-8 -t SHIFT_JIS > sjis_http.html
printf "$utf" '' | iconv -f UTF-8 -t UTF-16 > utf16bom.html
printf "$utf" '' | iconv -f UTF-8 -t UTF-16LE > utf16le.html
$PY "$here/make_warc.py" charsets.warc plain response:latin1.html response:cp1252.html response:wrongdecl.html \
	response:sjis_nodecl.html "response:sjis_http.html:text/html; charset=Shift_JIS" response:utf16bom.html \
	response:utf16le.html
"$SPINDLE" extract charsets.warc > cs.jsonl
$PY -c '
import json
for line in open("cs.jsonl"):
    d = json.loads(line)
    print(d["meta"]["url"].rsplit("/", 1)[-1], d["meta"]["charset"], d["meta"]["charset_source"], d["text"].replace("\n", " "))
' > cs.txt
for f in latin1 cp1252 wrongdecl utf16bom utf16le; do
	check_grep "charset: $f page decoded" "^$f.html .*Café naïve .*résumé déjà vu" cs.txt
done
check_grep "charset: windows-1252 curly quotes" "^cp1252.html .*“quoted”" cs.txt
check_grep "charset: latin-1 from <meta>" "^latin1.html windows-1252 meta" cs.txt
check_grep "charset: wrong utf-8 declaration overridden" "^wrongdecl.html windows-1252 sniffed\|^wrongdecl.html iso-8859-1 sniffed" cs.txt
check_grep "charset: Shift_JIS from the HTTP header" "^sjis_http.html shift_jis http 日本語のテキストです。" cs.txt
check_grep "charset: undeclared Shift_JIS sniffed" "^sjis_nodecl.html shift_jis sniffed 日本語のテキストです。" cs.txt
check_grep "charset: UTF-16 without BOM" "^utf16le.html utf-16le sniffed" cs.txt

# ---------------------------------------------------------------- WARC forms and skipped records
# binary bytes declared text/html: a real executable's first 3000 bytes behind a lone 0xff, which
# must not pass for half a UTF-16 byte-order mark (it once did, for 1 in 128 random payloads)
{ printf '\xff'; head -c 3000 /bin/sh; } > garbage.bin
printf '\x89PNG\r\n\x1a\n' > image.png; head -c 500 /bin/sh >> image.png
pages=(boiler.html broken.html)
[ -n "$REAL" ] && pages+=("$REAL" "$REAL2")
specs=()
for p in "${pages[@]}"; do specs+=("response:$p"); done
$PY "$here/make_warc.py" a.warc plain request: "${specs[@]}" status404:boiler.html "response:image.png:image/png" \
	"response:garbage.bin:text/html" resource:frag.html
"$SPINDLE" extract --stats st.json a.warc > a.jsonl
n_html=$(( ${#pages[@]} + 1 ))
check_eq "one document per HTML response/resource" "$n_html" "$(wc -l < a.jsonl)"
skips=$($PY -c 'import json; s=json.load(open("st.json"))["skipped"]; print(" ".join("%s=%d" % kv for kv in sorted(s.items())))')
check_eq "skipped records counted by reason" "binary=1 http_status=1 not_html=1 warc_request=1 warc_warcinfo=1" "$skips"
check "stats validate against the schema" $PY "$root/tests/schemas/validate.py" "$root/schemas/stats.schema.json" st.json
check "documents validate against the schema" $PY "$root/tests/schemas/validate.py" "$root/schemas/document.schema.json" a.jsonl
check_grep "meta has url, date, record id, content type" '"url":"http://test.example/2/boiler.html","date":"2024-03-03T12:00:00Z","warc_record_id":"<urn:uuid:00000000-0000-0000-0000-000000000003>","content_type":"text/html"' a.jsonl

$PY "$here/make_warc.py" b.warc.gz gzip-records request: "${specs[@]}" status404:boiler.html "response:image.png:image/png" \
	"response:garbage.bin:text/html" resource:frag.html
$PY "$here/make_warc.py" c.warc.gz gzip-whole request: "${specs[@]}" status404:boiler.html "response:image.png:image/png" \
	"response:garbage.bin:text/html" resource:frag.html
zstd -q -19 a.warc -o d.warc.zst
for f in b.warc.gz c.warc.gz d.warc.zst; do
	"$SPINDLE" extract "$f" | sed 's/"source":"[^"]*"//' > "$f.jsonl"
	check_files "$f gives the same documents as the plain WARC" <(sed 's/"source":"[^"]*"//' a.jsonl) "$f.jsonl"
done
cat a.warc a.warc | "$SPINDLE" extract > stdin.jsonl
check_eq "WARC on stdin" "$((2 * n_html))" "$(wc -l < stdin.jsonl)"

# a truncated gzip member (one record) in the middle of a per-record gzip WARC
$PY "$here/make_warc.py" t.warc.gz gzip-records response:boiler.html truncated:broken.html response:frag.html
"$SPINDLE" extract --stats tst.json t.warc.gz > t.jsonl 2> t.err
rc=$?
check_eq "truncated gzip record: run succeeds" 0 "$rc"
check_eq "truncated gzip record: records around it kept" 2 "$(wc -l < t.jsonl)"
check_grep "truncated gzip record: the next record is read" "frag.html" t.jsonl
check_grep "truncated gzip record counted" '"damaged_record":1' tst.json
# a file cut in the middle of its last member
head -c $(( $(stat -c %s b.warc.gz) - 200 )) b.warc.gz > cut.warc.gz
check_rc "file cut mid-record: exit 0" 0 "$SPINDLE" extract cut.warc.gz
check_rc "unreadable file skipped by default" 0 "$SPINDLE" extract no-such-file.warc
check_rc "unreadable file fails with --on-error=fail" 3 "$SPINDLE" extract --on-error=fail no-such-file.warc
check_grep "error names the file" "no-such-file.warc" "$T/.out"

# ---------------------------------------------------------------- HTTP Content-Encoding
# bodies stored as the server sent them (wget --warc-file does): encoded here by the real tools
# (gzip, zstd, Python's zlib, Node's brotli); every one must give the text of the page itself
P=${REAL:-$T/boiler.html}
gzip -9c < "$P" > body.gz
head -c $(( $(stat -c %s "$P") / 2 )) "$P" | gzip -c > body2.gz
tail -c +$(( $(stat -c %s "$P") / 2 + 1 )) "$P" | gzip -c >> body2.gz    # two gzip members
$PY -c 'import sys, zlib; d = open(sys.argv[1], "rb").read(); open("body.zlib", "wb").write(zlib.compress(d, 9))
c = zlib.compressobj(9, zlib.DEFLATED, -15); open("body.raw", "wb").write(c.compress(d) + c.flush())' "$P"
zstd -q -c < "$P" > body.zst
codes=(gzip:body.gz x-gzip:body.gz gzip:body2.gz deflate:body.zlib deflate:body.raw zstd:body.zst identity:"$P")
if command -v node >/dev/null 2>&1; then
	node -e 'const z = require("zlib"), fs = require("fs"); const d = fs.readFileSync(process.argv[1]);
	fs.writeFileSync("body.br", z.brotliCompressSync(d)); fs.writeFileSync("body.gz.br", z.brotliCompressSync(fs.readFileSync("body.gz")));' "$P"
	codes+=(br:body.br "gzip, br":body.gz.br)
else
	skip "Content-Encoding: br" "node is not installed (scripts/deps.sh installs it)"
fi
"$SPINDLE" extract "$P" > plain.jsonl
want=$($PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["text"] == "" and "EMPTY" or "ok")' plain.jsonl)
check_eq "the page itself extracts" ok "$want"
for c in "${codes[@]}"; do
	coding=${c%%:*} file=${c#*:}
	$PY "$here/make_warc.py" enc.warc plain "coded:$file:$coding"
	"$SPINDLE" extract --stats enc.json enc.warc > enc.jsonl
	same=$($PY -c 'import json,sys; a=[json.loads(l)["text"] for l in open(sys.argv[1])]; b=json.loads(open(sys.argv[2]).readline())["text"]; print("same" if a == [b] else "differs (%d docs)" % len(a))' enc.jsonl plain.jsonl)
	check_eq "Content-Encoding: $coding ($file) decodes to the page's text" same "$same"
done
# Common Crawl stores bodies decoded but older crawls kept the header: a body that reads as HTML is kept
$PY "$here/make_warc.py" enc.warc plain "coded:$P:gzip"
"$SPINDLE" extract enc.warc > enc.jsonl
check_eq "a decoded body under a gzip header is kept as it is" 1 "$(wc -l < enc.jsonl)"
# what cannot be decoded is skipped and counted, never passed on as text
head -c $(( $(stat -c %s body.gz) / 2 )) body.gz > body.cut.gz
head -c 3000000 /dev/zero | gzip -c > bomb.gz   # 3 MB from a few KB: over --max-record-mb 1 once decoded
$PY "$here/make_warc.py" enc.warc plain "coded:body.cut.gz:gzip" "coded:body.gz:compress" "coded:body.zst:gzip" "coded:bomb.gz:gzip" "coded:body.gz:gzip"
"$SPINDLE" extract --max-record-mb 1 --stats enc.json enc.warc > enc.jsonl
skips=$($PY -c 'import json; s=json.load(open("enc.json"))["skipped"]; print(" ".join("%s=%d" % kv for kv in sorted(s.items()) if "encoding" in kv[0] or "large" in kv[0]))')
check_eq "undecodable bodies skipped and counted by reason" "bad_content_encoding=2 content_encoding=1 decoded_too_large=1" "$skips"
check_eq "only the good body becomes a document" 1 "$(wc -l < enc.jsonl)"

# threads keep the input order
"$SPINDLE" extract -j 3 a.warc b.warc.gz c.warc.gz > j3.jsonl
"$SPINDLE" extract a.warc b.warc.gz c.warc.gz > j1.jsonl
check_files "--threads 3 gives the same output as 1" j1.jsonl j3.jsonl

# a compressed HTML page on stdin, and empty input
zstd -qc < boiler.html | "$SPINDLE" extract > zin.jsonl
check_grep "zstd-compressed HTML on stdin" '"id":"-","text":"The Article Title' zin.jsonl
printf '' | "$SPINDLE" extract --stats est.json > empty.jsonl
check_eq "empty input: no document" 0 "$(wc -l < empty.jsonl)"
check_grep "empty input counted" '"empty":1' est.json
