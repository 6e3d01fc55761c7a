#!/usr/bin/env bash
# t_foundation.sh - the front command and the shared record I/O, driven through `spindle cat` and
# `spindle corpus`: help/version, error messages with FILE:LINE, compression, huge lines, --shard,
# --stats against its schema, and atomic outputs under SIGKILL.
source "$(dirname "$0")/../lib.sh"
cd "$T"

# --- front command
check "spindle --help exits 0" "$SPINDLE" --help
check_grep "spindle --help lists cat" "  cat " "$T/.out"
check_rc "unknown command is a usage error" 2 "$SPINDLE" nosuchcommand
check_grep "unknown command message" "not a spindle command" "$T/.out"
cmds=$("$SPINDLE" --help | awk '/^Commands:/{on=1;next} on&&/^  [a-z]/{print $1} /^$/{if(on)exit}')
for c in $cmds; do
	check "spindle $c --help exits 0" "$SPINDLE" $c --help
	check "spindle $c --version exits 0" "$SPINDLE" $c --version
done
check_rc "bad option is a usage error" 2 "$SPINDLE" cat --no-such-option
check_grep "bad option names the option" "no-such-option" "$T/.out"

# --- real documents from the machine
"$SPINDLE" corpus -q --max-docs 300 --max-bytes 100000 /usr/share/doc > docs.jsonl
n=$(wc -l < docs.jsonl)
[ "$n" -eq 300 ] && ok "corpus gives 300 real documents" || not_ok "corpus gives 300 real documents" "got $n"
"$SPINDLE" cat docs.jsonl > same.jsonl
check_files "cat keeps records byte for byte" docs.jsonl same.jsonl

# --- empty input
: > empty.jsonl
"$SPINDLE" cat empty.jsonl < /dev/null > out.jsonl; rc=$?
check_eq "empty input gives empty output, exit 0" "0:0" "$rc:$(wc -c < out.jsonl)"

# --- malformed JSON on line N: error names FILE:N
head -n 41 docs.jsonl > bad.jsonl
echo '{"id": "broken", "text": "no closing' >> bad.jsonl
tail -n 5 docs.jsonl >> bad.jsonl
check_rc "malformed line fails with exit 1" 1 "$SPINDLE" cat bad.jsonl -o bad-out.jsonl
check_grep "error names file and line 42" "^spindle cat: bad.jsonl:42: malformed JSON" "$T/.out"
[ ! -e bad-out.jsonl ] && ok "failed run leaves no output file" || not_ok "failed run leaves no output file"
"$SPINDLE" cat --on-error=skip --stats st.json bad.jsonl > skipped.jsonl
check_eq "skip keeps the other 46 records" 46 "$(wc -l < skipped.jsonl)"
check_grep "stats counts the bad record" '"bad_json":1' st.json
if /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
	check "stats validate against schemas/stats.schema.json" /usr/bin/python3 "$OLDPWD/tests/schemas/validate.py" "$OLDPWD/schemas/stats.schema.json" st.json
	check "corpus documents validate against document.schema.json" /usr/bin/python3 "$OLDPWD/tests/schemas/validate.py" "$OLDPWD/schemas/document.schema.json" docs.jsonl
else
	skip "stats schema validation" "python3-jsonschema missing"
fi

# --- invalid UTF-8
{ head -n 3 docs.jsonl; printf '{"id":"u","text":"caf\xe9"}\n'; } > utf.jsonl
check_rc "invalid UTF-8 fails" 1 "$SPINDLE" cat utf.jsonl
check_grep "invalid UTF-8 error names line 4 and byte" "utf.jsonl:4: invalid UTF-8 at byte 21" "$T/.out"

