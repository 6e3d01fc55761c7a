#!/usr/bin/python3
"""gen_tokens.py - writes a token stream (schemas/tokens.md) of random documents, for pack tests and
benchmarks, and the same documents as JSONL ({"id", "ids"}) when asked.

usage: gen_tokens.py OUT.bin N_DOCS [--vocab V] [--seed S] [--max-len L] [--jsonl OUT.jsonl]
       [--bad-id K] [--empty K] [--long K:LEN] [--no-ids] [--truncate] [--tokenizer-id HEX]
"""
import argparse, random, struct, json, sys

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("n", type=int)
ap.add_argument("--vocab", type=int, default=32000)
ap.add_argument("--bos", type=int, default=1)
ap.add_argument("--eos", type=int, default=2)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--max-len", type=int, default=300)
ap.add_argument("--jsonl")
ap.add_argument("--bad-id", type=int, default=-1, help="document K gets an id == vocab")
ap.add_argument("--empty", type=int, default=-1, help="document K is empty")
ap.add_argument("--long", default="", help="K:LEN: document K has LEN tokens")
ap.add_argument("--no-ids", action="store_true", help="documents carry no id")
ap.add_argument("--truncate", action="store_true", help="leave out the end record")
ap.add_argument("--tokenizer-id", default="0123456789abcdef")
a = ap.parse_args()

rng = random.Random(a.seed)
long_k, long_n = (int(x) for x in a.long.split(":")) if a.long else (-1, 0)
out = open(a.out, "wb")
js = open(a.jsonl, "w") if a.jsonl else None
out.write(b"SPTOKS01" + struct.pack("<IIIIIIQ", 1, 40, a.vocab, a.bos, a.eos, 0, int(a.tokenizer_id, 16)))
for k in range(a.n):
    n = long_n if k == long_k else 0 if k == a.empty else rng.randint(1, a.max_len)
    ids = [rng.randrange(3, a.vocab) for _ in range(n)]
    if k == a.bad_id and n:
        ids[n // 2] = a.vocab
    did = b"" if a.no_ids else ("doc-%d" % k).encode()
    out.write(struct.pack("<II", n, len(did)) + did + struct.pack("<%dI" % n, *ids))
    if js:
        js.write(json.dumps({"id": did.decode(), "ids": ids}) + "\n")
if not a.truncate:
    out.write(struct.pack("<IQ", 0xFFFFFFFF, a.n))
out.close()
