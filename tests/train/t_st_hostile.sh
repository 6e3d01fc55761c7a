#!/usr/bin/env bash
# t_st_hostile.sh - the safetensors loader checks more than byte counts (issue 19, class 9): a
# tensor whose shape is not the one config.json gives it (transposed, same size) and tensors whose
# data ranges overlap are refused, naming the file and the tensors.
source "$(dirname "$0")/../lib.sh"
S=$SPINDLE
A=(--data synthetic:64 --dim 32 --layers 1 --heads 2 --kv-heads 1 --hidden 64 --seq-len 16 --batch 2 --threads 1)
"$S" train pretrain "${A[@]}" --steps 1 --out "$T/m" > /dev/null 2>&1
check "a tiny checkpoint is made" test -s "$T/m/model.safetensors"
mutate() { # DIR MODE: copy of the checkpoint with one hostile change
	cp -r "$T/m" "$T/$2"
	/usr/bin/python3 - "$T/$2/model.safetensors" "$2" <<'PYEOF'
import json, struct, sys
path, mode = sys.argv[1], sys.argv[2]
b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); data = b[8 + n:]
k = "model.layers.0.self_attn.k_proj.weight"
if mode == "transposed":
    h[k]["shape"] = h[k]["shape"][::-1]            # [16, 32] -> [32, 16]: same bytes
elif mode == "flat":
    h[k]["shape"] = [h[k]["shape"][0] * h[k]["shape"][1]]
elif mode == "overlap":
    h["lm_head.weight"]["data_offsets"] = h["model.embed_tokens.weight"]["data_offsets"]  # same size, shared bytes
head = json.dumps(h).encode(); head += b" " * (-len(head) % 8)
open(path, "wb").write(struct.pack("<Q", len(head)) + head + data)
PYEOF
}
check_rc "the unmodified checkpoint loads" 0 "$S" train pretrain "${A[@]}" --steps 1 --init-from "$T/m" --out "$T/o0"
for mode in transposed flat; do
	mutate m "$mode"
	check_rc "a $mode tensor of the right size is refused" 1 "$S" train pretrain "${A[@]}" --steps 1 --init-from "$T/$mode" --out "$T/o-$mode"
	check_grep "naming the tensor and both shapes" "k_proj.weight' has shape \[.*\], the model's config.json gives it \[16, 32\]" "$T/.out"
done
mutate m overlap
check_rc "overlapping data ranges are refused" 1 "$S" train pretrain "${A[@]}" --steps 1 --init-from "$T/overlap" --out "$T/o-ov"
check_grep "naming both tensors" "tensors '.*' and '.*' overlap" "$T/.out"
check_rc "--resume refuses it too" 1 "$S" train pretrain "${A[@]}" --steps 2 --resume --out "$T/overlap"
check_grep "naming the file" "overlap/model.safetensors: tensors" "$T/.out"
