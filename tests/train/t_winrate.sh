#!/usr/bin/env bash
# Model-based evaluation on scored response files (the format `spindle train score` writes):
# `train winrate` against a recomputation (ties by margin, the SplitMix64 percentile bootstrap,
# groups from prompt records), refusals naming the missing prompt ids and bad records, and
# `train calibrate` means per human level against a recomputation, with its PNG.
source "$(dirname "$0")/../lib.sh"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PY=/usr/bin/python3
VAL="$ROOT/tests/schemas/validate.py"

$PY - "$T" <<'PYEOF'
import json, sys
T = sys.argv[1]
with open(T + "/p.jsonl", "w") as f:
    for i in range(1, 9):
        d = [{"role": "user", "content": "q%d" % i}]
        if i > 6: d = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}] + d
        f.write(json.dumps({"id": "p%d" % i, "category": "safety" if i in (4, 7, 8) else "helpfulness", "dialog": d}) + "\n")
sa = [0.9, 0.6, 0.50, 0.2, 0.7, 0.71, 0.3, 0.8]
sb = [0.4, 0.6, 0.52, 0.9, 0.1, 0.70, 0.35, 0.2]
for name, model, scores in (("A", "sft", sa), ("B", "rlhf", sb)):
    with open(T + "/%s.jsonl" % name, "w") as f:
        for i, s in enumerate(scores):
            f.write(json.dumps({"prompt_id": "p%d" % (i + 1), "response": "r", "model": model, "temperature": 0.7,
                                "scores": {"helpful": s, "safety": 1 - s, "combined": s}}) + "\n")
PYEOF
"$SPINDLE" train winrate "$T/A.jsonl" "$T/B.jsonl" --prompts "$T/p.jsonl" --margin 0.025 --bootstrap 700 --seed 3 --format json >"$T/w.json"
check "winrate JSON validates against train-winrate.schema.json" $PY "$VAL" "$ROOT/schemas/train-winrate.schema.json" "$T/w.json"
check_eq "winrate equals a recomputation (margin ties, bootstrap CIs, groups)" "" "$($PY - "$T" <<'PYEOF'
import json, sys
T = sys.argv[1]
M = (1 << 64) - 1
def splitmix(st):
    st = (st + 0x9E3779B97F4A7C15) & M; z = st
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M; z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return st, z ^ (z >> 31)
def pct(s, p):
    h = (len(s) - 1) * p; lo = int(h)
    return s[-1] if lo + 1 >= len(s) else s[lo] + (h - lo) * (s[lo + 1] - s[lo])
def boot(x, B, seed):
    st = seed; m = []
    for _ in range(B):
        t = 0.0
        for _ in range(len(x)): st, v = splitmix(st); t += x[v % len(x)]
        m.append(t / len(x))
    m.sort(); return (sum(x) / len(x), pct(m, 0.025), pct(m, 0.975))
P = {json.loads(l)["id"]: json.loads(l) for l in open(T + "/p.jsonl")}
A = [json.loads(l) for l in open(T + "/A.jsonl")]; B = {json.loads(l)["prompt_id"]: json.loads(l) for l in open(T + "/B.jsonl")}
W = json.load(open(T + "/w.json")); bad = []
A.sort(key=lambda r: r["prompt_id"])
for g in W["groups"]:
    name = g["group"]
    def sel(r):
        p = P[r["prompt_id"]]; multi = sum(m["role"] == "user" for m in p["dialog"]) > 1
        return name == "overall" or (name.startswith("category ") and p["category"] == name[9:]) or (name == "single-turn" and not multi) or (name == "multi-turn" and multi)
    rs = [r for r in A if sel(r)]
    d = [r["scores"]["combined"] - B[r["prompt_id"]]["scores"]["combined"] for r in rs]
    oc = [0 if x > 0.025 else 2 if x < -0.025 else 1 for x in d]
    for f, x in (("win_pct", [100.0 * (o == 0) for o in oc]), ("tie_pct", [100.0 * (o == 1) for o in oc]), ("loss_pct", [100.0 * (o == 2) for o in oc]), ("mean_diff", d)):
        for k, v in zip(("value", "ci_low", "ci_high"), boot(x, 700, 3)):
            if abs(g[f][k] - v) > 1e-4 * max(1, abs(v)): bad.append("%s %s.%s: %s vs %s" % (name, f, k, g[f][k], v))
