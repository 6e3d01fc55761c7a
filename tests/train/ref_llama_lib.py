# ref_llama_lib.py - the float64 Llama 2 forward (HuggingFace conventions: rotate_half RoPE, repeat_kv
# GQA, RMSNorm, SwiGLU) and safetensors I/O, for the PyTorch references of the RLHF tests (ref_ppo.py).
# Written separately from ref_llama.py (which stays a standalone script) and checked by the same C code.
import json, struct
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
        b, e = v["data_offsets"]
        x = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32)
        out[k] = x.reshape(v["shape"]) if v["shape"] else x.reshape(())
    return out

def st_write(path, tensors):
    hdr, off, blobs = {}, 0, []
    for k, x in tensors.items():
        b = x.detach().to(torch.float32).contiguous().numpy().tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(x.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def _rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

def _rope(x, theta):  # x [B, T, heads, hd], positions 0..T-1
    T, hd = x.shape[1], x.shape[-1]
    inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv
    emb = torch.cat((ang, ang), dim=-1)[None, :, None, :]
    h = hd // 2
    rot = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
    return x * emb.cos() + rot * emb.sin()

def hidden(P, tokens, cfg):
    """final-norm hidden states [B, T, D] of a causal batch (no document masks)"""
    D, L, H, KVH, F, V, eps, theta = cfg
    B, T = tokens.shape
    hd, rep = D // H, H // KVH
    x = P["model.embed_tokens.weight"][tokens]
    i = torch.arange(T)
    mask = (i[None, :] <= i[:, None])
    for l in range(L):
        p = lambda nm: P[f"model.layers.{l}.{nm}.weight"]
        h = _rms(x, p("input_layernorm"), eps)
        q = _rope((h @ p("self_attn.q_proj").T).view(B, T, H, hd), theta).transpose(1, 2)
        k = _rope((h @ p("self_attn.k_proj").T).view(B, T, KVH, hd), theta).transpose(1, 2)
        v = (h @ p("self_attn.v_proj").T).view(B, T, KVH, hd).transpose(1, 2)
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / hd ** 0.5
        s = s.masked_fill(~mask[None, None], float("-inf"))
        a = torch.softmax(s, dim=-1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, D) @ p("self_attn.o_proj").T
        h = _rms(x, p("post_attention_layernorm"), eps)
        x = x + (torch.nn.functional.silu(h @ p("mlp.gate_proj").T) * (h @ p("mlp.up_proj").T)) @ p("mlp.down_proj").T
    return _rms(x, P["model.norm.weight"], eps)
