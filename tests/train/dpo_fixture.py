#!/usr/bin/python3
# dpo_fixture.py - the DPO tests' data (t_dpo.sh, t_mpi_dpo.sh): DIR/sft.jsonl (16 SFT records to make
# a tiny policy from), DIR/prefs.jsonl (the first N_PAIRS topics as preference pairs) and
# DIR/heldout.jsonl (4 more). Ratings: all "better" (margin 2/3), or with --mixed-ratings the four
# levels in turn. Usage: dpo_fixture.py DIR N_PAIRS [--mixed-ratings]
import json, sys

t, n_pairs, mixed = sys.argv[1], int(sys.argv[2]), "--mixed-ratings" in sys.argv[3:]
topics = ["manual pages", "licenses", "compression", "the shell", "packages", "fonts", "printers", "networks",
          "editors", "kernels", "mail", "clocks", "disks", "users", "locales", "sound"]
base = {"source": "written", "annotator": "a", "created_at": "2026-01-01T00:00:00Z"}
with open(t + "/sft.jsonl", "w") as f:
    for i, x in enumerate(topics):
        f.write(json.dumps({"id": f"sft-{i}", "prompt_id": f"p{i}", "category": "helpfulness",
                            "dialog": [{"role": "user", "content": f"Tell me about {x}."}],
                            "response": f"Here is a note about {x}.", **base}) + "\n")
ratings = ["significantly_better", "better", "slightly_better", "negligibly_better"]


def pref(i, x):
    k = i % 4 if mixed else 1
    return {"id": f"pref-{i}", "prompt_id": f"p{i}", "category": "helpfulness",
            "dialog": [{"role": "user", "content": f"Explain {x}."}],
            "chosen": f"Gladly: {x} explained clearly.", "rejected": f"No. {x} is boring.",
            "chosen_id": "c", "rejected_id": "r", "rating": ratings[k], "level": 3 - k,
            "margin": [1, 2 / 3, 1 / 3, 0][k], "annotator": "a", "created_at": "2026-01-01T00:00:00Z"}


with open(t + "/prefs.jsonl", "w") as f:
    for i, x in enumerate(topics[:n_pairs]):
        f.write(json.dumps(pref(i, x)) + "\n")
with open(t + "/heldout.jsonl", "w") as f:
    for i, x in enumerate(topics[12:]):
        f.write(json.dumps(pref(100 + i, x)) + "\n")
