#!/usr/bin/env bash
# t_threads.sh - `--threads auto` in every tool that has --threads: accepted (also under taskset -c 0,
# where it means one thread: tests/lib/test_cpus.c checks the count), same output as --threads 1, and
# a malformed value is a usage error; every --threads help says what the default is.
source "$(dirname "$0")/../lib.sh"
cd "$T"
"$SPINDLE" corpus -q --max-docs 40 --max-bytes 20000 /usr/share/doc > docs.jsonl
M=$SHARED/llama2/tokenizer.model
run() { # NAME ARGS...: output of the command with --threads auto (plain and taskset -c 0) vs --threads 1
	local name=$1; shift
	"$SPINDLE" "$@" --threads 1 > one.out 2>/dev/null
	"$SPINDLE" "$@" --threads auto > auto.out 2>/dev/null
	taskset -c 0 "$SPINDLE" "$@" --threads auto > cpu0.out 2>/dev/null
	if [ -s one.out ] && cmp -s one.out auto.out && cmp -s one.out cpu0.out; then ok "$name --threads auto (also under taskset -c 0) == --threads 1"
	else not_ok "$name --threads auto (also under taskset -c 0) == --threads 1"; fi
}
run filter filter docs.jsonl
run "dedup minhash" dedup minhash docs.jsonl
run "dedup exact" dedup exact docs.jsonl
[ -f "$M" ] && run "tok encode" tok encode -m "$M" docs.jsonl
check_rc "--threads autox is a usage error" 2 "$SPINDLE" filter --threads autox docs.jsonl
check_grep "... naming the option" "threads" "$T/.out"
for c in "filter" "extract" "dedup exact" "dedup minhash" "tok encode" "tok train" "pack" "train pretrain" "train sample" "train eval"; do
	h=$("$SPINDLE" $c --help | grep -A1 -- '--threads')
	case $h in *default*auto*) ok "$c --help says the default and auto";; *) not_ok "$c --help says the default and auto" "$h";; esac
done
