#!/usr/bin/env bash
# t_mpi_ppo.sh - `train ppo` data-parallel under mpirun (issue 18): 2 ranks against one process with
# the same rollouts, mini-batches and sampling chunks (the same rollouts, so rewards and lengths
# exactly; losses, KL, gradient norms and the final weights to 1e-5, the gradient sum's association
# being the ranks'), 3 ranks over unevenly many chunks, rank 0 alone logging, a stopped and resumed
# 2-rank run bit for bit the straight one, held-out evaluation, and a layout that cannot be split
# refused on every rank. Tiny models trained in seconds (t_rlhf.sh's fixture, fewer steps).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
PY=/usr/bin/python3
S="$SPINDLE"
HERE=$(cd "$(dirname "$0")" && pwd)
mpi_available || { skip "mpirun data-parallel ppo" "$MPI_SKIP_REASON"; exit 0; }

$PY "$HERE/rlhf_fixture.py" "$T" 24
spm_train --input="$T/text.txt" --model_prefix="$T/tok" --vocab_size=360 --model_type=bpe \
	--character_coverage=1.0 --byte_fallback=true --minloglevel=2 >/dev/null 2>&1
check "spm_train made a tokenizer" test -s "$T/tok.model"
TM="--tokenizer $T/tok.model"
M="--preset tiny --seq-len 64 --batch 8 --lr 3e-3 --threads 1"
check_rc "an SFT policy trains" 0 "$S" train sft --data "$T/sft.jsonl" $TM $M --steps 20 --out "$T/sft"
check_rc "a helpfulness reward model trains" 0 "$S" train rm --data "$T/prefs.jsonl" $TM $M --steps 20 --out "$T/rmh"

# the JSON lines of a run's stdout
logs() { grep '^{' "$1" > "$2"; }
# same_logs A B: every field equal, except the timings; those that come out of the gradients (and
# the forwards of micro-batches cut at other places) to 1e-5 relative (1e-7 absolute near 0: a
# printed %.6g of a sum that cancels to ~0.01 carries ~1e-8 of absolute noise)
same_logs() {
	$PY - "$1" "$2" <<'PYEOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) > 0, (len(a), len(b))
close = {"kl", "entropy", "clip_frac", "approx_kl", "ratio", "pg_loss", "value_loss", "explained_variance",
         "grad_norm", "critic_grad_norm", "eval_reward", "eval_best"}
for x, y in zip(a, b):
    for k in ("time", "tokens_per_s"):
        x.pop(k), y.pop(k)
    assert set(x) == set(y), (sorted(x), sorted(y))
    for k in x:
        if k in close:
            assert abs(x[k] - y[k]) <= 1e-5 * max(abs(x[k]), abs(y[k])) + 1e-7, (x["iteration"], k, x[k], y[k])
        else:
            assert x[k] == y[k], (x["iteration"], k, x[k], y[k])
PYEOF
}
# same_weights DIR_A DIR_B FILE: every tensor within 1e-5 of its largest magnitude
same_weights() {
	$PY - "$1/$3" "$2/$3" <<'PYEOF'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); base = 8 + n
    return {k: np.frombuffer(b[base + v["data_offsets"][0]:base + v["data_offsets"][1]], dtype=np.float32)
            for k, v in h.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys() and a, (sorted(a), sorted(b))
for k in a:
    d, m = float(np.max(np.abs(a[k] - b[k]))), float(np.max(np.abs(a[k])))
    assert d <= 1e-5 * m + 1e-9, (k, d, m)
PYEOF
}

P="$TM --prompts $T/prompts.jsonl --rm-helpful $T/rmh --max-new-tokens 16 --lr 3e-4 --critic-lr 1e-3 --threads 1 --micro 2 --score-batch 2"
R="$P --iterations 2 --rollouts 8 --minibatch 4 --gen-batch 2"
# 1. 2 ranks == one process
check_rc "ppo in one process" 0 "$S" train ppo --model "$T/sft" $R --out "$T/p1"
logs "$T/.out" "$T/p1.log"
check_rc "ppo as 2 ranks" 0 mpi_run_noleak 2 "$S" train ppo --model "$T/sft" $R --out "$T/p2"
logs "$T/.out" "$T/p2.log"
check_eq "rank 0 alone logs: one line per iteration" 2 "$(wc -l < "$T/p2.log")"
check_eq "... and one summary" 1 "$(grep -c 'iterations (now 2 of 2)' "$T/.out")"
check "2 ranks log what one process logs (rewards, lengths, cursor exactly; losses, KL, norms to 1e-5)" same_logs "$T/p1.log" "$T/p2.log"
fails() { ! "$@"; }
check "the policy trained (it moved from the SFT policy by more than the tolerance)" fails same_weights "$T/sft" "$T/p1" model.safetensors
for f in model.safetensors critic/model.safetensors optimizer.safetensors; do
	check "2 ranks' final $f == one process's to 1e-5" same_weights "$T/p1" "$T/p2" $f
done
if $PY -c 'import jsonschema' 2>/dev/null; then
	check "2-rank log lines validate against train-ppo-log.schema.json" $PY tests/schemas/validate.py schemas/train-ppo-log.schema.json "$T/p2.log"
