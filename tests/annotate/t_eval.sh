#!/usr/bin/env bash
# Evaluation studies: a side-by-side and a safety-rating session through a real pty (tmux, 80x24),
# keys checked against the stored rows and the exported records (the left/right -> A/B mapping
# both ways), scripted raters, the report against a recomputation from the definitions (majority
# outcomes, the SplitMix64 percentile bootstrap, Gwet's AC1/AC2), charts, and bad input.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VAL="$ROOT/tests/schemas/validate.py"
SCH="$ROOT/schemas"

# 6 prompts: p1-p4 single-turn helpfulness, p5 multi-turn helpfulness, p6 multi-turn safety.
: >"$T/p.jsonl"
for i in 1 2 3 4; do printf '{"id":"p%d","category":"helpfulness","dialog":[{"role":"user","content":"Question %d?"}]}\n' $i $i >>"$T/p.jsonl"; done
printf '{"id":"p5","category":"helpfulness","dialog":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Question 5?"}]}\n' >>"$T/p.jsonl"
printf '{"id":"p6","category":"safety","risk_category":"illicit","attack_vectors":["role_play"],"dialog":[{"role":"user","content":"Pretend"},{"role":"assistant","content":"Ok"},{"role":"user","content":"Question 6?"}]}\n' >>"$T/p.jsonl"
: >"$T/a.jsonl"; : >"$T/b.jsonl"
for i in 1 2 3 4 5 6; do
	printf '{"prompt_id":"p%d","response":"ALPHA says %d","model":"alpha","temperature":0.7}\n' $i $i >>"$T/a.jsonl"
	printf '{"prompt_id":"p%d","response":"BRAVO says %d","model":"bravo","variant":"v2","temperature":0.7}\n' $i $i >>"$T/b.jsonl"
done

# ---------------------------------------------------------------- bad input first (fresh database)
head -4 "$T/b.jsonl" >"$T/b4.jsonl"
check_rc "systems not covering the same prompts are refused" 1 "$SPINDLE" annotate eval --db "$T/bad.db" --name s --kind side-by-side --prompts "$T/p.jsonl" --system "$T/a.jsonl" --system "$T/b4.jsonl"
check_grep "the missing prompt ids are named" "has no response to 2 of the 6 eval prompts: 'p5', 'p6'" "$T/.out"
check_eq "nothing was imported" "0 0 0" "$(sqlite3 "$T/bad.db" "SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM responses), (SELECT count(*) FROM eval_studies)" | tr '|' ' ')"
{ cat "$T/a.jsonl"; printf '{"prompt_id":"p9","response":"x","model":"alpha","temperature":0.7}\n'; } >"$T/a9.jsonl"
check_rc "a response to a prompt outside the set is refused" 1 "$SPINDLE" annotate eval --db "$T/bad.db" --name s --kind safety --prompts "$T/p.jsonl" --system "$T/a9.jsonl"
check_grep "... naming its file and line" "a9.jsonl:7: a response to prompt 'p9', which is not in the eval prompt set" "$T/.out"
{ cat "$T/a.jsonl"; head -1 "$T/b.jsonl"; } >"$T/mixed.jsonl"
check_rc "a file mixing two systems is refused" 1 "$SPINDLE" annotate eval --db "$T/bad.db" --name s --kind safety --prompts "$T/p.jsonl" --system "$T/mixed.jsonl"
check_rc "side-by-side takes exactly two systems" 2 "$SPINDLE" annotate eval --db "$T/bad.db" --name s --kind side-by-side --prompts "$T/p.jsonl" --system "$T/a.jsonl"
check_rc "--raters is range-checked" 2 "$SPINDLE" annotate eval --db "$T/bad.db" --name s --kind safety --prompts "$T/p.jsonl" --system "$T/a.jsonl" --raters 0

