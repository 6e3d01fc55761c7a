#!/usr/bin/env bash
# Rounds and splits: round labels on imported batches, export filters selecting exactly the right
# rows (round, batch, category, model, date), the held-out split (stable across re-imports,
# disjoint, N per batch, next-turn prompts on their root's side), and `report --by round` against
# a hand-made database (tokens against `spindle tok encode` of the same texts).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"

# Round r1: p1-p4 helpfulness, p5-p6 safety; models m:sft and m2:rlhf. Round r2: q1-q4, q4 multi-turn; model m3.
: >"$T/p1.jsonl"; : >"$T/r1.jsonl"; : >"$T/p2.jsonl"; : >"$T/r2.jsonl"
for i in 1 2 3 4 5 6; do
	cat=helpfulness; [ $i -ge 5 ] && cat=safety
	printf '{"id":"p%d","category":"%s","dialog":[{"role":"user","content":"Why is the sky blue, question %d?"}]}\n' $i $cat $i >>"$T/p1.jsonl"
	printf '{"id":"p%da","prompt_id":"p%d","response":"Rayleigh scattering makes it blue.","model":"m","variant":"sft","temperature":0.7}\n' $i $i >>"$T/r1.jsonl"
	printf '{"id":"p%db","prompt_id":"p%d","response":"Because the sea reflects into it, %d.","model":"m2","variant":"rlhf","temperature":0.7}\n' $i $i $i >>"$T/r1.jsonl"
done
for i in 1 2 3; do printf '{"id":"q%d","category":"helpfulness","dialog":[{"role":"user","content":"Name a prime number above %d."}]}\n' $i $((i * 10)) >>"$T/p2.jsonl"; done
printf '{"id":"q4","category":"helpfulness","dialog":[{"role":"user","content":"Hello there"},{"role":"assistant","content":"Hi! How can I help?"},{"role":"user","content":"Name a prime."}]}\n' >>"$T/p2.jsonl"
for i in 1 2 3 4; do
	printf '{"id":"q%da","prompt_id":"q%d","response":"Seven is prime.","model":"m3","variant":"a","temperature":0.7}\n' $i $i >>"$T/r2.jsonl"
	printf '{"id":"q%db","prompt_id":"q%d","response":"Nine, which is not prime at all.","model":"m3","variant":"b","temperature":0.7}\n' $i $i >>"$T/r2.jsonl"
done
"$SPINDLE" annotate config --db "$DB" --gold-every 0 >/dev/null
check_rc "a bad round label is a usage error" 2 "$SPINDLE" annotate import prompts --db "$DB" --round 'bad label' "$T/p1.jsonl"
"$SPINDLE" annotate import prompts --db "$DB" --round r1 "$T/p1.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" --round r1 "$T/r1.jsonl" 2>/dev/null
"$SPINDLE" annotate import prompts --db "$DB" --round r2 "$T/p2.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" --round r2 "$T/r2.jsonl" 2>/dev/null
check_eq "batches carry their rounds" "1 r1|2 r1|3 r2|4 r2" "$(sq "SELECT id || ' ' || round FROM batches ORDER BY id" | tr '\n' '|' | sed 's/|$//')"
# Answer every pair: helpful items "12", safety items "12yy".
keys=""; for t in $(sq "SELECT p.category FROM tasks t JOIN prompts p ON p.id = t.prompt_id WHERE t.kind = 'preference' ORDER BY t.id"); do
	[ "$t" = safety ] && keys+="12yy" || keys+="12"; done
printf '%s' "$keys" >"$T/k"
"$SPINDLE" annotate session --db "$DB" --annotator ann --task preference --keys "$T/k" >/dev/null 2>&1
check_eq "10 pairs answered" "10" "$(sq "SELECT count(*) FROM annotations WHERE status = 'final'")"

