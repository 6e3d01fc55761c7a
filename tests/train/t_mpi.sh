#!/usr/bin/env bash
# t_mpi.sh - data-parallel training under mpirun (issue 18): 2 ranks equal one process with the same
# global batch bit for bit (pretrain on shards, sft, rm: logs, weights, optimizer moments); every
# sequence once per epoch with 3 ranks and an epoch not divisible by 3; resume after SIGKILL of both
# ranks; a killed rank stops the other fast, named. Tiny models, a few steps each.
# Under ASan (make check's SAN=1 pass) every case runs too; libmpi's own allocations at exit are
# suppressed (tests/train/lsan-mpi.supp), and leaks are checked in the pretrain, rm and 3-rank
# cases only (mpi_lib.sh: matching the suppressions costs seconds a run).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
[ -n "${MPI_TRACE:-}" ] && { PS4='+ $(date +%s.%N | cut -c7-14) '; set -x; }
PY=/usr/bin/python3
S="$SPINDLE"
mpi_available || { skip "mpirun data parallelism" "$MPI_SKIP_REASON"; exit 0; }

# step lines without the fields that differ between runs (speed) or layouts (ranks, comm_s)
steps() { grep '^{"step"' "$1" | sed -E 's/"tokens_per_s":[0-9.e+-]*,//; s/,"ranks":[0-9]+,"comm_s":[0-9.]+(,"buckets":[0-9]+,"buckets_early":[0-9]+)?//'; }

# A tokenizer trained on real text (this machine's documentation), shards of 33-token sequences.
doc_tokenizer 60 0.995
check "spm_train made a tokenizer" test -s "$T/tok.model"
# a short epoch (a dozen sequences, a count not divisible by 3): the start of one document
for cut in 1500 1400 1300; do
	$PY -c "
import json
d = json.loads(open('$T/docs.jsonl').readline()); d['text'] = d['text'][:$cut]
print(json.dumps(d))" > "$T/small.jsonl"
	rm -rf "$T/shards"
	"$S" tok encode -q -m "$T/tok.model" --format bin "$T/small.jsonl" | "$S" pack -q -m "$T/tok.model" --seq-len 33 -o "$T/shards"
	NSEQ=$($PY -c "import json; print(json.load(open('$T/shards/manifest.json'))['n_sequences'])" 2>/dev/null)
	[ -n "$NSEQ" ] && [ $((NSEQ % 3)) -ne 0 ] && break
done
check "pack made a short epoch ($NSEQ sequences)" test -n "$NSEQ" -a "${NSEQ:-0}" -ge 4 -a "${NSEQ:-99}" -le 40

P=(--preset tiny --seq-len 32 --lr 3e-3 --threads 1)

# 1. pretrain: 2 ranks x batch 2 == 1 process x batch 2 x accum 2 (fixed-order sum: bit for bit)
"$S" train pretrain --data "$T/shards" "${P[@]}" --steps 4 --batch 2 --accum 2 --out "$T/p1" > "$T/p1.log" 2>"$T/p1.err"
mpi_run 2 "$S" train pretrain --data "$T/shards" "${P[@]}" --steps 4 --batch 2 --out "$T/p2" > "$T/p2.log" 2>"$T/p2.err"
check_eq "2-rank pretrain ran 4 steps, logging its ranks" 4 "$(grep -c '"ranks":2' "$T/p2.log")"
check_files "pretrain: 2 ranks log the losses of 1 process with the same global batch" <(steps "$T/p1.log") <(steps "$T/p2.log")
check_files "pretrain: 2 ranks end with 1 process's weights, bit for bit" "$T/p1/model.safetensors" "$T/p2/model.safetensors"
check_files "pretrain: ... and its optimizer moments" "$T/p1/optimizer.safetensors" "$T/p2/optimizer.safetensors"
check_eq "only rank 0 logs steps" 4 "$(grep -c '"step"' "$T/p2.log")"
# 1b. the exchange overlapped with the backward (--bucket-mb, train/grad_plan.h): small buckets (one
# per stage of the backward: 4 layers, the head, the embeddings) summed as they become final. 2 ranks
# with --accum 1 give one process's bits with --accum 2; with --accum 2 (the earlier micro-batch
# joins each bucket as it starts) the bits of the exchange after the backward (--bucket-mb 0).
O=(--data synthetic:64 --preset tiny --layers 4 --seq-len 64 --lr 3e-3 --threads 1 --steps 6 --batch 2)
"$S" train pretrain "${O[@]}" --accum 2 --out "$T/o1" > "$T/o1.log" 2>/dev/null
mpi_run_noleak 2 "$S" train pretrain "${O[@]}" --bucket-mb 0.01 --out "$T/o4" > "$T/o4.log" 2>/dev/null
mpi_run_noleak 2 "$S" train pretrain "${O[@]}" --accum 2 --bucket-mb 0.01 --out "$T/o2" > "$T/o2.log" 2>"$T/o2.err"
mpi_run_noleak 2 "$S" train pretrain "${O[@]}" --accum 2 --bucket-mb 0 --out "$T/o3" > "$T/o3.log" 2>/dev/null
check_eq "--bucket-mb 0.01: a bucket per stage of the backward (4 layers + head + embeddings)" 6 \
	"$(grep -m1 -o '"buckets":[0-9]*' "$T/o2.log" | cut -d: -f2)"
