#!/usr/bin/python3
"""neardup.py IN.jsonl OUTDIR FILES [--bytes B | --rounds R] [--seed S] - realistic input for the
pipeline tests and bench/scale: the documents of IN, then rounds of variants of them written
round-robin into OUTDIR/part-NNN.jsonl. In each later round a quarter of the documents become
near-duplicates (every 50th word changed: 5-word shingle Jaccard about 0.9, which dedup removes)
and the rest are rewritten (every third word swapped for a word of another document: distinct).
Deterministic for a seed."""
import json
import os
import random
import sys

args = sys.argv[1:]
src, outdir, nfiles = args[0], args[1], int(args[2])
target, rounds, seed = 0, 2, 1
i = 3
while i < len(args):
    if args[i] == "--bytes":
        target, rounds = int(args[i + 1]), 0
    elif args[i] == "--rounds":
        rounds = int(args[i + 1])
    elif args[i] == "--seed":
        seed = int(args[i + 1])
    i += 2
docs = [json.loads(l) for l in open(src, encoding="utf-8") if l.strip()]
rng = random.Random(seed)
pool = [w for d in docs[:200] for w in d["text"].split()[:400]]
os.makedirs(outdir, exist_ok=True)
outs = [open(os.path.join(outdir, "part-%03d.jsonl" % k), "w", encoding="utf-8") for k in range(nfiles)]
written = n = 0
r = 0
while True:
    for d in docs:
        text = d["text"]
        if r > 0:
            words = text.split(" ")
            if rng.random() < 0.25:
                words = [w + "zz" if j % 50 == 7 else w for j, w in enumerate(words)]
            else:
                words = [rng.choice(pool) if j % 3 == 1 else w for j, w in enumerate(words)]
            text = " ".join(words)
        rec = {"id": "%s~%d" % (d["id"], r), "text": text, "meta": d.get("meta", {})}
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        outs[n % nfiles].write(line)
        n += 1
        written += len(line.encode("utf-8"))
        if target and written >= target:
            break
    r += 1
    if (target and written >= target) or (not target and r >= rounds):
        break
for f in outs:
    f.close()
print("neardup: %d documents, %d bytes, %d rounds, %d files" % (n, written, r, nfiles))
