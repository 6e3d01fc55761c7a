#!/usr/bin/env bash
# 85-gatt-distill.sh - demo stage: a tiny Ghost Attention round (3-turn dialogs built from the
# annotate stage's prompts, sampled under a generated instruction, SFT on the last turn, then the
# language-consistency table before and after) and a tiny safety context distillation round (the
# safety prompts with and without a preprompt, sampled, scored with `spindle train score` when that
# command exists, the safer preprompted answers kept as SFT records).
set -euo pipefail
: "${SPINDLE:?}" "${DEMO:?}"
PY=/usr/bin/python3
A=$DEMO/annotate R=$DEMO/gatt
tok=
for m in "$DEMO"/tok.model "$DEMO"/tokenizer.model "$DEMO"/tokenizer.json; do
	[ -f "$m" ] && { tok=$m; break; }
done
SFT=$DEMO/train/sft
if [ -z "$tok" ] || [ ! -s "$SFT/model.safetensors" ] || [ ! -s "$A/prompts.jsonl" ]; then
	echo "gatt: needs the tokenizer, the SFT model (train stage) and the prompts (annotate stage); skipping"
	exit 0
fi
rm -rf "$R"
mkdir -p "$R"
# Ghost Attention: 3-turn dialogs from the helpfulness prompts' user turns
$PY - "$A/prompts.jsonl" "$R/dialogs.jsonl" <<'P'
import json, sys
users = [json.loads(l)["dialog"][-1]["content"][:200] for l in open(sys.argv[1]) if '"helpfulness"' in l]
with open(sys.argv[2], "w") as f:
    for i in range(0, len(users) - 2, 3):
        d = []
        for k, u in enumerate(users[i:i + 3]):
            d.append({"role": "user", "content": u})
            if k < 2:
                d.append({"role": "assistant", "content": "(to be sampled)"})
        f.write(json.dumps({"id": f"dialog-{i // 3}", "category": "helpfulness", "dialog": d}) + "\n")
P
S="--tokenizer $tok --max-new-tokens 16"
"$SPINDLE" train gatt --model "$SFT" $S --dialogs "$R/dialogs.jsonl" --seed 1 -o "$R/gatt.jsonl" 2>&1 | sed 's/^/gatt: /'
$PY - "$R/gatt.jsonl" <<'P'
import json, sys
for l in list(open(sys.argv[1]))[:3]:
    r = json.loads(l)
    g = r["meta"]["gatt"]
    print(f"gatt:   {r['id']}: instruction {g['instruction']!r} ({'short' if g['short'] else 'long'} form) in turn 1 of {g['turns']}; learns only: {r['response'][:50]!r}")
P
"$SPINDLE" train sft --data "$R/gatt.jsonl" --tokenizer "$tok" --init-from "$SFT" --steps 10 --batch 2 --lr 1e-3 \
	--out "$R/sft-gatt" > "$R/sft-gatt.jsonl" 2> "$R/sft-gatt.err" || { cat "$R/sft-gatt.err"; exit 1; }
echo "gatt: sft on the GAtt records (loss on the last turn only): $(tail -1 "$R/sft-gatt.err" | sed 's/^spindle train sft: //')"
"$SPINDLE" train gatt-eval --model "$SFT" --model "$R/sft-gatt" $S --max-new-tokens 8 --dialogs "$R/dialogs.jsonl" \
	--turns 2,4,6,20 --max-dialogs 3 --json "$R/gatt-eval.json" | sed 's/^/gatt: /'

# Safety context distillation
D=$DEMO/distill
rm -rf "$D"
mkdir -p "$D"
if ! "$SPINDLE" train distill-prompts --prompts "$A/prompts.jsonl" --with "$D/with.jsonl" --without "$D/without.jsonl" 2> "$D/prompts.err"; then
	echo "distill: $(tail -1 "$D/prompts.err"); skipping"
	exit 0
fi
sed 's/^/distill: /' "$D/prompts.err"
echo "distill: a preprompt: $($PY -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['meta']['safety_preprompt'][:150])" "$D/with.jsonl")"
for x in with without; do
	"$SPINDLE" train sample --model "$SFT" --tokenizer "$tok" --prompts "$D/$x.jsonl" -n 2 --max-new-tokens 16 --seed 3 \
		-o "$D/$x.samples.jsonl" 2>/dev/null
done
echo "distill: sampled $(wc -l < "$D/with.samples.jsonl") answers with the preprompt and $(wc -l < "$D/without.samples.jsonl") without"
if ! "$SPINDLE" train score --help >/dev/null 2>&1; then
	echo "distill: \`spindle train score\` is not in this build: the samples cannot be scored; stopping before the selection"
	exit 0
fi
RM=
for d in "$DEMO"/train/rm-safety "$DEMO"/rlhf/rm-safety "$DEMO"/train/rm; do
	[ -s "$d/model.safetensors" ] && { RM=$d; break; }
done
if [ -z "$RM" ]; then
	echo "distill: no reward model to score safety with; stopping before the selection"
	exit 0
fi
[ "${RM##*/}" = rm ] && echo "distill: (no safety reward model in this demo: the helpfulness one at $RM stands in)"
for x in with without; do
	if ! "$SPINDLE" train score --rm-safety "$RM" --tokenizer "$tok" --prompts "$D/$x.jsonl" "$D/$x.samples.jsonl" \
		-o "$D/$x.scored.jsonl" 2> "$D/score.err"; then
		echo "distill: train score failed: $(tail -1 "$D/score.err"); stopping before the selection"
		exit 0
	fi
done
"$SPINDLE" train distill-select --prompts "$D/without.jsonl" --preprompted "$D/with.jsonl" --with "$D/with.scored.jsonl" \
	--without "$D/without.scored.jsonl" -o "$D/sft.jsonl" 2>&1 | sed 's/^/distill: /'
echo "distill: $(wc -l < "$D/sft.jsonl") SFT records without the preprompt -> $D/sft.jsonl"
