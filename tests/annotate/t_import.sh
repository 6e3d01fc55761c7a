#!/usr/bin/env bash
# annotate import: all-or-nothing files, FILE:LINE: errors, validation, idempotent re-import.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"

mk_prompts "$T/p.jsonl" 5
mk_responses "$T/r.jsonl" 5
check "import prompts" "$SPINDLE" annotate import prompts --db "$DB" "$T/p.jsonl"
check_eq "tables prompts, responses, annotations exist" "annotations prompts responses" \
	"$(sq "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('prompts', 'responses', 'annotations') ORDER BY name" | tr '\n' ' ' | sed 's/ $//')"
check_eq "database is in WAL mode" "wal" "$(sq 'PRAGMA journal_mode')"
check_eq "5 prompts, 5 sft tasks" "5 5" "$(sq "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM tasks WHERE kind = 'sft')" | tr '|' ' ')"
check "import responses" "$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl"
check_eq "responses paired into 5 preference tasks" "5" "$(sq "SELECT count(*) FROM tasks WHERE kind = 'preference'")"
check "re-importing identical files is a no-op" "$SPINDLE" annotate import prompts --db "$DB" "$T/p.jsonl"
check_eq "still 5 prompts, 10 tasks" "5 10" "$(sq "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM tasks)" | tr '|' ' ')"

# One bad line among good ones: nothing of the file is imported, the error names FILE:LINE:.
bad_case() { # NAME LINE_CONTENT EXPECTED_MESSAGE_PART
	local name=$1 line=$2 want=$3 f="$T/bad.jsonl"
	{
		printf '{"id":"n1","category":"helpfulness","dialog":[{"role":"user","content":"fine"}]}\n'
		printf '{"id":"n2","category":"safety","dialog":[{"role":"user","content":"fine too"}]}\n'
		printf '%s\n' "$line"
		printf '{"id":"n4","category":"helpfulness","dialog":[{"role":"user","content":"never read"}]}\n'
	} >"$f"
	"$SPINDLE" annotate import prompts --db "$DB" "$f" >"$T/out" 2>&1
	local rc=$?
	if [ "$rc" -eq 1 ] && grep -q "^spindle annotate import: $f:3: .*$want" "$T/out" &&
		[ "$(sq "SELECT count(*) FROM prompts WHERE id LIKE 'n%'")" = 0 ] &&
		[ "$(sq "SELECT count(*) FROM batches WHERE source = '$f'")" = 0 ]; then
		ok "bad line rejects the file: $name"
	else
		not_ok "bad line rejects the file: $name" "rc=$rc" "$(cat "$T/out")" "n prompts: $(sq "SELECT count(*) FROM prompts WHERE id LIKE 'n%'")"
	fi
}
bad_case "malformed JSON" '{"id":"n3","category":' "JSON"
bad_case "missing category" '{"id":"n3","dialog":[{"role":"user","content":"x"}]}' "missing field 'category'"
bad_case "bad category" '{"id":"n3","category":"fun","dialog":[{"role":"user","content":"x"}]}' "field 'category'"
bad_case "bad role" '{"id":"n3","category":"safety","dialog":[{"role":"robot","content":"x"}]}' "dialog\[0\].role"
bad_case "dialog ends with assistant" '{"id":"n3","category":"safety","dialog":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}' "must end with a user turn"
bad_case "unknown field" '{"id":"n3","category":"safety","dialog":[{"role":"user","content":"x"}],"colour":1}' "unknown field 'colour'"
bad_case "content not a string" '{"id":"n3","category":"safety","dialog":[{"role":"user","content":7}]}' "dialog\[0\].content"
bad_case "conflicting duplicate id" '{"id":"p1","category":"helpfulness","dialog":[{"role":"user","content":"another text"}]}' "already in the database"
bad_case "not an object" '[1,2,3]' ""

