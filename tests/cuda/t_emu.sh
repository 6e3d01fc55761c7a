#!/usr/bin/env bash
# t_emu.sh - the CUDA trainer's kernels run in make check without a GPU (issue 16): tests/gpu/check_gpu.c
# against the emulation build of train/cuda (train/cuda/emu/): every kernel against its CPU twin,
# fused against naive against CPU attention (GQA, documents), the whole model's logits, loss and
# gradients, the reward model, KV-cache decoding, 50 training steps GPU vs CPU and a GPU checkpoint
# resumed on the CPU. Every check_gpu line becomes one case here. Small sizes by default
# (SPINDLE_SLOW=1: check_gpu's full sizes). In the ASan pass (BUILD=build-san) only the kernel tier
# runs (the emulated device allocations are then ASan-watched malloc blocks).
source "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
EMU=$B/tests/check_gpu_emu
if [ ! -x "$EMU" ]; then
	skip "check_gpu under the CUDA emulator" "no $EMU (needs clang++; make $EMU)"
	exit 0
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
parts=all
[ "${SPINDLE_SLOW:-0}" = 1 ] || export SPINDLE_CHECK_GPU_SMALL=1
# ASan pass: the kernel tier; check_gpu.c keeps its (host and device) test buffers to its end, which
# LeakSanitizer would list: leak checking is off for it, ASan's checks of every access stay on
case $B in *-san) parts=kernels; export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 ;; esac
SPINDLE_CHECK_GPU_PARTS=$parts "$EMU" >"$T/emu.out" 2>&1
rc=$?
# one case per check: "  NAME  rel E  tol T  ok|FAIL" or "  NAME  ok|FAIL"
while IFS= read -r line; do
	name=$(sed -E 's/^  //; s/ +(rel .*)?(ok|FAIL)$//' <<<"$line")
	case $line in
	*" ok") ok "emu: $name" ;;
	*FAIL) not_ok "emu: $name" "$line" ;;
	esac
done < <(grep -E '^  .*(ok|FAIL)$' "$T/emu.out")
if [ $rc -eq 0 ] && grep -q "check-gpu: [0-9]* passed, 0 failed" "$T/emu.out" && ! grep -q '^emu: ' "$T/emu.out"; then
	ok "check_gpu under the emulator: exit 0, no emulator errors ($(grep -c ' ok$' "$T/emu.out") checks, parts $parts)"
else
	not_ok "check_gpu under the emulator: exit 0, no emulator errors" "exit $rc" "$(grep -E '^emu|FAIL|check-gpu:' "$T/emu.out" | head -20)"
fi
