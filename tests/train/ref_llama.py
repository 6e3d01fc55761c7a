#!/usr/bin/python3
# ref_llama.py - the PyTorch reference the C trainer is checked against (tests/train/test_model.c).
# An independent float64 implementation of the Llama 2 model in HuggingFace's conventions
# (rotate_half RoPE, repeat_kv GQA, RMSNorm, SwiGLU, untied head or a scalar "score" head).
# Usage: ref_llama.py IN.safetensors OUT.safetensors
#   IN holds the parameters under HF names, "config" = [dim, n_layers, n_heads, n_kv_heads,
#   hidden_dim, vocab, eps, theta, reward_head, B, T] and the batch ("batch.inputs", "batch.targets",
#   "batch.pos", "batch.seg", "batch.last", "batch.margin") as F32.
#   OUT gets "logits", "loss", "rewards" and "grad.<name>" for every parameter (float32).
import json, struct, sys
import torch

def st_read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        b, e = v["data_offsets"]
        t = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32)
        out[k] = t.reshape(v["shape"]) if v["shape"] else t.reshape(())
    return out

def st_write(path, tensors):
    hdr, off, blobs = {}, 0, []
    for k, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

def rope(x, pos, theta):  # x [B, T, heads, hd], pos [B, T]
    hd = x.shape[-1]
    inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = pos[..., None].to(torch.float64) * inv
    emb = torch.cat((ang, ang), dim=-1)[:, :, None, :]
    return x * emb.cos() + rotate_half(x) * emb.sin()

def main():
    t = st_read(sys.argv[1])
    c = t["config"].tolist()
    D, L, H, KVH, F, V = (int(v) for v in c[:6])
    eps, theta, reward, B, T = c[6], c[7], int(c[8]), int(c[9]), int(c[10])
    hd, rep = D // H, H // KVH
    P = {k: v.to(torch.float64).requires_grad_(True) for k, v in t.items()
         if not k.startswith("batch.") and k != "config"}
    inputs = t["batch.inputs"].long().reshape(B, T)
    pos = t["batch.pos"].long().reshape(B, T)
    seg = t["batch.seg"].long().reshape(B, T)
    x = P["model.embed_tokens.weight"][inputs]
    i = torch.arange(T)
    mask = (i[None, :] <= i[:, None])[None] & (seg[:, :, None] == seg[:, None, :])  # [B, T, T]
    for l in range(L):
        p = lambda n: P[f"model.layers.{l}.{n}.weight"]
        h = rmsnorm(x, p("input_layernorm"), eps)
        q = rope((h @ p("self_attn.q_proj").T).view(B, T, H, hd), pos, theta).transpose(1, 2)
        k = rope((h @ p("self_attn.k_proj").T).view(B, T, KVH, hd), pos, theta).transpose(1, 2)
        v = (h @ p("self_attn.v_proj").T).view(B, T, KVH, hd).transpose(1, 2)
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / hd ** 0.5
        s = s.masked_fill(~mask[:, None], float("-inf"))
        a = torch.softmax(s, dim=-1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, D) @ p("self_attn.o_proj").T
        h = rmsnorm(x, p("post_attention_layernorm"), eps)
        g = h @ p("mlp.gate_proj").T
        u = h @ p("mlp.up_proj").T
        x = x + (torch.nn.functional.silu(g) * u) @ p("mlp.down_proj").T
    x = rmsnorm(x, P["model.norm.weight"], eps)
    out = {}
    if reward:
        last = t["batch.last"].long()
        r = (x[torch.arange(B), last] @ P["score.weight"].T).view(B)
        m = t["batch.margin"].to(torch.float64)
        loss = -torch.nn.functional.logsigmoid(r[0::2] - r[1::2] - m).mean()
        out["rewards"] = r
    else:
        logits = x @ P["lm_head.weight"].T
        tg = t["batch.targets"].long().reshape(B * T)
        loss = torch.nn.functional.cross_entropy(logits.view(B * T, V), tg, ignore_index=-1)
        out["logits"] = logits.reshape(B * T, V)
    loss.backward()
    out["loss"] = loss.reshape(1)
    for k, v in P.items():
        out["grad." + k] = v.grad
    st_write(sys.argv[2], out)

main()
