#!/usr/bin/env bash
# bench/gpu/run.sh - spindle's CUDA trainer against PyTorch (issue 10) on one GPU, in one run:
# builds (make cuda), checks correctness against the CPU reference (make check-gpu), then times
# training steps of spindle (bench_step.c, fused attention) and of PyTorch eager and torch.compile
# (torch_ref.py) on the 124M, 350M and 1B configurations (vocab 32000, seq 4096, micro-batch 4),
# printing tokens/s, MFU and spindle's speed as a ratio of each PyTorch variant.
# Environment: CONFIGS (default "124m 350m 1b"), STEPS (default 10), SEQ (4096), MB (4),
# PY (python with torch + transformers, default python3), OUT (a folder for results.jsonl and logs).
# Skips (exit 0) without nvcc or without a GPU, so `make bench` passes on CPU-only machines.
set -uo pipefail
cd "$(dirname "$0")/../.."
CONFIGS=${CONFIGS:-"124m 350m 1b"}
STEPS=${STEPS:-10}
SEQ=${SEQ:-4096}
MB=${MB:-4}
PY=${PY:-python3}
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
if [ -z "$NVCC" ]; then echo "bench/gpu: SKIP: nvcc not found"; exit 0; fi
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
	echo "bench/gpu: SKIP: no GPU (nvidia-smi -L failed)"; exit 0
fi
nvidia-smi -L | tee "$OUT/gpu.txt"
make -j"$(nproc)" cuda >"$OUT/build.log" 2>&1 || { echo "bench/gpu: make cuda failed (see $OUT/build.log)"; tail -20 "$OUT/build.log"; exit 1; }
if [ "${SKIP_CHECK:-0}" != 1 ]; then
	build-cuda/tests/check_gpu | tee "$OUT/check-gpu.log"
	[ "${PIPESTATUS[0]}" = 0 ] || echo "bench/gpu: WARNING: check-gpu failed; timings below are of an incorrect trainer"
fi
RES="$OUT/results.jsonl"
: >"$RES"
for c in $CONFIGS; do
	timeout 900 build-cuda/bench/gpu_bench "$c" "$STEPS" "$MB" "$SEQ" flash 2>>"$OUT/bench.err" | tee -a "$RES"
	for m in eager compile; do
		timeout 900 "$PY" bench/gpu/torch_ref.py "$c" "$STEPS" "$MB" "$SEQ" "$m" 2>>"$OUT/torch.err" | tee -a "$RES"
	done
done
# the table: tokens/s, MFU and the ratios spindle / torch
"$PY" - "$RES" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["config"], {})[r["impl"]] = r
print("\n| config | spindle tok/s | MFU | torch eager tok/s | torch.compile tok/s | vs eager | vs compile |")
print("|---|---|---|---|---|---|---|")
for c, d in by.items():
    s, e, k = d.get("spindle"), d.get("torch-eager"), d.get("torch-compile")
    f = lambda r: f"{r['tokens_per_s']:.0f}" if r else "-"
    ratio = lambda a, b: f"{a['tokens_per_s'] / b['tokens_per_s']:.2f}x" if a and b else "-"
    print(f"| {c} | {f(s)} | {s['mfu'] * 100:.1f}% | {f(e)} | {f(k)} | {ratio(s, e)} | {ratio(s, k)} |" if s else
          f"| {c} | - | - | {f(e)} | {f(k)} | - | - |")
PYEOF
