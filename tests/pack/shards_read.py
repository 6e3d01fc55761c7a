#!/usr/bin/python3
"""shards_read.py - an independent reader of the packed dataset layout (schemas/shards.md), written
from the schema text, not from the C code: the tests compare what it sees with pack's input.

usage: shards_read.py docs DIR      documents rebuilt from the sequences as JSONL {"id", "ids"} in
                                    document-index order (BOS/EOS the manifest says were added removed)
       shards_read.py seqs DIR      one line per sequence (file order): n_valid and its pieces
Exits 1 with a message on any inconsistency it notices."""
import json, struct, sys, os, zlib

def fail(msg):
    sys.exit("shards_read: " + msg)

def xxh64(data):
    # pure-python XXH64 (seed 0), from the xxHash specification
    P1, P2, P3, P4, P5 = 11400714785074694791, 14029467366897019727, 1609587929392839161, 9650029242287828579, 2870177450012600261
    M = (1 << 64) - 1
    rotl = lambda x, r: ((x << r) | (x >> (64 - r))) & M
    def rnd(acc, v):
        acc = (acc + v * P2) & M
        return (rotl(acc, 31) * P1) & M
    n = len(data); i = 0
    if n >= 32:
        v = [(P1 + P2) & M, P2, 0, (-P1) & M]
        while i + 32 <= n:
            for j in range(4):
                v[j] = rnd(v[j], struct.unpack_from("<Q", data, i + 8 * j)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
        for j in range(4):
            h = ((h ^ rnd(0, v[j])) * P1 + P4) & M
    else:
        h = P5
    h = (h + n) & M
    while i + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & M
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ (struct.unpack_from("<I", data, i)[0] * P1 & M), 23) * P2 + P3) & M
        i += 4
    while i < n:
        h = (rotl(h ^ (data[i] * P5 & M), 11) * P1) & M
        i += 1
    h ^= h >> 33; h = (h * P2) & M; h ^= h >> 29; h = (h * P3) & M; h ^= h >> 32
    return h

def zstd_decompress(b):
    import subprocess
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=b, stdout=subprocess.PIPE, check=True).stdout

def read(d):
    man = json.load(open(os.path.join(d, "manifest.json")))
    L, tb = man["seq_len"], man["token_bytes"]
    seqs = []
    for sh in man["shards"]:
        data = open(os.path.join(d, sh["file"]), "rb").read()
        if len(data) != sh["bytes"]: fail("%s: size" % sh["file"])
        if "%016x" % xxh64(data) != sh["xxh64"]: fail("%s: xxh64" % sh["file"])
        if data[:8] != b"SPSHRD01" or data[-8:] != b"SPSHEND1": fail("%s: magic" % sh["file"])
        ver, hlen, sl, tbytes, flags = struct.unpack_from("<IIIII", data, 8)
        if (ver, hlen, sl, tbytes) != (1, 64, L, tb): fail("%s: header" % sh["file"])
        n, ix_off, ix_hash = struct.unpack_from("<QQQ", data, len(data) - 32)
        if n != sh["n_sequences"]: fail("%s: count" % sh["file"])
        for k in range(n):
            off, stored, raw, h = struct.unpack_from("<QIIQ", data, ix_off + 24 * k)
            rec = data[off:off + stored]
            if xxh64(rec) != h: fail("%s: record %d checksum" % (sh["file"], k))
            if flags & 1: rec = zstd_decompress(rec)
            if len(rec) != raw: fail("raw length")
            n_valid, n_docs = struct.unpack_from("<II", rec, 0)
            toks = list(struct.unpack_from("<%d%s" % (L, "H" if tb == 2 else "I"), rec, 8))
            p = (8 + L * tb + 7) // 8 * 8
            pieces = []
            s = p + 24 * n_docs
            for j in range(n_docs):
                di, start, ln, doff, pl = struct.unpack_from("<QIIII", rec, p + 24 * j)
                pieces.append((di + sh["doc_base"], start, ln, doff, rec[s:s + pl].decode()))
                s += pl
            seqs.append((n_valid, toks, pieces))
    return man, seqs

def main():
    cmd, d = sys.argv[1], sys.argv[2]
    man, seqs = read(d)
    if cmd == "seqs":
        for n_valid, toks, pieces in seqs:
            print(json.dumps({"n_valid": n_valid, "pieces": [[p[0], p[1], p[2], p[3], p[4]] for p in pieces]}))
        return
    docs = {}
    for n_valid, toks, pieces in seqs:
        at = 0
        for di, start, ln, doff, prov in pieces:
            if start != at: fail("pieces do not tile the sequence")
            at += ln
            cur = docs.setdefault(di, [prov, []])
            if cur[0] != prov or len(cur[1]) != doff: fail("doc %d: piece out of order (offset %d, have %d)" % (di, doff, len(cur[1])))
            cur[1].extend(toks[start:start + ln])
        if at != n_valid: fail("pieces cover %d of %d" % (at, n_valid))
    for di in sorted(docs):
        prov, ids = docs[di]
        if man["add_bos"]:
            if ids[0] != man["tokenizer"]["bos_id"]: fail("doc %d lacks BOS" % di)
            ids = ids[1:]
        if man["add_eos"] and not (man["tail"] == "drop" and di == max(docs)):
            if ids[-1] != man["tokenizer"]["eos_id"]: fail("doc %d lacks EOS" % di)
            ids = ids[:-1]
        print(json.dumps({"id": prov, "ids": ids}))

main()
