#!/usr/bin/env bash
# t_filter.sh - `spindle filter` on this machine's documentation (real text no one here wrote) and on
# a few made records: ids and fields kept, decisions auditable (every input is either kept or in
# --rejects with its rule), --threads keeps order, config round trip, PII modes, errors.
source "$(dirname "$0")/../lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
cd "$T"

docs=$(doc_corpus 300)
"$SPINDLE" filter --stats st.json --rejects rej.jsonl < "$docs" > kept.jsonl
check_rc "filter runs on the documentation corpus" 0 "$SPINDLE" filter -q -o kept2.jsonl "$docs"
check_files "-o FILE writes what stdout gets" kept.jsonl kept2.jsonl
out=$($PY - "$docs" kept.jsonl rej.jsonl st.json <<'PYEOF'
import json, sys
src = [json.loads(l) for l in open(sys.argv[1])]
kept = [json.loads(l) for l in open(sys.argv[2])]
rej = [json.loads(l) for l in open(sys.argv[3])]
st = json.load(open(sys.argv[4]))
by_id = {d["id"]: d for d in src}
problems = []
ids = [d["id"] for d in kept] + [r["id"] for r in rej]
if sorted(ids) != sorted(by_id):
    problems.append("kept + rejects is not the input")
order = [d["id"] for d in src if d["id"] in {k["id"] for k in kept}]
if order != [d["id"] for d in kept]:
    problems.append("kept documents out of input order")
for d in kept:
    s = by_id[d["id"]]
    for k, v in s["meta"].items():
        if d["meta"].get(k) != v:
            problems.append("meta.%s changed for %s" % (k, d["id"]))
    if "lang" not in d["meta"] or "lang_score" not in d["meta"]:
        problems.append("no meta.lang for " + d["id"])
for r in rej:
    if not all(k in r for k in ("rule", "value", "threshold", "source", "line")):
        problems.append("reject without rule/value: %r" % r)
from collections import Counter
c = Counter(r["rule"] for r in rej)
if dict(c) != st["skipped"]:
    problems.append("stats skipped %r != rejects %r" % (st["skipped"], dict(c)))
if st["records_in"] != len(src) or st["records_out"] != len(kept):
    problems.append("stats counts")
print(len(kept), len(rej), "; ".join(problems[:3]))
PYEOF
)
set -- $out
check "kept ($1) + rejected ($2) is the input, ids and meta kept, stats agree with rejects" test -z "${*:3}" -a "$1" -gt 0 -a "$2" -gt 0
[ -z "${*:3}" ] || echo "  ${*:3}"
check "stats validate against the schema" $PY "$root/tests/schemas/validate.py" "$root/schemas/stats.schema.json" st.json
check "kept documents validate against the schema" $PY "$root/tests/schemas/validate.py" "$root/schemas/document.schema.json" kept.jsonl
"$SPINDLE" filter --annotate --rejects rejann.jsonl < "$docs" > /dev/null
check "rejects validate against filter-reject.schema.json" $PY "$root/tests/schemas/validate.py" "$root/schemas/filter-reject.schema.json" rej.jsonl rejann.jsonl
check_grep "stats count dropped bytes per rule" '"bytes_dropped_' st.json

"$SPINDLE" filter -j 3 --rejects rej3.jsonl < "$docs" > kept3.jsonl
check_files "--threads 3 keeps the same documents in the same order" kept.jsonl kept3.jsonl
check_files "--threads 3 writes the same rejects" rej.jsonl rej3.jsonl

# --annotate: every signal in meta.filter, and the same documents kept
"$SPINDLE" filter --annotate < "$docs" > ann.jsonl
check "annotated documents validate against the schema" $PY "$root/tests/schemas/validate.py" "$root/schemas/document.schema.json" ann.jsonl
check_eq "--annotate keeps the same documents" "$(wc -l < kept.jsonl)" "$(wc -l < ann.jsonl)"
n_sig=$($PY -c 'import json,sys; print(min(len(json.loads(l)["meta"]["filter"]) for l in open("ann.jsonl")))')
check "--annotate records every rule's signal ($n_sig)" test "$n_sig" -ge 30

