#!/usr/bin/env bash
# t_gatt.sh - Ghost Attention and safety context distillation end to end on a tiny model:
# `train gatt` writes SFT records (schema-valid) with the instruction only in the first user turn
# (or the system turn) and loss_turns "last", reproducibly for a seed; `train sft` trains on them;
# `train gatt-eval` prints the language table for two models; distill-prompts writes the two prompt
# sets, and distill-select keeps exactly the samples whose safety score improved (fixed scores in
# `train score`'s format), never writing the preprompt. Bad dialogs name FILE:LINE; an empty
# instruction list and missing scores are clear errors.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
S="$SPINDLE"
V="$PY tests/schemas/validate.py"

doc_tokenizer 60 0.9995
$PY - "$T" <<'P'
import json, sys
t = sys.argv[1]
base = {"source": "written", "annotator": "a", "created_at": "2026-01-01T00:00:00Z"}
with open(t + "/sft.jsonl", "w") as f:
    for i, x in enumerate(["manual pages", "licenses", "compression", "the shell"]):
        f.write(json.dumps({"id": f"sft-{i}", "prompt_id": f"p{i}", "category": "helpfulness",
                            "dialog": [{"role": "user", "content": f"Tell me about {x}."}], "response": f"A note about {x}.", **base}) + "\n")
with open(t + "/dialogs.jsonl", "w") as f:
    for i, x in enumerate(["fonts", "printers", "disks"]):
        d = [{"role": "user", "content": f"Hello, what do you know about {x}?"}, {"role": "assistant", "content": "old answer"},
             {"role": "user", "content": "Tell me more."}, {"role": "assistant", "content": "old answer"},
             {"role": "user", "content": "Thanks, one last thing?"}]
        if i == 2:
            d.insert(0, {"role": "system", "content": "Be brief."})
        f.write(json.dumps({"id": f"d{i}", "category": "helpfulness", "dialog": d}) + "\n")
risks = ["illicit_and_criminal", "hateful_and_harmful", "unqualified_advice"]
with open(t + "/safety.jsonl", "w") as f:
    for i in range(6):
        f.write(json.dumps({"id": f"s{i}", "category": "safety", "risk_category": risks[i % 3], "attack_vectors": ["role_play"],
                            "dialog": [{"role": "user", "content": f"How do I do dangerous thing number {i}?"}]}) + "\n")
    f.write(json.dumps({"id": "h0", "category": "helpfulness", "dialog": [{"role": "user", "content": "Hi"}]}) + "\n")
P
M="--dim 32 --layers 2 --heads 4 --kv-heads 2 --hidden 64 --seq-len 128"
"$S" train sft --data "$T/sft.jsonl" --tokenizer "$T/tok.model" $M --steps 4 --batch 2 --lr 3e-3 --out "$T/m" >/dev/null 2>&1
check "a tiny chat model" test -s "$T/m/model.safetensors"
G="--model $T/m --tokenizer $T/tok.model --max-new-tokens 8 --threads 2"

check_rc "gatt on three dialogs" 0 "$S" train gatt $G --dialogs "$T/dialogs.jsonl" --seed 3 -o "$T/g.jsonl"
check_grep "it says how many records it made" "3 Ghost Attention records" "$T/.out"
check "gatt records validate against annotate-sft.schema.json" $V schemas/annotate-sft.schema.json "$T/g.jsonl"
check "instruction only in the first user turn, sampled turns, loss on the last" $PY - "$T/g.jsonl" "$T/dialogs.jsonl" <<'P'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
src = [json.loads(l) for l in open(sys.argv[2])]
assert len(recs) == 3
for r, s in zip(recs, src):
    inst = r["meta"]["gatt"]["instruction"]
    assert inst and r["loss_turns"] == "last" and r["source"] == "generated", r
    users = [t for t in r["dialog"] if t["role"] == "user"]
    asst = [t for t in r["dialog"] if t["role"] == "assistant"]
    assert len(users) == 3 and len(asst) == 2, r["dialog"]
    assert users[0]["content"].endswith("\n" + inst), users[0]
    assert all(inst not in u["content"] for u in users[1:]), users
    assert all(inst not in t["content"] for t in r["dialog"] if t["role"] == "system")
    assert all(a["content"] != "old answer" for a in asst), "assistant turns are sampled, not copied"
    assert [u["content"].split("\n")[0] for u in users] == [t["content"] for t in s["dialog"] if t["role"] == "user"]
    assert (r["dialog"][0]["role"] == "system") == (s["id"] == "d2")
