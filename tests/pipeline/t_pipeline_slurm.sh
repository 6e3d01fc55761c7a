#!/usr/bin/env bash
# t_pipeline_slurm.sh - spindle pipeline on a real single-node Slurm (tests/cluster/slurm.sh, with
# MaxArraySize=4 so arrays split): the demo pipeline equals the local executor byte for byte; a
# failing task cancels the stages after it and a rerun resubmits only it; scancel of a running
# task; throttle; a SIGUSR1 (--signal) requeue; status during and after a run.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../cluster/slurm.sh"
S=$SPINDLE
HERE=$(cd "$(dirname "$0")" && pwd)
MODEL=$SHARED/llama2/tokenizer.model
PY=/usr/bin/python3

SLURM_EXTRA_CONF="MaxArraySize=4"
if ! slurm_up; then
	skip "pipeline on Slurm" "$SLURM_SKIP_REASON"
	exit 0
fi
trap 'slurm_down; rm -rf "$T"' EXIT
ok "a private Slurm cluster is up ($(sinfo -h -N -o '%N %T %c CPUs'))"
tree_sums() { (cd "$1/out" && find . -type f | LC_ALL=C sort | xargs sha256sum); }
# wait_for FILE: up to 20 s
wait_for() { for _ in $(seq 1 80); do [ -e "$1" ] && return 0; sleep 0.25; done; return 1; }
wait_queue_empty() { for _ in $(seq 1 240); do [ -z "$(squeue -h -o %i)" ] && return 0; sleep 0.25; done; return 1; }

