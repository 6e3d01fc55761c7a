#!/usr/bin/env bash
# t_hostile_db.sh - issue 19 for annotate: U+0000 in imported records is refused, not cut (classes
# 5); report and export open the database read-only and refuse what is not a spindle database
# (class 11); --db garbage names the real cause (class 14). Device nodes are made in $T.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"
cd "$T"

# --- class 5: U+0000
mk_prompts p.jsonl 2
printf '{"id":"p9\\u0000hidden","category":"helpfulness","dialog":[{"role":"user","content":"q"}]}\n' > nul-id.jsonl
check_rc "a prompt id with U+0000 is refused" 1 "$SPINDLE" "${A[@]}" import prompts --db "$DB" nul-id.jsonl
check_grep "the error names the field and U+0000" "nul-id.jsonl:1: field 'id' contains U+0000" "$T/.out"
check_rc "import of good prompts" 0 "$SPINDLE" "${A[@]}" import prompts --db "$DB" p.jsonl
printf '{"id":"r1\\u0000x","prompt_id":"p1","response":"a","model":"m","variant":"sft"}\n{"id":"r1\\u0000y","prompt_id":"p1","response":"b","model":"m","variant":"sft"}\n' > nul-rid.jsonl
check_rc "two response ids differing after U+0000 are refused" 1 "$SPINDLE" "${A[@]}" import responses --db "$DB" nul-rid.jsonl
check_grep "the error is about U+0000, not a collision" "field 'id' contains U+0000" "$T/.out"
printf '{"id":"r2","prompt_id":"p1","response":"visible\\u0000hidden text","model":"m","variant":"sft"}\n' > nul-text.jsonl
check_rc "a response with U+0000 is refused" 1 "$SPINDLE" "${A[@]}" import responses --db "$DB" nul-text.jsonl
check_grep "the error names 'response'" "field 'response': contains U+0000" "$T/.out"
printf '{"id":"p7","category":"helpfulness","dialog":[{"role":"user","content":"a\\u0000b"}]}\n' > nul-dialog.jsonl
check_rc "U+0000 inside a dialog turn is refused" 1 "$SPINDLE" "${A[@]}" import prompts --db "$DB" nul-dialog.jsonl
check_grep "the error names the nested field" "field 'dialog\[0\].content'" "$T/.out"
check_eq "nothing of the refused files was stored" "2|0" "$(sq 'SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM responses)' | tr -d ' ')"

# --- class 11: read-only commands on files that are not spindle databases
: > empty.db
echo 'this is not a database at all, just text' > garbage.db
sqlite3 foreign.db 'CREATE TABLE t(x); INSERT INTO t VALUES (1);'
cp foreign.db foreign.orig
for cmd in report "export --format sft"; do
	for f in empty.db garbage.db foreign.db; do
		check_rc "$cmd on $f is refused" 1 "$SPINDLE" "${A[@]}" $cmd --db $f
		check_grep "$cmd on $f: not a spindle database" "database $f: not a spindle database" "$T/.out"
	done
done
check_eq "the empty file stays empty" 0 "$(stat -c %s empty.db)"
check_files "the foreign SQLite file is unchanged" foreign.orig foreign.db
[ ! -e empty.db-journal ] && [ ! -e empty.db-wal ] && [ ! -e foreign.db-wal ] && ok "no journal or WAL files made next to them" || not_ok "no journal or WAL files made next to them" "$(ls)"
if mknod nulldev c 1 3 2>/dev/null; then
	check_rc "report on a device is refused" 1 "$SPINDLE" "${A[@]}" report --db nulldev
	check_grep "report on a device: not a regular file" "not a regular file" "$T/.out"
	[ ! -e nulldev-journal ] && [ -c nulldev ] && ok "no nulldev-journal, the device stays" || not_ok "no nulldev-journal, the device stays" "$(ls -l nulldev*)"
else
	skip "report on a device" "mknod not permitted"
fi
check_rc "import into a foreign SQLite file is refused" 1 "$SPINDLE" "${A[@]}" import prompts --db foreign.db p.jsonl
check_files "import left the foreign file unchanged" foreign.orig foreign.db
check_rc "report on the real database still works" 0 "$SPINDLE" "${A[@]}" report --db "$DB"
chmod 0444 "$DB"
check_rc "export works on a read-only database file" 0 "$SPINDLE" "${A[@]}" export --db "$DB" --format prompts -o prompts-out.jsonl
check_eq "export wrote both prompts" 2 "$(wc -l < prompts-out.jsonl)"
chmod 0644 "$DB"

# --- class 14: --db garbage names the real cause (no stale errno)
check_rc "config --db garbage is refused" 1 "$SPINDLE" "${A[@]}" config --db garbage.db
check_grep "the cause is 'not an SQLite file'" "garbage.db: not a spindle database (not an SQLite file)" "$T/.out"
if grep -q "No such file or directory" "$T/.out"; then not_ok "no unrelated errno text in the message" "$(cat "$T/.out")"; else ok "no unrelated errno text in the message"; fi
