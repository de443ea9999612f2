"""Engine overhead: throughput of trustlab's fit() vs a bare PyTorch loop, same model/data, one run.

    .venv/bin/python benchmarks/engine_overhead.py [--reps 3] [--n 2048]

Both loops do the same work per step (forward, cross-entropy, backward, SGD step, LR schedule step).
Runs alternate (bare, fit, bare, fit, ...) so machine noise hits both; the ratio of the median
throughputs is printed. Target: fit / bare >= 0.95.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from trustlab.engine.fit import fit
from trustlab.engine.optim import build_optimizer, build_scheduler
from trustlab.engine.runtime import seed_everything
from trustlab.experiment import TrainConfig
from trustlab.methods.erm.method import ERM
from trustlab.models import build_model


def bare_loop(model, data, cfg: TrainConfig, batch_size: int) -> float:
    opt = build_optimizer(model.parameters(), cfg)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    sched = build_scheduler(opt, cfg, len(loader))
    model.train()
    n, t0 = 0, time.perf_counter()
    for _ in range(cfg.epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            n += len(y)
    return n / (time.perf_counter() - t0)


def engine_loop(model, data, cfg: TrainConfig, batch_size: int) -> float:
    res = fit(ERM(model), data, cfg, batch_size=batch_size, quiet=True)
    return res.samples_per_second


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--model", default="small_cnn")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(args.n, 3, 32, 32, generator=g), torch.randint(0, 10, (args.n,), generator=g))
    cfg = TrainConfig(epochs=1, device="cpu", lr=0.01, deterministic=False)
    bare, eng = [], []
    for rep in range(args.reps + 1):
        seed_everything(rep, deterministic=False)
        b = bare_loop(build_model(args.model, 10, 32, args.width), data, cfg, args.batch_size)
        seed_everything(rep, deterministic=False)
        e = engine_loop(build_model(args.model, 10, 32, args.width), data, cfg, args.batch_size)
        if rep:  # the first pair warms up caches and allocators
            bare.append(b)
            eng.append(e)
    mb, me = statistics.median(bare), statistics.median(eng)
    print(f"model={args.model} width={args.width} n={args.n} batch={args.batch_size} threads={torch.get_num_threads()}")
    print(f"bare loop : {mb:8.1f} samples/s  (runs: {', '.join(f'{v:.0f}' for v in bare)})")
    print(f"fit()     : {me:8.1f} samples/s  (runs: {', '.join(f'{v:.0f}' for v in eng)})")
    print(f"ratio fit/bare = {me / mb:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
