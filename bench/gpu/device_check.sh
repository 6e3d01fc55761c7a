#!/usr/bin/env bash
# bench/gpu/device_check.sh - everything a session with a GPU should run, in ONE call (device time is
# short): build with make cuda (or, when that fails there, use bench/out/gpu-prebuilt from
# bench/gpu/pack_prebuilt.sh, carried along), run check_gpu (make check-gpu: the CUDA trainer against
# the CPU twins), and a short benchmark (spindle vs PyTorch eager), writing everything under $OUT
# (default bench/out/gpu-check). Budget: about 5 minutes on an H100 (build ~1-2 min with 16 cores,
# check ~1 min, bench ~2-3 min); every stage has its own timeout so one hang does not eat the rest.
# Usage (repository root): OUT=/some/dir bash bench/gpu/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/out/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/device_check.log") 2>&1
date -u
nvidia-smi || echo "nvidia-smi failed"
PY=${PY:-python3}
CHECK=build-cuda/tests/check_gpu BENCH=build-cuda/bench/gpu_bench SPX=bin/spindle-cuda
echo "== make cuda"
if timeout 240 make -j"$(nproc)" cuda >"$OUT/build.log" 2>&1; then
	echo "built here"
elif [ -x bench/out/gpu-prebuilt/check_gpu ]; then
	tail -5 "$OUT/build.log"
	echo "build failed here: using the carried bench/out/gpu-prebuilt"
	export LD_LIBRARY_PATH="$PWD/bench/out/gpu-prebuilt/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
	CHECK=bench/out/gpu-prebuilt/check_gpu BENCH=bench/out/gpu-prebuilt/gpu_bench SPX=bench/out/gpu-prebuilt/spindle-cuda
else
	tail -20 "$OUT/build.log"
	echo "BUILD FAILED and no prebuilt folder"; exit 1
fi
echo "== check-gpu"
timeout 300 "$CHECK" 2>&1 | tee "$OUT/check-gpu.log"
echo "check_gpu exit: ${PIPESTATUS[0]}"
echo "== CLI: spindle train has --device"
"$SPX" train pretrain --help 2>&1 | grep -E -- "--device" || echo "(no --device in this CLI)"
echo "== short benchmark"
{
	timeout 90 "$BENCH" 124m 5 4 1024 flash
	timeout 60 "$BENCH" 124m 3 1 512 naive
	timeout 120 "$PY" bench/gpu/torch_ref.py 124m 5 4 1024 eager
	timeout 150 "$BENCH" 1b 3 4 4096 flash
	timeout 150 "$PY" bench/gpu/torch_ref.py 1b 3 4 4096 eager
} 2>"$OUT/bench.err" | tee "$OUT/bench.jsonl"
tail -20 "$OUT/bench.err"
date -u