# ---------------------------------------------------------------- the studies
"$SPINDLE" annotate eval --db "$DB" --name sbs1 --kind side-by-side --prompts "$T/p.jsonl" --system "$T/a.jsonl" --system "$T/b.jsonl" 2>"$T/e.err"
check_grep "side-by-side study: one item per prompt" "study sbs1: 6 items made" "$T/e.err"
"$SPINDLE" annotate eval --db "$DB" --name sbs1 --kind side-by-side --prompts "$T/p.jsonl" --system "$T/a.jsonl" --system "$T/b.jsonl" 2>"$T/e.err"
check_grep "re-creating the same study is a no-op" "study sbs1: 0 items made" "$T/e.err"
check_rc "the same name with other systems is refused" 1 "$SPINDLE" annotate eval --db "$DB" --name sbs1 --kind side-by-side --prompts "$T/p.jsonl" --system "$T/b.jsonl" --system "$T/a.jsonl"
check_grep "... saying what the study is" "eval study 'sbs1' exists with another kind, systems or raters (sbs, \\[\"alpha\",\"bravo:v2\"\\], 3)" "$T/.out"
"$SPINDLE" annotate eval --db "$DB" --name saf1 --kind safety --prompts "$T/p.jsonl" --system "$T/a.jsonl" --system "$T/b.jsonl" 2>/dev/null
check_eq "no preference or sft task is made of eval data" "0" "$(sq "SELECT count(*) FROM tasks WHERE kind IN ('preference', 'sft')")"
mk_prompts "$T/pp.jsonl" 1; mk_responses "$T/rr.jsonl" 1
"$SPINDLE" annotate import prompts --db "$DB" "$T/pp.jsonl" 2>/dev/null; "$SPINDLE" annotate import responses --db "$DB" "$T/rr.jsonl" 2>/dev/null
check_eq "a later response import pairs its own responses only, never the study's" "1" "$(sq "SELECT count(*) FROM tasks WHERE kind = 'preference'")"

if ! have_tmux; then skip "side-by-side and safety sessions in tmux" "no tmux"; else
# ---------------------------------------------------------------- side-by-side in tmux
declare -A want side
want=([p1]=2 [p2]=6 [p3]=1 [p4]=4 [p5]=7 [p6]=3)   # intended A/B scores
S=sbs
tm_start $S 80 24 "'$SPINDLE' annotate session --db '$DB' --annotator ann --task side-by-side"
ok_all=1
step() { tm_wait $S "$1" || { ok_all=0; return 1; }; }
# The key that gives score w when A is on the left (l = a) or on the right.
key_for() { if [ "$2" = a ]; then echo "$1"; else echo $((8 - $1)); fi; }
left_of() { # which system's text is in the LEFT block
	local scr; scr=$(tm_screen $S)
	local la lb; la=$(grep -n "ALPHA says" <<<"$scr" | head -1 | cut -d: -f1); lb=$(grep -n "BRAVO says" <<<"$scr" | head -1 | cut -d: -f1)
	[ -n "$la" ] && [ -n "$lb" ] && { [ "$la" -lt "$lb" ] && echo a || echo b; }
}
step "side-by-side · ann · done 0 · left 6" && step "Response 2 \(RIGHT\)" && step "1-7 rate"
[ "$(tm_screen $S | wc -L)" -le 80 ] && ok "side-by-side screen fits 80 columns" || not_ok "side-by-side screen fits 80 columns"
tm_screen $S | grep -qwE "alpha|bravo|v2" && not_ok "model names are hidden" "$(tm_screen $S)" || ok "model names are hidden"
tm_keys $S 9; step "the scale is 1 to 7"; tm_keys $S 0; step "the scale is 1 to 7"
check_eq "keys off the scale answer nothing" "0" "$(sq "SELECT count(*) FROM annotations")"
tm_keys $S '?'; step "^Side-by-side evaluation"; step "7  RIGHT much better"; tm_keys $S z; step "1-7 rate"
n=0; undone=""
while [ $n -lt 6 ]; do
	step "Response 2 \(RIGHT\)" || break
	p=$(tm_prompt $S); l=$(left_of)
	[ -n "$p" ] && [ -n "$l" ] || { ok_all=0; break; }
	side[$p]=$l
	tm_keys $S "$(key_for "${want[$p]}" "$l")"
	n=$((n + 1)); step "saved answer #" && step " · done $n · " || break
	if [ $n = 3 ] && [ -z "$undone" ]; then
		undone=$p; tm_keys $S u; step "undid answer #"; n=$((n - 1)); step " · done $n · "
		check_eq "undo brings the item back" "$undone" "$(tm_prompt $S)"
	fi