printf '{"prompt_id":"p1","response":"ok","model":"m","temperature":0.5}\n{"prompt_id":"nope","response":"x","model":"m","temperature":0.5}\n' >"$T/r2.jsonl"
check_rc "response to an unknown prompt is rejected" 1 "$SPINDLE" annotate import responses --db "$DB" "$T/r2.jsonl"
check_grep "its error names the line" "r2.jsonl:2: unknown prompt_id 'nope'" "$T/.out"
check_eq "and nothing of that file was imported" "10" "$(sq "SELECT count(*) FROM responses")"
printf '{"prompt_id":"p1","response":"ok","model":"m","temperature":-1}\n' >"$T/r3.jsonl"
check_rc "negative temperature is rejected" 1 "$SPINDLE" annotate import responses --db "$DB" "$T/r3.jsonl"
check_grep "named field" "r3.jsonl:1: field 'temperature'" "$T/.out"
check_rc "usage error without --db" 2 "$SPINDLE" annotate import prompts "$T/p.jsonl"
check_rc "session on a missing database fails cleanly" 1 "$SPINDLE" annotate session --db "$T/none.db" --annotator a --task sft
latest=$("$SPINDLE" annotate --version | sed -n 's/.*database schema \([0-9]*\).*/\1/p')
check_eq "schema version recorded" "$latest" "$(sq 'PRAGMA user_version')"
# Migrations: a database made by migration 1 alone is brought up to date, its data kept.
SQL="$(cd "$(dirname "$0")/../.." && pwd)/schemas/annotate.sql"
sed -n '/^-- @migration 1:/,/^-- @migration 2:/p' "$SQL" | sqlite3 "$T/old.db"
sqlite3 "$T/old.db" "PRAGMA user_version = 1; INSERT INTO prompts(id, category, dialog, n_turns, created_at) VALUES ('old', 'safety', '[{\"role\":\"user\",\"content\":\"x\"}]', 1, 0);
	INSERT INTO annotators(id, name, created_at) VALUES (1, 'a', 0), (2, 'b', 0);
	INSERT INTO tasks(id, kind, prompt_id, replicas, created_at) VALUES (1, 'sft', 'old', 2, 0);
	INSERT INTO annotations(task_id, annotator_id, kind, status, response_text, source, started_at, created_at)
	VALUES (1, 1, 'sft', 'final', 'r', 'written', 0, 1), (1, 2, 'sft', 'undone', 'r', 'written', 0, 1)"
check "an old database opens" "$SPINDLE" annotate config --db "$T/old.db"
check_eq "and is migrated to the latest version, data kept" "$latest 1 1" \
	"$(sqlite3 "$T/old.db" "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM prompts), (SELECT count(*) FROM sqlite_master WHERE name = 'assignments_task_annotator')" | tr '|' ' ')"
sqlite3 "$T/old.db" "PRAGMA user_version = 99"
check_rc "a database from a newer spindle is refused" 1 "$SPINDLE" annotate report --db "$T/old.db"
check_grep "saying so" "schema version 99 is newer" "$T/.out"
check_eq "migration 3 counted the old final answers" "1" "$(sqlite3 "$T/old.db" "SELECT n_final FROM tasks WHERE id = 1")"
sqlite3 "$T/old.db" "PRAGMA user_version = $latest; UPDATE annotations SET status = 'undone' WHERE annotator_id = 1;
	INSERT INTO annotations(task_id, annotator_id, kind, status, response_text, source, started_at, created_at) VALUES (1, 2, 'sft', 'final', 's', 'written', 0, 2), (1, 1, 'sft', 'final', 't', 'written', 0, 3)"
check_eq "triggers keep n_final equal to the final answers" "2 2" "$(sqlite3 "$T/old.db" "SELECT n_final, (SELECT count(*) FROM annotations WHERE task_id = 1 AND status = 'final') FROM tasks WHERE id = 1" | tr '|' ' ')"
