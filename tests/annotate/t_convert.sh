#!/usr/bin/env bash
# t_convert.sh - open-source preference data beside spindle's own: `annotate convert hh|trl` turns
# Anthropic HH transcripts and TRL records into preference records with a source tag; spindle's own
# hh/trl exports convert back to the same pairs (dialog, chosen, rejected; TRL's margin); bad records
# are refused by FILE:LINE; `train rm --mix own=1,hh=W` trains on both in the proportions given.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VAL=$ROOT/tests/schemas/validate.py
SCH=$ROOT/schemas

mk_prompts "$T/p.jsonl" 4
printf '{"id":"m1","category":"helpfulness","dialog":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi.\\n\\nTwo paragraphs."},{"role":"assistant","content":"Hello."},{"role":"user","content":"Name a colour."}]}\n' >>"$T/p.jsonl"
mk_responses "$T/r.jsonl" 4
printf '{"id":"m1a","prompt_id":"m1","response":"Blue.","model":"m","variant":"a","temperature":0.1}\n{"id":"m1b","prompt_id":"m1","response":"I cannot say.","model":"m","variant":"b","temperature":0.9}\n' >>"$T/r.jsonl"
"$SPINDLE" annotate import prompts --no-sft --db "$DB" "$T/p.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl" 2>/dev/null
"$SPINDLE" annotate config --db "$DB" --gold-every 0 >/dev/null
printf '11122232411213' >"$T/k"
"$SPINDLE" annotate session --db "$DB" --annotator pat --task preference --keys "$T/k" >/dev/null 2>"$T/pref.err"
for f in preference hh trl; do "$SPINDLE" annotate export --db "$DB" --format $f -o "$T/own.$f.jsonl" 2>/dev/null; done
n=$(wc -l <"$T/own.preference.jsonl")
[ "$n" -ge 4 ] && ok "own preference export has $n pairs" || not_ok "own preference export has pairs" "$(cat "$T/pref.err")"

check "convert hh" "$SPINDLE" annotate convert hh -o "$T/hh.jsonl" "$T/own.hh.jsonl"
check_grep "... reports the count and source" "$n hh pairs (source hh)" "$T/.out"
check "convert trl --source mytrl" "$SPINDLE" annotate convert trl --source mytrl "$T/own.trl.jsonl" -o "$T/trl.jsonl"
check "converted records validate against annotate-preference.schema.json" $PY "$VAL" "$SCH/annotate-preference.schema.json" "$T/hh.jsonl" "$T/trl.jsonl"
cmp_pairs() { # OWN CONVERTED [margin]: the same (dialog, chosen, rejected[, margin]) in order
	$PY - "$@" <<'PY'
import json, sys
own = [json.loads(l) for l in open(sys.argv[1])]
conv = [json.loads(l) for l in open(sys.argv[2])]
key = lambda d: (d["dialog"], d["chosen"], d["rejected"]) + ((round(d["margin"], 9),) if len(sys.argv) > 3 else ())
a, b = [key(d) for d in own], [key(d) for d in conv]
print("same" if a == b else "differ:\n%r\n%r" % (a[:2], b[:2]))
PY
}
check_eq "hh export converts back to the same pairs (system turn and multi-turn dialogs too)" "same" "$(cmp_pairs "$T/own.preference.jsonl" "$T/hh.jsonl")"
check_eq "trl export converts back to the same pairs and margins" "same" "$(cmp_pairs "$T/own.preference.jsonl" "$T/trl.jsonl" margin)"
check_eq "the source tag is set" "mytrl" "$(jq -r .source "$T/trl.jsonl" | sort -u)"
"$SPINDLE" annotate convert hh "$T/own.hh.jsonl" > "$T/hh2.jsonl" 2>/dev/null
check_files "converting again gives the same records (content-hash ids)" "$T/hh.jsonl" "$T/hh2.jsonl"
cat "$T/own.hh.jsonl" | "$SPINDLE" annotate convert hh > "$T/hh3.jsonl" 2>/dev/null
check_files "stdin works" "$T/hh.jsonl" "$T/hh3.jsonl"