# --- zstd: concatenated frames, truncated frame; gzip
head -n 100 docs.jsonl | zstd -q -c > a.zst
tail -n 200 docs.jsonl | zstd -q -c > b.zst
cat a.zst b.zst > ab.jsonl.zst
"$SPINDLE" cat ab.jsonl.zst > ab.jsonl
check_files "concatenated zstd frames read as one stream" docs.jsonl ab.jsonl
head -c $(( $(stat -c %s ab.jsonl.zst) - 100 )) ab.jsonl.zst > cut.zst
check_rc "truncated zstd fails with an I/O-class exit" 3 "$SPINDLE" cat cut.zst
check_grep "truncated zstd named" "cut.zst" "$T/.out"
gzip -c docs.jsonl > docs.jsonl.gz
"$SPINDLE" cat docs.jsonl.gz -o round.jsonl.zst
check_files "gzip in, zstd out round trip" docs.jsonl <(zstd -dc round.jsonl.zst)

# --- a 100 MB single line
/usr/bin/python3 -c '
import json
open("big.jsonl","w").write(json.dumps({"id":"big","text":"spindle " * (100*1024*1024//8)}) + "\n")'
"$SPINDLE" cat big.jsonl --require-text > big-out.jsonl
check_files "a 100 MB line passes through whole" big.jsonl big-out.jsonl
rm -f big.jsonl big-out.jsonl

# --- --shard covers every file exactly once
mkdir -p parts
split -l 7 -d -a 3 docs.jsonl parts/p-
files=(parts/p-*)
for i in 0 1 2; do "$SPINDLE" cat --shard $i/3 "${files[@]}" > s$i.jsonl; done
check_eq "three shards together hold every record once" "$(sort docs.jsonl | md5sum)" "$(cat s0.jsonl s1.jsonl s2.jsonl | sort | md5sum)"
"$SPINDLE" cat --shard 1/3 $(printf '%s\n' "${files[@]}" | sort -r) > s1r.jsonl
check_files "shard share does not depend on listing order" s1.jsonl s1r.jsonl
check_rc "bad --shard is a usage error" 2 "$SPINDLE" cat --shard 3/3 docs.jsonl

# --- atomic output under SIGKILL
mkfifo slow
( head -n 150 docs.jsonl; sleep 30; tail -n 150 docs.jsonl ) > slow &
feeder=$!
"$SPINDLE" cat slow -o killed.jsonl &
pid=$!
sleep 1
kill -9 $pid; wait $pid 2>/dev/null
kill $feeder 2>/dev/null; wait $feeder 2>/dev/null
[ ! -e killed.jsonl ] && ok "SIGKILL leaves no file under the final name" || not_ok "SIGKILL leaves no file under the final name"
"$SPINDLE" cat docs.jsonl -o killed.jsonl
check_files "rerun after the kill writes the whole file" docs.jsonl killed.jsonl

# --- a failing write is reported, not ignored
"$SPINDLE" cat "$T/docs.jsonl" > /dev/full 2> "$T/full.err"; rc=$?
check_eq "stdout on a full device: exit 3" 3 "$rc"
check_grep "full device error says why" "No space left on device" "$T/full.err"

# --- progress line only when asked (stderr is not a terminal here)
"$SPINDLE" cat "$T/docs.jsonl" > /dev/null 2> "$T/quiet.err"
check_eq "no progress on a non-terminal stderr" "" "$(cat "$T/quiet.err")"
"$SPINDLE" cat --progress "$T/docs.jsonl" > /dev/null 2> "$T/prog.err"
check_grep "--progress forces records/s and MB/s" "records .* rec/s .* MB/s" "$T/prog.err"

# --- source hygiene: banned functions
cd "$OLDPWD"
if grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi)\s*\(' --include='*.c' --include='*.h' --include='*.cu' \
	lib cli corpus tokenizer pack filter dedup annotate train 2>/dev/null | grep -v 'banned' > "$T/banned.txt"; then
	not_ok "no banned functions in the sources" "$(head -5 "$T/banned.txt")"
else
	ok "no banned functions in the sources"
fi
