#!/usr/bin/env bash
# t_tok_refusals.sh - what `tok decode` and `tok train` must refuse (issue 19, class 10): decode
# reads token streams with pack's reader, so concatenated streams are all decoded and trailing
# garbage or an end record that miscounts its documents is an error; train refuses user-defined
# symbols that repeat a control or byte piece (or each other), and input without any text.
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
cat /usr/share/common-licenses/GPL-3 /usr/share/common-licenses/Apache-2.0 > "$T/train.txt"
"$S" tok train -q --vocab-size 600 -o "$T/t.model" "$T/train.txt"
check "a tokenizer is trained" test -s "$T/t.model"
printf '{"id":"a","text":"First document."}\n{"id":"b","text":"Second one, longer."}\n' > "$T/d1.jsonl"
printf '{"id":"c","text":"Third."}\n' > "$T/d2.jsonl"
"$S" tok encode -q -m "$T/t.model" --format bin -o "$T/s1.bin" "$T/d1.jsonl"
"$S" tok encode -q -m "$T/t.model" --format bin -o "$T/s2.bin" "$T/d2.jsonl"
cat "$T/s1.bin" "$T/s2.bin" > "$T/cat.bin"
check_rc "concatenated token streams decode" 0 "$S" tok decode -m "$T/t.model" --text "$T/cat.bin"
check_eq "every stream's documents are decoded, in order" "First document.|Second one, longer.|Third." "$(tr '\n' '|' < "$T/.out" | sed 's/|$//')"
{ cat "$T/s1.bin"; printf 'junk'; } > "$T/junk.bin"
check_rc "trailing garbage after the end record is an error" 1 "$S" tok decode -m "$T/t.model" --text "$T/junk.bin"
check_grep "naming it" "unexpected bytes after the token stream's end record" "$T/.out"
/usr/bin/python3 -c "
import struct,sys
b=bytearray(open('$T/s1.bin','rb').read()); b[-8:]=struct.pack('<Q',5); open('$T/lie.bin','wb').write(b)"
check_rc "an end record that miscounts the documents is an error" 1 "$S" tok decode -m "$T/t.model" "$T/lie.bin"
check_grep "saying both counts" "end record says 5 documents, 2 were read" "$T/.out"
check_rc "stdin works too" 0 bash -c "cat '$T/cat.bin' | '$S' tok decode -m '$T/t.model' --text | wc -l | grep -qx 3"

for sym in '<s>' '</s>' '<unk>' '<0x0A>' 'foo,foo'; do
	check_rc "tok train refuses the user-defined symbols '$sym'" 2 "$S" tok train -q --vocab-size 600 --user-defined-symbols "$sym" -o "$T/u.model" "$T/train.txt"
	check "and writes no model" test ! -e "$T/u.model"
done
"$S" tok train -q --vocab-size 600 --user-defined-symbols 'foo,foo' -o "$T/u.model" "$T/train.txt" > "$T/.out" 2>&1
check_grep "the refusal names the symbol" "'foo' is given twice" "$T/.out"
check_rc "tok train accepts distinct new symbols" 0 "$S" tok train -q --vocab-size 600 --user-defined-symbols '<tab>,foo' -o "$T/u.model" "$T/train.txt"
: > "$T/empty.txt"
printf '\n\n\n' > "$T/blank.txt"
for f in empty blank; do
	check_rc "tok train on $f input is an error" 1 "$S" tok train -q --vocab-size 300 -o "$T/$f.model" "$T/$f.txt"
	check_grep "saying there is no text" "no text to train on" "$T/.out"
	check "and writes no model" test ! -e "$T/$f.model"
done