check_files "overlapped exchange, 2 ranks: 1 process's losses with accum 2" <(steps "$T/o1.log") <(steps "$T/o4.log")
check_files "... and its weights, bit for bit" "$T/o1/model.safetensors" "$T/o4/model.safetensors"
check_files "overlapped, --accum 2: the losses of the exchange after the backward (--bucket-mb 0)" <(steps "$T/o3.log") <(steps "$T/o2.log")
check_files "... and its weights, bit for bit" "$T/o3/model.safetensors" "$T/o2/model.safetensors"
check_eq "--bucket-mb 0 logs no buckets" 0 "$(grep -c '"buckets"' "$T/o3.log")"
# (how many buckets complete while the backward still runs is timing, not structure: 0 to 6 here,
# depending on how the two ranks' stages line up; bench/mpi/run.sh measures it on the 10m model)
early=$(grep -o '"buckets_early":[0-9]*' "$T/o2.log" "$T/o4.log" | awk -F: '$NF > 6 { bad++ } END { print bad + 0 }')
check_eq "buckets_early is never more than the buckets" 0 "$early"
check "overlapped step logs validate against train-log.schema.json" $PY tests/schemas/validate.py schemas/train-log.schema.json "$T/o2.log"
check_rc "--world under mpirun is a usage error" 2 mpi_run_noleak 2 "$S" train pretrain --data "$T/shards" "${P[@]}" --steps 1 --world 2 --out "$T/pw"
check_grep "... saying the ranks come from MPI" "ranks come from MPI" "$T/.out"
# commands that run in one process refuse to run as N copies (each would write the same outputs)
for c in rs score; do
	check_rc "train $c as 2 ranks is a usage error" 2 mpi_run_noleak 2 "$S" train $c --out "$T/$c"
	check_grep "... saying it runs in one process" "train $c: started as one of 2 ranks.*runs in one process" "$T/.out"
	check_grep "... and naming the data-parallel commands" "data-parallel commands: pretrain, sft, rm, dpo, ppo$" "$T/.out"
done
check "... and wrote nothing" test ! -e "$T/rs" -a ! -e "$T/score"

# 2. sft and rm from annotate-format exports
$PY - "$T" <<'PYEOF'
import json, sys
t = sys.argv[1]
topics = ["manual pages", "licenses", "compression", "the shell", "packages", "fonts", "editors"]
with open(t + "/sft.jsonl", "w") as f:
    for i, x in enumerate(topics * 2):
        f.write(json.dumps({"id": f"sft-{i}", "prompt_id": f"p{i}", "category": "helpfulness", "dialog": [{"role": "user", "content": f"Tell me about {x}."}],
                            "response": f"Here is a short note about {x}.", "source": "written", "annotator": "a", "created_at": "2026-01-01T00:00:00Z"}) + "\n")