ids() { "$SPINDLE" annotate export --db "$DB" --format preference "$@" 2>"$T/exp.err" | $PY -c 'import json,sys; print(" ".join(sorted(json.loads(l)["prompt_id"] for l in sys.stdin)))'; }
all="p1 p2 p3 p4 p5 p6 q1 q2 q3 q4"
check_eq "no filter: everything" "$all" "$(ids)"
check_eq "--round r1" "p1 p2 p3 p4 p5 p6" "$(ids --round r1)"
check_eq "--round r2" "q1 q2 q3 q4" "$(ids --round r2)"
check_eq "--round r1,r2" "$all" "$(ids --round r1,r2)"
check_eq "--round of no batch selects nothing" "" "$(ids --round r9)"
check_eq "--batch 4 (the r2 responses)" "q1 q2 q3 q4" "$(ids --batch 4)"
check_eq "--batch 2,4" "$all" "$(ids --batch 2,4)"
check_eq "--category safety" "p5 p6" "$(ids --category safety)"
check_eq "--model m2 (either response)" "p1 p2 p3 p4 p5 p6" "$(ids --model m2)"
check_eq "--model m3 --category helpfulness" "q1 q2 q3 q4" "$(ids --model m3 --category helpfulness)"
tomorrow=$(date -u -d tomorrow +%Y-%m-%d); yesterday=$(date -u -d yesterday +%Y-%m-%d)
check_eq "--since tomorrow" "" "$(ids --since "$tomorrow")"
check_eq "--since yesterday --until tomorrow" "$all" "$(ids --since "$yesterday" --until "$tomorrow")"
# Move two answers a week back: --until selects exactly them.
sq "UPDATE annotations SET created_at = created_at - 7 * 86400 WHERE id IN (SELECT a.id FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE t.prompt_id IN ('p2', 'q3'))"
check_eq "--until selects the answers before the date" "p2 q3" "$(ids --until "$(date -u -d '3 days ago' +%Y-%m-%dT%H:%M:%SZ)")"
check_rc "a bad date is a usage error" 2 "$SPINDLE" annotate export --db "$DB" --format preference --since 2026-13-45
check_rc "--model on sft records is a usage error" 2 "$SPINDLE" annotate export --db "$DB" --format sft --model m
check_rc "--test-share out of range" 2 "$SPINDLE" annotate export --db "$DB" --format preference --split test --test-share 1.5
check_rc "--test-share without --split" 2 "$SPINDLE" annotate export --db "$DB" --format preference --test-share 0.5
check_rc "a bad --batch list" 2 "$SPINDLE" annotate export --db "$DB" --format preference --batch 1,x

# ---------------------------------------------------------------- splits
test2=$(ids --split test --test-count 2); train2=$(ids --split train --test-count 2)
check_eq "--test-count 2: two prompts held out per prompt batch" "2 2" \
	"$(grep -o 'p[0-9]' <<<"$test2" | wc -l) $(grep -o 'q[0-9]' <<<"$test2" | wc -l)"
