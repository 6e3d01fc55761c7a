#!/usr/bin/env bash
# 90-eval.sh - demo stage: a tiny human evaluation (issue 14). Two systems answer six prompts of
# the annotate stage (4 helpfulness, 2 safety): the SFT model sampled at two temperatures when the
# train stage left one, else two extractive stand-ins. A side-by-side study and a safety-rating
# study, each rated by three scripted raters (the same --keys mechanism as the preference demo),
# then the report with its CIs, agreement coefficients and charts ($DEMO/eval/charts/*.png).
set -euo pipefail
: "${SPINDLE:?}" "${DEMO:?}"
E=$DEMO/eval
PY=/usr/bin/python3
rm -rf "$E"
mkdir -p "$E/charts"
DB=$E/eval.db
P=$DEMO/annotate/prompts.jsonl
if [ ! -s "$P" ]; then
	echo "eval: no $P (the annotate stage did not run); skipping"
	exit 0
fi
$PY -c 'import json, sys
ps = [json.loads(l) for l in open(sys.argv[1])]
for c, n in (("helpfulness", 4), ("safety", 2)):
    for p in [p for p in ps if p["category"] == c][:n]: print(json.dumps(p))' "$P" >"$E/prompts.jsonl"
tok=
for m in "$DEMO"/tok.model "$DEMO"/tokenizer.model "$DEMO"/tokenizer.json; do
	[ -f "$m" ] && { tok=$m; break; }
done
if [ -n "$tok" ] && [ -f "$DEMO/train/sft/config.json" ]; then
	for t in 0.3 1.2; do
		"$SPINDLE" train sample --model "$DEMO/train/sft" --tokenizer "$tok" --prompts "$E/prompts.jsonl" --temperature $t \
			--max-new-tokens 24 --model-name demo-sft --variant "t$t" -o "$E/sys-t$t.jsonl" 2>/dev/null
	done
	A=$E/sys-t0.3.jsonl B=$E/sys-t1.2.jsonl
	echo "eval: systems: the demo SFT model at temperature 0.3 (A) and 1.2 (B)"
else
	$PY - "$E/prompts.jsonl" "$E/sys-first.jsonl" "$E/sys-last.jsonl" <<'PYEOF'
import json, re, sys
ps = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as a, open(sys.argv[3], "w") as b:
    for p in ps:
        text = p["dialog"][-1]["content"]
        s = [x for x in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text)) if x.strip()]
        a.write(json.dumps({"prompt_id": p["id"], "response": s[min(1, len(s) - 1)][:300], "model": "demo-extractive", "variant": "first", "temperature": 0.0}) + "\n")
        b.write(json.dumps({"prompt_id": p["id"], "response": s[-1][:300], "model": "demo-extractive", "variant": "last", "temperature": 0.0}) + "\n")
PYEOF
	A=$E/sys-first.jsonl B=$E/sys-last.jsonl
	echo "eval: systems: two extractive stand-ins (no SFT model from the train stage)"
fi
"$SPINDLE" annotate eval --db "$DB" --name demo-sbs --kind side-by-side --prompts "$E/prompts.jsonl" --system "$A" --system "$B" --round eval-demo
"$SPINDLE" annotate eval --db "$DB" --name demo-safety --kind safety --prompts "$E/prompts.jsonl" --system "$A" --system "$B" --round eval-demo
# Three raters with different habits; keys are the left/right scale the screen shows (1 LEFT much better .. 7).
printf '235236' >"$E/keys.sbs.ana"; printf '325146' >"$E/keys.sbs.ben"; printf '234436' >"$E/keys.sbs.cai"
printf '545412543521' >"$E/keys.safe.ana"; printf '554413443521' >"$E/keys.safe.ben"; printf '545322543411' >"$E/keys.safe.cai"
for who in ana ben cai; do
	"$SPINDLE" annotate session --db "$DB" --annotator $who --task side-by-side --keys "$E/keys.sbs.$who" </dev/null >/dev/null
	"$SPINDLE" annotate session --db "$DB" --annotator $who --task safety --keys "$E/keys.safe.$who" </dev/null >/dev/null
done
"$SPINDLE" annotate report --db "$DB" --eval demo-sbs --charts "$E/charts" | sed 's/^/eval: /'
"$SPINDLE" annotate report --db "$DB" --eval demo-safety --charts "$E/charts" | sed 's/^/eval: /'
"$SPINDLE" annotate report --db "$DB" --eval demo-sbs --format json >"$E/demo-sbs.json"
"$SPINDLE" annotate export --db "$DB" --format eval --eval demo-sbs -o "$E/demo-sbs.ratings.jsonl"
"$SPINDLE" annotate export --db "$DB" --format eval --eval demo-safety -o "$E/demo-safety.ratings.jsonl"
# the model-based side: the train stage's reward model judges the same two systems
RM=$DEMO/train/rm
if [ -n "$tok" ] && [ -f "$RM/config.json" ] && "$SPINDLE" train score --help >/dev/null 2>&1; then
	echo "eval: the reward model of the train stage judges both systems (train score, then winrate and calibrate;"
	echo "eval: the demo has one reward model, so it stands in for the helpfulness and the safety model):"
	"$SPINDLE" train score --rm-helpful "$RM" --rm-safety "$RM" --tokenizer "$tok" --prompts "$E/prompts.jsonl" \
		-o "$E/A.scored.jsonl" "$A" 2>/dev/null
	"$SPINDLE" train score --rm-helpful "$RM" --rm-safety "$RM" --tokenizer "$tok" --prompts "$E/prompts.jsonl" \
		-o "$E/B.scored.jsonl" "$B" 2>/dev/null
	"$SPINDLE" train winrate "$E/A.scored.jsonl" "$E/B.scored.jsonl" --prompts "$E/prompts.jsonl" 2>&1 | sed 's/^/eval: /'
	cat "$E/A.scored.jsonl" "$E/B.scored.jsonl" >"$E/AB.scored.jsonl"
	"$SPINDLE" train calibrate "$E/AB.scored.jsonl" "$E/demo-safety.ratings.jsonl" -o "$E/charts/calibration.png" 2>&1 |
		sed 's/^/eval: /'
else
	echo "eval: model-based side (once responses are scored by \`spindle train score\`):"
	echo "eval:   spindle train winrate A.scored.jsonl B.scored.jsonl --prompts $E/prompts.jsonl"
	echo "eval:   spindle train calibrate AB.scored.jsonl $E/demo-safety.ratings.jsonl -o calibration.png"
fi