if [g["group"] for g in W["groups"]] != ["overall", "category helpfulness", "category safety", "single-turn", "multi-turn"]: bad.append("groups " + str([g["group"] for g in W["groups"]]))
print("\n".join(bad[:6]))
PYEOF
)"
"$SPINDLE" train winrate "$T/A.jsonl" "$T/B.jsonl" >"$T/w.txt"
check_grep "text table: 4 of 8 won without a margin (p1 p5 p6 p8)" "^overall  *8   50.0" "$T/w.txt"
"$SPINDLE" train winrate "$T/A.jsonl" "$T/B.jsonl" --score safety >"$T/ws.txt"
check_grep "--score safety reverses it" "^overall  *8   37.5" "$T/ws.txt"

# ---------------------------------------------------------------- refusals
head -5 "$T/B.jsonl" >"$T/B5.jsonl"
check_rc "files not covering the same prompts are refused" 1 "$SPINDLE" train winrate "$T/A.jsonl" "$T/B5.jsonl"
check_grep "... naming the missing ids" "B5.jsonl lacks 3 prompts of the other ('p6', 'p7', 'p8')" "$T/.out"
tail -n +2 "$T/A.jsonl" >"$T/A7.jsonl"
check_rc "missing on both sides" 1 "$SPINDLE" train winrate "$T/A7.jsonl" "$T/B5.jsonl"
check_grep "... both named" "A7.jsonl lacks 1 prompt of the other ('p1'); .*B5.jsonl lacks 3 prompts" "$T/.out"
sed '3s/"combined": [0-9.]*/"combined": 1.5/' "$T/A.jsonl" >"$T/Abad.jsonl"
check_rc "a score outside [0, 1] is refused" 1 "$SPINDLE" train winrate "$T/Abad.jsonl" "$T/B.jsonl"
check_grep "... with its file and line" "Abad.jsonl:3: field 'scores.combined': must be a number in \[0, 1\]" "$T/.out"
sed '2s/"scores": {[^}]*}, //; 2s/, "scores": {[^}]*}//' "$T/A.jsonl" >"$T/Anos.jsonl"
check_rc "an unscored record is refused" 1 "$SPINDLE" train winrate "$T/Anos.jsonl" "$T/B.jsonl"
check_grep "... saying how to score it" "Anos.jsonl:2: no field 'scores.combined' (score the file with \`spindle train score\`)" "$T/.out"
{ cat "$T/A.jsonl"; head -1 "$T/A.jsonl"; } >"$T/Adup.jsonl"
check_rc "a prompt answered twice is refused" 1 "$SPINDLE" train winrate "$T/Adup.jsonl" "$T/B.jsonl"
check_grep "... naming the line" "Adup.jsonl:9: a second response of 'sft' to prompt 'p1'" "$T/.out"
sed '4s/"model": "sft"/"model": "dpo"/' "$T/A.jsonl" >"$T/Amix.jsonl"
check_rc "a file mixing two systems is refused" 1 "$SPINDLE" train winrate "$T/Amix.jsonl" "$T/B.jsonl"
check_grep "... naming the line" "Amix.jsonl:4: model 'dpo' differs from 'sft': one system per file" "$T/.out"
check_rc "--margin is range-checked" 2 "$SPINDLE" train winrate "$T/A.jsonl" "$T/B.jsonl" --margin 1.5
check_rc "--bootstrap is range-checked" 2 "$SPINDLE" train winrate "$T/A.jsonl" "$T/B.jsonl" --bootstrap 10
check_rc "two files are needed" 2 "$SPINDLE" train winrate "$T/A.jsonl"

# ---------------------------------------------------------------- calibration
cat "$T/A.jsonl" "$T/B.jsonl" >"$T/AB.jsonl"
$PY - "$T" <<'PYEOF'
import json, sys
T = sys.argv[1]
with open(T + "/rating.jsonl", "w") as f:
    n = 0
    for i in range(1, 9):
        for sysname in ("sft", "rlhf"):
            for rater in ("x", "y", "z"):
                n += 1
                r = 1 + (i * 3 + len(sysname) + ord(rater)) % 5
                f.write(json.dumps({"study": "s", "kind": "rating", "item": i * 2 + (sysname == "rlhf"), "prompt_id": "p%d" % i,
                                    "category": "helpfulness", "risk_category": None, "user_turns": 1, "system": sysname,
                                    "response_id": "x", "rating": r, "violation": r <= 2, "annotator": rater,
                                    "created_at": "2026-01-01T00:00:00Z"}) + "\n")
