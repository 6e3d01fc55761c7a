#!/usr/bin/env bash
# t_host_compiles.sh - the host C side of the CUDA build (make cuda) must keep compiling against the
# CPU trainer's current headers, even on machines where make check never builds CUDA: a changed CPU
# op signature once broke make cuda unnoticed. Syntax-checks every C file the CUDA build alone
# compiles, with -DSPINDLE_CUDA; needs no CUDA headers.
source "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/../.."
flags=(-std=c11 -D_GNU_SOURCE -fopenmp -Wall -Wextra -Werror -Wshadow -Wvla -DSPINDLE_CUDA
	-Ilib/include -Icli -Itrain $(pkg-config --cflags json-c libxml-2.0 ompi-c 2>/dev/null) -fsyntax-only)
for f in tests/gpu/*.c bench/gpu/*.c train/*.c; do
	[ -f "$f" ] || continue
	check "$f compiles with -DSPINDLE_CUDA" gcc "${flags[@]}" "$f"
done
