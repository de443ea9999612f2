"""Engine overhead: throughput of trustlab's fit() vs a bare PyTorch loop, same model/data, one run; and the
fit() of an earlier commit beside today's (the loop before the split into state / epoch / step).

    .venv/bin/python benchmarks/engine_overhead.py [--reps 3] [--n 2048] [--base c4ca20e] [--clock cpu]

All loops do the same work per step (forward, cross-entropy, backward, SGD step, LR schedule step).
Runs alternate (bare, fit, old fit, bare, ...) so machine noise hits all; the ratios of the median
throughputs are printed. Target: fit / bare >= 0.95. ``--base`` is any git revision whose
``src/trustlab/engine/fit.py`` still imports against today's package (the old module is loaded from
``git show``; ``--base none`` skips it).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from trustlab.engine.fit import fit
from trustlab.engine.optim import build_optimizer, build_scheduler
from trustlab.engine.runtime import seed_everything
from trustlab.experiment import TrainConfig
from trustlab.methods.erm.method import ERM
from trustlab.models import build_model

BASE = "c4ca20e"  # the last commit with the 148-line fit()


def old_fit_module(rev: str) -> ModuleType:
    """``trustlab.engine.fit`` as it was at ``rev``, imported as a separate module."""
    root = Path(__file__).resolve().parents[1]
    src = subprocess.run(["git", "show", f"{rev}:src/trustlab/engine/fit.py"], cwd=root, check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"fit_{rev}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"fit_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


CLOCK = time.perf_counter  # --clock cpu: time.process_time (this process's CPU time: steadier on a loaded machine)


def bare_loop(model, data, cfg: TrainConfig, batch_size: int) -> float:
    opt = build_optimizer(model.parameters(), cfg)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)
    sched = build_scheduler(opt, cfg, len(loader))
    model.train()
    n, t0 = 0, CLOCK()
    for _ in range(cfg.epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            n += len(y)
    return n / (CLOCK() - t0)


def engine_loop(fit_fn, model, data, cfg: TrainConfig, batch_size: int) -> float:
    t0 = CLOCK()
    res = fit_fn(ERM(model), data, cfg, batch_size=batch_size, quiet=True)
    return res.samples_per_second if CLOCK is time.perf_counter else res.steps * batch_size / (CLOCK() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--model", default="small_cnn")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--base", default=BASE, help="git revision of the old fit() to time beside (none: skip)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: samples per wall second; cpu: per CPU second of this process (includes fit's setup)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(args.n, 3, 32, 32, generator=g), torch.randint(0, 10, (args.n,), generator=g))
    cfg = TrainConfig(epochs=1, device="cpu", lr=0.01, deterministic=False)
    loops = {"bare loop": None, "fit()": fit}
    if args.base != "none":
        loops[f"fit()@{args.base}"] = old_fit_module(args.base).fit
    runs: dict[str, list[float]] = {k: [] for k in loops}
    for rep in range(args.reps + 1):
        for name, fit_fn in loops.items():
            seed_everything(rep, deterministic=False)
            model = build_model(args.model, 10, 32, args.width)
            v = bare_loop(model, data, cfg, args.batch_size) if fit_fn is None else \
                engine_loop(fit_fn, model, data, cfg, args.batch_size)
            if rep:  # the first round warms up caches and allocators
                runs[name].append(v)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"model={args.model} width={args.width} n={args.n} batch={args.batch_size} threads={torch.get_num_threads()} "
          f"clock={args.clock}")
    for name, vals in runs.items():
        print(f"{name:<16}: {med[name]:8.1f} samples/s  (runs: {', '.join(f'{v:.0f}' for v in vals)})")
    bare = med["bare loop"]
    for name in list(loops)[1:]:
        print(f"ratio {name} / bare = {med[name] / bare:.3f}  (target >= 0.95)")
    if len(loops) == 3:
        old = list(loops)[2]
        print(f"ratio fit() / {old} = {med['fit()'] / med[old]:.3f}")


if __name__ == "__main__":
    main()
