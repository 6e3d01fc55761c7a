#!/usr/bin/env bash
# t_emu_detect.sh - the CUDA emulator (train/cuda/emu, issue 16) finds the bugs it is there to find:
# each deliberately wrong kernel of tests/cuda/emu/emu_bugs.cu must be reported (a shared-memory race
# naming kernel, block, both threads and the address; a one-past-the-end store naming the kernel,
# block, thread and the allocation missed; an exited lane in a shuffle's mask; a divergent barrier;
# a copy past an allocation), unwritten shared memory must read as NaN, and the right kernels
# (shuffles, ballot, atomics, bf16 rounding, launch limits) must give CUDA's answers without reports.
source "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/../.." || exit 1
X=${BUILD:-build}/tests/emu_selftest
if [ ! -x "$X" ]; then
	skip "the CUDA emulator's detectors" "no $X (needs clang++)"
	exit 0
fi
# the wrong kernels leave their buffers behind: leak checking is off, ASan's access checks stay on
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
run() { "$X" "$1" >"$T/$1.out" 2>&1; echo $? >"$T/$1.rc"; }
for c in right race race_synced oob uninit exited_lane divergent memcpy; do run $c; done
check_eq "right kernels: exit 0" 0 "$(cat "$T/right.rc")"
check_eq "right kernels: 6 checks pass" 6 "$(grep -c '^ok - ' "$T/right.out")"
check_eq "right kernels: no emulator report" 0 "$(grep -c '^emu:' "$T/right.out")"
check_eq "race: the run fails" 1 "$(cat "$T/race.rc")"
check_grep "race: kernel, block, kind, both threads, address and variable" \
	"race on shared memory in kernel race_kernel, block (0,0,0): write after read: thread (1,0,0) and thread (0,0,0), address 0x[0-9a-f]* (race_kernel(float\*, int)::sh + 4)" "$T/race.out"
check_eq "race with __syncthreads: no report" "0 0" "$(cat "$T/race_synced.rc") $(grep -c '^emu:' "$T/race_synced.out")"
check_eq "out of bounds: the run fails" 1 "$(cat "$T/oob.rc")"
case ${BUILD:-build} in
*-san) # ASan watches the allocations (malloc blocks) and reports; the emulator adds the kernel
	check_grep "out of bounds: ASan's report" "heap-buffer-overflow" "$T/oob.out"
	check_grep "out of bounds: the allocation missed" "0 bytes \(after\|to the right of\) 400-byte region" "$T/oob.out" ;;
*) check_grep "out of bounds: the allocation missed" "0 bytes past the end of the 400-byte allocation" "$T/oob.out" ;;
esac
check_grep "out of bounds: kernel, block and thread" "in kernel oob_kernel, block (0,0,0) of (1,1,1), thread (100,0,0)" "$T/oob.out"
check_grep "unwritten shared memory reads as NaN" "^ok - unwritten shared memory reads as NaN" "$T/uninit.out"
check_grep "shuffle naming an exited lane" "lane 16 of warp 0 has exited but is named in the mask 0xffffffff" "$T/exited_lane.out"
check_grep "divergent barrier" "wait at different __syncthreads (divergent barrier) in kernel divergent_kernel" "$T/divergent.out"
check_grep "copy past an allocation" "cudaMemcpy source: 6144 bytes from offset 40 overrun the 6144-byte device allocation" "$T/memcpy.out"
for c in exited_lane divergent memcpy; do
	check_eq "$c: the run fails" 1 "$(cat "$T/$c.rc")"
done