with open(T + "/sbs.jsonl", "w") as f:
    for i in range(1, 9):
        for rater in ("x", "y"):
            s = 1 + (i + ord(rater)) % 7
            f.write(json.dumps({"study": "t", "kind": "sbs", "item": i, "prompt_id": "p%d" % i, "category": "helpfulness",
                                "risk_category": None, "user_turns": 1, "system_a": "sft", "system_b": "rlhf", "response_a_id": "a",
                                "response_b_id": "b", "score": s, "shown_left": "a", "annotator": rater, "created_at": "2026-01-01T00:00:00Z"}) + "\n")
PYEOF
check "hand-made eval exports match annotate-eval-rating.schema.json" $PY "$VAL" "$ROOT/schemas/annotate-eval-rating.schema.json" "$T/rating.jsonl" "$T/sbs.jsonl"
"$SPINDLE" train calibrate "$T/AB.jsonl" "$T/rating.jsonl" --score helpful -o "$T/cal.png" >"$T/cal.txt" 2>/dev/null
"$SPINDLE" train calibrate "$T/AB.jsonl" "$T/sbs.jsonl" --score helpful >"$T/cal2.txt" 2>/dev/null
# the table's columns line up: the header's "ratings" ends where every count ends
for f in cal cal2; do
	check "calibrate's $f table: the count column is aligned under its header" /usr/bin/python3 -c "
import sys
rows = open('$T/$f.txt').read().splitlines()[1:]
end = rows[0].index('ratings') + len('ratings')
assert len(rows) >= 5 and all(r[:end].rstrip()[-1:].isdigit() and r[end:end + 1] == ' ' for r in rows[1:]), rows"
done
check_eq "calibration means per level equal a recomputation" "" "$($PY - "$T" <<'PYEOF'
import json, sys, re
T = sys.argv[1]
S = {(json.loads(l)["prompt_id"], json.loads(l)["model"]): json.loads(l)["scores"]["helpful"] for l in open(T + "/AB.jsonl")}
bad = []
for exp, txt, key in (("rating.jsonl", "cal.txt", "rating"), ("sbs.jsonl", "cal2.txt", "score")):
    lv = {}
    for l in open(T + "/" + exp):
        r = json.loads(l)
        v = S[(r["prompt_id"], r["system"])] if key == "rating" else S[(r["prompt_id"], r["system_a"])] - S[(r["prompt_id"], r["system_b"])]
        lv.setdefault(r[key], []).append(v)
    got = {}
    for line in open(T + "/" + txt):
        m = re.match(r"^(\d) .*?\s(\d+)\s+([+-]\d\.\d{4}) \[", line)
        if m: got[int(m.group(1))] = (int(m.group(2)), float(m.group(3)))
    for k, v in lv.items():
        want = (len(v), round(sum(v) / len(v), 4))
        if k not in got or got[k][0] != want[0] or abs(got[k][1] - want[1]) > 1.5e-4: bad.append("%s level %d: %s vs %s" % (exp, k, got.get(k), want))
print("\n".join(bad))
PYEOF
)"
check_eq "the calibration curve is a PNG" "PNG" "$(head -c 4 "$T/cal.png" | tail -c 3)"
sed '5s/"system": "rlhf"/"system": "dpo"/' "$T/rating.jsonl" >"$T/rating_bad.jsonl"
check_rc "a rating of a system with no scored response is refused" 1 "$SPINDLE" train calibrate "$T/AB.jsonl" "$T/rating_bad.jsonl"
check_grep "... naming the line, system and prompt" "rating_bad.jsonl:5: .*AB.jsonl has no scored response of 'dpo' to prompt 'p1'" "$T/.out"
{ head -2 "$T/rating.jsonl"; head -1 "$T/sbs.jsonl"; } >"$T/mixed.jsonl"
check_rc "mixing two studies' kinds is refused" 1 "$SPINDLE" train calibrate "$T/AB.jsonl" "$T/mixed.jsonl"