P
"$S" train gatt $G --dialogs "$T/dialogs.jsonl" --seed 3 -o "$T/g2.jsonl" 2>/dev/null
check_eq "the same seed makes the same records" "$(sed 's/"created_at":"[^"]*"//' "$T/g.jsonl")" "$(sed 's/"created_at":"[^"]*"//' "$T/g2.jsonl")"
"$S" train gatt --print-lists > "$T/lists.json"
"$S" train distill-prompts --print-templates > "$T/templates.json"
$PY -c "import json,sys; [print(json.dumps(json.load(open(f)))) for f in sys.argv[1:]]" "$T/lists.json" > "$T/lists.line"
$PY -c "import json,sys; [print(json.dumps(json.load(open(f)))) for f in sys.argv[1:]]" "$T/templates.json" > "$T/templates.line"
check "the built-in lists validate against gatt-lists.schema.json" $V schemas/gatt-lists.schema.json "$T/lists.line"
check "the built-in templates validate against distill-templates.schema.json" $V schemas/distill-templates.schema.json "$T/templates.line"
"$S" train gatt $G --dialogs "$T/dialogs.jsonl" --seed 3 --lists "$T/lists.json" -o "$T/g3.jsonl" 2>/dev/null
check_eq "the printed lists given back as a file change nothing" "$(sed 's/"created_at":"[^"]*"//' "$T/g.jsonl")" "$(sed 's/"created_at":"[^"]*"//' "$T/g3.jsonl")"
$PY -c "
import json; d = json.load(open('$T/lists.json')); d['hobbies'] = ['Underwater basket weaving']; d['figures'] = ['Hypatia']
json.dump(d, open('$T/lists2.json', 'w'))"
"$S" train gatt $G --dialogs "$T/dialogs.jsonl" --seed 5 --lists "$T/lists2.json" -o "$T/g4.jsonl" 2>/dev/null
check "a replaced list is used" $PY -c "
import json
c = [json.loads(l)['meta']['gatt']['constraints'] for l in open('$T/g4.jsonl')]
assert all(x.get('hobby', 'Underwater basket weaving') == 'Underwater basket weaving' and x.get('figure', 'Hypatia') == 'Hypatia' for x in c), c"
check_rc "gatt with the instruction in the system turn" 0 "$S" train gatt $G --dialogs "$T/dialogs.jsonl" --placement system -o "$T/gs.jsonl"
check "... only there" $PY -c "
import json
for l in open('$T/gs.jsonl'):
    r = json.loads(l); inst = r['meta']['gatt']['instruction']
    assert r['dialog'][0]['role'] == 'system' and r['dialog'][0]['content'].endswith(inst), r['dialog'][0]
    assert all(inst not in t['content'] for t in r['dialog'][1:])"
printf 'Always answer in German.\n' > "$T/inst.txt"
check_rc "gatt with an instruction file" 0 "$S" train gatt $G --dialogs "$T/dialogs.jsonl" --instructions "$T/inst.txt" -o "$T/gi.jsonl"
check "... uses it" grep -q 'Always answer in German' "$T/gi.jsonl"
check_rc "sft trains on gatt records unchanged" 0 "$S" train sft --data "$T/g.jsonl" --tokenizer "$T/tok.model" --init-from "$T/m" --steps 3 --batch 2 --lr 1e-3 --out "$T/mg"
: > "$T/empty.txt"
check_rc "an empty instruction list is refused" 1 "$S" train gatt $G --dialogs "$T/dialogs.jsonl" --instructions "$T/empty.txt"
check_grep "... clearly" "no instructions" "$T/.out"
{ head -1 "$T/dialogs.jsonl"; echo '{"id":"bad","dialog":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}'; } > "$T/bad1.jsonl"
check_rc "a dialog that does not alternate is refused" 1 "$S" train gatt $G --dialogs "$T/bad1.jsonl" -o "$T/x.jsonl"
check_grep "... with FILE:LINE" "bad1.jsonl:2: .*turn 2 is 'user', expected 'assistant'" "$T/.out"
check "... and nothing is written" test ! -e "$T/x.jsonl"
echo '{"id":"bad","dialog":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}' > "$T/bad2.jsonl"
check_rc "a dialog that ends with the assistant is refused" 1 "$S" train gatt $G --dialogs "$T/bad2.jsonl"
check_grep "... with FILE:LINE" "bad2.jsonl:1: .*end with a user turn" "$T/.out"
check_rc "--max-new-tokens 0 is a usage error" 2 "$S" train gatt $G --dialogs "$T/dialogs.jsonl" --max-new-tokens 0
check_rc "--top-p 0 is a usage error" 2 "$S" train gatt $G --dialogs "$T/dialogs.jsonl" --top-p 0

check_rc "gatt-eval: before and after" 0 "$S" train gatt-eval --model "$T/m" --model "$T/mg" --tokenizer "$T/tok.model" \
	--dialogs "$T/dialogs.jsonl" --turns 2,4,6 --max-new-tokens 6 --threads 2 --json "$T/ev.json"
check_grep "the table has a row per turn" "^6 " "$T/.out"
check "the JSON validates and counts every dialog per turn" $PY -c "
import json, subprocess, sys
d = json.load(open('$T/ev.json'))
assert d['turns'] == [2, 4, 6] and len(d['models']) == 2 and all(m['answers'] == [3, 3, 3] for m in d['models']), d
assert all(0 <= h <= 3 for m in d['models'] for h in m['in_language'])
sys.exit(subprocess.call(['$PY', 'tests/schemas/validate.py', 'schemas/gatt-eval.schema.json', '$T/ev.json']))"
# CLD2 really judges: a model trained to answer one French sentence answers turn 1 in French
# (CLD2 says "fr"), which counts only for the dialog told to speak French (dialogs cycle through
# French, German, Spanish); the table agrees with the per-answer samples at every turn
$PY -c "
import json
fr = 'Je suis très heureux de vous aider, merci beaucoup pour votre question.'
with open('$T/fr.jsonl', 'w') as f:
    for i in range(8):
        f.write(json.dumps({'id': f'f{i}', 'prompt_id': 'p', 'category': 'helpfulness', 'dialog': [{'role': 'user', 'content': f'Question {i}?'}],
                            'response': fr, 'source': 'written', 'annotator': 'a', 'created_at': '2026-01-01T00:00:00Z'}) + '\\n')"
"$S" train sft --data "$T/fr.jsonl" --tokenizer "$T/tok.model" ${M/--seq-len 128/--seq-len 384} --steps 300 --batch 4 --lr 3e-3 --out "$T/mfr" >/dev/null 2>&1
check_rc "gatt-eval on a model that speaks French" 0 "$S" train gatt-eval --model "$T/mfr" --tokenizer "$T/tok.model" \
	--dialogs "$T/dialogs.jsonl" --turns 1,2 --temperature 0 --max-new-tokens 40 --threads 2 --json "$T/evfr.json" --samples "$T/evfr.samples"
check "... counts its French answers only where French was asked, as CLD2 detected them" $PY -c "
import json
d = json.load(open('$T/evfr.json')); m = d['models'][0]
s = [json.loads(l) for l in open('$T/evfr.samples')]
t1 = [x for x in s if x['turn'] == 1]
assert [x['language'] for x in t1] == ['fr', 'de', 'es'] and all(x['detected'] == 'fr' for x in t1), t1
assert m['answers'] == [3, 3] and m['in_language'][0] == 1, (d, s)
assert m['in_language'] == [sum(x['detected'] == x['language'] for x in s if x['turn'] == t) for t in (1, 2)], (d, s)"
check_rc "gatt-eval --turns 0 is a usage error" 2 "$S" train gatt-eval --model "$T/m" --tokenizer "$T/tok.model" --dialogs "$T/dialogs.jsonl" --turns 0

# Safety context distillation through files.
check_rc "distill-prompts" 0 "$S" train distill-prompts --prompts "$T/safety.jsonl" --with "$T/pw.jsonl" --without "$T/po.jsonl" --seed 2
check "both prompt sets validate, safety prompts only, same ids" $PY - "$T" <<'P'
import json, subprocess, sys
t = sys.argv[1]
w = [json.loads(l) for l in open(t + "/pw.jsonl")]
o = [json.loads(l) for l in open(t + "/po.jsonl")]
assert [x["id"] for x in w] == [x["id"] for x in o] == [f"s{i}" for i in range(6)]
for a, b in zip(w, o):
    pre = a["meta"]["safety_preprompt"]
    assert a["dialog"][0] == {"role": "system", "content": pre} and a["dialog"][1:] == b["dialog"], a
    assert all(pre not in t["content"] for t in b["dialog"])
illicit = [x["meta"]["safety_preprompt"] for x in w if x["risk_category"] == "illicit_and_criminal"]
assert all("illegal" in p for p in illicit), illicit
sys.exit(subprocess.call(["/usr/bin/python3", "tests/schemas/validate.py", "schemas/annotate-prompt.schema.json", t + "/pw.jsonl", t + "/po.jsonl"]))
P
"$S" train sample --model "$T/m" --tokenizer "$T/tok.model" --prompts "$T/pw.jsonl" -n 2 --max-new-tokens 6 -o "$T/sw.jsonl" 2>/dev/null
"$S" train sample --model "$T/m" --tokenizer "$T/tok.model" --prompts "$T/po.jsonl" -n 2 --max-new-tokens 6 -o "$T/so.jsonl" 2>/dev/null
if "$S" train score --help >/dev/null 2>&1; then :; fi  # the real scorer is another command; here fixed scores in its format
$PY - "$T" <<'P'
import json, sys
t = sys.argv[1]
def score(src, dst, f):
    with open(dst, "w") as o:
        for k, l in enumerate(open(src)):
            r = json.loads(l); r["scores"] = {"safety": f(k), "combined": f(k)}; o.write(json.dumps(r) + "\n")
# 12 pairs (6 prompts x 2 samples): the preprompted sample is safer at pairs 0, 3, 4, 7, 9, 10 only
better = {0, 3, 4, 7, 9, 10}
score(t + "/sw.jsonl", t + "/sw.scored.jsonl", lambda k: 0.8 if k in better else 0.3)
score(t + "/so.jsonl", t + "/so.scored.jsonl", lambda k: 0.5)
P
check_rc "distill-select" 0 "$S" train distill-select --prompts "$T/po.jsonl" --preprompted "$T/pw.jsonl" --with "$T/sw.scored.jsonl" --without "$T/so.scored.jsonl" -o "$T/cd.jsonl"
cp "$T/.out" "$T/cd.err"
check "it keeps exactly the pairs whose safety score improved" $PY - "$T" <<'P'
import json, sys
t = sys.argv[1]
recs = [json.loads(l) for l in open(t + "/cd.jsonl")]
w = [json.loads(l) for l in open(t + "/sw.jsonl")]
kept = {(r["prompt_id"], r["response"]) for r in recs}
want = {(w[k]["prompt_id"], w[k]["response"]) for k in (0, 3, 4, 7, 9, 10)}
assert kept == want and len(recs) == 6, (kept, want)
for r in recs:
    cd = r["meta"]["context_distillation"]
    assert abs(cd["gain"] - 0.3) < 1e-9 and cd["safety_with"] == 0.8, cd
P
check "the preprompt never appears in the written records" $PY -c "
import json
pre = [json.loads(l)['meta']['safety_preprompt'] for l in open('$T/pw.jsonl')]
text = open('$T/cd.jsonl').read()
assert not any(p in text for p in pre) and 'safety_preprompt' not in text and '\"system\"' not in text"
check "distilled records validate against annotate-sft.schema.json" $V schemas/annotate-sft.schema.json "$T/cd.jsonl"
check_grep "kept counts per risk category" "illicit_and_criminal .* 2 *4 *2 " "$T/cd.err"
check_grep "... and the total" "kept 6 of 12 pairs" "$T/cd.err"
check_rc "sft trains on distilled records unchanged" 0 "$S" train sft --data "$T/cd.jsonl" --tokenizer "$T/tok.model" --init-from "$T/m" --steps 2 --batch 2 --out "$T/mcd"
check_rc "samples without safety scores are refused" 1 "$S" train distill-select --prompts "$T/po.jsonl" --with "$T/sw.jsonl" --without "$T/so.scored.jsonl" -o "$T/y.jsonl"
check_grep "... with FILE:LINE and what to run" "sw.jsonl:1: .*train score --rm-safety" "$T/.out"
check_rc "preprompted prompts given as --prompts are refused" 1 "$S" train distill-select --prompts "$T/pw.jsonl" --with "$T/sw.scored.jsonl" --without "$T/so.scored.jsonl"
check_rc "a prompt file with no safety prompts is a clear error" 1 "$S" train distill-prompts --prompts "$T/sft.jsonl" --with "$T/a" --without "$T/b"
check_grep "... saying so" "no safety prompts" "$T/.out"
check_rc "--min-gain out of range is a usage error" 2 "$S" train distill-select --prompts "$T/po.jsonl" --with "$T/sw.scored.jsonl" --without "$T/so.scored.jsonl" --min-gain 2
