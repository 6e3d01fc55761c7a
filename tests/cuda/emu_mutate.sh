#!/usr/bin/env bash
# emu_mutate.sh - mutation test of the emulation suite (issue 16): each mutant changes one line of a
# copy of train/cuda the way a real bug would (an index in the fused attention's backward pass, a
# missing __syncthreads, a wrong shuffle offset in the warp reduction, a document mask that lets a
# query see earlier documents), is built with the emulator and run through check_gpu's kernel tier;
# the suite must fail on every mutant. Prints one line per mutant with the first failure that killed
# it; exits 1 if any mutant survives. Not part of make check (four rebuilds of the kernels: a few
# minutes); run from the repository root after `make`.
#   bash tests/cuda/emu_mutate.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${1:-build}
[ -f "$B/libspindle.a" ] || { echo "emu_mutate: build $B first (make)"; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/spindle-mutate.XXXXXX")
trap 'rm -rf "$W"' EXIT
# name | file | perl code run on each line (must change exactly one line)
mutants=(
	'flash backward: D_i of the warp instead of the lane|flash.cu|s/ds = p \* \(dp - dd\[lane\]\);/ds = p * (dp - dd[warp]);/'
	'flash backward: the __syncthreads before the dK/dV chunk loads removed|flash.cu|$_ = "" if /^\t\t\t__syncthreads\(\);$/ && !$n++'
	'warp_sum: shuffle offset o ^ 1 instead of o|common.cuh|s/v \+= __shfl_xor_sync\(0xffffffffu, v, o\);/v += __shfl_xor_sync(0xffffffffu, v, o ^ 1);/'
	'flash: the document mask lets a query see earlier documents|flash.cu|s/return j <= i && \(!sg \|\| sg\[i\] == sg\[j\]\);/return j <= i \&\& (!sg || sg[i] >= sg[j]);/'
)
survivors=0
for m in "${mutants[@]}"; do
	IFS='|' read -r name file sub <<<"$m"
	d=$W/$(echo "$name" | tr -c 'a-zA-Z0-9' _)
	mkdir -p "$d/cuda" && cp train/cuda/*.cu train/cuda/*.cuh train/cuda/*.h "$d/cuda/"
	perl -i -pe "BEGIN { our \$n = 0 } $sub" "$d/cuda/$file"
	changed=$(diff "train/cuda/$file" "$d/cuda/$file" | grep -c '^[<>]')
	if [ "$changed" -lt 1 ] || [ "$changed" -gt 2 ]; then
		echo "mutant '$name': the substitution changed $changed lines (want one): fix the script"
		survivors=$((survivors + 1))
		continue
	fi
	if ! make -s BUILD="$B" EMU_SRCDIR="$d/cuda" EMU_DIR="$d/emu" "$d/emu/check_gpu" >"$d/build.log" 2>&1; then
		echo "mutant '$name': does not build"; tail -5 "$d/build.log"
		survivors=$((survivors + 1))
		continue
	fi
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 SPINDLE_CHECK_GPU_SMALL=1 SPINDLE_CHECK_GPU_PARTS=kernels \
		"$d/emu/check_gpu" >"$d/run.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "mutant '$name': killed (exit $rc): $(grep -E 'FAIL|^emu:' "$d/run.log" | head -1 | sed 's/  */ /g')"
		echo "    $(grep -c FAIL "$d/run.log") checks failed, $(grep -c '^emu: race' "$d/run.log") race reports shown"
	else
		echo "mutant '$name': SURVIVED"
		survivors=$((survivors + 1))
	fi
done
echo "emu_mutate: $((${#mutants[@]} - survivors)) of ${#mutants[@]} mutants killed"
[ $survivors -eq 0 ]
