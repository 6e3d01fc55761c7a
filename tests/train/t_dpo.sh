#!/usr/bin/env bash
# t_dpo.sh - `spindle train dpo` end to end on a tiny model: at step 1 the policy is the reference,
# so every delta is 0 and the loss is log 2; DPO raises the chosen-over-rejected log-ratio on
# held-out pairs; the reference cache is reused and invalidated when the data changes; resume ==
# uninterrupted bit for bit; logs validate; bad options and a reward-model checkpoint are refused.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
S="$SPINDLE"
J() { $PY -c "import json,sys; d=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; $2" "$1"; }

doc_tokenizer 60 0.9995
check "spm_train made a tokenizer" test -s "$T/tok.model"

$PY tests/train/dpo_fixture.py "$T" 12
check "the test's pairs validate" $PY tests/schemas/validate.py schemas/annotate-preference.schema.json "$T/prefs.jsonl"
M="--dim 32 --layers 2 --heads 4 --kv-heads 2 --hidden 64 --seq-len 48"
"$S" train sft --data "$T/sft.jsonl" --tokenizer "$T/tok.model" $M --steps 8 --batch 4 --lr 3e-3 --out "$T/sft" >/dev/null 2>&1
check "a tiny SFT model to start from" test -s "$T/sft/model.safetensors"

D="--data $T/prefs.jsonl --tokenizer $T/tok.model --init-from $T/sft --threads 2"
check_rc "dpo with held-out pairs" 0 "$S" train dpo $D --eval-data "$T/heldout.jsonl" --steps 24 --batch 4 --lr 3e-3 --beta 0.5 --out "$T/d1"
grep '^{' "$T/.out" > "$T/d1.log"
check_grep "the reference log-probabilities were computed" "computed" "$T/.out"
check "step 1 (policy = reference): loss is log 2 and the implicit rewards are 0" J "$T/d1.log" '
import math
s = [x for x in d if "step" in x and "event" not in x][0]
assert abs(s["loss"] - math.log(2)) < 1e-5, s
assert abs(s["reward_chosen"]) < 1e-5 and abs(s["reward_rejected"]) < 1e-5 and abs(s["reward_margin"]) < 1e-5, s'
check "held-out log-ratio: 0 before, raised after" J "$T/d1.log" '
e = [x for x in d if x.get("event") == "eval"]
assert len(e) == 2 and e[0]["step"] == 0 and abs(e[0]["delta"]) < 1e-6, e
assert e[1]["delta"] > 1.0 and e[1]["reward_accuracy"] > 0.5, e'
check "training reward accuracy and margin rise" J "$T/d1.log" '
s = [x for x in d if "event" not in x]
assert s[-1]["reward_margin"] > 0.1 and s[-1]["reward_accuracy"] >= 0.75 and s[-1]["loss"] < 0.6, s[-1]'
grep -v '"event":"eval"' "$T/d1.log" > "$T/d1.steps"
check "step logs validate against train-log.schema.json" $PY tests/schemas/validate.py schemas/train-log.schema.json "$T/d1.log"
check "the checkpoint's state says dpo" grep -q '"mode": "dpo"' "$T/d1/trainer_state.json"
check "the reference cache is there" test -s "$T/d1/dpo_ref_logps.json"

# The cache: reused by a run with the same data and reference, recomputed when the data changes.
R="$D --steps 6 --batch 2 --lr 2e-3 --beta 0.2 --margins small"
"$S" train dpo $R --out "$T/ra" 2>"$T/ra.err" | sed 's/"tokens_per_s":[0-9.]*,//' > "$T/ra.log"
"$S" train dpo $R --out "$T/ra2" >/dev/null 2>&1
cp "$T/ra/dpo_ref_logps.json" "$T/ra2/"
"$S" train dpo $R --out "$T/ra2" 2>"$T/ra2.err" | sed 's/"tokens_per_s":[0-9.]*,//' > "$T/ra2.log"
check_grep "a run with a matching cache reads it" "read from the cache" "$T/ra2.err"
check "the cached run logged its steps" test -s "$T/ra2.log"
check_files "... and trains exactly as with computed ones" "$T/ra.log" "$T/ra2.log"
head -3 "$T/prefs.jsonl" > "$T/prefs3.jsonl"
"$S" train dpo --data "$T/prefs3.jsonl" --tokenizer "$T/tok.model" --init-from "$T/sft" --steps 1 --batch 1 --out "$T/ra2" 2>"$T/ra3.err" >/dev/null
check_grep "changed data invalidates the cache" "computed" "$T/ra3.err"

