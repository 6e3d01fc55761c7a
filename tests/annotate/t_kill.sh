#!/usr/bin/env bash
# SIGKILL in mid-session loses only the item on screen: earlier answers are committed, the
# database is intact, the annotator gets the same item back, and once its lease expires anyone can.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"
if ! have_tmux; then skip "SIGKILL mid-session" "no tmux"; exit 0; fi

mk_prompts "$T/p.jsonl" 6
mk_responses "$T/r.jsonl" 6
"$SPINDLE" annotate import prompts --db "$DB" --no-sft "$T/p.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl" 2>/dev/null
"$SPINDLE" annotate config --db "$DB" --gold-every 0 --lease-seconds 2 >/dev/null

tm_start k 80 24 "exec '$SPINDLE' annotate session --db '$DB' --annotator kim --task preference"
tm_wait k "done 0"
tm_keys k 1; tm_wait k "How much"; tm_keys k 2; tm_wait k "saved answer #1"
tm_keys k 2; tm_wait k "How much"; tm_keys k 1; tm_wait k "saved answer #2"
on_screen=$(tm_prompt k)
tm_keys k 1; tm_wait k "How much"     # half-way through the third answer
pid=$(tm display -p -t k '#{pane_pid}')
kill -KILL "$pid"
sleep 0.3
check_eq "two answers survive SIGKILL" "2" "$(sq "SELECT count(*) FROM annotations WHERE status = 'final'")"
check_eq "database intact after SIGKILL" "ok" "$(sq 'PRAGMA integrity_check')"
check_eq "the item on screen is still leased to kim" "$on_screen" \
	"$(sq "SELECT t.prompt_id FROM assignments s JOIN tasks t ON t.id = s.task_id WHERE s.state = 'leased'")"

# kim comes back: the same item, the count continues.
tm kill-session -t k 2>/dev/null
tm_start k2 80 24 "'$SPINDLE' annotate session --db '$DB' --annotator kim --task preference"
tm_wait k2 "done 2"
check_eq "kim gets the item that was on screen back" "$on_screen" "$(tm_prompt k2)"
pid=$(tm display -p -t k2 '#{pane_pid}')
kill -KILL "$(pgrep -P "$pid" | head -1)"
sleep 2.5
# After the lease expired someone else takes the abandoned item; all 6 end up answered once.
printf '12%.0s' 1 2 3 4 5 6 >"$T/keys"
"$SPINDLE" annotate session --db "$DB" --annotator lou --task preference --keys "$T/keys" >/dev/null 2>"$T/lou.err"
check_eq "lou answers the 4 open items including the abandoned one" "4 1" \
	"$(sq "SELECT count(*), sum(t.prompt_id = '$on_screen') FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'lou'" | tr '|' ' ')"
check_eq "every item answered exactly once" "6 1 1" \
	"$(sq "SELECT count(*), min(c), max(c) FROM (SELECT count(*) AS c FROM annotations WHERE status = 'final' GROUP BY task_id)" | tr '|' ' ')"

# Ctrl-C quits cleanly and gives the item on screen back at once; a closed terminal (SIGHUP) keeps
# every answer and leaves the on-screen lease to expire.
DB=$T/two.db
"$SPINDLE" annotate import prompts --db "$DB" --no-sft "$T/p.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl" 2>/dev/null
"$SPINDLE" annotate config --db "$DB" --gold-every 0 >/dev/null
tm_start c 80 24 "'$SPINDLE' annotate session --db '$DB' --annotator cat --task preference"
tm_wait c "done 0"
tm_keys c 1; tm_wait c "How much"; tm_keys c 3; tm_wait c "saved answer #1"
tm_keys c C-c
tm_wait c "__EXIT=0" && ok "Ctrl-C quits with status 0" || not_ok "Ctrl-C quits with status 0"
check_grep "and says what was done" "cat: 1 answered" <(tm_screen c)
check_eq "Ctrl-C gives the lease back" "0 1" "$(sq "SELECT (SELECT count(*) FROM assignments WHERE state = 'leased'), (SELECT count(*) FROM annotations)" | tr '|' ' ')"
tm_start h 80 24 "exec '$SPINDLE' annotate session --db '$DB' --annotator hal --task preference"
tm_wait h "done 0"
tm_keys h 2; tm_wait h "How much"; tm_keys h 1; tm_wait h "saved answer #2"
tm kill-session -t h
sleep 0.3
check_eq "closing the terminal keeps the answer and the on-screen lease" "1 1" \
	"$(sq "SELECT (SELECT count(*) FROM assignments s JOIN annotators n ON n.id = s.annotator_id WHERE n.name = 'hal' AND s.state = 'leased'), (SELECT count(*) FROM annotations a JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'hal')" | tr '|' ' ')"
