#!/usr/bin/env bash
# t_mpi_srun.sh - data-parallel training started by Slurm (issue 18): `srun --mpi=pmix -n 2` on the
# private single-node cluster of tests/cluster/slurm.sh equals one process with the same global
# batch bit for bit; srun without MPI is refused clearly; a killed task stops the other, named.
# Skips when the cluster script or Slurm is missing. Under ASan, LeakSanitizer is off here: under
# srun libmpi's PMIx plugins are unloaded before the leak check, so their allocations cannot be
# told from ours by any suppression (t_mpi.sh checks the same code for leaks under mpirun).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/mpi_lib.sh"
S="$SPINDLE"
CLUSTER="$(dirname "$0")/../cluster/slurm.sh"
[ -f "$CLUSTER" ] || { skip "srun --mpi=pmix data parallelism" "no tests/cluster/slurm.sh"; exit 0; }
source "$CLUSTER"
slurm_up || { skip "srun --mpi=pmix data parallelism" "$SLURM_SKIP_REASON"; exit 0; }
trap 'slurm_down; rm -rf "$T"' EXIT
export LSAN_OPTIONS=detect_leaks=0

steps() { grep '^{"step"' "$1" | sed -E 's/"tokens_per_s":[0-9.e+-]*,//; s/,"ranks":[0-9]+,"comm_s":[0-9.]+(,"buckets":[0-9]+,"buckets_early":[0-9]+)?//'; }
A=(--data synthetic:300 --preset tiny --seq-len 32 --batch 2 --lr 3e-3 --threads 1)
"$S" train pretrain "${A[@]}" --steps 4 --accum 2 --out "$T/one" > "$T/one.log" 2>/dev/null
# (in small buckets overlapped with the backward: train/grad_plan.h)
check_rc "srun --mpi=pmix -n 2 pretrain" 0 srun --mpi=pmix -n 2 "$S" train pretrain "${A[@]}" --bucket-mb 0.02 --steps 4 --out "$T/two"
grep '^{' "$T/.out" > "$T/two.log"
check_eq "srun: rank 0 alone logs 4 steps of 2 ranks" 4 "$(grep -c '"ranks":2' "$T/two.log")"
check_eq "srun: ... each exchanged in 4 buckets" 4 "$(grep -c '"buckets":4,' "$T/two.log")"
check_files "srun: 2 ranks log 1 process's losses (same global batch)" <(steps "$T/one.log") <(steps "$T/two.log")
check_files "srun: 2 ranks end with 1 process's weights, bit for bit" "$T/one/model.safetensors" "$T/two/model.safetensors"

check_rc "srun -n 2 without MPI is refused as a usage error" 2 srun --mpi=none -n 2 "$S" train pretrain "${A[@]}" --steps 2 --out "$T/none"
check_grep "... saying to use srun --mpi=pmix" "srun --mpi=pmix" "$T/.out"

# a task killed: the other stops within seconds, naming it
srun --mpi=pmix -n 2 "$S" train pretrain "${A[@]}" --steps 100000 --out "$T/k" > "$T/k.log" 2>"$T/k.err" &
launcher=$!
for i in $(seq 1 1000); do grep -q '"step"' "$T/k.log" 2>/dev/null && break; sleep 0.01; done
victim=""
for i in $(seq 1 100); do
	victim=$(mpi_rank_pids 1 1)   # srun's tasks are slurmstepd's children, not ours: search from init
	for p in $victim; do tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF" || victim=${victim/$p/}; done
	[ -n "${victim// /}" ] && break
	sleep 0.05
done
if [ -z "${victim// /}" ]; then
	not_ok "found rank 1 of the srun job"
else
	kill -KILL $victim
	for i in $(seq 1 200); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$launcher" 2>/dev/null; then
		not_ok "srun: the surviving task stops within 10 s of its peer's death" "still running"
		scancel --full --quiet --partition=debug >/dev/null 2>&1
		wait "$launcher"
	else
		wait "$launcher"
		rc=$?
		ok "srun: the surviving task stopped within 10 s of its peer's death"
		check "... with a non-zero exit ($rc)" test "$rc" -ne 0
		check_grep "... and a message naming rank 1" "rank 1" "$T/k.err"
	fi
fi