# 1. The demo pipeline: Slurm, local executor, same bytes.
if [ -f "$MODEL" ]; then
	"$S" corpus -q --max-docs 120 --max-bytes 100000 /usr/share/doc > "$T/docs.jsonl"
	$PY "$HERE/neardup.py" "$T/docs.jsonl" "$T/in" 4 --rounds 2 >/dev/null
	sed -e "s#@IN@#$T/in#; s#@MODEL@#$MODEL#; s#@N@#4#" "$HERE/demo.pipeline.in" > "$T/demo.conf"
	check_rc "demo pipeline on Slurm (--wait)" 0 "$S" pipeline run -e slurm --wait -d "$T/slurm" "$T/demo.conf"
	check_grep "status after the run: merge done" "^merge  *1  *1  *0  *0  *0  *0" "$T/.out"
	check_eq "one array job per stage" "9" "$(cut -f1 "$T/slurm/slurm/jobs.tsv" | sort -u | wc -l)"
	check_grep "stages chained with afterok" "submitted as job [0-9]* (array 0-3), afterok:[0-9]*" "$T/.out"
	check_rc "the same pipeline, local executor" 0 "$S" pipeline run -q -j 2 -d "$T/local" "$T/demo.conf"
	check_eq "Slurm and local: every output byte-identical" "$(tree_sums "$T/local")" "$(tree_sums "$T/slurm")"
	cat "$T"/in/*.jsonl | "$S" filter -q | "$S" dedup minhash -q --verify > "$T/single.jsonl"
	check_files "Slurm dedup output equals the one-process pipe" "$T/single.jsonl" <(cat "$T"/slurm/out/dedup/{0,1,2,3}.jsonl)
	check_grep "markers name the array task" '"slurm_job":"[0-9]*_[0-3]"' "$T/slurm/done/filter/3.json"
else
	skip "demo pipeline on Slurm" "no $MODEL"
fi

# 2. A failing task: the stage after it is cancelled (not left pending); the rerun resubmits only it.
# Stage a has 6 tasks: with MaxArraySize=4 it is split into two arrays (tasks 0-3 and 4-5).
cat > "$T/fail.conf" <<EOF
[stage a]
tasks = 6
command = echo a{task} > {out}/{task}.txt
[stage b]
after = a
tasks = 3
command = if [ {task} = 1 ] && [ ! -e $T/fixed ]; then echo "boom in task {task}" >&2; exit 3; fi; cat {out:a}/*.txt > {out}/{task}.txt
[stage c]
after = b
command = cat {out:b}/*.txt | wc -l > {out}/count.txt
EOF
check_rc "a failing task on Slurm: exit 1" 1 "$S" pipeline run -e slurm --wait -d "$T/f" "$T/fail.conf"
cp "$T/.out" "$T/f1.txt"
check_grep "a split at MaxArraySize: tasks 0-3" "stage a: 4 of 6 tasks submitted as job [0-9]* (array 0-3)" "$T/f1.txt"
check_grep "a split at MaxArraySize: tasks 4-5" "stage a: 2 of 6 tasks submitted as job [0-9]* (array 0-1)" "$T/f1.txt"
check_grep "b depends on both arrays of a" "stage b: .*afterok:[0-9]*:[0-9]*" "$T/f1.txt"
check_eq "nothing of the run is left pending" "" "$(squeue -h -o '%i %t %r')"
check_eq "stage c never ran" "" "$(ls "$T/f/logs/c")"
check_grep "status: b has 1 failed" "^b  *3  *2  *0  *0  *1  *0" "$T/f1.txt"
check_grep "status: c is todo (cancelled)" "^c  *1  *0  *0  *0  *0  *1" "$T/f1.txt"
check_grep "status: the failed task's log tail" "| boom in task 1" "$T/f1.txt"
touch "$T/fixed"
check_rc "rerun on Slurm" 0 "$S" pipeline run -e slurm --wait -d "$T/f" "$T/fail.conf"
cp "$T/.out" "$T/f2.txt"
check_grep "rerun: a not resubmitted" "stage a: all 6 tasks complete, nothing to submit" "$T/f2.txt"
check_grep "rerun: only b's task 1 submitted" "stage b: 1 of 3 tasks submitted as job [0-9]* (array 1)" "$T/f2.txt"
check_grep "rerun: c submitted" "stage c: 1 of 1 tasks submitted" "$T/f2.txt"
check_eq "rerun: every task ran exactly once (a: one try each)" "6" "$(cat "$T"/f/logs/a/*.log | grep -c '^== spindle pipeline: a task [0-9]/6 on')"
check_eq "rerun result" "18" "$(tr -d ' ' < "$T/f/out/c/count.txt")"
"$S" pipeline run -q -d "$T/flocal" "$T/fail.conf" >/dev/null 2>&1
check_eq "failed-then-rerun Slurm run equals a local run" "$(tree_sums "$T/flocal")" "$(tree_sums "$T/f")"

# 3. scancel of a running array task; status while it runs; the rerun resubmits only that task.
cat > "$T/kill.conf" <<EOF
[stage k]
tasks = 3
command = if [ {task} = 2 ] && [ ! -e $T/fast ]; then touch {out}/started; sleep 60; fi; echo {task} > {out}/{task}.txt
[stage after]
after = k
command = cat {out:k}/*.txt > {out}/all.txt
EOF
"$S" pipeline run -e slurm -q -d "$T/k" "$T/kill.conf"
wait_for "$T/k/out/k/started"
sleep 0.5
"$S" pipeline status "$T/k" > "$T/kstatus.txt"
check_grep "status during the run: task 2 running" "^k  *3  *2  *1  *0  *0  *0" "$T/kstatus.txt"
check_grep "status during the run: the next stage pending" "^after  *1  *0  *0  *1  *0  *0" "$T/kstatus.txt"
check_rc "a second run while the run's jobs are queued is refused" 2 "$S" pipeline run -e slurm -d "$T/k" "$T/kill.conf"
check_grep "the refusal names the queued jobs" "are still queued" "$T/.out"
job=$(awk '$1 == "k" {print $2}' "$T/k/slurm/jobs.tsv")
scancel "${job}_2"
wait_queue_empty
check_rc "status after scancel: exit 1" 1 "$S" pipeline status "$T/k"
check_grep "the cancelled task is reported" "^k  *3  *2  *0  *0  *1  *0" "$T/.out"
check_grep "the cancelled task's record" '"status":"cancelled"' "$T/k/fail/k/2.json"
check_eq "the stage after it was cancelled, not left pending" "" "$(squeue -h -o %i)"
touch "$T/fast"
check_rc "rerun after scancel" 0 "$S" pipeline run -e slurm --wait -d "$T/k" "$T/kill.conf"
check_grep "rerun resubmits only the cancelled task" "stage k: 1 of 3 tasks submitted as job [0-9]* (array 2)" "$T/.out"
check_eq "rerun result" "0 1 2" "$(tr '\n' ' ' < "$T/k/out/after/all.txt" | sed 's/ $//')"

# 4. Throttle: at most one task of the array at once.
cat > "$T/thr.conf" <<EOF
[stage t]
tasks = 3
throttle = 1
command = s=\$(date +%s.%N); sleep 0.4; echo "\$s \$(date +%s.%N)" > {out}/{task}.txt
EOF
check_rc "throttled stage" 0 "$S" pipeline run -e slurm --wait -d "$T/t" "$T/thr.conf"
check_grep "array submitted with %1" "(array 0-2%1)" "$T/.out"
overlap=$(cat "$T"/t/out/t/*.txt | sort -n | awk 'NR > 1 && $1 < prev {o++} {prev = $2} END {print o + 0}')
check_eq "throttle 1: the tasks' run times do not overlap" "0" "$overlap"

# --max-array overrides the cluster's MaxArraySize: 3 tasks in arrays of at most 2.
printf '[stage m]\ntasks = 3\ncommand = echo {task} > {out}/{task}.txt\n' > "$T/max.conf"
check_rc "--max-array 2" 0 "$S" pipeline run -e slurm --wait --max-array 2 -d "$T/m" "$T/max.conf"
check_grep "--max-array: tasks 0-1 in one array" "stage m: 2 of 3 tasks submitted as job [0-9]* (array 0-1)" "$T/.out"
check_grep "--max-array: task 2 in another, from offset 2" "stage m: 1 of 3 tasks submitted as job [0-9]* (array 0)" "$T/.out"
check_eq "--max-array: every task ran with its own index" "0 1 2" "$(cat "$T"/m/out/m/{0,1,2}.txt | tr '\n' ' ' | sed 's/ $//')"

# A failed sbatch (unknown partition in the second stage) cancels what was already submitted.
printf '[stage p1]\ncommand = sleep 5\n[stage p2]\nafter = p1\npartition = nosuchpart\ncommand = true\n' > "$T/part.conf"
check_rc "a failed sbatch: exit 3" 3 "$S" pipeline run -e slurm -d "$T/p" "$T/part.conf"
check_grep "the sbatch error is shown" "sbatch for stage p2 failed" "$T/.out"
wait_queue_empty
check_eq "the first stage's job was cancelled, not left running" "" "$(ls "$T/p/done/p1")"

# 5. SIGUSR1 before the time limit (what --signal=B:USR1@S sends): the task requeues itself.
cat > "$T/rq.conf" <<EOF
[stage r]
command = if [ ! -e {out}/tried ]; then touch {out}/tried; sleep 60; fi; echo second try > {out}/result.txt
EOF
"$S" pipeline run -e slurm -q -d "$T/r" "$T/rq.conf"
check_grep "the job is submitted with --signal and --requeue" "^# sbatch .* --signal=B:USR1@60 --requeue " "$T/r/slurm/r-0.sh"
wait_for "$T/r/out/r/tried"
sleep 0.5
rjob=$(awk '{print $2}' "$T/r/slurm/jobs.tsv")
scancel -s USR1 -b "${rjob}_0"
# Slurm holds a requeued job for a while (BeginTime); let it start now.
# (under load the requeue can take a while to show: keep releasing it until the job has run again)
for _ in $(seq 1 240); do
	[ -s "$T/r/done/r/0.json" ] && break
	squeue -h -r -o '%i %r' | grep -q BeginTime && scontrol update JobId="${rjob}_0" StartTime=now >/dev/null 2>&1
	sleep 0.5
done
wait_queue_empty
check_eq "requeued task completed on its second try" "second try" "$(cat "$T/r/out/r/result.txt" 2>/dev/null)"
check_grep "the log records the requeue" "before the time limit; requeueing job ${rjob}_0" "$T/r/logs/r/0.log"
check_grep "the marker counts the restart" '"restarts":1' "$T/r/done/r/0.json"
