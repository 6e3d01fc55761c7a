#!/usr/bin/python3
# torch_ppo.py - the PyTorch side of bench/ppo/run.sh: one PPO iteration for RLHF written the usual
# way in PyTorch on the CPU (float32): batched KV-cache sampling of N responses of G tokens after
# P-token prompts, a reward model's score at the last token, the policy/reference/critic forwards,
# k1 KL rewards, GAE and whitening, then mini-batch steps of the clipped surrogate and the clipped
# value loss with AdamW (Llama 2's settings) on policy and critic. Same model as `spindle train`
# (RMSNorm, RoPE, GQA, SwiGLU, untied head; critic = the same trunk with a scalar score head).
# Prints the median seconds of each phase over the iterations after the first:
#   generate score forward train total
# Usage: torch_ppo.py DIM LAYERS HEADS KV_HEADS HIDDEN VOCAB N P G MINIBATCH ITERS THREADS
import sys, time, statistics
import torch
import torch.nn as nn
import torch.nn.functional as F

D, L, H, KVH, FF, V, N, P, G, MB, ITERS, THREADS = (int(x) for x in sys.argv[1:13])
torch.set_num_threads(THREADS)
torch.manual_seed(0)
hd, rep = D // H, H // KVH
CTX = P + G
inv = 10000.0 ** (-torch.arange(0, hd, 2).float() / hd)
ang = torch.arange(CTX).float()[:, None] * inv
emb = torch.cat((ang, ang), -1)
COS, SIN = emb.cos(), emb.sin()

def rope(x, start):  # x [B, T, h, hd]
    T = x.shape[1]
    c, s = COS[start:start + T][None, :, None, :], SIN[start:start + T][None, :, None, :]
    h = x.shape[-1] // 2
    return x * c + torch.cat((-x[..., h:], x[..., :h]), -1) * s

class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q = nn.Linear(D, D, bias=False)
        self.k = nn.Linear(D, KVH * hd, bias=False)
        self.v = nn.Linear(D, KVH * hd, bias=False)
        self.o = nn.Linear(D, D, bias=False)
        self.g = nn.Linear(D, FF, bias=False)
        self.u = nn.Linear(D, FF, bias=False)
        self.d = nn.Linear(FF, D, bias=False)
    def forward(self, x, cache=None, start=0):
        B, T, _ = x.shape
        h = self.n1(x)
        q = rope(self.q(h).view(B, T, H, hd), start).transpose(1, 2)
        k = rope(self.k(h).view(B, T, KVH, hd), start).transpose(1, 2)
        v = self.v(h).view(B, T, KVH, hd).transpose(1, 2)
        if cache is not None:
            if "k" in cache:
                k = torch.cat((cache["k"], k), 2)
                v = torch.cat((cache["v"], v), 2)
            cache["k"], cache["v"] = k, v
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        s = (q @ k.transpose(-1, -2)) / hd ** 0.5
        S = k.shape[2]
        s = s.masked_fill(torch.ones(T, S, dtype=torch.bool).triu(S - T + 1), float("-inf"))
        a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(a)
        h = self.n2(x)
        return x + self.d(F.silu(self.g(h)) * self.u(h))

class Llama(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, 1 if value else V, bias=False)
    def forward(self, idx, caches=None, start=0):
        x = self.emb(idx)
        for i, b in enumerate(self.blocks):
            x = b(x, caches[i] if caches is not None else None, start)
        return self.head(self.norm(x))

policy, ref, rm, critic = Llama(False), Llama(False), Llama(True), Llama(True)
ref.load_state_dict(policy.state_dict())
critic.load_state_dict(rm.state_dict())
for m in (ref, rm):
    m.requires_grad_(False)

def adamw(m):
    decay = [p for p in m.parameters() if p.dim() == 2]
    rest = [p for p in m.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                             lr=1e-6, betas=(0.9, 0.95), eps=1e-5)

opt_p, opt_c = adamw(policy), adamw(critic)
beta, gamma, lam, clip, vclip, temp = 0.01, 1.0, 0.95, 0.2, 0.2, 1.0

def logp_of(model, seq):
    z = model(seq)[:, P - 1:-1] / temp
    return torch.log_softmax(z, -1).gather(2, seq[:, P:, None]).squeeze(2)

phases = []
for it in range(ITERS):
    t0 = time.perf_counter()
    with torch.no_grad():  # batched KV-cache sampling
        prompt = torch.randint(0, V, (N, P))
        caches = [dict() for _ in range(L)]
        z = policy(prompt, caches, 0)[:, -1]
        toks = []
        for g in range(G):
            t = torch.multinomial(torch.softmax(z / temp, -1), 1)
            toks.append(t)
            if g + 1 < G:
                z = policy(t, caches, P + g)[:, -1]
        seq = torch.cat([prompt] + toks, 1)
    t1 = time.perf_counter()
    with torch.no_grad():
        score = rm(seq)[:, -1, 0]
        score = (score - score.mean()) / torch.sqrt(score.var(unbiased=False) + 1e-8)
    t2 = time.perf_counter()
    with torch.no_grad():
        lp_old, lp_ref = logp_of(policy, seq), logp_of(ref, seq)
        values = critic(seq)[:, P - 1:-1, 0]
        r = -beta * (lp_old - lp_ref)
        r[:, -1] += score
        adv, nxt_v, nxt_a = torch.zeros_like(r), torch.zeros(N), torch.zeros(N)
        for t in reversed(range(G)):
            delta = r[:, t] + gamma * nxt_v - values[:, t]
            nxt_a = delta + gamma * lam * nxt_a
            adv[:, t] = nxt_a
            nxt_v = values[:, t]
        ret = adv + values
        adv = (adv - adv.mean()) / torch.sqrt(adv.var(unbiased=False) + 1e-8)
    t3 = time.perf_counter()
    order = torch.randperm(N)
    for m0 in range(0, N, MB):
        idx = order[m0:m0 + MB]
        s = seq[idx]
        ratio = torch.exp(logp_of(policy, s) - lp_old[idx])
        a = adv[idx]
        pg = torch.max(-a * ratio, -a * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
        v = critic(s)[:, P - 1:-1, 0]
        vc = values[idx] + torch.clamp(v - values[idx], -vclip, vclip)
        vl = 0.5 * torch.max((v - ret[idx]) ** 2, (vc - ret[idx]) ** 2).mean()
        opt_p.zero_grad(set_to_none=True)
        opt_c.zero_grad(set_to_none=True)
        (pg + vl).backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        torch.nn.utils.clip_grad_norm_(critic.parameters(), 1.0)
        opt_p.step()
        opt_c.step()
    t4 = time.perf_counter()
    phases.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0))
med = [statistics.median(p[i] for p in phases[1:]) for i in range(5)]
print(" ".join(f"{x:.3f}" for x in med))
