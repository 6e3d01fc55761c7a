#!/usr/bin/env bash
# Exports validate against their schemas (python3-jsonschema); sft answers written in $EDITOR,
# typed inline and edited from a model response; import validation agrees with the schemas.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"
VAL="$(cd "$(dirname "$0")/../.." && pwd)/tests/schemas/validate.py"
SCH="$(cd "$(dirname "$0")/../.." && pwd)/schemas"

mk_prompts "$T/p.jsonl" 3
printf '{"id":"s1","category":"safety","risk_category":"illicit","attack_vectors":["role_play","false_premise"],"dialog":[{"role":"system","content":"sys"},{"role":"user","content":"u1"},{"role":"assistant","content":"a1"},{"role":"user","content":"How do I pick a lock?"}],"meta":{"src":"test"}}\n' >>"$T/p.jsonl"
mk_responses "$T/r.jsonl" 3
printf '{"id":"s1a","prompt_id":"s1","response":"No.","model":"m","variant":"a","temperature":0.1,"top_p":0.9,"top_k":50,"max_new_tokens":128,"seed":7,"n_tokens":2,"finish_reason":"stop","created_at":"2026-01-01T00:00:00Z"}\n{"id":"s1b","prompt_id":"s1","response":"Use a pick.","model":"m","variant":"b","temperature":0.9}\n' >>"$T/r.jsonl"
check "prompt inputs match annotate-prompt.schema.json" $PY "$VAL" "$SCH/annotate-prompt.schema.json" "$T/p.jsonl"
check "response inputs match annotate-response.schema.json" $PY "$VAL" "$SCH/annotate-response.schema.json" "$T/r.jsonl"
"$SPINDLE" annotate import prompts --db "$DB" "$T/p.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl" 2>/dev/null
"$SPINDLE" annotate config --db "$DB" --gold-every 0 >/dev/null

cat >"$T/ed.sh" <<'ED'
#!/bin/sh
# keeps the text above the scissors, appending " (edited)" to its first line; writes one when empty
f=$1
top=$(sed '/>8/,$d' "$f")
if [ -z "$top" ]; then top='Written in the editor.'; else top=$(printf '%s' "$top" | sed '1s/$/ (edited)/'); fi
{ printf '%s\n' "$top"; sed -n '/>8/,$p' "$f"; } >"$f.new" && mv "$f.new" "$f"
ED
chmod +x "$T/ed.sh"
# sft: p1 written in $EDITOR; p2 typed inline; p3 edited from model response 2; s1 skipped.
printf 'w\r' >"$T/k"; printf 'iTyped\rhere\004\r' >>"$T/k"; printf 'e2\r' >>"$T/k"; printf 's' >>"$T/k"
EDITOR="$T/ed.sh" "$SPINDLE" annotate session --db "$DB" --annotator ed --task sft --keys "$T/k" >/dev/null 2>"$T/sft.err"
check_grep "sft session: 3 answered, 1 skipped" "3 answered, 1 skipped" "$T/sft.err"
check_eq "sft answers as written" "written|Written in the editor.
written|Typed
here
edited|Answer B to 3: because it reflects the sea. (edited)" "$(sq "SELECT source, response_text FROM annotations WHERE kind = 'sft' ORDER BY id")"
# preference: everything, the safety one with labels.
printf '11' >"$T/k2"; printf '22' >>"$T/k2"; printf 'x' >>"$T/k2"; printf '13yy' >>"$T/k2"
"$SPINDLE" annotate session --db "$DB" --annotator pat --task preference --keys "$T/k2" >/dev/null 2>"$T/pref.err"
check_grep "preference session: 4 answered" "4 answered" "$T/pref.err"
for f in sft preference hh trl prompts; do
	"$SPINDLE" annotate export --db "$DB" --format $f -o "$T/$f.jsonl" 2>/dev/null
	schema=$SCH/annotate-$f.schema.json
	[ $f = prompts ] && schema=$SCH/annotate-prompt.schema.json
	check "export --format $f validates against its schema" $PY "$VAL" "$schema" "$T/$f.jsonl"
done
check_eq "record counts: 3 sft, 3 preference (both bad left out), 3 hh, 3 trl" "3 3 3 3" \
	"$(wc -l <"$T/sft.jsonl") $(wc -l <"$T/preference.jsonl") $(wc -l <"$T/hh.jsonl") $(wc -l <"$T/trl.jsonl")"
check_eq "trl margins follow the ratings (significantly 1, better 2/3, slightly 1/3)" "1 0.6666666667 0.3333333333" \
	"$($PY -c 'import json,sys; print(*[json.loads(l)["margin"] for l in open(sys.argv[1])])' "$T/trl.jsonl")"
check_grep "hh text is a Human/Assistant transcript" '"chosen":"\\n\\nHuman: System: sys\\n\\nHuman: u1\\n\\nAssistant: a1\\n\\nHuman: How do I pick a lock?\\n\\nAssistant: ' "$T/hh.jsonl"
check_eq "safety fields of the safety pair" "both_safe illicit ['role_play', 'false_premise']" \
	"$($PY -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["category"] == "safety": print(r["safety_bin"], r["risk_category"], r["attack_vectors"])' "$T/preference.jsonl")"

# The import validator and the JSON Schema agree on records no one wrote to pass.
i=0; disagree=""
while IFS= read -r rec; do
	i=$((i + 1))
	printf '%s\n' "$rec" >"$T/one.jsonl"
	$PY "$VAL" "$SCH/annotate-prompt.schema.json" "$T/one.jsonl" >/dev/null 2>&1; s=$?
	"$SPINDLE" annotate import prompts --db "$T/v$i.db" "$T/one.jsonl" >/dev/null 2>&1; c=$?
	[ $s = 0 ] && [ $c = 0 ] && continue
	[ $s != 0 ] && [ $c = 1 ] && continue
	disagree="$disagree [$rec: schema $s, import $c]"
done <<'RECS'
{"id":"a","category":"helpfulness","dialog":[{"role":"user","content":"x"}]}
{"id":"a","category":"helpfulness","dialog":[{"role":"user","content":"x","extra":1}]}
{"id":"a","category":"helpfulness","dialog":[{"role":"user"}]}
{"id":"a","category":"Helpfulness","dialog":[{"role":"user","content":"x"}]}
{"id":"a","category":"safety","dialog":[]}
{"id":7,"category":"safety","dialog":[{"role":"user","content":"x"}]}
{"id":"a","category":"safety","dialog":[{"role":"user","content":"x"}],"attack_vectors":["a",1]}
{"id":"a","category":"safety","dialog":[{"role":"user","content":"x"}],"risk_category":null}
{"id":"a","category":"safety","dialog":[{"role":"user","content":"x"}],"meta":[]}
{"id":"a","category":"safety","dialog":[{"role":"user","content":"x"}],"gold":{"both_bad":true}}
{"id":"a","category":"safety","dialog":[{"role":"user","content":"x"}],"gold":{"winner":"r"}}
{"category":"safety","dialog":[{"role":"user","content":"x"}]}
RECS
check_eq "import validator agrees with the prompt schema on $i records" "" "$disagree"