else
	skip "2-rank log lines validate" "python3-jsonschema missing"
fi

# 2. 3 ranks over 5 sampling chunks (1, 2 and 2 of them) == one process
U="$P --iterations 2 --rollouts 10 --minibatch 5 --gen-batch 2"
check_rc "ppo in one process, 10 rollouts" 0 "$S" train ppo --model "$T/sft" $U --out "$T/u1"
logs "$T/.out" "$T/u1.log"
check_rc "ppo as 3 ranks with uneven shares" 0 mpi_run_noleak 3 "$S" train ppo --model "$T/sft" $U --out "$T/u3"
logs "$T/.out" "$T/u3.log"
check "3 uneven ranks log what one process logs" same_logs "$T/u1.log" "$T/u3.log"
check "3 ranks' final policy == one process's to 1e-5" same_weights "$T/u1" "$T/u3" model.safetensors

# 3. a stopped and resumed 2-rank run == the straight one, bit for bit
R3="$P --iterations 3 --rollouts 8 --minibatch 4 --gen-batch 2"
mpi_run_noleak 2 "$S" train ppo --model "$T/sft" $R3 --out "$T/ra" 2>/dev/null | sed 's/"time".*//' > "$T/ra.log"
mpi_run_noleak 2 "$S" train ppo --model "$T/sft" $R3 --stop-after 1 --out "$T/rb" 2>/dev/null | sed 's/"time".*//' > "$T/rb.log"
check_eq "the stopped run logged one iteration" 1 "$(wc -l < "$T/rb.log")"
check_rc "2 ranks --resume the stopped run" 0 mpi_run_noleak 2 "$S" train ppo $R3 --resume --out "$T/rb"
grep '^{' "$T/.out" | sed 's/"time".*//' >> "$T/rb.log"
check_eq "... logging the 2 iterations left" 3 "$(wc -l < "$T/rb.log")"
check_files "resumed 2-rank logs == straight 2-rank logs" "$T/ra.log" "$T/rb.log"
for f in model.safetensors optimizer.safetensors critic/model.safetensors critic/optimizer.safetensors ppo_state.json; do
	check_files "resumed 2-rank $f == straight, bit for bit" "$T/ra/$f" "$T/rb/$f"
done

# 4. held-out evaluation spread over the ranks: the same eval_reward, the best policy saved
head -7 "$T/prompts.jsonl" > "$T/held.jsonl"
check_rc "ppo with held-out prompts in one process" 0 "$S" train ppo --model "$T/sft" $R --eval-prompts "$T/held.jsonl" --out "$T/e1"
logs "$T/.out" "$T/e1.log"
check_rc "... and as 2 ranks" 0 mpi_run_noleak 2 "$S" train ppo --model "$T/sft" $R --eval-prompts "$T/held.jsonl" --out "$T/e2"
logs "$T/.out" "$T/e2.log"
check_eq "2 ranks log eval_reward each iteration" 2 "$(grep -c '"eval_reward"' "$T/e2.log")"
check "... as one process does" same_logs "$T/e1.log" "$T/e2.log"
check "... and save the best policy" test -s "$T/e2/best/model.safetensors"

# 5. a layout that cannot be split: a usage error on every rank, at once
# (mpi_run_noleak's environment: timeout runs programs, not shell functions)
check_rc "fewer sampling chunks than ranks is a usage error (no hang)" 2 timeout 120 env LSAN_OPTIONS=detect_leaks=0 mpirun "${MPI_FLAGS[@]}" -np 2 \
	"$S" train ppo --model "$T/sft" $P --rollouts 4 --minibatch 4 --gen-batch 4 --out "$T/px"
check_eq "... said by both ranks" 2 "$(grep -c 'make 1 chunk, fewer than the 2 ranks' "$T/.out")"
check "... writing nothing" test ! -e "$T/px"

# 6. one rank killed mid-run: the other stops within seconds, non-zero, naming it (every wait of
# the distributed iteration goes through dist_comm's watchdog)
mpi_run_noleak 2 "$S" train ppo --model "$T/sft" $P --iterations 100000 --rollouts 8 --minibatch 4 --gen-batch 2 \
	--save-every 0 --out "$T/pk" > "$T/pk.log" 2>"$T/pk.err" &
launcher=$!
for i in $(seq 1 1000); do grep -q '"iteration"' "$T/pk.log" 2>/dev/null && break; sleep 0.02; done
r1=$(mpi_rank_pids "$launcher" 1)
kill -KILL $r1 2>/dev/null
for i in $(seq 1 200); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$launcher" 2>/dev/null; then
	not_ok "ppo: the surviving rank stops within 10 s of its peer's death" "still running"
	kill -KILL $(mpi_rank_pids "$launcher") "$launcher" 2>/dev/null
else
	wait "$launcher"
	rc=$?
	ok "ppo: the surviving rank stopped within 10 s of its peer's death"
	check "... with a non-zero exit ($rc)" test "$rc" -ne 0
	check_grep "... and a message naming rank 1 (spindle's watchdog or mpirun's)" "rank 1" "$T/pk.err"
fi
