#!/usr/bin/env bash
# Untrusted text: prompts holding SQL, terminal escape sequences (title change, clear screen,
# colours, C1 CSI, bidi override) and 1 MB of text are stored verbatim and shown inert.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"

$PY - "$T/p.jsonl" "$T/r.jsonl" <<'PYEOF'
import json, sys
evil_id = "x'); DROP TABLE prompts; --"
esc = "\x1b]2;PWNED-TITLE\x07 \x1b[2J\x1b[31mRED-TEXT\x1b[0m \x9b31m C1 \u202eevil-bidi \x1b[?1049l end"
big = ("lorem ipsum dolor sit amet " * 40000)[:1000000] + " THE-END-MARKER"
ps = [
    {"id": evil_id, "category": "helpfulness", "dialog": [{"role": "user", "content": "SELECT * FROM annotations; DELETE FROM responses WHERE 1=1; -- '\" "}]},
    {"id": "esc", "category": "safety", "dialog": [{"role": "user", "content": esc}]},
    {"id": "big", "category": "helpfulness", "dialog": [{"role": "user", "content": big}]},
]
with open(sys.argv[1], "w") as f:
    for p in ps: f.write(json.dumps(p) + "\n")
with open(sys.argv[2], "w") as f:
    for p in ps:
        for v in ("a", "b"):
            f.write(json.dumps({"prompt_id": p["id"], "response": "resp " + v + " " + esc, "model": "m", "variant": v, "temperature": 1.0}) + "\n")
PYEOF
check "import hostile prompts" "$SPINDLE" annotate import prompts --db "$DB" --no-sft "$T/p.jsonl"
check "import hostile responses" "$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl"
check_eq "SQL in ids and text is data: tables intact, 3 prompts, 6 responses" "3 6" \
	"$(sq "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM responses)" | tr '|' ' ')"
check_eq "the SQL-looking id is stored verbatim" "1" "$(sq "SELECT count(*) FROM prompts WHERE id = 'x''); DROP TABLE prompts; --'")"
check_eq "escape sequences stored verbatim" "1" "$(sq "SELECT count(*) FROM prompts WHERE instr(dialog, char(27) || ']2;PWNED') > 0 OR instr(dialog, '\\u001b]2;PWNED') > 0")"
"$SPINDLE" annotate config --db "$DB" --gold-every 0 >/dev/null

if ! have_tmux; then skip "hostile text on screen" "no tmux"; exit 0; fi
tm_start u 80 24 "'$SPINDLE' annotate session --db '$DB' --annotator una --task preference"
tm_wait u "Response 1"
check_grep "SQL text shown as text" "DELETE FROM responses" <(tm_screen u)
tm_keys u 1; tm_wait u "How much"; tm_keys u 1; tm_wait u "saved answer #1"
tm_wait u "PWNED"
tm_screen u >"$T/screen"
tm capture-pane -p -e -t u >"$T/screen-e"
check_grep "ESC shown as ^[" '\^\[\]2;PWNED-TITLE\^G' "$T/screen"
check_grep "colour sequence shown, not obeyed" '\^\[\[31mRED-TEXT' "$T/screen"
check_grep "C1 CSI shown as a code point" '<U+009B>31m' "$T/screen"
check_grep "bidi override shown as a code point" '<U+202E>evil-bidi' "$T/screen"
check_eq "no red in the pane's real attributes" "" "$(grep -F $'\e[31m' "$T/screen-e")"
title=$(tm display -p -t u '#{pane_title}')
case $title in *PWNED*) not_ok "window title unchanged" "title: $title" ;; *) ok "window title unchanged" ;; esac
check_grep "screen not cleared: header still there" "spindle annotate · preference" "$T/screen"
check_grep "alternate screen not left: key line still there" "x both bad" "$T/screen"
tm_keys u 2; tm_wait u "How much"; tm_keys u 2; tm_wait u "LEFT response safe"; tm_keys u y; tm_wait u "RIGHT response safe"; tm_keys u y
tm_wait u "prompt big"
start=$(date +%s%N)
tm_wait u "lines 1-20 of [0-9]+ · more below"
n=$(tm_screen u | sed -n 's/.*lines 1-20 of \([0-9]*\).*/\1/p')
[ "${n:-0}" -gt 12000 ] && ok "1 MB prompt wrapped to $n lines" || not_ok "1 MB prompt wrapped" "lines: $n"
tm_keys u G
tm_wait u "THE-END-MARKER" && ok "End scrolls to the end of 1 MB" || not_ok "End scrolls to the end of 1 MB"
tm_keys u PageUp; tm_wait u "lines [0-9]+-[0-9]+ of $n · more below" && ok "PageUp scrolls back" || not_ok "PageUp scrolls back"
tm_keys u g; tm_wait u "lines 1-20 of $n" && ok "Home goes to the top" || not_ok "Home goes to the top"
el=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$el" -lt 10000 ] && ok "1 MB navigation is interactive (${el} ms)" || not_ok "1 MB navigation is interactive" "${el} ms"
[ "$(tm_screen u | wc -L)" -le 80 ] && ok "no line wider than the screen" || not_ok "no line wider than the screen"
tm resize-window -t u -x 120 -y 40 2>/dev/null || tm resize-pane -t u -x 120 -y 40
sleep 0.3; tm_keys u j
tm_wait u "lines 2-37 of" && ok "resize to 120x40 re-wraps and re-lays out" || not_ok "resize re-lays out"
tm_keys u q; tm_wait u "__EXIT=0" && ok "quit cleanly" || not_ok "quit cleanly"
