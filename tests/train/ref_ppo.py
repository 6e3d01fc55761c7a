#!/usr/bin/python3
# ref_ppo.py - an independent float64 PyTorch implementation of one PPO step for RLHF, the reference
# train/ppo.c is checked against (tests/train/test_ppo.c): per-token log-probs of the sampled tokens at
# a temperature (old policy, reference), entropy, k1 KL penalty with the score at the last action, GAE,
# advantage whitening (population variance + eps), the clipped surrogate and the clipped value loss,
# and the gradient of every parameter of the new policy and the new critic (autograd).
# Usage: ref_ppo.py IN.safetensors OUT.safetensors
#   IN: "config" = [D, L, H, KVH, F, V, eps, theta, n, Tmax, temp, beta, gamma, lam, clip, vclip, weps],
#   parameters under HF names prefixed "old.", "new.", "ref." (LMs) and "cold.", "cnew." (critics with
#   score.weight), "tok" [n, Tmax], "P" [n], "L" [n], "score" [n] (F32).
#   OUT: "logp_old", "logp_ref", "entropy", "values", "adv", "ret" (all actions, rollout-major),
#   "pg_loss", "v_loss", "grad.<name>" (policy) and "cgrad.<name>" (critic).
import sys
import torch
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from ref_llama_lib import st_read, st_write, hidden  # noqa: E402

t = st_read(sys.argv[1])
c = t["config"].tolist()
D, L, H, KVH, F, V = (int(v) for v in c[:6])
eps, theta = c[6], c[7]
n, Tm = int(c[8]), int(c[9])
temp, beta, gamma, lam, clip, vclip, weps = c[10:17]
cfg = (D, L, H, KVH, F, V, eps, theta)

def params(prefix, grad=False):
    return {k[len(prefix):]: v.to(torch.float64).requires_grad_(grad) for k, v in t.items() if k.startswith(prefix)}

tok = t["tok"].long().reshape(n, Tm)
P = t["P"].long().tolist()
Ls = t["L"].long().tolist()
score = t["score"].to(torch.float64)

def action_logits(p):
    """logits/temp at each action's predicting position, per rollout (list of [L_i, V])"""
    x = hidden(p, tok, cfg)
    out = []
    for i in range(n):
        rows = x[i, P[i] - 1:P[i] - 1 + Ls[i]]
        out.append((rows @ p["lm_head.weight"].T) / temp)
    return out

def values(p):
    x = hidden(p, tok, cfg)
    return [(x[i, P[i] - 1:P[i] - 1 + Ls[i]] @ p["score.weight"].T).view(-1) for i in range(n)]

acts = [tok[i, P[i]:P[i] + Ls[i]] for i in range(n)]
with torch.no_grad():
    lo = action_logits(params("old."))
    lr = action_logits(params("ref."))
    logp_old = [torch.log_softmax(z, -1).gather(1, a[:, None]).view(-1) for z, a in zip(lo, acts)]
    logp_ref = [torch.log_softmax(z, -1).gather(1, a[:, None]).view(-1) for z, a in zip(lr, acts)]
    ent = [-(torch.softmax(z, -1) * torch.log_softmax(z, -1)).sum(-1) for z in lo]
    v_old = values(params("cold."))
    adv, ret = [], []
    for i in range(n):
        r = -beta * (logp_old[i] - logp_ref[i])
        r[-1] += score[i]
        a, nv, na = torch.zeros(Ls[i], dtype=torch.float64), 0.0, 0.0
        for k in reversed(range(Ls[i])):
            delta = r[k] + gamma * nv - v_old[i][k]
            na = delta + gamma * lam * na
            a[k] = na
            nv = v_old[i][k]
        adv.append(a)
        ret.append(a + v_old[i])
    allv = torch.cat(adv)
    mean, var = allv.mean(), ((allv - allv.mean()) ** 2).mean()
    adv_w = [(a - mean) / torch.sqrt(var + weps) for a in adv]

pn = params("new.", True)
cn = params("cnew.", True)
ln = action_logits(pn)
vn = values(cn)
ntok = sum(Ls)
pg, vl = 0, 0
for i in range(n):
    logp = torch.log_softmax(ln[i], -1).gather(1, acts[i][:, None]).view(-1)
    ratio = torch.exp(logp - logp_old[i])
    l1 = -adv_w[i] * ratio
    l2 = -adv_w[i] * torch.clamp(ratio, 1 - clip, 1 + clip)
    pg = pg + torch.where(l2 > l1, l2, l1).sum()
    vc = v_old[i] + torch.clamp(vn[i] - v_old[i], -vclip, vclip)
    e1, e2 = (vn[i] - ret[i]) ** 2, (vc - ret[i]) ** 2
    vl = vl + 0.5 * torch.where(e1 >= e2, e1, e2).sum()
pg, vl = pg / ntok, vl / ntok
(pg + vl).backward()
out = {"logp_old": torch.cat(logp_old), "logp_ref": torch.cat(logp_ref), "entropy": torch.cat(ent),
       "values": torch.cat(v_old), "adv": torch.cat(adv_w), "ret": torch.cat(ret),
       "pg_loss": pg.reshape(1), "v_loss": vl.reshape(1)}
for k, v in pn.items():
    out["grad." + k] = v.grad if v.grad is not None else torch.zeros_like(v)
for k, v in cn.items():
    out["cgrad." + k] = v.grad if v.grad is not None else torch.zeros_like(v)
st_write(sys.argv[2], out)
