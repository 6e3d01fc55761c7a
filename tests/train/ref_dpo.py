#!/usr/bin/python3
# ref_dpo.py - an independent PyTorch (float64) DPO loss and gradient, the reference for
# tests/train/test_dpo.c. Its own Llama 2 forward (HuggingFace conventions: rotate_half RoPE,
# repeat_kv GQA, RMSNorm, SwiGLU, untied head), run on the policy's and the reference's weights.
# Usage: ref_dpo.py IN.safetensors OUT.safetensors
#   IN: the policy's parameters under HF names, the reference's under "ref.<name>", "config" =
#   [dim, n_layers, n_heads, n_kv_heads, hidden_dim, vocab, eps, theta, B, T, beta], the batch
#   ("batch.inputs", "batch.targets", "batch.pos", B x T; rows 2k chosen, 2k+1 rejected) and
#   "batch.margin" (B/2), all F32.
#   OUT: "loss", "logps" (policy, per row), "ref_logps" and "grad.<name>" for every policy parameter.
import json, struct, sys
import torch

def st_read(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    out = {}
    for k, v in json.loads(raw[8:8 + n]).items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32).reshape(v["shape"])
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
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def row_logps(P, cfg, inputs, targets, pos):
    D, L, H, KVH, F, V, eps, theta, B, T = cfg
    hd, rep = D // H, H // KVH
    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
    def rope(x):
        inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = pos[..., None].to(torch.float64) * inv
        c, s = torch.cat((ang, ang), -1).cos()[:, :, None], torch.cat((ang, ang), -1).sin()[:, :, None]
        rot = torch.cat((-x[..., hd // 2:], x[..., :hd // 2]), -1)
        return x * c + rot * s
    x = P["model.embed_tokens.weight"][inputs]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        w = lambda n: P[f"model.layers.{l}.{n}.weight"]
        h = norm(x, w("input_layernorm"))
        q = rope((h @ w("self_attn.q_proj").T).view(B, T, H, hd)).transpose(1, 2)
        k = rope((h @ w("self_attn.k_proj").T).view(B, T, KVH, hd)).transpose(1, 2).repeat_interleave(rep, 1)
        v = (h @ w("self_attn.v_proj").T).view(B, T, KVH, hd).transpose(1, 2).repeat_interleave(rep, 1)
        s = (q @ k.transpose(-1, -2)) / hd ** 0.5
        a = torch.softmax(s.masked_fill(~causal, float("-inf")), -1) @ v
        x = x + a.transpose(1, 2).reshape(B, T, D) @ w("self_attn.o_proj").T
        h = norm(x, w("post_attention_layernorm"))
        x = x + (torch.nn.functional.silu(h @ w("mlp.gate_proj").T) * (h @ w("mlp.up_proj").T)) @ w("mlp.down_proj").T
    logp = torch.log_softmax(norm(x, P["model.norm.weight"]) @ P["lm_head.weight"].T, -1)
    keep = targets >= 0
    tok = logp.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return (tok * keep).sum(-1)

def main():
    t = st_read(sys.argv[1])
    c = t["config"].tolist()
    cfg = [int(v) for v in c[:6]] + [c[6], c[7], int(c[8]), int(c[9])]
    beta = c[10]
    B, T = cfg[8], cfg[9]
    inputs = t["batch.inputs"].long().reshape(B, T)
    targets = t["batch.targets"].long().reshape(B, T)
    pos = t["batch.pos"].long().reshape(B, T)
    margin = t["batch.margin"].to(torch.float64)
    P = {k: v.to(torch.float64).requires_grad_(True) for k, v in t.items()
         if not k.startswith(("batch.", "ref.")) and k != "config"}
    R = {k[4:]: v.to(torch.float64) for k, v in t.items() if k.startswith("ref.")}
    with torch.no_grad():
        ref = row_logps(R, cfg, inputs, targets, pos)
    pol = row_logps(P, cfg, inputs, targets, pos)
    delta = (pol[0::2] - ref[0::2]) - (pol[1::2] - ref[1::2])
    loss = -torch.nn.functional.logsigmoid(beta * delta - margin).mean()
    loss.backward()
    out = {"loss": loss.reshape(1), "logps": pol, "ref_logps": ref}
    for k, v in P.items():
        out["grad." + k] = v.grad
    st_write(sys.argv[2], out)

main()