check_eq "train and test are disjoint and cover everything" "$all" "$(tr ' ' '\n' <<<"$test2 $train2" | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "no prompt on both sides" "" "$(comm -12 <(tr ' ' '\n' <<<"$test2" | sort) <(tr ' ' '\n' <<<"$train2" | sort))"
share_t=$(ids --split test --test-share 0.5); share_r=$(ids --split train --test-share 0.5)
check_eq "--test-share: disjoint and complete" "$all" "$(tr ' ' '\n' <<<"$share_t $share_r" | sort | grep . | tr '\n' ' ' | sed 's/ $//')"
# Re-import the same files and a new batch: the held-out prompts of the old batches stay.
"$SPINDLE" annotate import prompts --db "$DB" --round r1 "$T/p1.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" --round r1 "$T/r1.jsonl" 2>/dev/null
mk_prompts "$T/p3.jsonl" 5
sed -i 's/"id":"p/"id":"n/' "$T/p3.jsonl"
"$SPINDLE" annotate import prompts --db "$DB" --round r3 "$T/p3.jsonl" 2>/dev/null
check_eq "the split is stable across re-imports and new batches (count)" "$test2" "$(ids --split test --test-count 2)"
check_eq "the split is stable across re-imports and new batches (share)" "$share_t" "$(ids --split test --test-share 0.5)"
# Next-turn prompts follow their root: give every answered root a child with no response yet.
sq "INSERT INTO prompts(id, category, dialog, n_turns, parent_id, created_at) SELECT id || '+t1', category, dialog, n_turns, id, 0 FROM prompts WHERE id LIKE 'p%' OR id LIKE 'q%'"
kids=$("$SPINDLE" annotate export --db "$DB" --format prompts --split test --test-count 2 | $PY -c 'import json,sys; print(" ".join(sorted(json.loads(l)["id"] for l in sys.stdin if "+t" in json.loads(l)["id"])))')
check_eq "next-turn prompts fall on their root's side" "$(for p in $test2; do printf '%s+t1 ' "$p"; done | sed 's/ $//')" "$kids"
check_eq "--split test --test-count 2 of the new batch's prompts" "2" \
	"$("$SPINDLE" annotate export --db "$DB" --format prompts --round r3 --split test --test-count 2 | wc -l)"

# ---------------------------------------------------------------- per-round statistics
"$SPINDLE" annotate report --db "$DB" --by round >"$T/rounds.txt"
check_eq "report --by round: comparisons and average turns per round" "r1 1 6 1.00|r2 1 4 1.25" \
	"$(awk '$1 == "r1" || $1 == "r2" { print $1, $2, $3, $4 }' "$T/rounds.txt" | tr '\n' '|' | sed 's/|$//')"
check_grep "without a tokenizer the token columns read n/a" "n/a" "$T/rounds.txt"
LL=$SHARED/llama2/tokenizer.model
if [ ! -f "$LL" ]; then skip "report --by round token counts" "no $LL"; else
	"$SPINDLE" annotate report --db "$DB" --by round --tokenizer "$LL" >"$T/rounds_tok.txt"
	# Expected: encode every message and response with `spindle tok encode` and average as documented.
	sq "SELECT b.round, p.dialog, ra.text AS ta, rb.text AS tb FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN prompts p ON p.id = t.prompt_id
	    JOIN responses ra ON ra.id = t.response_a JOIN responses rb ON rb.id = t.response_b JOIN batches b ON b.id = max(ra.batch_id, rb.batch_id)
	    WHERE a.status = 'final'" -json >"$T/rows.json"
	$PY -c 'import json,sys
for r in json.load(open(sys.argv[1])):
    for m in json.loads(r["dialog"]): print(json.dumps({"text": m["content"]}))
    print(json.dumps({"text": r["ta"]})); print(json.dumps({"text": r["tb"]}))' "$T/rows.json" >"$T/texts.jsonl"
	"$SPINDLE" tok encode -q -m "$LL" "$T/texts.jsonl" >"$T/ids.jsonl"
	want=$($PY -c 'import json,sys
rows = json.load(open(sys.argv[1])); ids = [len(json.loads(l)) for l in open(sys.argv[2])]
i = 0; acc = {}
for r in rows:
    n = len(json.loads(r["dialog"])); p = sum(ids[i:i + n]); i += n
    ra, rb = ids[i], ids[i + 1]; i += 2
    a = acc.setdefault(r["round"], [0, 0, 0]); a[0] += 1; a[1] += p; a[2] += (ra + rb) / 2
for k in sorted(acc):
    c, p, s = acc[k]; print("%s %.1f %.1f %.1f" % (k, (p + 2 * s) / c, p / c, s / c))' "$T/rows.json" "$T/ids.jsonl" | tr '\n' '|')
	check_eq "report --by round: tokens per example, prompt and response equal tok encode's counts" "$want" \
		"$(awk '$1 == "r1" || $1 == "r2" { print $1, $5, $6, $7 }' "$T/rounds_tok.txt" | tr '\n' '|')"
fi
