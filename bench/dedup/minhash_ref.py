#!/usr/bin/python3
"""minhash_ref.py - reference MinHash in numpy with datasketch's algorithm (datasketch is not packaged
for Debian 12): SHA-1 (first 4 bytes) of each 5-word shingle, permutations (a*h + b) mod (2^61 - 1)
truncated to 32 bits, 112 of them; words are lower-cased \\w+ runs. Reads JSONL on stdin, prints
documents, text bytes, CPU seconds spent on signatures (process time: the bench machine is
shared) and MB/s."""
import hashlib, json, re, sys, time
import numpy as np

NPERM, NGRAM = 112, 5
MERSENNE = np.uint64((1 << 61) - 1)
rng = np.random.RandomState(1)
A = rng.randint(1, (1 << 61) - 1, size=NPERM, dtype=np.uint64)
B = rng.randint(0, (1 << 61) - 1, size=NPERM, dtype=np.uint64)
WORD = re.compile(r"\w+")

def signature(text):
    words = WORD.findall(text.lower())
    if not words:
        return None
    k = min(NGRAM, len(words))
    sh = {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}
    hv = np.array([int.from_bytes(hashlib.sha1(s.encode()).digest()[:4], "little") for s in sh], dtype=np.uint64)
    # datasketch: phv = ((hv * a + b) % mersenne) & max_hash, vectorised over shingles x permutations
    phv = ((np.outer(hv, A) + B) % MERSENNE) & np.uint64(0xFFFFFFFF)
    return phv.min(axis=0)

texts = [json.loads(l)["text"] for l in sys.stdin if l.strip()]
nbytes = sum(len(t.encode()) for t in texts)
t0 = time.process_time()
for t in texts:
    signature(t)
dt = time.process_time() - t0
print(f"{len(texts)} {nbytes} {dt:.3f} {nbytes / dt / 1e6:.2f}")
