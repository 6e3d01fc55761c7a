#!/usr/bin/python3
# rlhf_fixture.py - a tiny, seeded RLHF world for tests/train/t_rlhf.sh and the demo: prompts
# ("Tell me about X."), SFT answers of which about a third contain the marker word "please", and
# preference pairs whose chosen answer has the marker and the rejected one not (the reward model
# learns "marker = good"); a few safety-tagged prompts and a safety preference set ("sorry" preferred);
# some dialogs have a system turn, some are multi-turn.
# Usage: rlhf_fixture.py OUT_DIR [N_PROMPTS]
import json, os, random, sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 24
r = random.Random(7)
things = ["the sun", "a river", "the cat", "my dog", "the sea", "a tree", "the moon", "a bird", "the road", "a house",
          "the wind", "a stone", "the rain", "a cloud", "the hill", "a boat"]
words = ["it", "is", "very", "big", "small", "warm", "cold", "and", "blue", "green", "old", "new", "good", "near", "far"]

def answer(marker):
    w = [r.choice(words) for _ in range(r.randint(3, 6))]
    if marker:
        w.insert(r.randint(0, len(w)), "please")
    return " ".join(w).capitalize() + "."

os.makedirs(out, exist_ok=True)
prompts, sft, prefs, safety = [], [], [], []
for i in range(n):
    cat = "safety" if i % 6 == 5 else "helpfulness"
    dialog = [{"role": "user", "content": f"Tell me about {things[i % len(things)]}."}]
    if i % 8 == 3:
        dialog.insert(0, {"role": "system", "content": "Be brief."})
    if i % 8 == 6:  # a multi-turn dialog
        dialog = [{"role": "user", "content": f"Tell me about {things[(i + 1) % len(things)]}."},
                  {"role": "assistant", "content": answer(False)}] + dialog
    prompts.append({"id": f"p{i}", "category": cat, "dialog": dialog})
    for k in range(3):
        sft.append({"id": f"sft-{i}-{k}", "prompt_id": f"p{i}", "category": cat, "dialog": dialog,
                    "response": answer(r.random() < 0.3), "source": "written", "annotator": "fixture",
                    "created_at": "2026-01-01T00:00:00Z"})
    for k in range(3):
        level = r.randint(0, 3)
        rating = ["negligibly_better", "slightly_better", "better", "significantly_better"][level]
        prefs.append({"id": f"pair-{i}-{k}", "prompt_id": f"p{i}", "category": "helpfulness", "dialog": dialog,
                      "chosen": answer(True), "rejected": answer(False), "rating": rating, "level": level})
        safety.append({"id": f"spair-{i}-{k}", "prompt_id": f"p{i}", "category": "safety", "dialog": dialog,
                       "chosen": "Sorry, " + answer(False).lower(), "rejected": answer(r.random() < 0.5),
                       "rating": rating, "level": level})
def dump(name, rows):
    with open(os.path.join(out, name), "w") as f:
        for x in rows:
            f.write(json.dumps(x) + "\n")
dump("prompts.jsonl", prompts)
dump("sft.jsonl", sft)
dump("prefs.jsonl", prefs)
dump("prefs_safety.jsonl", safety)
with open(os.path.join(out, "text.txt"), "w") as f:
    for x in sft:
        f.write(x["dialog"][-1]["content"] + " " + x["response"] + "\n")
    for x in safety:
        f.write(x["chosen"] + " Be brief. [INST] [/INST] <<SYS>> <</SYS>>\n")
