#!/usr/bin/env bash
# t_export.sh - shards outside spindle: python/spindle_shards.py (numpy reader) against `spindle shards
# cat`, and `spindle shards export --format megatron` read back by an independent reader of Megatron-LM's
# indexed dataset layout written here from the format description (MMIDIDX header, version, dtype code,
# counts, int32 lengths, int64 byte pointers, int64 document indices).
source "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
MOD=$HERE/../../python
cd "$T"

"$SPINDLE" corpus -q --max-docs 40 --max-bytes 4000 /usr/share/doc > docs.jsonl
$PY "$HERE/bytes_jsonl.py" < docs.jsonl > ids.jsonl
BYTES=(--vocab-size 259 --bos-id 1 --eos-id 2)
"$SPINDLE" pack -q "${BYTES[@]}" --seq-len 128 --shard-size 8 --no-sync -o plain ids.jsonl
"$SPINDLE" pack -q "${BYTES[@]}" --seq-len 96 --shard-size 5 --zstd --shuffle --seed 7 --no-sync -o zs ids.jsonl
"$SPINDLE" pack -q --vocab-size 70000 --bos-id 1 --eos-id 2 --seq-len 64 --shard-size 16 --no-sync -o wide ids.jsonl

# ---------------------------------------------------------------- python/spindle_shards.py
for d in plain zs wide; do
	n=$(jq .n_sequences "$d/manifest.json")
	PYTHONPATH=$MOD $PY - "$d" > "py-$d.txt" <<'PYEOF'
import sys, spindle_shards as S
ds = S.open_dataset(sys.argv[1], verify="full")
for k in range(len(ds)):
    s = ds[k]
    print("## sequence %d (shard %d): %d tokens, %d real, %d documents" % (s.index, s.shard, len(s.tokens), s.n_valid, len(s.docs)))
    for p in s.docs:
        print('### doc %d "%s" tokens [%d, %d) = document tokens [%d, %d)' % (p.doc_index, p.doc_id, p.start, p.start + p.length, p.doc_offset, p.doc_offset + p.length))
        print(" ".join(str(int(t)) for t in s.tokens[p.start:p.start + p.length]))
    if s.n_valid < len(s.tokens):
        print("### padding: %d tokens (loss-masked)" % (len(s.tokens) - s.n_valid))
PYEOF
	: > "c-$d.txt"
	for ((k = 0; k < n; k++)); do "$SPINDLE" shards cat "$d" --seq $k --ids >> "c-$d.txt"; done
	check_files "python reader equals 'shards cat --ids' on every sequence ($d, $n sequences)" "c-$d.txt" "py-$d.txt"
done

PYTHONPATH=$MOD $PY - zs > epoch.txt <<'PYEOF'
import sys, spindle_shards as S
ds = S.open_dataset(sys.argv[1])
n = len(ds)
for epoch in (0, 1):
    seen = []
    lens = []
    for r in range(3):
        got = [s.index for s in ds.epoch(seed=1337, epoch=epoch, rank=r, world_size=3)]
        lens.append(len(got))
        seen += got
    assert sorted(seen) == list(range(n)), "epoch %d: not every sequence once" % epoch
    assert max(lens) - min(lens) <= 1
s = ds[0]
m, seg, pos = s.loss_mask, s.segments(), s.positions()
assert m.dtype.name == "uint8" and len(m) == ds.seq_len and int(m.sum()) == s.n_valid
assert (seg[:s.n_valid] >= 0).all() and (seg[s.n_valid:] == -1).all()
for p in s.docs:
    assert list(pos[p.start:p.start + p.length]) == list(range(p.length))
print("ok", n)
PYEOF
check_grep "epoch order over 3 ranks sees every sequence once; masks, segments, positions" "^ok" epoch.txt

PYTHONPATH=$MOD $PY - plain > torch.txt 2>&1 <<'PYEOF'
import sys, torch, spindle_shards
class Packed(torch.utils.data.Dataset):
    def __init__(self, path):
        self.ds = spindle_shards.open_dataset(path)
    def __len__(self):
        return len(self.ds)
    def __getitem__(self, i):
        s = self.ds[i]
        x = torch.from_numpy(s.tokens.astype("int64"))
        return x[:-1], x[1:], torch.from_numpy(s.loss_mask[1:].astype("bool"))
dl = torch.utils.data.DataLoader(Packed(sys.argv[1]), batch_size=4)
x, y, m = next(iter(dl))
assert x.shape == (4, 127) and y.shape == (4, 127) and m.dtype == torch.bool
assert (x[:, 1:] == y[:, :-1]).all()
print("ok")
PYEOF
check_grep "usable as a PyTorch Dataset through a DataLoader (the docstring's example)" "^ok" torch.txt

