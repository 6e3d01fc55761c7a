#!/usr/bin/env bash
# t_runlog.sh - the training log lives in the run folder: RUN/train_log.jsonl has every step exactly
# once after a stop and --resume (also when the killed run had logged steps past its checkpoint and
# cut its last line), with the losses of an uninterrupted run; on a terminal the user sees a progress
# line (step/total, loss, lr, tokens/s, ETA, last spike) instead of raw JSON; pipes still get JSONL;
# `train plot RUN_DIR` finds the log.
source "$(dirname "$0")/../lib.sh"
cd "$T"
TR=(train pretrain --data synthetic:300 --preset tiny --dim 32 --layers 1 --heads 2 --kv-heads 1 --hidden 64 --seq-len 32 --batch 2 --steps 8 --seed 3)
steps_losses() { jq -r 'select(.event == null) | "\(.step) \(.loss)"' "$1"; }

"$SPINDLE" "${TR[@]}" --out full > full.stdout 2>/dev/null
check_eq "an uninterrupted run logs steps 1..8 in its folder" "1 2 3 4 5 6 7 8" "$(jq -r 'select(.event == null) | .step' full/train_log.jsonl | tr '\n' ' ' | sed 's/ $//')"
check_files "stdout (not a terminal) still gets the same JSONL" full/train_log.jsonl full.stdout

"$SPINDLE" "${TR[@]}" --out part --stop-after 3 > /dev/null 2>&1
"$SPINDLE" "${TR[@]}" --out part --resume > /dev/null 2>&1
check_eq "stop at 3 + resume: each step once, losses as uninterrupted" "$(steps_losses full/train_log.jsonl)" "$(steps_losses part/train_log.jsonl)"

# a killed run logged steps 4 and 5 (and half of 6) after its last checkpoint at step 3
"$SPINDLE" "${TR[@]}" --out killed --stop-after 3 > /dev/null 2>&1
grep '"step":' full/train_log.jsonl | sed -n '4,5p' >> killed/train_log.jsonl
printf '{"step":6,"loss":1.2' >> killed/train_log.jsonl
"$SPINDLE" "${TR[@]}" --out killed --resume > /dev/null 2>&1
check_eq "steps logged past the checkpoint and a cut line are not kept twice" "$(steps_losses full/train_log.jsonl)" "$(steps_losses killed/train_log.jsonl)"
check "every line of the log is JSON" jq -e . killed/train_log.jsonl

"$SPINDLE" "${TR[@]}" --out again > /dev/null 2>&1
"$SPINDLE" "${TR[@]}" --out again --steps 4 > /dev/null 2>&1
check_eq "a fresh run (no --resume) in the same folder starts its log anew" "1 2 3 4" "$(jq -r .step again/train_log.jsonl | tr '\n' ' ' | sed 's/ $//')"

if command -v script >/dev/null; then
	script -qec "$(printf '%q ' "$SPINDLE" "${TR[@]}" --out tty)" tty.txt >/dev/null 2>&1 </dev/null
	tr '\r' '\n' < tty.txt > tty.lines
	check_grep "terminal: a progress line with step/total, loss, lr, tokens/s, ETA, last spike" \
		'step 8/8  loss [0-9.]*  lr [0-9.e+-]*  [0-9]* tok/s  ETA 0:00:00  last spike: ' tty.lines
	if grep -q '^{"step"' tty.lines; then not_ok "terminal: no raw JSON"; else ok "terminal: no raw JSON"; fi
	check_eq "terminal: the log is still written" 8 "$(wc -l < tty/train_log.jsonl)"
	script -qec "$(printf '%q ' "$SPINDLE" "${TR[@]}" --out tty2 --log-stdout -q)" tty2.txt >/dev/null 2>&1 </dev/null
	check_grep "--log-stdout prints JSONL on a terminal" '^{"step":8' tty2.txt
	if grep -q 'ETA' tty2.txt; then not_ok "-q: no progress line"; else ok "-q: no progress line"; fi
else
	skip "progress line on a terminal" "no script(1)"
fi

check "train plot RUN_DIR finds the log" "$SPINDLE" train plot full
check_grep "... and says how many steps" "8 steps plotted" "$T/.out"
check "... drawing RUN_DIR/loss.png" test -s full/loss.png
