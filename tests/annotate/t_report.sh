#!/usr/bin/env bash
# annotate report on a small hand-made case: agreement, Cohen's kappa per pair, Fleiss' kappa and
# gold accuracy are compared with values computed here from their definitions (python), not from
# spindle's code; rating and safety-bin counts against the inserted answers.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/annotate_lib.sh"

mk_prompts "$T/p.jsonl" 6
mk_responses "$T/r.jsonl" 6
"$SPINDLE" annotate import prompts --db "$DB" --no-sft "$T/p.jsonl" 2>/dev/null
"$SPINDLE" annotate import responses --db "$DB" "$T/r.jsonl" 2>/dev/null
# Labels per item (task ids 1..6) for annotators r1 r2 r3; "-" = not answered.
LABELS='a a a
a b a
b b b
both_bad b both_bad
a a b
b b -'
sq "INSERT INTO annotators(id, name, created_at) VALUES (1, 'r1', 0), (2, 'r2', 0), (3, 'r3', 0), (4, 'idle', 0);
    UPDATE tasks SET gold = 1, gold_choice = 'b' WHERE id IN (1, 3, 6);"
item=0
while read -r l1 l2 l3; do
	item=$((item + 1)); who=0
	for l in $l1 $l2 $l3; do
		who=$((who + 1))
		[ "$l" = - ] && continue
		lev=$([ "$l" = both_bad ] && echo NULL || echo $(( (item + who) % 4 )))
		sq "INSERT INTO annotations(task_id, annotator_id, kind, choice, level, shown_left, started_at, created_at)
		    VALUES ($item, $who, 'preference', '$l', $lev, 'a', 1000, $((1000 + 10 * who)))"
	done
done <<<"$LABELS"
# An undone answer must not count.
sq "INSERT INTO annotations(task_id, annotator_id, kind, status, choice, level, started_at, created_at) VALUES (6, 3, 'preference', 'undone', 'a', 3, 0, 1)"

"$SPINDLE" annotate report --db "$DB" >"$T/report" 2>&1
check "report runs" test -s "$T/report"

$PY - "$LABELS" >"$T/expect" <<'PYEOF'
import sys, itertools
rows = [l.split() for l in sys.argv[1].strip().split("\n")]
cats = ["a", "b", "both_bad"]
# Percent agreement over all annotator pairs on the same item.
pairs = agree = 0
for r in rows:
    got = [x for x in r if x != "-"]
    for x, y in itertools.combinations(got, 2):
        pairs += 1; agree += x == y
print("items %d, annotator pairs %d, percent agreement %.1f%%" % (len(rows), pairs, 100.0 * agree / pairs))
# Fleiss: P_i = sum n_ij (n_ij - 1) / (n_i (n_i - 1)); p_j = share of all ratings; kappa = (P - Pe) / (1 - Pe)
P = []; tot = {c: 0 for c in cats}; N = 0
for r in rows:
    got = [x for x in r if x != "-"]
    n = len(got)
    P.append(sum(got.count(c) * (got.count(c) - 1) for c in cats) / (n * (n - 1)))
    for c in cats: tot[c] += got.count(c)
    N += n
Pbar = sum(P) / len(P); Pe = sum((tot[c] / N) ** 2 for c in cats)
print("Fleiss' kappa %.4f" % ((Pbar - Pe) / (1 - Pe)))
# Cohen per pair: po = observed agreement, pe = sum over categories of the product of marginals.
names = ["r1", "r2", "r3"]
for i, j in itertools.combinations(range(3), 2):
    sh = [(r[i], r[j]) for r in rows if r[i] != "-" and r[j] != "-"]
    n = len(sh)
    po = sum(x == y for x, y in sh) / n
    pe = sum((sum(x == c for x, _ in sh) / n) * (sum(y == c for _, y in sh) / n) for c in cats)
    print("%s %s %d %.1f%% %.4f" % (names[i], names[j], n, 100 * po, (po - pe) / (1 - pe)))
# Gold accuracy (gold items 1, 3, 6 expect b).
for k, nm in enumerate(names):
    g = [rows[t][k] for t in (0, 2, 5) if rows[t][k] != "-"]
    print("%s gold %d %.1f%%" % (nm, len(g), 100.0 * sum(x == "b" for x in g) / len(g)))
PYEOF
want_agree=$(sed -n 1p "$T/expect")
check_grep "percent agreement as defined" "$want_agree" "$T/report"
want_fleiss=$(sed -n 2p "$T/expect")
check_grep "Fleiss' kappa as defined ($want_fleiss)" "$want_fleiss" "$T/report"
for l in 3 4 5; do
	read -r a b n pct k < <(sed -n ${l}p "$T/expect")
	got=$(awk -v a=$a -v b=$b '$1 == a && $2 == b { print $3, $4, $5 }' "$T/report")
	check_eq "Cohen's kappa $a-$b as defined" "$n $pct $k" "$got"
done
for l in 6 7 8; do
	read -r nm _ n pct < <(sed -n ${l}p "$T/expect")
	got=$(awk -v a=$nm '$1 == a && NF == 11 { print $7, $8 }' "$T/report")
	check_eq "gold accuracy of $nm" "$n $pct" "$got"
done
check_eq "r1's median seconds (10 s per item)" "10.0" "$(awk '$1 == "r1" && NF == 11 { print $9 }' "$T/report")"
check_eq "undone answer counted as undone" "1" "$(awk '$1 == "r3" && NF == 11 { print $6 }' "$T/report")"
check_eq "both bad counted in the ratings table" "2" "$(awk '/^both bad / { print $3 }' "$T/report")"
n_rated=$(sq "SELECT count(*) FROM annotations WHERE status = 'final' AND choice <> 'both_bad'")
sum_rated=$(awk '/^(significantly better|better|slightly better|negligibly better\/unsure) / { s += $(NF-3) } END { print s }' "$T/report")
check_eq "rating rows add up to the rated answers" "$n_rated" "$sum_rated"
check_eq "an annotator with no answers gets a row of zeros" "idle 0 0 0 0 0 0 -" "$(awk '$1 == "idle" { print $1, $2, $3, $4, $5, $6, $7, $8 }' "$T/report")"
