#!/usr/bin/env bash
# Many annotators on one database: two live sessions in two ptys hold different items; scripted
# sessions racing in parallel answer every item exactly once (or exactly overlap_k times), lose none.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"

N=24
mk_prompts "$T/p.jsonl" $N
mk_responses "$T/r.jsonl" $N
"$SPINDLE" annotate import prompts --db "$DB" --no-sft "$T/p.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl" 2>/dev/null
"$SPINDLE" annotate config --db "$DB" --gold-every 0 >/dev/null

if have_tmux; then
	tm_start a 80 24 "'$SPINDLE' annotate session --db '$DB' --annotator ann --task preference"
	tm_start b 100 30 "'$SPINDLE' annotate session --db '$DB' --annotator ben --task preference"
	tm_wait a "Response 2" && tm_wait b "Response 2"
	fine=1
	for round in 1 2 3 4; do
		pa=$(tm_prompt a) pb=$(tm_prompt b)
		[ -n "$pa" ] && [ "$pa" != "$pb" ] || { fine=0; echo "round $round: both see '$pa' / '$pb'"; }
		tm_keys a 1; tm_wait a "How much" && tm_keys a 1
		tm_keys b 2; tm_wait b "How much" && tm_keys b 3
		tm_wait a "done $round " && tm_wait b "done $round " || fine=0
	done
	[ $fine = 1 ] && ok "two live sessions always hold different items" || not_ok "two live sessions always hold different items"
	tm_keys a q; tm_keys b q
	tm_wait a "__EXIT=0" && tm_wait b "__EXIT=0" && ok "both sessions quit cleanly" || not_ok "both sessions quit cleanly"
	check_eq "8 answers from the two ptys" "8" "$(sq "SELECT count(*) FROM annotations WHERE status = 'final'")"
else
	skip "live sessions" "no tmux"
fi

# Four scripted annotators race over the rest; each keeps answering until nothing is left.
keys=$(printf '12%.0s' $(seq 1 $N))
printf '%s' "$keys" >"$T/keys"
for w in w1 w2 w3 w4; do
	"$SPINDLE" annotate session --db "$DB" --annotator $w --task preference --keys "$T/keys" >/dev/null 2>"$T/$w.err" &
done
wait
check_eq "no errors from racing sessions" "" "$(grep -v 'answered' "$T"/w*.err)"
check_eq "every item answered" "$N" "$(sq "SELECT count(DISTINCT task_id) FROM annotations WHERE status = 'final'")"
check_eq "no item answered twice" "0" "$(sq "SELECT count(*) FROM (SELECT task_id FROM annotations WHERE status = 'final' GROUP BY task_id HAVING count(*) > 1)")"
total=0
for w in w1 w2 w3 w4; do n=$(sed -n 's/.*: \([0-9]*\) answered.*/\1/p' "$T/$w.err"); total=$((total + ${n:-0})); done
have_tmux && total=$((total + 8))
check_eq "every answer a session reported is in the database" "$N" "$total"
check_eq "database intact" "ok" "$(sq 'PRAGMA integrity_check')"

# Overlap: every new task is answered by exactly 2 annotators, never by the same one twice.
DB=$T/overlap.db
"$SPINDLE" annotate config --db "$DB" --overlap 1 --overlap-k 2 --gold-every 0 >/dev/null
"$SPINDLE" annotate import prompts --db "$DB" --no-sft "$T/p.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl" 2>/dev/null
for w in o1 o2 o3; do
	"$SPINDLE" annotate session --db "$DB" --annotator $w --task preference --keys "$T/keys" >/dev/null 2>"$T/$w.err" &
done
wait
check_eq "overlap: every item answered exactly twice" "$N 2 2" \
	"$(sq "SELECT count(*), min(c), max(c) FROM (SELECT count(*) AS c FROM annotations WHERE status = 'final' GROUP BY task_id)" | tr '|' ' ')"
check_eq "overlap: never twice by the same annotator" "0" \
	"$(sq "SELECT count(*) FROM (SELECT 1 FROM annotations WHERE status = 'final' GROUP BY task_id, annotator_id HAVING count(*) > 1)")"
check_eq "overlap: 48 answers in all" "48" "$(sq "SELECT count(*) FROM annotations WHERE status = 'final'")"
"$SPINDLE" annotate report --db "$DB" >"$T/report" 2>&1
check_grep "report shows agreement over the overlap items" "items $N, annotator pairs $N, percent agreement" "$T/report"
