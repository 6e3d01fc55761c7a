#!/usr/bin/env bash
# t_progress.sh - every tool that knows its input size shows percent and ETA the same way: each runs on
# a terminal (a pty from `script`) over files, and its last progress line reads "... 100%  ETA 0:00:00";
# on stdin (size unknown) there is no percentage; with stderr not a terminal there is no line at all.
source "$(dirname "$0")/../lib.sh"
cd "$T"
if ! command -v script >/dev/null; then skip "progress on a terminal" "no script(1)"; exit 0; fi
"$SPINDLE" corpus -q --max-docs 60 --max-bytes 20000 /usr/share/doc > docs.jsonl
/usr/bin/python3 -c '
import json
for l in open("docs.jsonl"):
    d = json.loads(l); print(json.dumps({"id": d["id"], "ids": list(d["text"].encode()[:500])}))' > ids.jsonl
M=$SHARED/llama2/tokenizer.model
tty_run() { # NAME COMMAND...: runs on a pty, prints the last progress line of the command's stderr
	local name=$1; shift
	script -qec "$(printf '%q ' "$@") >/dev/null" "progress-$name.txt" >/dev/null 2>&1 </dev/null
	tr '\r' '\n' < "progress-$name.txt" | grep -a "spindle $name[a-z ]*:.*records" | tail -1
}
pct='100%  ETA 0:00:00'
for spec in "cat|$SPINDLE cat docs.jsonl" "filter|$SPINDLE filter docs.jsonl" "dedup|$SPINDLE dedup exact docs.jsonl" \
            "pack|$SPINDLE pack --vocab-size 259 --seq-len 128 -o $T/packed ids.jsonl"; do
	name=${spec%%|*} cmd=${spec#*|}
	rm -rf "$T/packed"
	line=$(tty_run "$name" $cmd)
	case $line in *"$pct"*) ok "$name on a terminal shows percent and ETA";; *) not_ok "$name on a terminal shows percent and ETA" "got: $line";; esac
done
if [ -f "$M" ]; then
	line=$(tty_run tok "$SPINDLE" tok encode -m "$M" docs.jsonl)
	case $line in *"$pct"*) ok "tok encode on a terminal shows percent and ETA";; *) not_ok "tok encode on a terminal shows percent and ETA" "got: $line";; esac
fi
script -qec "cat docs.jsonl | $SPINDLE filter >/dev/null" progress-stdin.txt >/dev/null 2>&1 </dev/null
line=$(tr '\r' '\n' < progress-stdin.txt | grep -a "spindle filter:.*records" | tail -1)
case $line in *records*) case $line in *%*) not_ok "stdin: counts but no percentage" "got: $line";; *) ok "stdin: counts but no percentage";; esac;; *) not_ok "stdin: counts but no percentage" "got: $line";; esac
"$SPINDLE" filter docs.jsonl 2>quiet.txt >/dev/null
check_eq "no progress line when stderr is not a terminal" "" "$(cat quiet.txt)"
