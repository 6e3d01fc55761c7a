#!/usr/bin/env bash
# t_device.sh - `--device` on the command line: a CPU-only build refuses cuda with a clear message
# (the same for eval and sample), an unknown device is a usage error; when bin/spindle-cuda was
# built (make cuda) and no GPU is present, it says so instead of crashing, and make check-gpu skips.
source "$(dirname "$0")/../lib.sh"
check_rc "pretrain --device cuda in a CPU build: usage error" 2 "$SPINDLE" train pretrain --device cuda --data "$T/none" --out "$T/run"
check_grep "the message names make cuda" "built without CUDA" "$T/.out"
check_rc "unknown device: usage error" 2 "$SPINDLE" train pretrain --device tpu --data "$T/none" --out "$T/run"
check_grep "the message names the value" "not 'tpu'" "$T/.out"
check_rc "eval --device cuda in a CPU build" 2 "$SPINDLE" train eval --device cuda --model "$T/none" --data "$T/none"
CUDA_BIN=$(dirname "$SPINDLE")/spindle-cuda
[ "$(basename "$SPINDLE")" = spindle ] && [ -x "$(dirname "$SPINDLE")/../bin/spindle-cuda" ] && CUDA_BIN=$(dirname "$SPINDLE")/../bin/spindle-cuda
if [ -x "$CUDA_BIN" ] && ! nvidia-smi -L >/dev/null 2>&1; then
	check_rc "spindle-cuda without a GPU: --device cuda is a usage error" 2 "$CUDA_BIN" train pretrain --device cuda --data "$T/none" --out "$T/run"
	check_grep "it says there is no usable GPU" "no usable GPU" "$T/.out"
	# auto falls back to the CPU, which then fails on the missing data (not on the device)
	"$CUDA_BIN" train pretrain --data "$T/none" --out "$T/run" >"$T/.out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && grep -q "$T/none" "$T/.out" && ! grep -qi "gpu\|cuda" "$T/.out"; then
		ok "spindle-cuda without a GPU: auto falls back to the CPU"
	else
		not_ok "spindle-cuda without a GPU: auto falls back to the CPU" "exit $rc" "$(cat "$T/.out")"
	fi
	if [ -x build-cuda/tests/check_gpu ]; then
		check "check_gpu skips cleanly without a GPU" build-cuda/tests/check_gpu
		check_grep "check_gpu says SKIP" "SKIP: no usable CUDA GPU" "$T/.out"
	fi
else
	skip "spindle-cuda without a GPU" "no bin/spindle-cuda (make cuda) or a GPU is present"
fi
