#!/usr/bin/env bash
# bench/annotate/run.sh - spindle annotate: import speed against a reference importer written in
# Python (json + sqlite3 from the standard library: parse each line, INSERT it, one transaction, no
# schema validation, no task creation), and session throughput (answers committed per second, each
# its own fsync'd transaction, from a scripted session). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
SPINDLE=${SPINDLE:-$PWD/bin/spindle}
N=${N:-20000}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
/usr/bin/python3 - "$W" "$N" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
with open(w + "/p.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": "p%d" % i, "category": "safety" if i % 5 == 0 else "helpfulness",
                            "dialog": [{"role": "user", "content": ("Question %d about Debian packaging. " % i) * 8}]}) + "\n")
with open(w + "/r.jsonl", "w") as f:
    for i in range(n):
        for v in ("a", "b"):
            f.write(json.dumps({"prompt_id": "p%d" % i, "response": ("Answer %s to %d. " % (v, i)) * 20,
                                "model": "m", "variant": v, "temperature": 0.7}) + "\n")
PY
cat >"$W/ref.py" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS prompts(id TEXT PRIMARY KEY, category TEXT, dialog TEXT)")
db.execute("CREATE TABLE IF NOT EXISTS responses(id INTEGER PRIMARY KEY, prompt_id TEXT, text TEXT, model TEXT, variant TEXT, temperature REAL)")
with db:
    for line in open(sys.argv[3]):
        r = json.loads(line)
        if sys.argv[2] == "prompts":
            db.execute("INSERT INTO prompts VALUES (?, ?, ?)", (r["id"], r["category"], json.dumps(r["dialog"])))
        else:
            db.execute("INSERT INTO responses(prompt_id, text, model, variant, temperature) VALUES (?, ?, ?, ?, ?)",
                       (r["prompt_id"], r["response"], r["model"], r["variant"], r["temperature"]))
PY
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN { print b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { print a / b }'; }
sp_p=$(t "$SPINDLE" annotate import prompts --db "$W/s.db" "$W/p.jsonl")
sp_r=$(t "$SPINDLE" annotate import responses --db "$W/s.db" "$W/r.jsonl")
py_p=$(t /usr/bin/python3 "$W/ref.py" "$W/p.db" prompts "$W/p.jsonl")
py_r=$(t /usr/bin/python3 "$W/ref.py" "$W/p.db" responses "$W/r.jsonl")
# Session: a scripted annotator answers 300 preference items (left better, "better"; safety: y n).
"$SPINDLE" annotate config --db "$W/s.db" --gold-every 0 >/dev/null
for ((i = 0; i < 300; i++)); do printf '12yn'; done >"$W/keys"
ss=$(t "$SPINDLE" annotate session --db "$W/s.db" --annotator bench --task preference --keys "$W/keys")
rep=$(t "$SPINDLE" annotate report --db "$W/s.db")
echo "| step ($N prompts, $((2 * N)) responses) | spindle s | python reference s | ratio (reference / spindle) |"
echo "|---|---|---|---|"
printf '| import prompts (validate, store, make sft tasks) | %.2f | %.2f | %.2f |\n' "$sp_p" "$py_p" "$(div "$py_p" "$sp_p")"
printf '| import responses (validate, store, pair into preference tasks) | %.2f | %.2f | %.2f |\n' "$sp_r" "$py_r" "$(div "$py_r" "$sp_r")"
printf '| scripted session, 300 answers (lease + answer, fsync each) | %.2f (%.0f answers/s) | - | - |\n' "$ss" "$(div 300 "$ss")"
printf "| report over %d answers | %.2f | - | - |\n" 300 "$rep"