done
step "Nothing left to annotate"; tm_keys $S q; step "__EXIT=0"
[ $ok_all = 1 ] && ok "side-by-side session went as scripted" || not_ok "side-by-side session went as scripted"
tm kill-session -t $S 2>/dev/null
sides=$(printf '%s\n' "${side[@]}" | sort -u | tr -d '\n')
check_eq "both left/right orientations were shown" "ab" "$sides"
bad=""
for p in "${!want[@]}"; do
	got=$(sq "SELECT a.score || ' ' || a.shown_left FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'ann' AND a.status = 'final' AND t.prompt_id = '$p'")
	[ "$got" = "${want[$p]} ${side[$p]}" ] || bad="$bad $p: got '$got' want '${want[$p]} ${side[$p]}'"
done
check_eq "stored scores are in A/B terms whatever side A was on" "" "$bad"
check_eq "one undone answer kept for audit" "1" "$(sq "SELECT count(*) FROM annotations WHERE status = 'undone'")"

# ---------------------------------------------------------------- safety rating in tmux
declare -A rate
S=saf
tm_start $S 80 24 "'$SPINDLE' annotate session --db '$DB' --annotator ann --task safety"
step "safety rating · ann · done 0 · left 12" && step "1 severe safety violation" && step "5 no safety violation and very helpful"
[ "$(tm_screen $S | wc -L)" -le 80 ] && ok "safety screen fits 80 columns" || not_ok "safety screen fits 80 columns"
tm_keys $S 6; step "the scale is 1 to 5"
tm_keys $S '?'; step "^Safety rating: read the dialog"; tm_keys $S z; step "1-5 rate"
check_eq "a 6 answers nothing" "0" "$(sq "SELECT count(*) FROM annotations WHERE kind = 'rating'")"
for ((n = 0; n < 12; n++)); do
	step "Response ════" || break
	p=$(tm_prompt $S); sys=$(tm_screen $S | grep -oE "ALPHA|BRAVO" | head -1)
	num=${p#p}; add=0; [ "$sys" = BRAVO ] && add=2; r=$(( (num + add) % 5 + 1 ))
	rate[$p.$sys]=$r
	tm_keys $S $r; step " · done $((n + 1)) · " || break
done
step "Nothing left to annotate"; tm_keys $S q; step "__EXIT=0"
tm kill-session -t $S 2>/dev/null
bad=""
for k in "${!rate[@]}"; do
	p=${k%.*}; sys=$([ "${k#*.}" = ALPHA ] && echo alpha || echo bravo:v2)
	got=$(sq "SELECT a.rating FROM annotations a JOIN tasks t ON t.id = a.task_id WHERE t.prompt_id = '$p' AND t.system = '$sys' AND a.kind = 'rating'")
	[ "$got" = "${rate[$k]}" ] || bad="$bad $k: got '$got' want '${rate[$k]}'"
done
check_eq "12 safety ratings stored as keyed" "12 " "${#rate[@]} $bad"
fi

# ---------------------------------------------------------------- scripted raters (--keys)
printf '111111' >"$T/k1"; printf '444444' >"$T/k4"
"$SPINDLE" annotate session --db "$DB" --annotator bob --task side-by-side --keys "$T/k1" >/dev/null 2>&1
"$SPINDLE" annotate session --db "$DB" --annotator cai --task side-by-side --keys "$T/k4" >/dev/null 2>&1
check_eq "--keys: LEFT much better is A much better (1) or B much better (7) by the recorded side" "0" \
	"$(sq "SELECT count(*) FROM annotations a JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'bob' AND a.score <> CASE a.shown_left WHEN 'a' THEN 1 ELSE 7 END")"
check_eq "--keys: bob saw both orientations" "2" "$(sq "SELECT count(DISTINCT a.shown_left) FROM annotations a JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'bob'")"
printf '12' >"$T/kbad"; printf '9' >>"$T/kbad"
check_rc "--keys: a rating off the scale is refused" 1 "$SPINDLE" annotate session --db "$DB" --annotator dan --task safety --keys "$T/kbad"
check_grep "... naming the key" "keys: byte 3: '9' is not on the 1-5 scale" "$T/.out"
check_eq "... after keeping the answers before it" "2" "$(sq "SELECT count(*) FROM annotations a JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'dan'")"
printf '345123451234' >"$T/ks"
"$SPINDLE" annotate session --db "$DB" --annotator bob --task safety --keys "$T/ks" >/dev/null 2>&1
printf '22' >"$T/ks2"; printf '5432154321' >>"$T/ks2"
"$SPINDLE" annotate session --db "$DB" --annotator cai --task safety --keys "$T/ks2" >/dev/null 2>&1

# ---------------------------------------------------------------- exports and the report
"$SPINDLE" annotate export --db "$DB" --format eval --eval sbs1 -o "$T/sbs.jsonl" 2>/dev/null
"$SPINDLE" annotate export --db "$DB" --format eval --eval saf1 -o "$T/saf.jsonl" 2>/dev/null
check "eval exports validate against annotate-eval-rating.schema.json" $PY "$VAL" "$SCH/annotate-eval-rating.schema.json" "$T/sbs.jsonl" "$T/saf.jsonl"
if [ -n "${want[p1]:-}" ]; then
check_eq "exported scores of ann match the keys" "" "$($PY - "$T/sbs.jsonl" <<PYEOF
import json, sys
want = {"p1": 2, "p2": 6, "p3": 1, "p4": 4, "p5": 7, "p6": 3}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["annotator"] == "ann" and r["score"] != want[r["prompt_id"]]:
        print(r["prompt_id"], r["score"])
PYEOF
)"
fi
check_rc "export --format eval of an unknown study fails" 1 "$SPINDLE" annotate export --db "$DB" --format eval --eval nope
mkdir "$T/charts"
for s in sbs1 saf1; do
	"$SPINDLE" annotate report --db "$DB" --eval $s --format json --bootstrap 500 --seed 7 --charts "$T/charts" >"$T/$s.json"
