#!/usr/bin/env bash
# t_dedup.sh - spindle dedup exact, minhash, lines and eval on hand-made and real documents.
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
PY=/usr/bin/python3
GPL=/usr/share/common-licenses/GPL-3
APACHE=/usr/share/common-licenses/Apache-2.0
# jsonl ID TEXTFILE [META]: one record from a file's text
rec() { $PY - "$@" <<'PYEOF'
import json, sys
meta = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
print(json.dumps({"id": sys.argv[1], "text": open(sys.argv[2], encoding="utf-8").read(), "meta": meta}, ensure_ascii=False))
PYEOF
}
# a copy of the GPL with every 50th word changed: Jaccard of 5-word shingles about 0.9
$PY - "$GPL" > "$T/gpl-edit.txt" <<'PYEOF'
import sys
w = open(sys.argv[1]).read().split(" ")
print(" ".join(x + "zz" if i % 50 == 0 else x for i, x in enumerate(w)))
PYEOF
printf '!!! ... ---\n' > "$T/nowords.txt"
printf 'word\n' > "$T/oneword.txt"
{
	rec a "$GPL" '{"q": 1}'
	rec b "$APACHE"
	rec c "$T/gpl-edit.txt" '{"q": 5}'
	rec d "$T/nowords.txt"
	rec e "$T/nowords.txt"
	rec f "$T/oneword.txt"
	rec a "$APACHE"
} > "$T/hand.jsonl"

"$S" dedup minhash -q --clusters "$T/cl.jsonl" < "$T/hand.jsonl" > "$T/out.jsonl"
check_eq "near-duplicate GPL and the Apache copy under a duplicate id removed; no-word, one-word docs kept" \
	"a b d e f" "$(jq -r .id "$T/out.jsonl" 2>/dev/null | tr '\n' ' ' | sed 's/ $//' || true)"
check_eq "clusters file names removed and kept ids" '{"id":"c","cluster":0,"kept":"a"}|{"id":"a","cluster":1,"kept":"b"}' "$(paste -sd'|' "$T/cl.jsonl")"
check_eq "the duplicate id (second Apache copy) is removed by exact, not minhash-confused" \
	"a b c d f" "$("$S" dedup exact -q < "$T/hand.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')"
