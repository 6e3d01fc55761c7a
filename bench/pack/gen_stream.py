#!/usr/bin/python3
"""gen_stream.py OUT N_TOKENS - a token stream (schemas/tokens.md) of random documents with a
long-tailed length distribution (median ~600 tokens), vocabulary 32000, for the pack benchmark."""
import struct, sys
import numpy as np
out, total = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(1)
with open(out, "wb") as f:
    f.write(b"SPTOKS01" + struct.pack("<IIIIIIQ", 1, 40, 32000, 1, 2, 0, 0x1234567890ABCDEF))
    n_docs, done = 0, 0
    while done < total:
        lens = np.minimum(rng.lognormal(6.4, 1.0, 4096).astype(np.int64) + 1, 200000)
        ids = rng.integers(3, 32000, int(lens.sum()), dtype=np.uint32)
        at = 0
        for n in lens:
            did = b"doc-%d" % n_docs
            f.write(struct.pack("<II", int(n), len(did)) + did)
            f.write(ids[at:at + n].tobytes())
            at += n
            n_docs += 1
            done += int(n)
            if done >= total:
                break
    f.write(struct.pack("<IQ", 0xFFFFFFFF, n_docs))