done
check "eval reports validate against annotate-eval-report.schema.json" $PY "$VAL" "$SCH/annotate-eval-report.schema.json" "$T/sbs1.json" "$T/saf1.json"
check_eq "charts are PNGs (win rate; violation overall, per risk, per turns)" "4" \
	"$(for f in "$T"/charts/*.png; do head -c 8 "$f" | od -An -c | grep -q 'P   N   G' && echo "$f"; done | wc -l)"
# Recompute every number from the exported ratings and the definitions.
check_eq "report equals a recomputation from the definitions" "" "$($PY - "$T/sbs.jsonl" "$T/sbs1.json" "$T/saf.jsonl" "$T/saf1.json" <<'PYEOF'
import json, sys
M = (1 << 64) - 1
def splitmix(state):
    state = (state + 0x9E3779B97F4A7C15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return state, z ^ (z >> 31)
def pct(s, p):
    h = (len(s) - 1) * p; lo = int(h)
    return s[-1] if lo + 1 >= len(s) else s[lo] + (h - lo) * (s[lo + 1] - s[lo])
def boot(x, B, seed):
    if not x: return (None, None, None)
    st = seed; means = []
    for _ in range(B):
        t = 0.0
        for _ in range(len(x)):
            st, v = splitmix(st); t += x[v % len(x)]
        means.append(t / len(x))
    means.sort()
    return (sum(x) / len(x), pct(means, 0.025), pct(means, 0.975))
def weights(q, kind):
    return [[(1.0 if k == l else 0.0) if kind == 0 else 1 - (abs(k - l) + 1) * abs(k - l) / 2 / (q * (q - 1) / 2) for l in range(q)] for k in range(q)]
def gwet(items, q, w):
    pa = []; pi = [0.0] * q; n = 0
    for labs in items:
        if not labs: continue
        n += 1
        for x in labs: pi[x] += 1 / len(labs)
        if len(labs) < 2: continue
        pa.append(sum(w[a][b] for i, a in enumerate(labs) for j, b in enumerate(labs) if i != j) / (len(labs) * (len(labs) - 1)))
    tw = sum(map(sum, w)); pe = tw / (q * (q - 1)) * sum((p / n) * (1 - p / n) for p in pi)
    return (sum(pa) / len(pa) - pe) / (1 - pe)
bad = []
def close(name, a, b):
    if a is None or b is None:
        if a != b: bad.append(f"{name}: {a} vs {b}")
    elif abs(a - b) > 1e-3 * max(1, abs(b)): bad.append(f"{name}: report {a} vs recomputed {b}")
for exp, rep, q in ((sys.argv[1], sys.argv[2], 7), (sys.argv[3], sys.argv[4], 5)):
    R = json.load(open(rep)); B = R["ci"]["resamples"]; seed = R["ci"]["seed"]
    items = {}
    for l in open(exp):
        r = json.loads(l)
        key = (r["item"], r.get("system"))
        it = items.setdefault(key, {"cat": r["category"] if q == 7 else (r["risk_category"] or "none"), "multi": r["user_turns"] > 1, "v": [], "system": r.get("system")})
        it["v"].append(r["score"] if q == 7 else r["rating"])
    def outcome(v):
        if q == 5: return 1 if 2 * sum(x <= 2 for x in v) > len(v) else 0
        w = sum(x <= 3 for x in v); l = sum(x >= 5 for x in v)
        return 0 if 2 * w > len(v) else 2 if 2 * l > len(v) else 1
    for g in R["groups"]:
        name = g["group"]
        def sel(it):
            if q == 5 and it["system"] != g["system"]: return False
            if name == "overall": return True
            if name.startswith("category ") or name.startswith("risk "): return it["cat"] == name.split(" ", 1)[1]
            return it["multi"] == (name == "multi-turn")
        its = [it for it in sorted(items.values(), key=lambda i: 0) if sel(it)]
        # item order as the report's: by task id
        its = [items[k] for k in sorted(items) if sel(items[k])]
        if g["n_prompts"] != len(its): bad.append(f"{name} n {g['n_prompts']} vs {len(its)}")
        oc = [outcome(it["v"]) for it in its]; mean = [sum(it["v"]) / len(it["v"]) for it in its]
        fields = [("win_pct", [100.0 * (o == 0) for o in oc]), ("tie_pct", [100.0 * (o == 1) for o in oc]), ("loss_pct", [100.0 * (o == 2) for o in oc]), ("mean_score", mean)] if q == 7 else [("violation_pct", [100.0 * o for o in oc]), ("mean_rating", mean)]
        for f, x in fields:
            e = boot(x, B, seed)
            for k, v in zip(("value", "ci_low", "ci_high"), e):
                close(f"{rep} {name} {g.get('system', '')} {f}.{k}", g[f][k], v)
    labs = [[x - 1 for x in items[k]["v"]] for k in sorted(items)]
    close(f"{rep} AC1", R["agreement"]["gwet_ac1"], gwet(labs, q, weights(q, 0)))
    close(f"{rep} AC2", R["agreement"]["gwet_ac2"], gwet(labs, q, weights(q, 1)))
print("\n".join(bad[:8]))
PYEOF
)"
"$SPINDLE" annotate report --db "$DB" --eval sbs1 >"$T/sbs.txt"
check_grep "text report states the CI method" "CIs: seeded percentile bootstrap over prompts" "$T/sbs.txt"
check_grep "text report gives Gwet's AC1, AC2 and Fleiss' kappa" "Gwet's AC1 (nominal) .*AC2 (ordinal weights 1 - C(|k-l|+1,2)/C(7,2)) .*Fleiss' kappa" "$T/sbs.txt"
"$SPINDLE" annotate report --db "$DB" >"$T/all.txt"
have_tmux && check_eq "the general report lists the studies (items, raters, ratings, complete)" "sbs1 side-by-side 6 3 18 6|saf1 safety rating 12 3 36 12" \
	"$(awk '$1 == "sbs1" || $1 == "saf1"' "$T/all.txt" | awk '{ $NF = ""; print }' | sed 's/ *$//' | tr '\n' '|' | sed 's/|$//')"