check "kept records are the input bytes" cmp <(sed -n 2p "$T/hand.jsonl") <(sed -n 2p "$T/out.jsonl")
out=$("$S" dedup minhash -q --keep longest < "$T/hand.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')
check_eq "--keep longest keeps the edited (longer) GPL" "b c d e f" "$out"
out=$("$S" dedup minhash -q --keep field:meta.q < "$T/hand.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')
check_eq "--keep field:meta.q keeps the higher score" "b c d e f" "$out"
"$S" dedup minhash -q --verify --threshold 0.95 < "$T/hand.jsonl" > "$T/v95.jsonl"
check_eq "--verify --threshold 0.95 keeps a pair of Jaccard ~0.9" 6 "$(wc -l < "$T/v95.jsonl")"
"$S" dedup eval -q --threshold 0.8 "$T/hand.jsonl" > "$T/eval.json"
check_grep "eval finds the one exact pair" '"exact_pairs":2' "$T/eval.json"

# CJK and Thai near-duplicates
$PY > "$T/cjk.jsonl" <<'PYEOF'
import json
zh = "北京大学是中国最著名的大学之一，位于北京市海淀区。学校有很多图书馆和博物馆，学生们每天在这里学习和研究。" * 3
th = "ภาษาไทยเป็นภาษาที่สวยงามมาก คนไทยพูดภาษาไทยทุกวัน และเรียนภาษาอังกฤษที่โรงเรียน" * 3
for i, t in enumerate([zh, zh.replace("博物馆", "美术馆", 1), th, th.replace("ทุกวัน", "บางวัน", 1), "完全不同的另一篇文章，讲的是足球比赛和天气预报。"]):
    print(json.dumps({"id": str(i), "text": t}, ensure_ascii=False))
PYEOF
check_eq "Chinese and Thai near-duplicates removed" "0 2 4" \
	"$("$S" dedup minhash -q --threshold 0.6 < "$T/cjk.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')"

# exact: normalisation and --key
printf '%s\n' '{"id":"1","text":"Hello   World","meta":{"url":"u1"}}' '{"id":"2","text":"hello world","meta":{"url":"u2"}}' \
	'{"id":"3","text":"HELLO WORLD!","meta":{"url":"u1"}}' '{"id":"4","text":"x"}' > "$T/ex.jsonl"
check_eq "exact: case and space folded by default" "1 3 4" "$("$S" dedup exact -q < "$T/ex.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')"
check_eq "exact: punct folding" "1 4" "$("$S" dedup exact -q --normalize case,space,punct < "$T/ex.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')"
check_eq "exact: none" "1 2 3 4" "$("$S" dedup exact -q --normalize none < "$T/ex.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')"
check_eq "exact --key meta.url (records without it kept)" "1 2 4" "$("$S" dedup exact -q --key meta.url < "$T/ex.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')"
check_rc "unknown normalisation is a usage error" 2 "$S" dedup exact --normalize bogus
printf '{"id":"1","text":"a"}\n{"id":2 oops}\n' > "$T/bad.jsonl"
check_rc "malformed record fails with exit 1" 1 "$S" dedup minhash -q "$T/bad.jsonl"
check_grep "error names file and line" "bad.jsonl:2" "$T/.out"

# real corpus: exact, threads
D=$(doc_corpus 300)
"$S" dedup exact -q "$D" > "$T/e1.jsonl"
"$S" dedup exact -q --threads 3 "$D" > "$T/e3.jsonl"
check_files "exact --threads 3 == 1" "$T/e1.jsonl" "$T/e3.jsonl"
check "exact removes something on real docs" test "$(wc -l < "$T/e1.jsonl")" -lt 300
"$S" dedup minhash -q --verify --threads 2 "$D" > "$T/m2.jsonl"
"$S" dedup minhash -q --verify "$D" > "$T/m1.jsonl"
check_files "minhash --verify --threads 2 == 1" "$T/m1.jsonl" "$T/m2.jsonl"
"$S" dedup eval -q --verify "$D" > "$T/ev.json"
check_grep "eval --verify: precision 1" '"precision":1.000000' "$T/ev.json"

# lines: a footer in 3 documents is removed with -k 2; the staged count/filter gives the same
printf '%s\n' '{"id":"1","text":"alpha one\nCookie banner: accept all\nmore alpha"}' \
	'{"id":"2","text":"beta two\ncookie BANNER: accept all!"}' '{"id":"3","text":"Cookie banner: accept all"}' \
	'{"id":"4","text":"gamma\ndelta"}' > "$T/li.jsonl"
"$S" dedup lines -q -k 2 < "$T/li.jsonl" > "$T/li-out.jsonl"
check_eq "lines: boilerplate removed, emptied doc dropped" "alpha one|more alpha;beta two|;gamma|delta" \
	"$($PY -c 'import sys,json; print(";".join(json.loads(l)["text"].replace("\n","|") for l in open(sys.argv[1])))' "$T/li-out.jsonl")"
check "lines: untouched record is byte-identical" cmp <(sed -n 4p "$T/li.jsonl") <(sed -n 3p "$T/li-out.jsonl")
"$S" dedup lines -q -k 3 < "$T/li.jsonl" > "$T/li-k3.jsonl"
check_files "lines -k 3 keeps a line found in 3 docs" "$T/li.jsonl" "$T/li-k3.jsonl"
split -n l/3 -d --additional-suffix=.jsonl "$D" "$T/ls-"
LS=("$T"/ls-0*.jsonl)
"$S" dedup lines -q "${LS[@]}" > "$T/lp.jsonl"
for i in 0 1 2; do "$S" dedup lines -q --counts-out "$T/c-$i.bin" --shard $i/3 "${LS[@]}"; done
for i in 0 1 2; do "$S" dedup lines -q --counts "$T/c-0.bin" --counts "$T/c-1.bin" --counts "$T/c-2.bin" --shard $i/3 "${LS[@]}"; done > "$T/ls.jsonl"
check_files "lines staged (3 count jobs, 3 filter jobs) == one process" "$T/lp.jsonl" "$T/ls.jsonl"

# a 50 MB document (slow: SPINDLE_SLOW=1)
if [ -n "${SPINDLE_SLOW:-}" ]; then
	$PY -c '
import json, random
random.seed(1)
w = ["w%d" % i for i in range(50000)]
t = " ".join(random.choice(w) for _ in range(8000000))
print(json.dumps({"id": "big", "text": t})); print(json.dumps({"id": "big2", "text": t + " tail"}))' > "$T/big.jsonl"
	check_eq "50 MB near-duplicate documents: one kept" big "$("$S" dedup minhash -q --verify < "$T/big.jsonl" | $PY -c 'import sys,json; print(" ".join(json.loads(l)["id"] for l in sys.stdin))')"
else
	skip "50 MB document" "set SPINDLE_SLOW=1"
fi