# Anthropic's published layout: no system turn, leading blank lines, TRL strings
printf '%s\n' '{"chosen": "\n\nHuman: What is 2+2?\n\nAssistant: 4.\n\nHuman: And 3+3?\n\nAssistant: 6.", "rejected": "\n\nHuman: What is 2+2?\n\nAssistant: 4.\n\nHuman: And 3+3?\n\nAssistant: Fish."}' >"$T/anth.jsonl"
"$SPINDLE" annotate convert hh "$T/anth.jsonl" > "$T/anth.out" 2>/dev/null
check_eq "an HH multi-turn record: dialog of 3 turns, the last answers" '[{"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4."},{"role":"user","content":"And 3+3?"}]|6.|Fish.' \
	"$(jq -c -j '.dialog, "|", .chosen, "|", .rejected' "$T/anth.out")"
printf '%s\n' '{"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No.", "margin": 2.5}' >"$T/trls.jsonl"
"$SPINDLE" annotate convert trl "$T/trls.jsonl" > "$T/trls.out" 2>/dev/null
check_eq "TRL strings and a margin over 1" '[{"role":"user","content":"Say hi."}]|Hi!|No.|2.5' "$(jq -c -j '.dialog, "|", .chosen, "|", .rejected, "|", .margin' "$T/trls.out")"

# bad records: FILE:LINE and nothing written
printf '%s\n%s\n' "$(head -1 "$T/anth.jsonl")" '{"chosen": "\n\nHuman: A\n\nAssistant: B", "rejected": "\n\nHuman: C\n\nAssistant: D"}' >"$T/bad1.jsonl"
check_rc "hh: chosen and rejected of different dialogs are refused" 1 "$SPINDLE" annotate convert hh -o "$T/bad.out" "$T/bad1.jsonl"
check_grep "... naming FILE:LINE" "bad1.jsonl:2: chosen and rejected differ before their last turn" "$T/.out"
[ ! -e "$T/bad.out" ] && ok "... and writing nothing" || not_ok "... and writing nothing"
printf '%s\n' '{"chosen": "Assistant: only", "rejected": "x"}' >"$T/bad2.jsonl"
check_rc "hh: a text that is not a transcript is refused" 1 "$SPINDLE" annotate convert hh "$T/bad2.jsonl"
check_grep "... naming the field" "bad2.jsonl:1: field 'chosen' is not an HH transcript" "$T/.out"
printf '%s\n' '{"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "chosen": "x", "rejected": "y"}' >"$T/bad3.jsonl"
check_rc "trl: a prompt that does not end with the user is refused" 1 "$SPINDLE" annotate convert trl "$T/bad3.jsonl"
check_grep "... naming FILE:LINE" "bad3.jsonl:1: field 'prompt' does not end with a user turn" "$T/.out"
check_rc "an unknown format is a usage error" 2 "$SPINDLE" annotate convert xml "$T/bad3.jsonl"
check_rc "a source with '=' is a usage error" 2 "$SPINDLE" annotate convert hh --source a=b "$T/anth.jsonl"

# train rm on own + converted data, mixed
$PY -c "
import json
with open('$T/text.txt', 'w') as f:
    for l in open('$T/own.preference.jsonl'):
        d = json.loads(l); f.write(' '.join(m['content'] for m in d['dialog']) + ' ' + d['chosen'] + ' ' + d['rejected'] + '\n')
    for l in open('$T/anth.out'): f.write(json.loads(l)['chosen'] + '\n')"