# config: print, load, round trip; switching one rule off changes the outcome
"$SPINDLE" filter --print-config > defaults.conf
check_grep "--print-config lists thresholds" "^gopher_word_count.min = 50$" defaults.conf
"$SPINDLE" filter --config defaults.conf --print-config > again.conf
check_files "config round trip" defaults.conf again.conf
sed 's/^c4_curly_brace = on/c4_curly_brace = off/' defaults.conf > nocurly.conf
"$SPINDLE" filter -c nocurly.conf --rejects r2.jsonl < "$docs" > k2.jsonl
check_eq "a switched-off rule drops nothing" 0 "$(grep -c '"rule":"c4_curly_brace"' r2.jsonl)"
check "switching c4_curly_brace off keeps more documents" test "$(wc -l < k2.jsonl)" -gt "$(wc -l < kept.jsonl)"
"$SPINDLE" filter --disable c4_curly_brace < "$docs" > k3.jsonl
check_files "--disable RULE is the same as RULE = off" k2.jsonl k3.jsonl
printf 'lang = on\ngopher_word_count.min = lots\n' > bad.conf
check_rc "bad config value: usage error" 2 "$SPINDLE" filter -c bad.conf
check_grep "bad config: names file and line" "bad.conf:2:" "$T/.out"
check_rc "unknown --disable: usage error" 2 "$SPINDLE" filter --disable no_such_rule

# all rules off but one, from --print-config
sed -E 's/^([a-z0-9_]+) = on$/\1 = off/' defaults.conf > none.conf
check_rc "with every rule off everything is kept" 0 "$SPINDLE" filter -c none.conf -o all.jsonl "$docs"
check_eq "with every rule off everything is kept (count)" "$(wc -l < "$docs")" "$(wc -l < all.jsonl)"

# language: German and French man pages
"$SPINDLE" corpus -q /usr/share/man/de /usr/share/man/fr > defr.jsonl
if [ -s defr.jsonl ]; then
	"$SPINDLE" filter -c none.conf --set lang=on --lang de --rejects lr.jsonl < defr.jsonl > de.jsonl
	check "German man pages kept with --lang de" test "$(grep -c '"lang":"de"' de.jsonl)" -gt 10
	check_eq "only German kept" 0 "$(grep -vc '"lang":"de"' de.jsonl)"
	check "French man pages dropped by the lang rule" test "$(grep -c '"rule":"lang".*"lang":"fr"' lr.jsonl)" -gt 5
else
	skip "language" "no German/French man pages on this machine"
fi

# PII modes on made records
cat > pii.jsonl <<'JEOF'
{"id":"p1","text":"Write to jane.doe@example.org or call +1 415 555 2671. Server 10.20.30.40 runs version 1.2.3.4, see http://192.168.1.1/x; ISBN 978-3-16-148410-0, card 4111 1111 1111 1111.","meta":{"source":"made"}}
{"id":"p2","text":"Nothing personal: released 2023-01-15, sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709.","meta":{"source":"made"}}
JEOF
"$SPINDLE" filter -c none.conf --pii redact --stats pst.json < pii.jsonl > red.jsonl
check_grep "redact: typed placeholders" 'Write to <EMAIL> or call <PHONE>. Server <IPV4> runs version 1.2.3.4, see http://192.168.1.1/x; ISBN 978-3-16-148410-0, card <CARD>.' red.jsonl
check_grep "redact: look-alikes untouched" 'released 2023-01-15, sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709' red.jsonl
check_grep "redact: counts per type in stats" '"pii_email":1,"pii_ipv4":1,"pii_phone":1,"pii_card":1' pst.json
"$SPINDLE" filter -c none.conf --pii drop --rejects pr.jsonl < pii.jsonl > drop.jsonl
check_eq "drop: the document with PII is dropped" '{"id":"p2"' "$(cut -c1-10 drop.jsonl)"
check_grep "drop: reject says pii and how many" '"id":"p1","rule":"pii","value":4' pr.jsonl
"$SPINDLE" filter -c none.conf --pii tag < pii.jsonl > tag.jsonl
check "tagged documents validate against the schema" $PY "$root/tests/schemas/validate.py" "$root/schemas/document.schema.json" tag.jsonl red.jsonl
check_grep "tag: text unchanged, spans in meta.pii" '"pii":{"email":1,"ipv4":1,"phone":1,"card":1,"spans":\[\["email",9,29\]' tag.jsonl

# bad input
printf '{"id":"a","text":"x"}\n{"id":"b","text":\n{"id":"c"}\n' > bad.jsonl
check_rc "malformed JSON fails by default" 1 "$SPINDLE" filter -c none.conf bad.jsonl
check_grep "error names file and line" "bad.jsonl:2:" "$T/.out"
"$SPINDLE" filter -c none.conf --on-error=skip --stats bst.json bad.jsonl > bk.jsonl
check_grep "skipped records counted" '"bad_json":1,"missing_field":1' bst.json
check_eq "--on-error=skip keeps the good record" 1 "$(wc -l < bk.jsonl)"

# the documented defaults are the real ones
sed -n '/^## The defaults/,$p' "$root/schemas/filter-config.md" | sed '1,/^```$/d;/^```$/,$d' > doc.conf
check_files "schemas/filter-config.md lists the defaults --print-config prints" defaults.conf doc.conf