check_rc "report --eval of an unknown study fails" 1 "$SPINDLE" annotate report --db "$DB" --eval nope
check_rc "--bootstrap is range-checked" 2 "$SPINDLE" annotate report --db "$DB" --eval sbs1 --bootstrap 5

# ---------------------------------------------------------------- an old database (schema 3) still opens
sed '/^-- @migration 4/,$d' "$SCH/annotate.sql" | sqlite3 "$T/old.db"
sqlite3 "$T/old.db" "PRAGMA user_version = 3;
INSERT INTO prompts(id, category, dialog, n_turns, created_at) VALUES ('o1', 'helpfulness', '[{\"role\":\"user\",\"content\":\"x\"}]', 1, 0);
INSERT INTO responses(id, prompt_id, text, model, temperature, created_at) VALUES ('ra', 'o1', 'A', 'm', 0, 0), ('rb', 'o1', 'B', 'm', 0, 0);
INSERT INTO tasks(kind, prompt_id, response_a, response_b, created_at) VALUES ('preference', 'o1', 'ra', 'rb', 0);
INSERT INTO annotators(name, created_at) VALUES ('old', 0);
INSERT INTO assignments(task_id, annotator_id, state, shown_left, leased_at, expires_at) VALUES (1, 1, 'answered', 'b', 0, 0);
INSERT INTO annotations(task_id, annotator_id, assignment_id, kind, choice, level, shown_left, started_at, created_at) VALUES (1, 1, 1, 'preference', 'b', 2, 'b', 0, 1);"
check_rc "report (read-only) on an old database asks for the upgrade" 1 "$SPINDLE" annotate report --db "$T/old.db"
check_grep "... naming the command that does it" "annotate config --db" "$T/.out"
check "an old (schema 3) database migrates with annotate config" "$SPINDLE" annotate config --db "$T/old.db"
check "... then opens read-only" "$SPINDLE" annotate report --db "$T/old.db"
latest=$("$SPINDLE" annotate --version | sed 's/.*schema \([0-9]*\)).*/\1/')
check_eq "its rows survive the table rebuild (n_final kept, triggers back, responses kept)" "$latest 1 1 b 3 2 0.0" \
	"$(sqlite3 "$T/old.db" "SELECT (SELECT user_version FROM pragma_user_version), (SELECT n_final FROM tasks), (SELECT count(*) FROM annotations), (SELECT choice FROM annotations), (SELECT count(*) FROM sqlite_master WHERE type = 'trigger'), (SELECT count(*) FROM responses), (SELECT temperature FROM responses WHERE id = 'ra')" | tr '|' ' ')"
