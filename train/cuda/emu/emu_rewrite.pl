#!/usr/bin/perl
# emu_rewrite.pl - the one source change the emulation build needs, made mechanically at build time
# (the .cu files stay plain CUDA, and nvcc builds them unchanged): a launch
#     kernel<<<grid, block[, smem[, stream]]>>>(args)
# becomes
#     emu_launch("kernel", kernel, grid, block[, smem[, stream]])(args)
# and a dynamic shared array `extern __shared__ T name[];` becomes a pointer to the emulator's buffer.
# Lines are kept one for one, and a #line directive names the .cu file, so diagnostics and
# reports point at the original source. Usage: emu_rewrite.pl FILE.cu > FILE.emu.cc
use strict;
use warnings;
my $f = $ARGV[0];
print "#line 1 \"$f\"\n";
while (my $l = <>) {
	$l =~ s/\b([A-Za-z_]\w*(?:<[^<>;()]*>)?)\s*<<<(.*?)>>>\s*\(/emu_launch("$1", $1, $2)(/g;
	$l =~ s/\bextern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w:]+)\s+(\w+)\s*\[\s*\]\s*;/$1 *$2 = ($1 *)emu_dynamic_shared();/g;
	die "$f:$.: a launch the rewrite does not understand (one line per launch): $l" if $l =~ /<<<|>>>\s*\(/;
	print $l;
}
