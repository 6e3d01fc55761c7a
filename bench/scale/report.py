#!/usr/bin/python3
"""report.py [RESULTS.tsv] - the tables of bench/SCALE.md from bench/scale/run.sh's results: per
stage and input size the CPU seconds per GB of raw input, peak task memory and disk; then the
extrapolation to 2T tokens from the largest size's rates (bytes per token, filter keep rate and
dedup removal rate measured on the same run)."""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results.tsv")
rows = [l.rstrip("\n").split("\t") for l in open(path)]
head, rows = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
sizes = sorted({int(r["mb"]) for r in rows})
stages = []
for r in rows:
    if r["stage"] not in stages:
        stages.append(r["stage"])
get = {(int(r["mb"]), r["stage"]): r for r in rows}

print("### CPU seconds per GB of raw input (sum over the stage's tasks)\n")
print("| stage | " + " | ".join("%g GB" % (s / 1000) for s in sizes) + " |")
print("|---|" + "---:|" * len(sizes))
tot = {s: 0.0 for s in sizes}
for st in stages:
    cells = []
    for s in sizes:
        r = get[(s, st)]
        v = float(r["cpu_s"]) / (int(r["input_bytes"]) / 1e9)
        tot[s] += v
        cells.append("%.1f" % v)
    print("| %s | %s |" % (st, " | ".join(cells)))
print("| **all** | %s |" % " | ".join("**%.1f**" % tot[s] for s in sizes))

print("\n### Peak resident memory of the largest task (MiB)\n")
print("| stage | " + " | ".join("%g GB" % (s / 1000) for s in sizes) + " |")
print("|---|" + "---:|" * len(sizes))
for st in stages:
    print("| %s | %s |" % (st, " | ".join("%.1f" % (int(get[(s, st)]["max_rss_kb"]) / 1024) for s in sizes)))

print("\n### Stage output on disk, per GB of raw input (GB/GB)\n")
print("| stage | " + " | ".join("%g GB" % (s / 1000) for s in sizes) + " |")
print("|---|" + "---:|" * len(sizes))
for st in stages:
    print("| %s | %s |" % (st, " | ".join("%.3f" % (int(get[(s, st)]["disk_bytes"]) / int(get[(s, st)]["input_bytes"])) for s in sizes)))

# Rates of the largest size, for the extrapolation.
big = sizes[-1]
stats = {n: json.load(open(os.path.join(here, "%s-%d.stats.json" % (n, big)))) for n in ("filter", "dedup", "tok")}
raw = int(get[(big, "filter")]["input_bytes"])
keep = stats["filter"]["bytes_out"] / stats["filter"]["bytes_in"]
dkeep = stats["dedup"]["bytes_out"] / stats["dedup"]["bytes_in"]
bpt = stats["tok"]["bytes_in"] / stats["tok"]["counters"]["tokens"]
docs_in = stats["dedup"]["records_in"]
tokens = 2e12
text = tokens * bpt
raw_2t = text / keep / dkeep
scale = raw_2t / raw
print("\n### Extrapolation to 2T tokens (rates of the %g GB run)\n" % (big / 1000))
print("- bytes per token (Llama 2 tokenizer, this text): %.2f" % bpt)
print("- filter keeps %.1f%% of the bytes; dedup keeps %.1f%% of what the filter kept (%d of %d documents)"
      % (100 * keep, 100 * dkeep, stats["dedup"]["records_out"], docs_in))
print("- 2T tokens = %.2f TB of final text = %.2f TB of raw input (x%.0f this run)" % (text / 1e12, raw_2t / 1e12, scale))
print("- documents into dedup: %.2e (this run: %d)\n" % (docs_in * scale, docs_in))
print("| stage | core-hours | tasks (10 GB raw each, map stages) | disk (TB) |")
print("|---|---:|---:|---:|")
ntask = max(1, round(raw_2t / 10e9))
ch_all = 0
disk_all = 0
for st in stages:
    r = get[(big, st)]
    ch = float(r["cpu_s"]) * scale / 3600
    ch_all += ch
    d = int(r["disk_bytes"]) * scale / 1e12
    disk_all += d
    t = ntask if int(r["tasks"]) > 1 else 1
    print("| %s | %.0f | %d | %.1f |" % (st, ch, t, d))
print("| **all** | **%.0f** | | **%.1f** |" % (ch_all, disk_all))
