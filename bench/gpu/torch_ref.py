#!/usr/bin/env python3
"""torch_ref.py - the PyTorch recipe spindle's CUDA trainer is measured against (issue 10):
HuggingFace transformers LlamaForCausalLM, attn_implementation="sdpa", fp32 master weights under
bf16 autocast, fused AdamW (Llama 2 betas), global-norm clipping, one step = forward + backward +
clip + AdamW, on random tokens. Prints one JSON line per run, in bench_step.c's format:
  {"impl":"torch-eager"|"torch-compile","config":...,"tokens_per_s":...,"mfu":...}
Usage: torch_ref.py CONFIG [steps [micro_batch [seq [eager|compile]]]]"""
import json
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

CONFIGS = {
    "tiny": dict(hidden_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=688, vocab_size=512),
    "124m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
                 intermediate_size=2048, vocab_size=32000),
    "350m": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=4,
                 intermediate_size=2816, vocab_size=32000),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=16, num_key_value_heads=4,
               intermediate_size=5632, vocab_size=32000),
}


def main():
    name = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    B = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    T = int(sys.argv[4]) if len(sys.argv) > 4 else 4096
    mode = sys.argv[5] if len(sys.argv) > 5 else "eager"
    c = CONFIGS[name]
    cfg = LlamaConfig(max_position_embeddings=T, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                      attn_implementation="sdpa", **c)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), eps=1e-5, weight_decay=0.1, fused=True)
    fwd = torch.compile(model) if mode == "compile" else model
    x = torch.randint(0, c["vocab_size"], (B, T + 1), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fwd(input_ids=x[:, :-1], labels=x[:, 1:].contiguous()).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(3 if mode == "compile" else 2):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    n = sum(p.numel() for p in model.parameters()) - model.model.embed_tokens.weight.numel()
    flops_tok = 6 * n + 12 * c["num_hidden_layers"] * c["hidden_size"] * T
    tps = B * T / dt
    print(json.dumps({"impl": "torch-" + mode, "config": name, "device": torch.cuda.get_device_name(0),
                      "micro_batch": B, "seq": T, "step_ms": round(dt * 1e3, 2), "tokens_per_s": round(tps),
                      "mfu": round(tps * flops_tok / 989e12, 4), "loss": round(loss.item(), 4)}), flush=True)


if __name__ == "__main__":
    main()
