#!/usr/bin/env bash
# t_opt_ranges.sh - every numeric option of every tool has a range in its option table, shown in
# --help and enforced (exit 2) (issue 19, class 8): the values the issue found accepted or silently
# defaulted are refused naming the option; an absurd model size names its cause; a run whose
# weights stop being finite ends with an error and saves nothing.
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
unchecked=""
for c in $("$S" --help | awk '/^Commands:/{on=1;next} on&&/^  [a-z]/{print $1}'); do
	"$S" $c --help > "$T/h" 2>&1
	grep -q "range unchecked" "$T/h" && unchecked+=" $c"
	for s in $(grep -oE '^  [a-z]+ ' "$T/h"); do
		"$S" $c $s --help > "$T/hs" 2>/dev/null || continue
		grep -q "^usage: spindle $c $s" "$T/hs" || continue
		grep -q "range unchecked" "$T/hs" && unchecked+=" $c-$s($(grep 'range unchecked' "$T/hs" | awk '{print $1}' | tr '\n' ' '))"
	done
done
check_eq "every numeric option of every command has a range (--help shows none unchecked)" "" "$unchecked"
"$S" train pretrain --help > "$T/h"
check_grep "--help shows an integer range" "--threads N .*\[1..1024\]" "$T/h"
check_grep "--help shows a real range" "--min-lr-ratio X .*\[0..1\]" "$T/h"

refuse() { # OPTION VALUE COMMAND...: exit 2 naming the option and its range (or finiteness)
	local o=$1 v=$2; shift 2
	"$@" "--$o" "$v" > "$T/.out" 2>&1
	local rc=$?
	if [ $rc -eq 2 ] && grep -q -- "--$o: \(must be in\|expected a finite\)" "$T/.out"; then ok "--$o $v is refused ($*)"
	else not_ok "--$o $v is refused ($*)" "exit $rc: $(head -c 300 "$T/.out")"; fi
}
refuse threshold -1 "$S" dedup minhash
refuse threshold nan "$S" dedup minhash
refuse threshold 1.5 "$S" dedup signatures -o "$T/x"
refuse margin -0.1 "$S" dedup pairs -o "$T/x"
P=("$S" train pretrain --data synthetic:64 --out "$T/run")
for v in 0 -1 4294967296; do refuse seq-len $v "${P[@]}"; done
refuse dim 0 "${P[@]}"
refuse layers 0 "${P[@]}"
refuse kv-heads 0 "${P[@]}"
refuse threads 0 "${P[@]}"
refuse threads 100000 "${P[@]}"
refuse clip -1 "${P[@]}"
refuse spike-k -1 "${P[@]}"
refuse min-lr-ratio 5 "${P[@]}"
refuse lr 1e30 "${P[@]}"
refuse lr nan "${P[@]}"
refuse lr inf "${P[@]}"
refuse threads 0 "$S" train eval --model "$T/m" --data "$T/d"
refuse temperature -1 "$S" train sample --model "$T/m"
refuse top-p 0 "$S" train sample --model "$T/m"
refuse zstd-level 0 "$S" pack -o "$T/p"
refuse max-docs -5 "$S" corpus
refuse link-density 2 "$S" extract
refuse overlap 1.5 "$S" annotate config --db "$T/db"
refuse character-coverage 2 "$S" tok train --vocab-size 300 -o "$T/t.model"
check "the refusals left no run folder" test ! -e "$T/run"

# an absurd configuration names its cause (it said "out of memory for a model of 0 parameters")
check_rc "a context too large for memory is refused" 2 "$S" train pretrain --data synthetic:64 --dim 64 --layers 2 \
	--heads 4 --kv-heads 2 --hidden 64 --seq-len 1048576 --batch 8 --steps 1 --threads 1 --out "$T/big"
check_grep "naming the batch and context as the cause" "batch 8 x context 1048576 is too large" "$T/.out"
check "not as out of memory for 0 parameters" bash -c "! grep -q '0 parameters' '$T/.out'"

# weights that are not finite: the run stops with an error and saves no checkpoint
A=(--data synthetic:64 --dim 32 --layers 1 --heads 2 --kv-heads 1 --hidden 64 --seq-len 16 --batch 2 --threads 1)
"$S" train pretrain "${A[@]}" --steps 2 --out "$T/ok" > /dev/null 2>&1
/usr/bin/python3 - "$T/ok/model.safetensors" <<'PYEOF'
import json, struct, sys
b = bytearray(open(sys.argv[1], "rb").read()); n = struct.unpack("<Q", b[:8])[0]
o = json.loads(b[8:8 + n])["model.norm.weight"]["data_offsets"][0]
b[8 + n + o:8 + n + o + 4] = struct.pack("<f", float("nan")); open(sys.argv[1], "wb").write(b)
PYEOF
check_rc "a run whose weights are NaN stops with an error" 1 "$S" train pretrain "${A[@]}" --steps 3 --init-from "$T/ok" --out "$T/nan"
check_grep "saying the weights are not finite" "weights hold non-finite values" "$T/.out"
check "and saves no checkpoint" test ! -e "$T/nan/model.safetensors"
