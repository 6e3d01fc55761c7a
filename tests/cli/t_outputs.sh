#!/usr/bin/env bash
# t_outputs.sh - issue 19: outputs that are not regular files (devices, FIFOs, symlinks) are
# written in place, never renamed over; two outputs of one run naming one file are refused; temp
# files go away on SIGTERM/SIGINT and on a rerun; messages name the real cause and escape control
# characters. Device nodes are made in $T (mknod, when allowed), never the system's own.
source "$(dirname "$0")/../lib.sh"
cd "$T"
"$SPINDLE" corpus -q --max-docs 40 --max-bytes 20000 /usr/share/doc > docs.jsonl
n_docs=$(wc -l < docs.jsonl)

# --- class 1: non-regular targets
echo old > real.jsonl
ln -s real.jsonl link.jsonl
"$SPINDLE" cat docs.jsonl -o link.jsonl; rc=$?
check_eq "-o SYMLINK exits 0" 0 "$rc"
[ -L link.jsonl ] && ok "-o SYMLINK leaves the symlink a symlink" || not_ok "-o SYMLINK leaves the symlink a symlink" "$(ls -l link.jsonl)"
check_files "-o SYMLINK writes the symlink's target" docs.jsonl real.jsonl
ln -s sub/new.jsonl dangling.jsonl; mkdir sub
"$SPINDLE" cat docs.jsonl -o dangling.jsonl
[ -L dangling.jsonl ] && cmp -s docs.jsonl sub/new.jsonl && ok "-o DANGLING_SYMLINK creates its target" || not_ok "-o DANGLING_SYMLINK creates its target" "$(ls -l dangling.jsonl sub)"
ln -s st-real.json st-link.json
"$SPINDLE" filter -q docs.jsonl -o kept.jsonl --stats st-link.json
[ -L st-link.json ] && grep -q '"records_in"' st-real.json && ok "--stats SYMLINK writes the target" || not_ok "--stats SYMLINK writes the target" "$(ls -l st-*)"

mkfifo out.fifo
timeout 10 cat out.fifo > from-fifo.jsonl & reader=$!
timeout 20 "$SPINDLE" cat docs.jsonl -o out.fifo; rc=$?
wait $reader
check_eq "-o FIFO exits 0" 0 "$rc"
[ -p out.fifo ] && ok "-o FIFO leaves the FIFO in place" || not_ok "-o FIFO leaves the FIFO in place" "$(ls -l out.fifo)"
check_files "-o FIFO: the reader gets every record" docs.jsonl from-fifo.jsonl
mkfifo rej.fifo
timeout 10 cat rej.fifo > from-rej.jsonl & reader=$!
timeout 20 "$SPINDLE" filter -q docs.jsonl -o kept2.jsonl --rejects rej.fifo; rc=$?
wait $reader
[ "$rc" -eq 0 ] && [ -p rej.fifo ] && ok "--rejects FIFO streams into the FIFO" || not_ok "--rejects FIFO streams into the FIFO" "exit $rc, $(ls -l rej.fifo)"

ln -s /proc/self/fd/1 fd1.link
"$SPINDLE" cat docs.jsonl -o fd1.link | cat > via-fd1.jsonl
[ -L fd1.link ] && cmp -s docs.jsonl via-fd1.jsonl && ok "-o a link to /proc/self/fd/1 (like /dev/stdout) writes the pipe" \
	|| not_ok "-o a link to /proc/self/fd/1 (like /dev/stdout) writes the pipe" "$(ls -l fd1.link; wc -c via-fd1.jsonl)"

if mknod null c 1 3 2>/dev/null && mknod full c 1 7 2>/dev/null; then
	check_rc "-o DEVICE (a null device) exits 0" 0 "$SPINDLE" cat docs.jsonl -o null --stats null
	[ -c null ] && ok "-o DEVICE leaves the device node in place" || not_ok "-o DEVICE leaves the device node in place" "$(ls -l null)"
	check_rc "-o a full device is an I/O error" 3 "$SPINDLE" cat docs.jsonl -o full
	check_grep "the full device's error says so" "No space left on device" "$T/.out"
	[ -c full ] && ok "a full device stays a device" || not_ok "a full device stays a device" "$(ls -l full)"
	check_rc "dedup -o DEVICE --clusters FILE" 0 "$SPINDLE" dedup minhash -q docs.jsonl -o null --clusters cl.jsonl
	[ -c null ] && ok "dedup leaves the device node in place" || not_ok "dedup leaves the device node in place" "$(ls -l null)"