cp -r plain bad
$PY -c '
import sys
p = "bad/shard-00001.bin"; b = bytearray(open(p, "rb").read()); b[200] ^= 1; open(p, "wb").write(b)'
PYTHONPATH=$MOD $PY -c '
import spindle_shards as S
ds = S.open_dataset("bad")
try:
    for s in ds: pass
    print("accepted")
except S.ShardsError as e:
    print("refused:", e)' > bad.txt 2>&1
check_grep "a flipped byte in a record is refused, naming the shard file" "refused: bad/shard-00001.bin: sequence .*checksum" bad.txt
PYTHONPATH=$MOD $PY -c '
import spindle_shards as S
try:
    S.open_dataset("bad", verify="full"); print("accepted")
except S.ShardsError as e:
    print("refused:", e)' > bad2.txt 2>&1
check_grep "verify=full refuses it at open, by the manifest's file checksum" "refused: bad/shard-00001.bin: file checksum" bad2.txt

# ---------------------------------------------------------------- Megatron export
cat > meg_read.py <<'PYEOF'
# An independent reader of Megatron-LM's MMapIndexedDataset (.idx + .bin, version 1): prints each
# document (a contiguous range of sequences per the document index) as a JSON list of ids.
import json, struct, sys
import numpy as np
pre = sys.argv[1]
idx = open(pre + ".idx", "rb").read()
assert idx[:9] == b"MMIDIDX\x00\x00", "magic"
ver, = struct.unpack_from("<Q", idx, 9); assert ver == 1, "version"
code = idx[17]
dt = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}[code]
nseq, ndoc = struct.unpack_from("<QQ", idx, 18)
o = 34
lens = np.frombuffer(idx, np.int32, nseq, o); o += 4 * nseq
ptrs = np.frombuffer(idx, np.int64, nseq, o); o += 8 * nseq
docs = np.frombuffer(idx, np.int64, ndoc, o); o += 8 * ndoc
assert o == len(idx), "trailing bytes in the index"
assert docs[0] == 0 and docs[-1] == nseq and (np.diff(docs) >= 0).all(), "document index"
bin_ = np.memmap(pre + ".bin", dtype=dt, mode="r")
item = np.dtype(dt).itemsize
assert ptrs[0] == 0 and all(ptrs[i + 1] == ptrs[i] + lens[i] * item for i in range(nseq - 1)), "pointers"
assert (int(ptrs[-1]) + int(lens[-1]) * item) == bin_.nbytes, ".bin size"
print(json.dumps({"dtype": np.dtype(dt).name}))
for d in range(ndoc - 1):
    ids = []
    for s in range(docs[d], docs[d + 1]):
        ids += [int(t) for t in bin_[ptrs[s] // item: ptrs[s] // item + lens[s]]]
    print(json.dumps(ids))
PYEOF
$PY -c '
import json
for l in open("ids.jsonl"):
    print(json.dumps([1] + json.loads(l)["ids"] + [2]))' > want.txt
check "export plain to Megatron" "$SPINDLE" shards export --format megatron -o meg/plain plain
check_grep "export reports what it wrote" "40 documents" "$T/.out"
$PY meg_read.py meg/plain > got.txt
check_eq "Megatron index: uint16 tokens below 65500" '{"dtype": "uint16"}' "$(head -1 got.txt)"
check_eq "Megatron documents equal the packed documents, in order, with BOS/EOS" "$(cat want.txt)" "$(tail -n +2 got.txt)"
check "export a zstd, shuffled dataset" "$SPINDLE" shards export -o meg/zs zs
$PY meg_read.py meg/zs > gotz.txt
check_eq "shuffled: the same documents (in packing order)" "$(sort want.txt)" "$(tail -n +2 gotz.txt | sort)"
check "export a 70000-token vocabulary" "$SPINDLE" shards export -o meg/wide wide
$PY meg_read.py meg/wide > gotw.txt
check_eq "Megatron index: int32 tokens at 65500 and above" '{"dtype": "int32"}' "$(head -1 gotw.txt)"
check_eq "wide: the same documents" "$(cat want.txt)" "$(tail -n +2 gotw.txt)"
check_rc "export needs -o" 2 "$SPINDLE" shards export plain
check_rc "export of a folder that is not a dataset fails" 1 "$SPINDLE" shards export -o meg/x "$T/nothing"
check_grep "... naming it" "nothing" "$T/.out"
check_rc "export of a corrupt dataset fails" 1 "$SPINDLE" shards export -o meg/bad bad
check_grep "... naming the shard" "shard-00001.bin" "$T/.out"
if [ ! -e meg/bad.idx ] && [ ! -e meg/bad.bin ]; then ok "a failed export leaves no output files"; else not_ok "a failed export leaves no output files"; fi
