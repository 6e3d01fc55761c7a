"""spindle_shards - read a packed dataset of `spindle pack` (schemas/shards.md) from Python.

Needs numpy only (zstd-compressed datasets also need the `zstandard` module, or the `zstd` program).
No build step: copy this file next to your training code, or put spindle's python/ on PYTHONPATH.

    import spindle_shards
    ds = spindle_shards.open_dataset("shards/")       # checks the manifest against the shard files
    len(ds)                                            # sequences
    s = ds[0]                                          # manifest order, as `spindle shards cat --seq 0`
    s.tokens        # numpy array of seq_len ids (uint16 or uint32), a view into the memory-mapped shard
    s.loss_mask     # uint8, 0 on the tail padding
    s.docs          # [Piece(start, length, doc_index, doc_id, doc_offset), ...] tiling the real tokens
    s.segments()    # int32 per position: which piece (document) it belongs to, -1 on padding
    s.positions()   # int32 rotary positions restarting at every piece (spindle's --doc-mask), padding: its index

    for s in ds.epoch(seed=1337, epoch=0, rank=0, world_size=1):   # spindle's training order
        ...

As a PyTorch Dataset:

    import torch
    class Packed(torch.utils.data.Dataset):
        def __init__(self, path):
            self.ds = spindle_shards.open_dataset(path)
        def __len__(self):
            return len(self.ds)
        def __getitem__(self, i):
            s = self.ds[i]
            x = torch.from_numpy(s.tokens.astype("int64"))
            return x[:-1], x[1:], torch.from_numpy(s.loss_mask[1:].astype("bool"))

Checks: open_dataset compares every shard's size, header (magic, version, seq_len, token width,
tokenizer id, header checksum) and footer (end magic, sequence count, index checksum) with the
manifest, and the manifest's totals with its shards; verify="full" also hashes whole files against the
manifest's xxh64 (slow in pure Python: the `xxhash` module is used when installed). Each record's own
checksum is checked when it is read unless check_records=False. Errors raise ShardsError naming the
file. Run as a script, `python3 spindle_shards.py DIR --seq K` prints sequence K the way
`spindle shards cat DIR --seq K --ids` does (the tests compare the two).
"""
import json
import mmap
import os
import struct
import sys
from collections import namedtuple

import numpy as np

__all__ = ["open_dataset", "Dataset", "Sequence", "Piece", "ShardsError"]

Piece = namedtuple("Piece", "start length doc_index doc_id doc_offset")

_M64 = (1 << 64) - 1
_P1, _P2, _P3, _P4, _P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                           9650029242287828579, 2870177450012600261)


class ShardsError(Exception):
    """A dataset that does not match its manifest or the layout; the message names the file."""


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc, v):
    return (_rotl((acc + v * _P2) & _M64, 31) * _P1) & _M64