cat /usr/share/common-licenses/GPL-3 | head -300 >>"$T/text.txt"
"$SPINDLE" tok train --vocab-size 400 -o "$T/tok.model" "$T/text.txt" >/dev/null 2>&1 || spm_train --input="$T/text.txt" --model_prefix="$T/tok" --vocab_size=400 --model_type=bpe --byte_fallback=true --minloglevel=2 >/dev/null 2>&1
for i in $(seq 1 20); do cat "$T/hh.jsonl"; done > "$T/many-hh.jsonl"
RM=(train rm --tokenizer "$T/tok.model" --preset tiny --dim 32 --layers 1 --heads 2 --kv-heads 1 --hidden 64 --seq-len 64 --steps 2 --batch 2)
check "rm on own + hh with --mix own=1,hh=0.25" "$SPINDLE" "${RM[@]}" --data "$T/own.preference.jsonl,$T/many-hh.jsonl" --mix own=1,hh=0.25 --out "$T/rm1"
want_hh=$((20 * n / 4))
got=$(sed -n 's/.*hh \([0-9]*\) pairs, \([0-9]*\) taken.*/\1 \2/p' "$T/.out")
hh_all=${got% *} hh_taken=${got#* }
[ "$hh_all" = $((20 * n)) ] && [ "$hh_taken" -ge $((want_hh / 3)) ] && [ "$hh_taken" -le $((want_hh * 3)) ] \
	&& ok "--mix hh=0.25 takes about a quarter of the hh pairs ($hh_taken of $hh_all)" || not_ok "--mix hh=0.25 takes about a quarter" "$(grep pairs "$T/.out")"
check_grep "own pairs all taken" "own $n pairs, $n taken" "$T/.out"
check "rm with --mix hh=2" "$SPINDLE" "${RM[@]}" --data "$T/own.preference.jsonl,$T/hh.jsonl" --mix hh=2 --out "$T/rm2"
check_grep "--mix hh=2 takes every hh pair twice" "hh $n pairs, $((2 * n)) taken" "$T/.out"
"$SPINDLE" "${RM[@]}" --data "$T/own.preference.jsonl,$T/many-hh.jsonl" --mix own=1,hh=0.25 --out "$T/rm1b" >/dev/null 2>&1
check_files "the mixed set and training are deterministic (same weights twice)" "$T/rm1/model.safetensors" "$T/rm1b/model.safetensors"
check_rc "--mix naming a source the data lacks is refused" 2 "$SPINDLE" "${RM[@]}" --data "$T/own.preference.jsonl" --mix hh=1 --out "$T/rm3"
check_grep "... naming it" "no pairs have source 'hh'" "$T/.out"
check_rc "--mix with a weight out of range is refused" 2 "$SPINDLE" "${RM[@]}" --data "$T/own.preference.jsonl" --mix own=-1 --out "$T/rm4"
check_rc "--mix outside rm is refused" 2 "$SPINDLE" train sft --data x --tokenizer "$T/tok.model" --mix own=1 --out "$T/rm5"

# responses from a serving system: no temperature (or sampling fields) at all
DB2=$T/serving.db
printf '{"id":"q1","category":"helpfulness","dialog":[{"role":"user","content":"Hello?"}]}\n' > "$T/q.jsonl"
printf '{"id":"q1a","prompt_id":"q1","response":"Hi.","model":"api-model"}\n{"id":"q1b","prompt_id":"q1","response":"Hello!","model":"api-model","variant":"v2"}\n' > "$T/qr.jsonl"
"$SPINDLE" annotate import prompts --no-sft --db "$DB2" "$T/q.jsonl" 2>/dev/null
check "responses without a temperature are accepted" "$SPINDLE" annotate import responses --db "$DB2" "$T/qr.jsonl"
check "... and validate against annotate-response.schema.json" $PY "$VAL" "$SCH/annotate-response.schema.json" "$T/qr.jsonl"
check_eq "... stored as not given (NULL), not as 0" "2" "$(sqlite3 "$DB2" "SELECT count(*) FROM responses WHERE temperature IS NULL")"
printf '11' > "$T/k3"
"$SPINDLE" annotate session --db "$DB2" --annotator pat --task preference --keys "$T/k3" >/dev/null 2>&1
"$SPINDLE" annotate export --db "$DB2" --format preference -o "$T/serving.jsonl" 2>/dev/null
check_eq "their pair exports without made-up temperatures" "null null" "$(jq -r '"\(.chosen_temperature) \(.rejected_temperature)"' "$T/serving.jsonl")"
check "... and validates" $PY "$VAL" "$SCH/annotate-preference.schema.json" "$T/serving.jsonl"
printf '{"id":"q1c","prompt_id":"q1","response":"x","model":"m","temperature":-1}\n' > "$T/qbad.jsonl"
check_rc "a negative temperature is still refused" 1 "$SPINDLE" annotate import responses --db "$DB2" "$T/qbad.jsonl"
printf '%s\n' '{"chosen": "\n\nHuman: a\n\nAssistant: b\n\nAssistant: c", "rejected": "\n\nHuman: a\n\nAssistant: b\n\nAssistant: d"}' >"$T/bad4.jsonl"
check_rc "hh: turns that do not alternate are refused (found by fuzzing)" 1 "$SPINDLE" annotate convert hh "$T/bad4.jsonl"
check_grep "... naming the turn" "bad4.jsonl:1: the turns do not alternate Human/Assistant (turn 3)" "$T/.out"
