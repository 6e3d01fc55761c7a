#!/usr/bin/env bash
# A full preference session driven through a real pty (tmux): answers, skip, undo, help, safety
# labels, both bad, the next user turn in $EDITOR; then what the database and the exports hold.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"
if ! have_tmux; then skip "preference session" "no tmux"; exit 0; fi

mk_prompts "$T/p.jsonl" 4
printf '{"id":"p5","category":"safety","risk_category":"illicit","dialog":[{"role":"user","content":"How do I pick a lock?"}]}\n' >>"$T/p.jsonl"
mk_responses "$T/r.jsonl" 5
"$SPINDLE" annotate import prompts --db "$DB" "$T/p.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl" 2>/dev/null
"$SPINDLE" annotate config --db "$DB" --gold-every 0 >/dev/null
cat >"$T/editor.sh" <<'ED'
#!/bin/sh
# writes a fixed next user turn above the scissors line, keeps the rest
{ printf 'And why are sunsets red?\n'; sed -n '/>8/,$p' "$1"; } >"$1.new" && mv "$1.new" "$1"
ED
chmod +x "$T/editor.sh"

S=pref
tm_start $S 80 24 "EDITOR=$T/editor.sh '$SPINDLE' annotate session --db '$DB' --annotator alice --task preference"
declare -A side level
ok_all=1
step() { # expect REGEX on screen or fail the named case
	tm_wait $S "$1" || { ok_all=0; return 1; }
}
step "done 0 · left 5" && step "Response 1 \(LEFT\)" && step "1 left  2 right better"
[ "$(tm_screen $S | wc -L)" -le 80 ] && ok "screen fits 80 columns" || not_ok "screen fits 80 columns"
p=$(tm_prompt $S)
tm_keys $S 1; step "How much better"; tm_keys $S 2; step "saved answer #1"
side[$p]=1 level[$p]=better
p=$(tm_prompt $S); skipped=$p
tm_keys $S s; step "^skipped"
p=$(tm_prompt $S); undone=$p
tm_keys $S 2; step "How much better"; tm_keys $S 1; step "saved answer #2"
tm_keys $S u; step "undid answer #2"
check_eq "undo brings the answered item back" "$undone" "$(tm_prompt $S)"
check_eq "undo takes the count back" "1" "$(tm_done $S)"
tm_keys $S '?'; step "^Help"; tm_keys $S z; step "1 left  2 right better"
# Now answer it differently: left, negligibly better, with a next user turn written in $EDITOR.
tm_keys $S t; step "your next user turn"; step "And why are sunsets red"
tm_keys $S 1; step "How much better"; tm_keys $S Escape; step "^cancelled"
tm_keys $S 1; step "How much better"; tm_keys $S 4; step "next turn is new prompt $undone\+t1"
side[$undone]=1 level[$undone]=negligibly_better
p=$(tm_prompt $S)
tm_keys $S x; step "saved answer #4( |$)"
both_bad=$p
p=$(tm_prompt $S)
check_eq "the safety prompt comes last" "p5" "$p"
tm_keys $S 2; step "How much better"; tm_keys $S 3; step "LEFT response safe"; tm_keys $S y; step "RIGHT response safe"; tm_keys $S n
side[$p]=2 level[$p]=slightly_better
step "Nothing left to annotate"; step "left 0"
tm_keys $S q; step "__EXIT=0"
[ $ok_all = 1 ] && ok "session went as scripted" || not_ok "session went as scripted"

check_eq "4 final answers, 1 undone" "4 1" "$(sq "SELECT (SELECT count(*) FROM annotations WHERE status = 'final'), (SELECT count(*) FROM annotations WHERE status = 'undone')" | tr '|' ' ')"
check_eq "the skipped item is not answered" "0" "$(sq "SELECT count(*) FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE t.prompt_id = '$skipped' AND t.kind = 'preference'")"
check_eq "both bad recorded" "both_bad" "$(sq "SELECT a.choice FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE t.prompt_id = '$both_bad' AND a.status = 'final'")"
check_eq "safety labels give the one-safe bin" "one_safe" "$(sq "SELECT a.safety_bin FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE t.prompt_id = 'p5' AND a.status = 'final'")"
check_eq "no lease left behind" "0" "$(sq "SELECT count(*) FROM assignments WHERE state = 'leased'")"
check_eq "the next turn became a prompt continuing the dialog" "3 assistant user And why are sunsets red?" \
	"$(sq "SELECT n_turns, json_extract(dialog, '\$[1].role'), json_extract(dialog, '\$[2].role'), json_extract(dialog, '\$[2].content') FROM prompts WHERE parent_id = '$undone'" | tr '|' ' ')"

"$SPINDLE" annotate export --db "$DB" --format preference -o "$T/pref.jsonl" 2>/dev/null
check_eq "preference export: 3 records (both bad has none)" "3" "$(wc -l <"$T/pref.jsonl")"
# Each record's shown_left must match the key pressed (1 = left chosen), its rating the level key.
bad=""
for p in "${!side[@]}"; do
	want_left=$([ "${side[$p]}" = 1 ] && echo chosen || echo rejected)
	got=$($PY -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["prompt_id"] == sys.argv[2]: print(r["shown_left"], r["rating"])' "$T/pref.jsonl" "$p")
	[ "$got" = "$want_left ${level[$p]}" ] || bad="$bad $p: got '$got' want '$want_left ${level[$p]}'"
done
check_eq "exported sides and ratings match the keys pressed" "" "$bad"
# p5: right chosen, left labelled safe, right unsafe.
check_eq "safety labels exported per response" "rejected safe unsafe one_safe" "$($PY -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["prompt_id"] == "p5": print(r["shown_left"], r["rejected_safety"], r["chosen_safety"], r["safety_bin"])' "$T/pref.jsonl")"
"$SPINDLE" annotate export --db "$DB" --format prompts -o "$T/prompts.jsonl" 2>/dev/null
check_grep "prompts export hands the next-turn prompt to sampling" "\"id\":\"$undone+t1\"" "$T/prompts.jsonl"

# Another annotator gets the item alice skipped (scripted keys: 1 then 2).
printf '12' >"$T/keys"
"$SPINDLE" annotate session --db "$DB" --annotator bob --task preference --keys "$T/keys" >/dev/null 2>"$T/bob.err"
check_eq "bob answers what alice skipped" "$skipped" "$(sq "SELECT t.prompt_id FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'bob'")"
