#!/usr/bin/python3
# torch_ddp.py - the PyTorch side of bench/mpi/run.sh: bench/train/torch_llama.py's model (its
# definitions are read from that file, not copied) trained by WORLD processes under
# DistributedDataParallel with the gloo backend (bucketed all-reduce overlapped with backward),
# one thread each, BATCH rows per process. Prints the global tokens/s (median step after the first
# two, rank 0's clock). Usage: torch_ddp.py DIM LAYERS HEADS KV_HEADS HIDDEN VOCAB BATCH SEQ STEPS WORLD
import os, sys, time, statistics
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

ARGS = sys.argv[1:11]

def worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../train/torch_llama.py")).read()
    g = {"__name__": "torch_llama"}
    sys.argv = ["torch_llama.py"] + ARGS[:9] + ["1"]   # one thread per process
    exec(compile(src.split("\nm = Llama()")[0], "torch_llama.py", "exec"), g)
    torch.manual_seed(0)
    B, T, V, STEPS = g["B"], g["T"], g["V"], g["STEPS"]
    m = torch.nn.parallel.DistributedDataParallel(g["Llama"]())
    ps = list(m.named_parameters())
    opt = torch.optim.AdamW([{"params": [p for n, p in ps if p.dim() == 2], "weight_decay": 0.1},
                             {"params": [p for n, p in ps if p.dim() < 2], "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-5)
    times = []
    for step in range(STEPS):
        x = torch.randint(0, V, (B, T))
        y = torch.randint(0, V, (B, T))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(m(x).view(-1, V), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    if rank == 0:
        with open(out, "w") as f:
            f.write(f"{world * B * T / statistics.median(times[2:]):.1f}\n")
    dist.destroy_process_group()

if __name__ == "__main__":
    world = int(sys.argv[10])
    out = f"/tmp/torch_ddp.{os.getpid()}"
    port = 29500 + os.getpid() % 1000
    mp.spawn(worker, args=(world, port, out), nprocs=world, join=True)
    print(open(out).read().strip())
    os.unlink(out)
