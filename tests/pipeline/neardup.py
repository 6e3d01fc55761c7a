#!/usr/bin/python3
"""neardup.py IN.jsonl OUTDIR FILES [--bytes B | --rounds R] [--seed S] - realistic input for the
pipeline tests and bench/scale: the documents of IN, then rounds of variants of them (with --bytes:
each document followed by 3 variants, until B bytes), written round-robin into
OUTDIR/part-NNN.jsonl. A variant is with probability 1/4 a
near-duplicate (every 50th word changed: 5-word shingle Jaccard about 0.9, which dedup removes),
else a rewrite (every third word swapped for a word of another document: distinct).
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
pool = [w for d in docs for w in d["text"].split()[:400] if w.isalpha()][:200000] or ["word"]
os.makedirs(outdir, exist_ok=True)
outs = [open(os.path.join(outdir, "part-%03d.jsonl" % k), "w", encoding="utf-8") for k in range(nfiles)]
written = n = 0


def variant(d, r):
    """Round 0 is the document itself; later rounds a near-duplicate (a quarter) or a rewrite."""
    text = d["text"]
    if r > 0:
        words = text.split(" ")
        if rng.random() < 0.25:
            words = [w + "zz" if j % 50 == 7 else w for j, w in enumerate(words)]
        else:
            words = [rng.choice(pool) if j % 3 == 1 else w for j, w in enumerate(words)]
        text = " ".join(words)
    return {"id": "%s~%d" % (d["id"], r), "text": text, "meta": d.get("meta", {})}


def emit(rec):
    global written, n
    line = json.dumps(rec, ensure_ascii=False) + "\n"
    outs[n % nfiles].write(line)
    n += 1
    written += len(line.encode("utf-8"))


if target:
    # Each document followed by 3 variants, cycling through the documents until the target size,
    # so that every size has the same mix of originals, near-duplicates and rewrites.
    rng.shuffle(docs)
    r = 0
    while written < target:
        for d in docs:
            for v in range(4):
                emit(variant(d, r * 4 + v))
            if written >= target:
                break
        r += 1
else:
    for r in range(rounds):
        for d in docs:
            emit(variant(d, r))
for f in outs:
    f.close()
print("neardup: %d documents, %d bytes, %d files" % (n, written, nfiles))