ratings = ["significantly_better", "better", "slightly_better", "negligibly_better"]
with open(t + "/prefs.jsonl", "w") as f:
    for i, x in enumerate(topics * 2):
        f.write(json.dumps({"id": f"pref-{i}", "prompt_id": f"p{i}", "category": "helpfulness",
                            "dialog": [{"role": "user", "content": f"Explain {x}."}], "chosen": f"{x} explained clearly and politely.",
                            "rejected": "no", "chosen_id": "c", "rejected_id": "r", "rating": ratings[i % 4], "level": 3 - i % 4,
                            "margin": [1, 2/3, 1/3, 0][i % 4], "annotator": "a", "created_at": "2026-01-01T00:00:00Z"}) + "\n")
PYEOF
for m in sft rm; do
	f=$T/sft.jsonl
	[ $m = rm ] && f=$T/prefs.jsonl
	"$S" train $m --data "$f" --tokenizer "$T/tok.model" "${P[@]}" --steps 3 --batch 2 --accum 2 --out "$T/${m}1" > "$T/${m}1.log" 2>"$T/${m}1.err"
	run=mpi_run_noleak
	[ $m = rm ] && run=mpi_run
	# (rm: in small buckets, overlapped with the backward; the score head is stage 0's)
	bk=()
	[ $m = rm ] && bk=(--bucket-mb 0.01)
	$run 2 "$S" train $m --data "$f" --tokenizer "$T/tok.model" "${P[@]}" "${bk[@]}" --steps 3 --batch 2 --out "$T/${m}2" > "$T/${m}2.log" 2>"$T/${m}2.err"
	check_eq "$m: 2 ranks ran 3 steps" 3 "$(steps "$T/${m}2.log" | wc -l)"
	check_files "$m: 2 ranks log the losses of 1 process with the same global batch" <(steps "$T/${m}1.log") <(steps "$T/${m}2.log")
	check_files "$m: 2 ranks end with 1 process's weights, bit for bit" "$T/${m}1/model.safetensors" "$T/${m}2/model.safetensors"
done
check_grep "rm: the accuracy is over both ranks' pairs" '"accuracy"' "$T/rm2.log"

# 3. 3 ranks, an epoch of NSEQ sequences (made not divisible by 3): NSEQ steps of 3 rows are three
# epochs; each holds every sequence once, every step has a row from every rank, and the order is
# one process's with --accum 3.
if [ -n "$NSEQ" ] && [ $((NSEQ % 3)) -ne 0 ]; then
	mpi_run 3 "$S" train pretrain --data "$T/shards" "${P[@]}" --steps "$NSEQ" --batch 1 --log-batches --bucket-mb 0.02 --out "$T/e3" > "$T/e3.log" 2>"$T/e3.err"
	"$S" train pretrain --data "$T/shards" "${P[@]}" --steps "$NSEQ" --batch 1 --accum 3 --log-batches --out "$T/e1" > "$T/e1.log" 2>/dev/null
	check "3 ranks, $NSEQ sequences: each epoch sees every sequence exactly once, 3 rows a step" $PY - "$T/e3.log" "$NSEQ" <<'PYEOF'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"step"')]
n = int(sys.argv[2])
assert len(steps) == n, len(steps)
assert all(len(s["batch"]) == 3 for s in steps), "a step without a row from every rank"
rows = [(r["shard"], r["sequence"]) for s in steps for r in s["batch"]]
for e in range(3):
    ep = rows[e * n:(e + 1) * n]
    assert len(set(ep)) == n, (e, len(set(ep)), n)
PYEOF
	check_files "3 ranks read one process's order (--accum 3)" <(steps "$T/e1.log") <(steps "$T/e3.log")
	check "data-parallel step logs validate against train-log.schema.json" $PY tests/schemas/validate.py schemas/train-log.schema.json "$T/e3.log"
else
	skip "3 ranks over an epoch not divisible by 3" "the pack gave ${NSEQ:-no} sequences"
fi

