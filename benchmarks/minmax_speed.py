"""Attack speed: our PGD vs torchattacks' PGD (iterations per second), and the ensemble attack's
cost per iteration for K = 1, 2, 4, 8 models, in one run on one model, batch and device.

    .venv/bin/python benchmarks/minmax_speed.py [--reps 3] [--batch 64] [--steps 10] [--device cpu]

PGD: both attacks do `steps` iterations of forward + backward w.r.t. the input + sign step + clipping on
the same model and batch (outputs equal, see tests/parity). Runs alternate (torchattacks, ours, ...)
so machine noise hits both; the ratio of the median rates is printed. Target: ours / torchattacks >= 1.0.

Ensemble (min-max weighting; each iteration is one forward+backward per model for delta and one
forward per model for w): seconds per iteration for K models; linear growth means t(K) / (K t(1))
stays near 1 (printed as "per-model cost vs K=1").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from trustlab.methods.minmax.attacks import PGD, EnsembleAttack
from trustlab.models import build_model


def _model(seed: int, args: argparse.Namespace, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_model(args.model, 10, input_size=args.size, in_chans=args.chans, width=args.width)
    return net.to(device).eval()


def _rate(fn, steps: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--model", default="small_cnn")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--chans", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ks", default="1,2,4,8")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args()
    import torchattacks

    device = torch.device(args.device)
    model = _model(0, args, device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, args.chans, args.size, args.size, generator=g).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=g).to(device)
    ref = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=args.steps)
    ours = PGD(model, eps=8 / 255, step_size=2 / 255, steps=args.steps)
    ref(x, y), ours(x, y)  # warm-up
    theirs_r, ours_r = [], []
    for _ in range(args.reps):
        theirs_r.append(_rate(lambda: ref(x, y), args.steps, device))
        ours_r.append(_rate(lambda: ours(x, y), args.steps, device))
    pgd = {"torchattacks_it_s": statistics.median(theirs_r), "ours_it_s": statistics.median(ours_r)}
    pgd["ratio"] = pgd["ours_it_s"] / pgd["torchattacks_it_s"]
    print(f"device {device}, model {args.model} width {args.width}, batch {args.batch}x{args.chans}x{args.size}^2, "
          f"{args.steps} steps, median of {args.reps}")
    print(f"PGD it/s   torchattacks {pgd['torchattacks_it_s']:.2f}   ours {pgd['ours_it_s']:.2f}   "
          f"ratio {pgd['ratio']:.3f} (target >= 1.0)")

    ks = [int(k) for k in args.ks.split(",")]
    models = [_model(i, args, device) for i in range(max(ks))]
    ens: dict[int, float] = {}
    for k in ks:
        attack = EnsembleAttack(models[:k], eps=8 / 255, step_size=2 / 255, steps=args.steps, weighting="minmax")
        attack(x, y)
        ens[k] = 1.0 / statistics.median(
            _rate(lambda a=attack: a(x, y), args.steps, device) for _ in range(args.reps)
        )
    base = ens[ks[0]] / ks[0]
    print("ensemble (min-max) s/iteration:   " + "   ".join(f"K={k}: {ens[k] * 1000:.1f} ms" for k in ks))
    print("per-model cost vs K=1 (1.0 = linear): " + "   ".join(f"K={k}: {ens[k] / k / base:.2f}" for k in ks))
    print(f"vs one PGD iteration: K=1 min-max costs {ens[ks[0]] * pgd['ours_it_s']:.2f}x (extra forward for w)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"pgd": pgd, "ensemble_s_per_it": ens, "args": vars(args)}, fh, indent=2)


if __name__ == "__main__":
    main()