# Resume: 3 steps, stop, resume to 6 == 6 steps straight.
"$S" train dpo $R --out "$T/rb" --stop-after 3 2>/dev/null | sed 's/"tokens_per_s":[0-9.]*,//' > "$T/rb.log"
"$S" train dpo $R --out "$T/rb" --resume 2>/dev/null | sed 's/"tokens_per_s":[0-9.]*,//' >> "$T/rb.log"
check_files "resumed dpo logs the same steps as the uninterrupted run" "$T/ra.log" "$T/rb.log"
check_files "resumed dpo ends with identical weights" "$T/ra/model.safetensors" "$T/rb/model.safetensors"
check_files "resumed dpo ends with identical optimizer state" "$T/ra/optimizer.safetensors" "$T/rb/optimizer.safetensors"
check_eq "the run folder's train_log.jsonl has each step once after the resume, as uninterrupted" \
	"$(jq -c 'del(.tokens_per_s)' "$T/ra/train_log.jsonl")" "$(jq -c 'del(.tokens_per_s)' "$T/rb/train_log.jsonl")"

# Bad input.
check_rc "--beta 0 is a usage error" 2 "$S" train dpo $D --beta 0 --out "$T/x"
check_rc "--batch out of range is a usage error" 2 "$S" train dpo $D --batch 0 --out "$T/x"
check_rc "--init-from is required" 2 "$S" train dpo --data "$T/prefs.jsonl" --tokenizer "$T/tok.model" --out "$T/x"
"$S" train rm --data "$T/prefs.jsonl" --tokenizer "$T/tok.model" $M --steps 1 --batch 2 --out "$T/rm" >/dev/null 2>&1
check_rc "a reward-model checkpoint as the policy is refused" 1 "$S" train dpo --data "$T/prefs.jsonl" --tokenizer "$T/tok.model" --init-from "$T/rm" --out "$T/x"
check_grep "... by name" "reward model" "$T/.out"
printf '{"id":"x","dialog":[{"role":"user","content":"a"}],"chosen":"b","rejected":"c","level":1}\n{"id":"y","dialog":[{"role":"assistant","content":"a"}],"chosen":"b","rejected":"c","level":1}\n' > "$T/bad.jsonl"
check_rc "a dialog that does not start with a user turn is refused" 1 "$S" train dpo --data "$T/bad.jsonl" --tokenizer "$T/tok.model" --init-from "$T/sft" --out "$T/x"
check_grep "... naming FILE:LINE" "bad.jsonl:2" "$T/.out"
# an id that U+0000 would cut short (pref-1 and pref-1\u0000x would be one name): refused where read
head -n 1 "$T/prefs.jsonl" > "$T/nul.jsonl"
sed -n 2p "$T/prefs.jsonl" | sed 's/"id": *"pref-1"/"id": "pref-1\\u0000x"/' >> "$T/nul.jsonl"
check_rc "dpo: a pair whose id holds U+0000 is refused" 1 "$S" train dpo --data "$T/nul.jsonl" --tokenizer "$T/tok.model" --init-from "$T/sft" --out "$T/x"
check_grep "... naming FILE:LINE and U+0000" "nul.jsonl:2.*U+0000" "$T/.out"
sed 's/"id": *"sft-3"/"id": "sft-3\\u0000"/' "$T/sft.jsonl" > "$T/sft_nul.jsonl"
check_rc "sft: a record whose id holds U+0000 is refused" 1 "$S" train sft --data "$T/sft_nul.jsonl" --tokenizer "$T/tok.model" --steps 1 --out "$T/x"
check_grep "... naming FILE:LINE" "sft_nul.jsonl:4.*U+0000" "$T/.out"