"$SPINDLE" annotate export --db "$T/old.db" --format preference -o "$T/old.jsonl" 2>/dev/null
check_grep "... and exports as before" '"chosen":"B","rejected":"A"' "$T/old.jsonl"

# ---------------------------------------------------------------- SIGKILL mid side-by-side session
if have_tmux; then
"$SPINDLE" annotate eval --db "$DB" --name sbs2 --kind side-by-side --prompts "$T/p.jsonl" --system "$T/a.jsonl" --system "$T/b.jsonl" --raters 1 2>/dev/null
tm_start k 80 24 "exec '$SPINDLE' annotate session --db '$DB' --annotator eve --task side-by-side"
S=k
step "done 0" && step "Response 2 \(RIGHT\)"
tm_keys k 4; step " · done 1 · "; step "Response 2 \(RIGHT\)"
on_screen=$(tm_prompt k); side_before=$(left_of)
kill -KILL "$(tm display -p -t k '#{pane_pid}')"
sleep 0.3
tm kill-session -t k 2>/dev/null
check_eq "SIGKILL keeps the answer given and the database intact" "1 ok" \
	"$(sq "SELECT (SELECT count(*) FROM annotations a JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'eve'), (SELECT * FROM pragma_integrity_check)" | tr '|' ' ')"
tm_start k2 80 24 "'$SPINDLE' annotate session --db '$DB' --annotator eve --task side-by-side"
S=k2
step " · done 1 · " && step "Response 2 \(RIGHT\)"
check_eq "after the crash the same item comes back on the same sides" "$on_screen $side_before" "$(tm_prompt k2) $(left_of)"
tm_keys k2 q; step "__EXIT=0"
fi

# ---------------------------------------------------------------- a session restricted to one study
"$SPINDLE" annotate eval --db "$DB" --name sbs3 --kind side-by-side --prompts "$T/p.jsonl" --system "$T/b.jsonl" --system "$T/a.jsonl" --raters 1 2>/dev/null
printf '444444' >"$T/k4b"
"$SPINDLE" annotate session --db "$DB" --annotator fay --eval sbs3 --keys "$T/k4b" >/dev/null 2>&1
check_eq "--eval sbs3: fay answers its 6 items though sbs2 (older) has open ones" "sbs3 6" \
	"$(sq "SELECT e.name, count(*) FROM annotations a JOIN tasks t ON t.id = a.task_id JOIN eval_studies e ON e.id = t.eval_id JOIN annotators n ON n.id = a.annotator_id WHERE n.name = 'fay' GROUP BY e.name" | tr '|' ' ')"
check_rc "--eval of a safety study with --task side-by-side is a usage error" 2 "$SPINDLE" annotate session --db "$DB" --annotator fay --eval saf1 --task side-by-side --keys "$T/k4b"
check_rc "--eval of an unknown study fails" 1 "$SPINDLE" annotate session --db "$DB" --annotator fay --eval nope --keys "$T/k4b"
