#!/usr/bin/env bash
# t_emu_dist.sh - data-parallel training over NCCL with 2 ranks, run by the CUDA emulator (issue 16):
# bin/spindle-emu is spindle with `--device cuda` emulated (train/cuda/emu; NCCL's all-reduce between
# the two processes through shared memory). Two ranks train on packed shards of this machine's
# documentation; the run executes the gradient all-reduce, rank-0 checkpointing and the data cursor
# of rank 1 on resume. A run stopped after 3 steps and resumed for 3 more must end with the same
# weights, bit for bit, as a straight 6-step run (rank 1 resumes at its own place in its shards).
# The resumed run reuses the job name on purpose: rank 1 once read the first run's stale NCCL id file
# and waited for a group that never formed (train/device_cuda.c now removes it once the group forms).
source "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/../.." || exit 1
E=${BUILD:-build}/bin/spindle-emu
case ${BUILD:-build} in *-san)
	skip "2-rank data parallelism under the CUDA emulator" "normal pass only (the ASan pass runs the kernel tier)"
	exit 0 ;;
esac
if [ ! -x "$E" ]; then
	skip "2-rank data parallelism under the CUDA emulator" "no $E (needs clang++)"
	exit 0
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 SPINDLE_EMU_NCCL_TIMEOUT=60
doc_tokenizer 120 1.0
"$E" tok encode -q -m "$T/tok.model" --format bin "$T/docs.jsonl" | "$E" pack -q -m "$T/tok.model" --seq-len 33 -o "$T/shards"
check "packed shards for the ranks" test -d "$T/shards"

# two ranks of one job; extra arguments go to both
ranks() {
	local out=$1
	shift
	for r in 0 1; do
		SPINDLE_RANK=$r SPINDLE_WORLD_SIZE=2 SPINDLE_LOCAL_RANK=$r SPINDLE_JOB="emu-$$-$(basename "$out")" \
			"$E" train pretrain --device cuda --data "$T/shards" --tokenizer "$T/tok.model" --dim 64 --layers 2 \
			--heads 2 --kv-heads 1 --hidden 128 --seq-len 32 --batch 2 --steps 6 --lr 3e-3 --warmup 1 \
			--out "$out" "$@" >"$out.r$r.log" 2>&1 &
	done
	local rc=0
	wait %1 || rc=$?
	wait %2 || rc=$?
	return $rc
}
mkdir -p "$T/a" "$T/b"
if ranks "$T/a/run"; then ok "2 ranks, 6 steps: both exit 0"; else not_ok "2 ranks, 6 steps: both exit 0" "$(tail -n 3 "$T/a/run.r0.log" "$T/a/run.r1.log")"; fi
check_grep "rank 0 says it is rank 0 of 2 on the emulator" "spindle CUDA emulator.*rank 0 of 2" "$T/a/run.r0.log"
check_grep "rank 1 says it is rank 1 of 2" "rank 1 of 2" "$T/a/run.r1.log"
check "rank 0 wrote the checkpoint" test -s "$T/a/run/trainer_state.json"
check_eq "no emulator errors on either rank" 0 "$(cat "$T/a/run.r0.log" "$T/a/run.r1.log" | grep -c '^emu')"
if ranks "$T/b/run" --stop-after 3 && ranks "$T/b/run" --resume; then
	ok "2 ranks: 3 steps, then resumed for 3"
else
	not_ok "2 ranks: 3 steps, then resumed for 3" "$(tail -n 3 "$T/b/run.r0.log" "$T/b/run.r1.log")"
fi
check_grep "rank 1 resumed too" "resuming" "$T/b/run.r1.log"
w=$(ls "$T/a/run" | grep -m1 'safetensors$')
if [ -n "$w" ] && cmp -s "$T/a/run/$w" "$T/b/run/$w"; then
	ok "stopped and resumed run ends with the straight run's weights (bit for bit)"
else
	not_ok "stopped and resumed run ends with the straight run's weights (bit for bit)" "$(ls -l "$T/a/run" "$T/b/run" | head)"
fi
