#!/usr/bin/env bash
# bench/gpu/pack_prebuilt.sh - prepares, on a machine WITHOUT a GPU, what a GPU session runs when it
# cannot build there (no nvcc, or Debian's -dev packages missing): bin/spindle-cuda, check_gpu and
# gpu_bench from `make cuda`, plus the non-CUDA shared libraries they load (OpenBLAS, json-c, zstd,
# xxhash, gfortran runtime...), in bench/out/gpu-prebuilt/ (ignored by git; about 45 MB). Hand that
# folder to the device run (the run tool's carry: ["bench/out/gpu-prebuilt"]); device_check.sh uses it
# with LD_LIBRARY_PATH when its own build fails. The CUDA libraries (cuBLAS, cuBLASLt, NCCL, CUDA
# runtime 13) must exist on the GPU machine under /usr/local/cuda/lib64.
set -euo pipefail
cd "$(dirname "$0")/../.."
make cuda >/dev/null
P=bench/out/gpu-prebuilt
rm -rf "$P"
mkdir -p "$P/lib"
cp bin/spindle-cuda build-cuda/tests/check_gpu build-cuda/bench/gpu_bench "$P/"
for b in "$P"/spindle-cuda "$P"/check_gpu "$P"/gpu_bench; do
	ldd "$b" | awk '$3 ~ /^\// {print $3}'
done | sort -u | grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so|/usr/local/cuda' | while read -r l; do
	cp -L "$l" "$P/lib/"
done
du -sh "$P"
ls "$P" "$P/lib"
