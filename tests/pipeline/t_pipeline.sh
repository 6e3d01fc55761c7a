#!/usr/bin/env bash
# t_pipeline.sh - spindle pipeline with the local executor: the demo-sized data pipeline (filter ->
# dedup staged -> tok encode -> pack -> merge) equals the one-process pipe and itself at any worker
# count; failures stop dependents and a rerun does only the incomplete tasks; status; bad files.
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
HERE=$(cd "$(dirname "$0")" && pwd)
MODEL=$SHARED/llama2/tokenizer.model
PY=/usr/bin/python3

# The pipeline file of the demo, on near-duplicated documentation in 4 files, 4 tasks per stage.
"$S" corpus -q --max-docs 120 --max-bytes 100000 /usr/share/doc > "$T/docs.jsonl"
$PY "$HERE/neardup.py" "$T/docs.jsonl" "$T/in" 4 --rounds 2 >/dev/null
demo_conf() { sed -e "s#@IN@#$T/in#; s#@MODEL@#$MODEL#; s#@N@#$1#" "$HERE/demo.pipeline.in"; }
demo_conf 4 > "$T/demo.conf"
tree_sums() { (cd "$1/out" && find . -type f | LC_ALL=C sort | xargs sha256sum); }

if [ -f "$MODEL" ]; then
	check_rc "demo pipeline, 1 worker" 0 "$S" pipeline run -q -j 1 -d "$T/r1" "$T/demo.conf"
	check_rc "demo pipeline, 3 workers" 0 "$S" pipeline run -q -j 3 -d "$T/r3" "$T/demo.conf"
	check_eq "1 and 3 workers: every output byte-identical" "$(tree_sums "$T/r1")" "$(tree_sums "$T/r3")"
	# The one-process pipe of the same tools: filter | dedup minhash, then the same tokenizer.
	cat "$T"/in/*.jsonl | "$S" filter -q | "$S" dedup minhash -q --verify > "$T/single.jsonl"
	cat "$T"/r1/out/dedup/{0,1,2,3}.jsonl > "$T/staged.jsonl"
	check_files "staged dedup output equals the one-process pipe" "$T/single.jsonl" "$T/staged.jsonl"
	n_removed=$(( $(cat "$T"/r1/out/filter/*.jsonl | wc -l) - $(wc -l < "$T/staged.jsonl") ))
	if [ "$n_removed" -gt 0 ]; then ok "dedup had work ($n_removed near-duplicates removed)"; else not_ok "dedup had work" "nothing removed"; fi
	"$S" tok encode -q -m "$MODEL" --format bin "$T/single.jsonl" > "$T/single.bin"
	cat "$T"/r1/out/tok/{0,1,2,3}.bin > "$T/staged.bin"
	# Token streams carry a header per file; compare the token payload through tok decode instead.
	check_eq "staged tokens decode to the one-process text" \
		"$("$S" tok decode -m "$MODEL" "$T/single.bin" 2>&1 | md5sum)" \
		"$(for i in 0 1 2 3; do "$S" tok decode -m "$MODEL" "$T/r1/out/tok/$i.bin"; done 2>&1 | md5sum)"
	check "merged dataset verifies" "$S" shards verify "$T/r1/out/merge/data"
	check_eq "merged dataset has every document" "$(wc -l < "$T/single.jsonl")" \
		"$("$S" shards stats "$T/r1/out/merge/data" | sed -n 's/^documents[^0-9]*\([0-9]*\).*/\1/p')"
	"$S" pipeline status "$T/r1" > "$T/status.txt"
	check_grep "status: every stage done" "^merge  *1  *1  *0  *0  *0  *0" "$T/status.txt"
	check_grep "status: merged filter stats" '^stats filter (4 tasks): {"tool":"filter","records_in":' "$T/status.txt"
	check "merged stats validate against stats.schema.json" $PY tests/schemas/validate.py schemas/stats.schema.json \
		"$T/r1/stats/filter.json" "$T/r1/stats/tok.json"
	check "task markers validate against pipeline-task.schema.json" $PY tests/schemas/validate.py \
		schemas/pipeline-task.schema.json "$T"/r1/done/*/*.json
	check_eq "merged records_in equals the input documents" "$(cat "$T"/in/*.jsonl | wc -l)" \
		"$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["records_in"])' "$T/r1/stats/filter.json")"
	"$S" pipeline run -j 2 -d "$T/r1" "$T/demo.conf" 2> "$T/rerun.txt"
	check_eq "rerun of a complete run runs nothing" "0" "$(grep -c 'ran [1-9]' "$T/rerun.txt")"
else
	skip "demo pipeline" "no $MODEL"
fi

# A stage that fails in task 1 until $T/fixed exists; the stage after it must not start.
cat > "$T/fail.conf" <<EOF
[stage a]
tasks = 4
command = echo a{task} > {out}/{task}.txt
[stage b]
after = a
tasks = 3
command = if [ {task} = 1 ] && [ ! -e $T/fixed ]; then echo "boom in task {task}" >&2; exit 3; fi; cat {out:a}/*.txt > {out}/{task}.txt
[stage c]
after = b
command = cat {out:b}/*.txt | wc -l > {out}/count.txt
EOF
check_rc "a failing task: exit 1" 1 "$S" pipeline run -j 2 -d "$T/f" "$T/fail.conf"
check_grep "the run names the failed task and its log" "b task 1 failed; log: .*/logs/b/1.log" "$T/.out"
check_grep "the stage after it is cancelled" "stage c: .*cancelled" "$T/.out"
check_eq "stage c never ran" "" "$(ls "$T/f/logs/c")"
check_rc "status of the failed run: exit 1" 1 "$S" pipeline status "$T/f"
cp "$T/.out" "$T/fstatus.txt"
check_grep "status: b has 2 done, 1 failed" "^b  *3  *2  *0  *0  *1  *0" "$T/fstatus.txt"
check_grep "status: c has 1 todo" "^c  *1  *0  *0  *0  *0  *1" "$T/fstatus.txt"
check_grep "status shows the failed task's log tail" "| boom in task 1" "$T/fstatus.txt"
check_eq "failure record" "failed 3" "$($PY -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["status"], r["exit_code"])' "$T/f/fail/b/1.json")"
touch "$T/fixed"
check_rc "rerun after the fix" 0 "$S" pipeline run -j 2 -d "$T/f" "$T/fail.conf"
check_grep "rerun: stage a ran nothing" "stage a: 4 tasks, ran 0, skipped 4" "$T/.out"
check_grep "rerun: stage b ran only the failed task" "stage b: 3 tasks, ran 1, skipped 2" "$T/.out"
check_grep "rerun: stage c ran" "stage c: 1 tasks, ran 1, skipped 0" "$T/.out"
check_eq "rerun result" "12" "$(tr -d ' ' < "$T/f/out/c/count.txt")"
check_eq "the failure record is gone" "" "$(ls "$T/f/fail/b")"
check_eq "task 0 of a ran once (one log header)" "1" "$(grep -c '^== spindle pipeline: a task 0/4 on' "$T/f/logs/a/0.log")"

