#!/usr/bin/env bash
# bench/mpi/run.sh - data-parallel scaling on the CPU (issue 18): the 10m preset (bench/train's
# model) trained by 1 and by 2 processes, each one thread and BATCH rows a step: `spindle train
# pretrain` under mpirun beside PyTorch DistributedDataParallel (gloo) in the same run. Efficiency
# = tokens/s of 2 processes / (2 x tokens/s of 1). spindle's 2 processes run twice: the exchange
# after the backward (--bucket-mb 0) and overlapped with it in buckets (--bucket-mb $BUCKET_MB,
# default 25 as DDP's); for each, the exchange per step (comm_s: waiting for the other rank and, when
# overlapped, the polls inside the backward included) against the step time, and for the overlapped
# run the buckets whose sum was complete before the backward ended. Last, the exchange of the 10M
# gradient alone with both ranks ready (sum_bench.c: ours beside MPI_Allreduce). And the machine's own
# ceiling: two independent single-process runs side by side, no MPI (their tokens/s added): on a
# shared 2-vCPU machine the second core does not give a second core's worth, and no data parallelism
# can beat that. Shared memory uses Open MPI's default single-copy mechanism (CMA); set
# MPI_EXTRA="--mca btl_vader_single_copy_mechanism none" where ptrace is not allowed. Env: STEPS,
# BATCH, ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
SPINDLE=${SPINDLE:-bin/spindle}
STEPS=${STEPS:-8}
BATCH=${BATCH:-4}
ROUNDS=${ROUNDS:-1}
BUCKET_MB=${BUCKET_MB:-25}
DIM=256 LAYERS=8 HEADS=8 KV=4 HIDDEN=688 VOCAB=8192 SEQ=256
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader ${MPI_EXTRA:-})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=c11 -D_GNU_SOURCE -O2 -Ilib/include $(pkg-config --cflags ompi-c) -fopenmp -o "$tmp/sum_bench" bench/mpi/sum_bench.c \
	build/libspindle.a $(pkg-config --libs ompi-c json-c) -lm
med() { /usr/bin/python3 -c '
import json, statistics, sys
v = [json.loads(l)[sys.argv[2]] for l in open(sys.argv[1]) if l.startswith("{\"step\"")][2:]
print(f"{statistics.median(v):.4g}")' "$@"; }
spin() { local b=$1; shift; "$@" train pretrain --bucket-mb "$b" --data synthetic:$VOCAB --preset 10m --batch "$BATCH" --steps "$STEPS" --threads 1 --spike-k 0 --out "$tmp/run" >"$tmp/log" 2>"$tmp/err"; rm -rf "$tmp/run"; }
ratio() { /usr/bin/python3 -c "print(f'{$1:.2f}')"; }
echo "| load | spindle 1 proc tok/s | 2 independent procs (ceiling) | ceiling efficiency | spindle 2 procs, exchange after backward | efficiency | comm_s / step s | spindle 2 procs, overlapped ($BUCKET_MB MB buckets) | efficiency | comm_s / step s | buckets done in backward | PyTorch DDP 1 | PyTorch DDP 2 | PyTorch efficiency | 10M exchange alone: ours / MPI_Allreduce s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
	load=$(cut -d' ' -f1 /proc/loadavg)
	spin 0 "$SPINDLE"; s1=$(med "$tmp/log" tokens_per_s)
	"$SPINDLE" train pretrain --data synthetic:$VOCAB --preset 10m --batch "$BATCH" --steps "$STEPS" --threads 1 --spike-k 0 --out "$tmp/pa" >"$tmp/pa.log" 2>/dev/null &
	"$SPINDLE" train pretrain --data synthetic:$VOCAB --preset 10m --batch "$BATCH" --steps "$STEPS" --threads 1 --spike-k 0 --out "$tmp/pb" >"$tmp/pb.log" 2>/dev/null
	wait
	rm -rf "$tmp/pa" "$tmp/pb"
	pair=$(/usr/bin/python3 -c "print(round($(med "$tmp/pa.log" tokens_per_s) + $(med "$tmp/pb.log" tokens_per_s)))")
	spin 0 "${MPI[@]}" -np 2 "$SPINDLE"; s2=$(med "$tmp/log" tokens_per_s); comm=$(med "$tmp/log" comm_s)
	spin "$BUCKET_MB" "${MPI[@]}" -np 2 "$SPINDLE"; o2=$(med "$tmp/log" tokens_per_s); ocomm=$(med "$tmp/log" comm_s)
	early=$(med "$tmp/log" buckets_early); nb=$(med "$tmp/log" buckets)
	p1=$(/usr/bin/python3 bench/mpi/torch_ddp.py $DIM $LAYERS $HEADS $KV $HIDDEN $VOCAB "$BATCH" $SEQ "$STEPS" 1)
	p2=$(/usr/bin/python3 bench/mpi/torch_ddp.py $DIM $LAYERS $HEADS $KV $HIDDEN $VOCAB "$BATCH" $SEQ "$STEPS" 2)
	step2=$(/usr/bin/python3 -c "print(2 * $BATCH * $SEQ / $s2)")
	ostep2=$(/usr/bin/python3 -c "print(2 * $BATCH * $SEQ / $o2)")
	read -r x_ours x_ref < <("${MPI[@]}" -np 2 "$tmp/sum_bench" 10000000 5)
	echo "| $load | $s1 | $pair | $(ratio "$pair / (2 * $s1)") | $s2 | $(ratio "$s2 / (2 * $s1)") | $comm / $(ratio "$step2") | $o2 | $(ratio "$o2 / (2 * $s1)") | $ocomm / $(ratio "$ostep2") | $early of $nb | $p1 | $p2 | $(ratio "$p2 / (2 * $p1)") | $x_ours / $x_ref |"
done
echo
echo "10m preset, $BATCH x $SEQ tokens per process per step, $STEPS steps (median of steps 3..$STEPS), one thread per process"
