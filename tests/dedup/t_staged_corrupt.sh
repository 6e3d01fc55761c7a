#!/usr/bin/env bash
# t_staged_corrupt.sh - the staged dedup files carry their integrity (issue 19, class 4): a flipped
# byte anywhere in a signature, bucket, pair, removal or line count file, or a truncated one, is a
# "corrupt file" error naming the file (never a wrong result with exit 0), and a count that does
# not fit the file (with a valid checksum) is named as such, not reported as "out of memory".
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
PY=/usr/bin/python3
"$S" corpus -q --max-docs 120 --max-bytes 50000 /usr/share/doc > "$T/all.jsonl"
split -n l/2 -d --additional-suffix=.jsonl "$T/all.jsonl" "$T/in-"
IN=("$T"/in-0*.jsonl)
cd "$T" || exit 1
"$S" dedup signatures -q --verify -o sig.bin "${IN[@]}" &&
"$S" dedup buckets -o bkt.bin sig.bin &&
"$S" dedup pairs --verify -o pairs.bin bkt.bin &&
"$S" dedup clusters -o part.bin pairs.bin &&
"$S" dedup clusters --final --sig sig.bin -o removed.bin part.bin &&
"$S" dedup filter -q --removed removed.bin -o kept.jsonl "${IN[@]}" &&
"$S" dedup lines -q --counts-out cnt.bin "${IN[@]}"
check "the staged files are made" test -s removed.bin -a -s cnt.bin -a -s kept.jsonl

# the stage that reads each file
consume() {
	case $1 in
	sig.bin) "$S" dedup buckets -o /dev/null "$2" ;;
	bkt.bin) "$S" dedup pairs --verify -o "$T/o.bin" "$2" ;;
	pairs.bin) "$S" dedup clusters -o "$T/o.bin" "$2" ;;
	part.bin) "$S" dedup clusters --final --sig sig.bin -o "$T/o.bin" "$2" ;;
	removed.bin) "$S" dedup filter -q --removed "$2" -o "$T/o.jsonl" "${IN[@]}" ;;
	cnt.bin) "$S" dedup lines -q --counts "$2" -o "$T/o.jsonl" "${IN[@]}" ;;
	esac
}
for f in sig.bin bkt.bin pairs.bin part.bin removed.bin cnt.bin; do
	check "$f as written is read" consume "$f" "$f"
	size=$(stat -c %s "$f")
	bad=0 n=0
	# 24 single-byte flips spread over the file (header, counts, body, checksum) and a truncation
	for pos in $($PY -c "import random; r=random.Random(5); s=$size; print(*sorted({0,8,12,13,s-1,s-9,s//2} | {r.randrange(s) for _ in range(17)}))"); do
		$PY -c "import sys; b=bytearray(open('$f','rb').read()); b[$pos]^=0x5a; open('m-$f','wb').write(b)"
		consume "$f" "m-$f" > m.out 2>&1
		rc=$?
		n=$((n + 1))
		if [ $rc -eq 0 ] || ! grep -q "m-$f: \(corrupt file\|not a \|version \)" m.out || grep -q "out of memory" m.out; then
			bad=$((bad + 1)); echo "# $f byte $pos: rc $rc: $(head -c 200 m.out)"
		fi
	done
	head -c $((size - 5)) "$f" > "m-$f"
	consume "$f" "m-$f" > m.out 2>&1
	[ $? -ne 0 ] && grep -q "m-$f: corrupt file" m.out || { bad=$((bad + 1)); echo "# $f truncated: $(head -c 200 m.out)"; }
	check_eq "$f: each of $n flipped bytes and a truncation is a corrupt-file error naming it" 0 "$bad"
done

# a lying count with a correct checksum: named as a corrupt file, not "out of memory"
resum() { # FILE: rewrite its trailing checksum (XXH64 of the rest, as xxhsum -H1 prints it)
	head -c -8 "$1" > "$1.body"
	h=$(xxhsum -H1 "$1.body" 2>/dev/null | cut -d' ' -f1)
	{ cat "$1.body"; $PY -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<Q', int('$h', 16)))"; } > "$1"
}
cp removed.bin big.bin
$PY -c "import struct; b=bytearray(open('big.bin','rb').read()); b[12:20]=struct.pack('<Q', 1<<60); open('big.bin','wb').write(b)"
resum big.bin
check_rc "a removal list with a huge count (valid checksum) is refused" 1 consume removed.bin big.bin
check_grep "as a corrupt file, naming it" "big.bin: corrupt file (entry count" "$T/.out"
check "not as out of memory" bash -c "! grep -q 'out of memory' '$T/.out'"
cp removed.bin same.bin; resum same.bin
check_files "the checksum helper reproduces the writer's" removed.bin same.bin
