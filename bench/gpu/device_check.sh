#!/usr/bin/env bash
# bench/gpu/device_check.sh - everything a session with a GPU should run, in ONE call (the device
# time is short): build with make cuda, run make check-gpu (the CUDA trainer against the CPU
# twins), a short benchmark (124M at seq 1024 and the 1B at seq 4096 for a few steps, spindle and
# PyTorch eager), and write everything under $OUT (default bench/out/gpu-check) for the session to
# read back. Budget: about 5 minutes on an H100 (build ~1 min with 16 cores, check ~1 min, bench ~3).
# Usage (from the repository root): OUT=/some/dir bash bench/gpu/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/out/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/device_check.log") 2>&1
date -u
nvidia-smi || echo "nvidia-smi failed"
echo "== make cuda"
time make -j"$(nproc)" cuda >"$OUT/build.log" 2>&1
rc=$?
tail -5 "$OUT/build.log"
[ $rc = 0 ] || { echo "BUILD FAILED"; exit 1; }
echo "== make check-gpu"
time timeout 300 build-cuda/tests/check_gpu 2>&1 | tee "$OUT/check-gpu.log"
echo "check_gpu exit: ${PIPESTATUS[0]}"
echo "== spindle train --device cuda (CLI smoke test, when the train CLI is present)"
timeout 60 bin/spindle-cuda train --help 2>&1 | head -5
echo "== short benchmark"
PY=${PY:-python3}
{
	timeout 120 build-cuda/bench/gpu_bench 124m 5 4 1024 flash
	timeout 120 build-cuda/bench/gpu_bench 124m 3 1 512 naive
	timeout 120 "$PY" bench/gpu/torch_ref.py 124m 5 4 1024 eager
	timeout 150 build-cuda/bench/gpu_bench 1b 3 4 4096 flash
	timeout 150 "$PY" bench/gpu/torch_ref.py 1b 3 4 4096 eager
} 2>"$OUT/bench.err" | tee "$OUT/bench.jsonl"
tail -20 "$OUT/bench.err"
date -u