# 4. resume after SIGKILL of both ranks == the uninterrupted 2-rank run
R=(--data synthetic:64 --preset tiny --seq-len 64 --batch 4 --lr 3e-3 --threads 1 --steps 12 --save-every 4)
mpi_run_noleak 2 "$S" train pretrain "${R[@]}" --out "$T/ka" > "$T/ka.log" 2>/dev/null
mpi_run_noleak 2 "$S" train pretrain "${R[@]}" --out "$T/kb" > "$T/kb.log" 2>"$T/kb.err" &
launcher=$!
state_step() { sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$1/trainer_state.json" 2>/dev/null; }
# the ranks' pids first, so the kill follows the step-4 checkpoint by milliseconds, well before
# the step-8 one (a kill inside a save is the checkpoint's own atomicity, tested elsewhere)
ranks=
for i in $(seq 1 500); do
	ranks=$(mpi_rank_pids "$launcher")
	[ "$(wc -w <<<"$ranks")" -eq 2 ] && break
	sleep 0.01
done
for i in $(seq 1 2000); do
	s=$(state_step "$T/kb")
	[ -n "$s" ] && [ "$s" -ge 4 ] && break
	sleep 0.005
done
kill -KILL $ranks 2>/dev/null
wait "$launcher" 2>/dev/null
killed_at=$(state_step "$T/kb")
if [ -n "$killed_at" ] && [ "$killed_at" -lt 12 ]; then
	ok "both ranks killed at a checkpoint of step $killed_at (of 12)"
	mpi_run_noleak 2 "$S" train pretrain "${R[@]}" --out "$T/kb" --resume > "$T/kb2.log" 2>"$T/kb2.err"
	check_grep "the resumed run says where it resumes" "resuming" "$T/kb2.err"
	check_files "resumed 2-rank run ends with the uninterrupted run's weights" "$T/ka/model.safetensors" "$T/kb/model.safetensors"
	check_files "... and optimizer moments" "$T/ka/optimizer.safetensors" "$T/kb/optimizer.safetensors"
	check_eq "the resumed steps log what the uninterrupted run logged" "$(steps "$T/ka.log" | tail -n +$((killed_at + 1)))" \
		"$(steps "$T/kb2.log")"
else
	not_ok "both ranks killed before the end" "checkpoint step: '${killed_at}'"
fi

# 4b. another world size: a 2-rank checkpoint continues in one process with --accum 2 (the same
# global batch, the same stream cursor) to the weights of 2 ranks all along
mpi_run_noleak 2 "$S" train pretrain "${R[@]}" --stop-after 5 --out "$T/kw" > /dev/null 2>&1
"$S" train pretrain "${R[@]}" --accum 2 --resume --out "$T/kw" > /dev/null 2>"$T/kw.err"
check_grep "a 2-rank checkpoint resumes in one process" "resuming .* at step 5" "$T/kw.err"
check_files "... and ends with the 2-rank run's weights, bit for bit" "$T/ka/model.safetensors" "$T/kw/model.safetensors"

# 5. one rank killed: the other stops within seconds, non-zero, naming it
mpi_run_noleak 2 "$S" train pretrain "${R[@]}" --steps 100000 --save-every 0 --out "$T/kc" > "$T/kc.log" 2>"$T/kc.err" &
launcher=$!
for i in $(seq 1 500); do grep -q '"step"' "$T/kc.log" 2>/dev/null && break; sleep 0.01; done
r1=$(mpi_rank_pids "$launcher" 1)
t0=$(date +%s.%N)
kill -KILL $r1
rc=0
for i in $(seq 1 200); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$launcher" 2>/dev/null; then
	not_ok "the surviving rank stops within 10 s of its peer's death" "still running"
	kill -KILL $(mpi_rank_pids "$launcher") "$launcher" 2>/dev/null
else
	wait "$launcher"
	rc=$?
	dt=$($PY -c "import time; print(round(time.time() - $t0, 2))")
	ok "the surviving rank stopped ${dt}s after its peer's death"
	check "... with a non-zero exit ($rc)" test "$rc" -ne 0
	check_grep "... and a message naming rank 1 (spindle's watchdog or mpirun's)" "rank 1" "$T/kc.err"
fi