else
	skip "device targets" "mknod not permitted"
fi
[ -z "$(ls -A | grep '\.tmp\.')" ] && ok "no temporary files left by the runs above" || not_ok "no temporary files left by the runs above" "$(ls -A | grep '\.tmp\.')"

# --- class 2: two outputs naming one file
cp docs.jsonl keep.jsonl
check_rc "cat -o X --stats X is a usage error" 2 "$SPINDLE" cat docs.jsonl -o same.jsonl --stats same.jsonl
check_grep "the error names both options" "\-o 'same.jsonl' and --stats 'same.jsonl' name the same file" "$T/.out"
check_rc "filter -o Y --rejects ./Y is a usage error" 2 "$SPINDLE" filter -q docs.jsonl -o y.jsonl --rejects ./y.jsonl
check_grep "filter names -o and --rejects" "\-o 'y.jsonl' and --rejects './y.jsonl'" "$T/.out"
check_rc "dedup minhash -o Z --clusters Z is a usage error" 2 "$SPINDLE" dedup minhash -q docs.jsonl -o z.jsonl --clusters z.jsonl
check_grep "dedup names -o and --clusters" "\-o 'z.jsonl' and --clusters 'z.jsonl'" "$T/.out"
check_rc "-o through a symlink and --stats on its target collide" 2 "$SPINDLE" cat docs.jsonl -o link.jsonl --stats real.jsonl
check_files "the refused runs left the existing file alone" docs.jsonl real.jsonl
check_rc "dedup lines -o W --counts-out W is a usage error" 2 "$SPINDLE" dedup lines -q docs.jsonl -o w.bin --counts-out w.bin
[ ! -e same.jsonl ] && [ ! -e y.jsonl ] && [ ! -e z.jsonl ] && ok "refused runs write nothing" || not_ok "refused runs write nothing"

# --- class 6: temp files on SIGTERM/SIGINT, and stale ones on a rerun
# (job control on: a non-interactive shell would start background jobs with SIGINT ignored)
set -m
for sig in TERM INT; do
	rm -f in.fifo; mkfifo in.fifo
	"$SPINDLE" cat -o sig.jsonl < in.fifo & pid=$!
	exec 3> in.fifo
	head -n 5 docs.jsonl >&3
	for _ in $(seq 100); do ls -A | grep -q '^\.sig\.jsonl\.tmp\.' && break; sleep 0.05; done
	had=$(ls -A | grep -c '^\.sig\.jsonl\.tmp\.')
	kill -$sig $pid; { wait $pid; } 2>/dev/null; rc=$?
	exec 3>&-
	left=$(ls -A | grep '^\.sig\.jsonl\.tmp\.')
	[ "$had" -eq 1 ] && [ -z "$left" ] && [ ! -e sig.jsonl ] && ok "SIG$sig removes the temporary file (exit $rc)" \
		|| not_ok "SIG$sig removes the temporary file" "temp while running: $had; left: $left"
done
rm -f in.fifo; mkfifo in.fifo
"$SPINDLE" filter -q -o fk.jsonl --rejects fr.jsonl < in.fifo & pid=$!
exec 3> in.fifo
head -n 5 docs.jsonl >&3
for _ in $(seq 100); do [ "$(ls -A | grep -c '\.tmp\.')" -ge 2 ] && break; sleep 0.05; done
kill -TERM $pid; { wait $pid; } 2>/dev/null
exec 3>&-
set +m
[ -z "$(ls -A | grep '\.tmp\.')" ] && ok "filter: SIGTERM removes both temporary files" || not_ok "filter: SIGTERM removes both temporary files" "$(ls -A | grep '\.tmp\.')"

sh -c 'exit 0' & dead=$!; wait $dead
: > ".rerun.jsonl.tmp.$dead.0"
: > ".rerun.jsonl.tmp.$$.0"
: > ".other.jsonl.tmp.$dead.0"
"$SPINDLE" cat docs.jsonl -o rerun.jsonl
[ ! -e ".rerun.jsonl.tmp.$dead.0" ] && ok "a rerun removes its output's stale temporary file" || not_ok "a rerun removes its output's stale temporary file"
[ -e ".rerun.jsonl.tmp.$$.0" ] && [ -e ".other.jsonl.tmp.$dead.0" ] && ok "a rerun keeps a live job's and other outputs' temporary files" || not_ok "a rerun keeps a live job's and other outputs' temporary files"