# A task killed mid-run leaves no marker; the rerun completes it.
cat > "$T/slow.conf" <<EOF
[stage s]
tasks = 2
command = if [ {task} = 1 ]; then sleep 30; fi; echo {task} > {out}/{task}.txt
EOF
"$S" pipeline run -j 2 -d "$T/k" "$T/slow.conf" > /dev/null 2>&1 &
runner=$!
for _ in $(seq 1 50); do [ -e "$T/k/done/s/0.json" ] && grep -q 'sleep' "$T/k/logs/s/1.log" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$runner" 2>/dev/null
wait "$runner"
check_eq "the runner stops its tasks on SIGTERM (exit 143)" "143" "$?"
check_eq "killed task: no completion marker" "no" "$([ -e "$T/k/done/s/1.json" ] && echo yes || echo no)"
check_grep "killed task: recorded as cancelled" '"status":"cancelled"' "$T/k/fail/s/1.json"
sed -i 's/sleep 30/true/' "$T/slow.conf"
check_rc "a changed pipeline file is refused for the same run folder" 2 "$S" pipeline run -d "$T/k" "$T/slow.conf"
check_grep "the refusal names the run folder" "holds another pipeline" "$T/.out"

# Bad pipeline files name the file and line.
bad_case() {
	printf '%b' "$2" > "$T/bad.conf"
	"$S" pipeline run -d "$T/bad" "$T/bad.conf" > "$T/.out" 2>&1
	local rc=$?
	if [ $rc -ne 0 ] && grep -q -- "$3" "$T/.out"; then ok "bad file: $1"; else not_ok "bad file: $1" "exit $rc: $(cat "$T/.out")"; fi
}
bad_case "unknown key" '[stage a]\ncommand = true\ncolour = red\n' "bad.conf:3: unknown key 'colour'"
bad_case "tasks out of range" '[stage a]\ntasks = 0\ncommand = true\n' "bad.conf:2: tasks '0'"
bad_case "after an unknown stage" '[stage a]\ncommand = true\nafter = zz\n' "bad.conf:3: 'after zz'"
bad_case "unknown placeholder" '[stage a]\ncommand = echo {tsk}\n' "bad.conf:2: unknown placeholder '{tsk}'"
bad_case "out: of a later stage" '[stage a]\ncommand = cat {out:b}/x\n[stage b]\ncommand = true\n' "bad.conf:2: '{out:b}'"
bad_case "stage without command" '[stage a]\ntasks = 2\n' "bad.conf:1: stage 'a' has no command"
bad_case "shell characters in mem" '[stage a]\ncommand = true\nmem = 1G;rm\n' "bad.conf:3: mem"
bad_case "no stages" '# nothing\n' "no \[stage NAME\] section"
check_rc "-j 0 is a usage error" 2 "$S" pipeline run -j 0 -d "$T/x" "$T/fail.conf"
check_rc "task index out of range" 2 "$S" pipeline task "$T/f" a 4