def _xxh64_py(data):
    n = len(data)
    i = 0
    if n >= 32:
        v = [(_P1 + _P2) & _M64, _P2, 0, (-_P1) & _M64]
        words = np.frombuffer(data, dtype="<u8", count=(n // 32) * 4)
        for j in range(0, len(words), 4):
            v = [_round(v[k], int(words[j + k])) for k in range(4)]
        i = (n // 32) * 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M64
        for k in range(4):
            h = ((h ^ _round(0, v[k])) * _P1 + _P4) & _M64
    else:
        h = _P5
    h = (h + n) & _M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, i)[0]), 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", data, i)[0] * _P1 & _M64), 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h = (_rotl(h ^ (data[i] * _P5 & _M64), 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    return h ^ (h >> 32)


def xxh64(data):
    """XXH64 with seed 0 (the checksum of every spindle file)."""
    try:
        import xxhash
        return xxhash.xxh64_intdigest(bytes(data))
    except ImportError:
        return _xxh64_py(bytes(data))


def _mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class _Perm:
    """The seeded permutation of schemas/shards.md: a 4-round Feistel network over the smallest even
    power of two >= n, with cycle walking."""

    def __init__(self, n, seed):
        self.n = n
        bits = 2
        while bits < 64 and (1 << bits) < n:
            bits += 1
        if bits & 1:
            bits += 1
        self.half = bits // 2
        self.mask = (1 << self.half) - 1
        self.key = []
        k = seed
        for i in range(4):
            k = _mix64((k + i) & _M64)
            self.key.append(k)

    def __call__(self, i):
        x = i
        while True:
            l, r = x >> self.half, x & self.mask
            for k in self.key:
                l, r = r, l ^ (_mix64(r ^ k) & self.mask)
            x = (l << self.half) | r
            if x < self.n:
                return x


class Sequence:
    """One packed sequence: tokens, loss mask, the document pieces that tile its real tokens."""

    __slots__ = ("index", "shard", "tokens", "n_valid", "docs")

    def __init__(self, index, shard, tokens, n_valid, docs):
        self.index, self.shard, self.tokens, self.n_valid, self.docs = index, shard, tokens, n_valid, docs

    @property
    def loss_mask(self):
        m = np.zeros(len(self.tokens), dtype=np.uint8)
        m[:self.n_valid] = 1
        return m

    def segments(self):
        seg = np.full(len(self.tokens), -1, dtype=np.int32)
        for k, p in enumerate(self.docs):
            seg[p.start:p.start + p.length] = k
        return seg

    def positions(self):
        pos = np.arange(len(self.tokens), dtype=np.int32)   # padding keeps its index
        for p in self.docs:
            pos[p.start:p.start + p.length] = np.arange(p.length, dtype=np.int32)
        return pos


class _Shard:
    def __init__(self, path, entry, man, seq_base, verify):
        self.path = path
        self.entry = entry
        self.seq_base = seq_base
        self.doc_base = entry["doc_base"]
        size = os.stat(path).st_size
        if size != entry["bytes"]:
            raise ShardsError("%s: %d bytes, the manifest says %d" % (path, size, entry["bytes"]))
        with open(path, "rb") as f:
            self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        mm = self.mm
        if size < 96 or mm[:8] != b"SPSHRD01":
            raise ShardsError("%s: not a spindle shard (magic)" % path)
        ver, hlen, seq_len, tb, flags = struct.unpack_from("<IIIII", mm, 8)
        tok_id = struct.unpack_from("<Q", mm, 32)[0]
        if struct.unpack_from("<Q", mm, 56)[0] != xxh64(mm[:56]):
            raise ShardsError("%s: header checksum mismatch" % path)
        if (ver, hlen, seq_len, tb) != (1, 64, man["seq_len"], man["token_bytes"]):
            raise ShardsError("%s: header (version %d, seq_len %d, token_bytes %d) differs from the manifest"
                              % (path, ver, seq_len, tb))
        if "%016x" % tok_id != man["tokenizer"]["id"]:
            raise ShardsError("%s: tokenizer id %016x differs from the manifest's" % (path, tok_id))
        self.zstd = bool(flags & 1)
        if self.zstd != (entry["compression"] != "none"):
            raise ShardsError("%s: compression flag differs from the manifest" % path)
        n, ix_off, ix_hash = struct.unpack_from("<QQQ", mm, size - 32)
        if mm[size - 8:] != b"SPSHEND1":
            raise ShardsError("%s: no end magic (cut off?)" % path)
        if n != entry["n_sequences"]:
            raise ShardsError("%s: %d sequences, the manifest says %d" % (path, n, entry["n_sequences"]))
        if ix_off + 24 * n != size - 32 or xxh64(mm[ix_off:ix_off + 24 * n]) != ix_hash:
            raise ShardsError("%s: index checksum mismatch" % path)
        if verify == "full" and "%016x" % xxh64(mm[:]) != entry["xxh64"]:
            raise ShardsError("%s: file checksum differs from the manifest" % path)
        self.n = n
        self.ix_off = ix_off
        self.seq_len = seq_len
        self.dtype = np.dtype("<u2" if tb == 2 else "<u4")

    def read(self, local, check):
        off, stored, raw, h = struct.unpack_from("<QIIQ", self.mm, self.ix_off + 24 * local)
        if off < 64 or off + stored > self.ix_off:
            raise ShardsError("%s: sequence %d: index entry points outside the shard" % (self.path, local))
        if check and xxh64(self.mm[off:off + stored]) != h:
            raise ShardsError("%s: sequence %d: checksum mismatch" % (self.path, local))
        if self.zstd:
            rec = _zstd_decompress(self.mm[off:off + stored])
            base = 0
            buf = rec
        else:
            buf = self.mm
            base = off
        n_valid, n_docs = struct.unpack_from("<II", buf, base)
        L = self.seq_len
        tokens = np.frombuffer(buf, dtype=self.dtype, count=L, offset=base + 8)
        p = base + (8 + L * self.dtype.itemsize + 7) // 8 * 8
        s = p + 24 * n_docs
        docs = []
        at = 0
        for j in range(n_docs):
            di, start, ln, doff, pl = struct.unpack_from("<QIIII", buf, p + 24 * j)
            if start != at:
                raise ShardsError("%s: sequence %d: pieces do not tile the sequence" % (self.path, local))
            at += ln
            docs.append(Piece(start, ln, di + self.doc_base, bytes(buf[s:s + pl]).decode("utf-8"), doff))
            s += pl
        if at != n_valid or n_valid > L:
            raise ShardsError("%s: sequence %d: pieces cover %d of %d tokens" % (self.path, local, at, n_valid))
        return tokens, n_valid, docs


def _zstd_decompress(b):
    try:
        import zstandard
        return zstandard.ZstdDecompressor().decompress(bytes(b))
    except ImportError:
        import subprocess
        return subprocess.run(["zstd", "-d", "-c", "-q"], input=bytes(b), stdout=subprocess.PIPE,
                              check=True).stdout


class Dataset:
    """A packed dataset folder. Indexing is in manifest order (what `spindle shards cat --seq` and the
    trainer's --seed orders index); file order (packing order) is `get_stored`."""

    def __init__(self, path, verify="manifest", check_records=True):
        if verify not in ("manifest", "full"):
            raise ValueError("verify must be 'manifest' or 'full'")
        self.path = path
        mpath = os.path.join(path, "manifest.json")
        try:
            with open(mpath, "rb") as f:
                self.manifest = man = json.load(f)
        except FileNotFoundError:
            raise ShardsError("%s: no manifest.json (not a dataset, or an unfinished pack)" % path) from None
        except ValueError as e:
            raise ShardsError("%s: malformed JSON: %s" % (mpath, e)) from None
        if man.get("format") != "spindle-shards" or man.get("version") != 1:
            raise ShardsError("%s: not a version-1 spindle-shards manifest" % mpath)
        self.seq_len = man["seq_len"]
        self.check_records = check_records
        self.shards = []
        base = 0
        totals = {"n_sequences": 0, "n_tokens": 0, "n_padding": 0, "n_documents": 0}
        for e in man["shards"]:
            if os.path.basename(e["file"]) != e["file"]:
                raise ShardsError("%s: shard name %r leaves the folder" % (mpath, e["file"]))
            self.shards.append(_Shard(os.path.join(path, e["file"]), e, man, base, verify))
            base += e["n_sequences"]
            for k in totals:
                totals[k] += e[k]
        for k, v in totals.items():
            if man[k] != v:
                raise ShardsError("%s: %s is %d but its shards add up to %d" % (mpath, k, man[k], v))
        self.n = base
        self._order = _Perm(base, man["order_seed"]) if man.get("order_seed") is not None else None
        self._bases = np.array([s.seq_base for s in self.shards], dtype=np.int64)

    def __len__(self):
        return self.n

    def get_stored(self, pos):
        """The sequence at position pos of file order."""
        if not 0 <= pos < self.n:
            raise IndexError(pos)
        k = int(np.searchsorted(self._bases, pos, side="right")) - 1
        sh = self.shards[k]
        tokens, n_valid, docs = sh.read(pos - sh.seq_base, self.check_records)
        return Sequence(pos, k, tokens, n_valid, docs)

    def __getitem__(self, i):
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        s = self.get_stored(self._order(i) if self._order else i)
        s.index = i
        return s

    def __iter__(self):
        for i in range(self.n):
            yield self[i]

    def epoch_len(self, rank=0, world_size=1):
        return self.n // world_size + (1 if rank < self.n % world_size else 0)

    def epoch(self, seed, epoch=0, rank=0, world_size=1):
        """The sequences rank sees in epoch, in spindle's training order (lib/shards.c): slots of a
        seeded permutation dealt round-robin over ranks."""
        if not 0 <= rank < world_size:
            raise ValueError("need 0 <= rank < world_size")
        p = _Perm(self.n, _mix64(seed & _M64) ^ _mix64((epoch + 0x5851F42D4C957F2D) & _M64))
        for k in range(self.epoch_len(rank, world_size)):
            yield self[p(k * world_size + rank)]


def open_dataset(path, verify="manifest", check_records=True):
    """Opens the dataset folder path; see the module docstring."""
    return Dataset(path, verify=verify, check_records=check_records)


def _cat(path, k):
    ds = open_dataset(path)
    s = ds[k]
    out = ["## sequence %d (shard %d): %d tokens, %d real, %d documents"
           % (s.index, s.shard, len(s.tokens), s.n_valid, len(s.docs))]
    for p in s.docs:
        out.append('### doc %d "%s" tokens [%d, %d) = document tokens [%d, %d)'
                   % (p.doc_index, p.doc_id, p.start, p.start + p.length, p.doc_offset, p.doc_offset + p.length))
        out.append(" ".join(str(int(t)) for t in s.tokens[p.start:p.start + p.length]))
    if s.n_valid < len(s.tokens):
        out.append("### padding: %d tokens (loss-masked)" % (len(s.tokens) - s.n_valid))
    print("\n".join(out))


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="print one sequence of a spindle dataset like `spindle shards cat --ids`")
    ap.add_argument("dir")
    ap.add_argument("--seq", type=int, required=True)
    a = ap.parse_args()
    try:
        _cat(a.dir, a.seq)
    except ShardsError as e:
        sys.exit("spindle_shards: %s" % e)
