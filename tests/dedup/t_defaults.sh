#!/usr/bin/env bash
# t_defaults.sh - a documented default written out changes nothing: `--threshold 0.8` (the default)
# gives byte-identical kept documents, clusters and stats to no option, in `dedup minhash` and in the
# staged signatures (whose files carry bands x rows); another threshold re-picks bands x rows.
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
"$S" corpus -q --max-docs 400 --max-bytes 100000 /usr/share/doc > "$T/all.jsonl"
# near-copies so that the choice of bands matters: every 3rd document again with a few words changed
/usr/bin/python3 - "$T/all.jsonl" >> "$T/all.jsonl" <<'PY'
import json, sys
for i, l in enumerate(open(sys.argv[1])):
    if i % 3: continue
    d = json.loads(l); w = d["text"].split(" ")
    for k in range(0, len(w), 9): w[k] = "changed"
    d["id"] = "near-%s" % d.get("id", i); d["text"] = " ".join(w)
    print(json.dumps(d))
PY
"$S" dedup minhash -q --stats "$T/d.json" --clusters "$T/d-cl.jsonl" "$T/all.jsonl" > "$T/d.jsonl"
"$S" dedup minhash -q --threshold 0.8 --stats "$T/e.json" --clusters "$T/e-cl.jsonl" "$T/all.jsonl" > "$T/e.jsonl"
check_files "minhash: --threshold 0.8 keeps the same documents as the default" "$T/d.jsonl" "$T/e.jsonl"
check_files "minhash: ... and the same clusters" "$T/d-cl.jsonl" "$T/e-cl.jsonl"
get() { jq -r ".counters.$2 // .$2" "$1"; }
check_eq "minhash: ... with the same bands x rows" "$(get "$T/d.json" bands)x$(get "$T/d.json" rows)" "$(get "$T/e.json" bands)x$(get "$T/e.json" rows)"
check "the run removed near-copies (the choice matters here)" test "$(wc -l < "$T/d.jsonl")" -lt "$(wc -l < "$T/all.jsonl")"
"$S" dedup minhash -q --threshold 0.5 --stats "$T/f.json" "$T/all.jsonl" > /dev/null
[ "$(get "$T/f.json" bands)x$(get "$T/f.json" rows)" != "$(get "$T/d.json" bands)x$(get "$T/d.json" rows)" ] \
	&& ok "another threshold re-picks bands x rows" || not_ok "another threshold re-picks bands x rows"
"$S" dedup signatures -q -o "$T/sig-d.bin" "$T/all.jsonl"
"$S" dedup signatures -q --threshold 0.8 -o "$T/sig-e.bin" "$T/all.jsonl"
check_files "signatures: --threshold 0.8 writes the same file as the default" "$T/sig-d.bin" "$T/sig-e.bin"