# --- class 7: an output in a missing folder is a clean I/O error in every tool, no crash (the
# deterministic check of cat's progress line is tests/cli/test_cli.c)
for cmd in "cat docs.jsonl" "corpus --max-docs 3 /usr/share/doc/adduser" "filter docs.jsonl" "dedup exact docs.jsonl" \
           "dedup minhash docs.jsonl" "dedup lines docs.jsonl"; do
	check_rc "$cmd -o MISSING_DIR/x is exit 3" 3 "$SPINDLE" $cmd --progress -o no-such-dir/x.jsonl
	check_grep "$cmd -o MISSING_DIR/x names the output" "no-such-dir/x.jsonl" "$T/.out"
done

# --- class 13: control characters in messages are escaped
check_rc "a missing input with ESC/OSC in its name fails" 3 "$SPINDLE" cat $'evil\e]0;owned\a\e[2J.jsonl'
if grep -q $'\e' "$T/.out" || grep -q $'\a' "$T/.out"; then not_ok "the message carries no raw control characters" "$(od -c "$T/.out" | head -3)"; else ok "the message carries no raw control characters"; fi
check_grep "the message shows them escaped" 'evil\\x1b]0;owned\\x07\\x1b\[2J.jsonl' "$T/.out"
check_rc "a message quoting an option value is escaped too" 1 "$SPINDLE" annotate report --db $'db\e[5m'
if grep -q $'\e' "$T/.out"; then not_ok "annotate's message carries no raw ESC"; else ok "annotate's message carries no raw ESC"; fi
check_rc "an unknown command with ESC is escaped" 2 "$SPINDLE" $'no\ecmd'
if grep -q $'\e' "$T/.out"; then not_ok "front command's message carries no raw ESC"; else ok "front command's message carries no raw ESC"; fi

# --- class 14: messages name the real cause
for v in null 123 true '"text"' '[1,2]'; do
	echo "$v" > nonobj.jsonl
	check_rc "the line $v is a bad record" 1 "$SPINDLE" cat nonobj.jsonl
	check_grep "the line $v: 'record is not a JSON object'" "nonobj.jsonl:1: record is not a JSON object" "$T/.out"
done
echo '{"id":"a","text":"b"' > trunc.jsonl
check_rc "a truncated object is still malformed JSON" 1 "$SPINDLE" cat trunc.jsonl
check_grep "truncated object: unexpected end of line" "malformed JSON: unexpected end of line" "$T/.out"
check_rc "--shard 2/3x is a usage error" 2 "$SPINDLE" cat --shard 2/3x docs.jsonl
check_grep "--shard 2/3x is called malformed" "bad --shard '2/3x': malformed" "$T/.out"
check_rc "--shard 3/3 is a usage error" 2 "$SPINDLE" cat --shard 3/3 docs.jsonl
check_grep "--shard 3/3: I must be below N" "bad --shard '3/3': I must be below N" "$T/.out"
check_rc "--shard -1/3 is a usage error" 2 "$SPINDLE" cat --shard -1/3 docs.jsonl
check_grep "--shard -1/3 is called malformed" "malformed" "$T/.out"

# the same collision check in tok encode and the staged dedup commands
M=$SHARED/llama2/tokenizer.model
if [ -f "$M" ]; then
	check_rc "tok encode -o X --stats X is refused" 2 "$SPINDLE" tok encode -m "$M" -o same.out --stats same.out docs.jsonl
	check_grep "... naming both options" "\-o.*--stats\|--stats.*-o" "$T/.out"
fi
check_rc "dedup signatures -o X --stats X is refused" 2 "$SPINDLE" dedup signatures -o same.sig --stats same.sig docs.jsonl
check_rc "dedup clusters --final -o X --clusters X is refused" 2 "$SPINDLE" dedup clusters --final --sig a.sig -o same.rm --clusters same.rm x.bin
check_rc "dedup filter -o X --stats X is refused" 2 "$SPINDLE" dedup filter --removed r.bin -o same.f --stats same.f docs.jsonl
