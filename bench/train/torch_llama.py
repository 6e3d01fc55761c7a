#!/usr/bin/python3
# torch_llama.py - the PyTorch side of bench/train/run.sh: the same Llama model as `spindle train`
# (RMSNorm, RoPE, GQA, SwiGLU, untied head), float32 on the CPU, AdamW with Llama 2's settings,
# timed per optimizer step. Prints the median tokens/s over the steps after the first two.
# Usage: torch_llama.py DIM LAYERS HEADS KV_HEADS HIDDEN VOCAB BATCH SEQ STEPS THREADS
import sys, time, statistics
import torch
import torch.nn as nn
import torch.nn.functional as F

D, L, H, KVH, FF, V, B, T, STEPS, THREADS = (int(x) for x in sys.argv[1:11])
torch.set_num_threads(THREADS)
torch.manual_seed(0)
hd, rep = D // H, H // KVH

class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight

inv = 10000.0 ** (-torch.arange(0, hd, 2).float() / hd)
ang = torch.arange(T).float()[:, None] * inv
emb = torch.cat((ang, ang), -1)
COS, SIN = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]

def rope(x):
    h = x.shape[-1] // 2
    return x * COS + torch.cat((-x[..., h:], x[..., :h]), -1) * SIN

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
    def forward(self, x):
        h = self.n1(x)
        q = rope(self.q(h).view(B, T, H, hd)).transpose(1, 2)
        k = rope(self.k(h).view(B, T, KVH, hd)).transpose(1, 2).repeat_interleave(rep, 1)
        v = self.v(h).view(B, T, KVH, hd).transpose(1, 2).repeat_interleave(rep, 1)
        s = (q @ k.transpose(-1, -2)) / hd ** 0.5
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(a)
        h = self.n2(x)
        return x + self.d(F.silu(self.g(h)) * self.u(h))

class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)
    def forward(self, idx):
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x))

m = Llama()
decay = [p for n, p in m.named_parameters() if p.dim() == 2]
no_decay = [p for n, p in m.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=3e-4, betas=(0.9, 0.95), eps=1e-5)
times = []
for step in range(STEPS):
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(m(x).view(-1, V), y.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    times.append(time.perf_counter() - t0)
n = sum(p.numel() for p in m.parameters())
print(f"{B * T / statistics.median(times[2:]):.1f} {n}")
