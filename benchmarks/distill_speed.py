"""Time per distillation iteration of DC, DSA, DM and DD (+ DOORPING's overhead), printed as ratios.

One iteration = one outer iteration of the method (DC/DSA: ``outer_loop`` gradient-matching rounds with
inner training in between; DM: one embedding network, all classes; DD: ``dd_steps`` unrolled steps).
Data: MNIST-5k padded to 32 px, ipc 10, small_cnn. Machines are noisy (and shared): the ratios in one run
are the result, absolute seconds only describe this machine at this moment.

    .venv/bin/python benchmarks/distill_speed.py [--width 0.125] [--iterations 3] [--threads 2] [--full]
        [--net dc|reference] [--trigger-steps 1000]

``--net reference`` is the backdoor reference's ConvNet (no norm, 192-unit hidden layer), the default of
the ``backdoor/*`` recipes; DOORPING (bounded trigger, MNIST's normalised units) runs up to
``--trigger-steps`` Adam steps per update (the reference's 1000; fewer when its early stop, or the
pinned-pattern stop, ends the update). Times are CPU seconds of this process (``time.process_time``).

``--full`` uses the reference's DC loops (outer 10 / inner 50) and batch_real 256 (slow on a CPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import asdict

import torch

from trustlab.experiment import DataConfig
from trustlab.methods.doorping.attack import Doorping
from trustlab.methods.doorping.data import load_source
from trustlab.methods.doorping.distill import RealData, build_distiller
from trustlab.methods.doorping.config import NETS, AttackConfig, DistillConfig, resolved
from trustlab.models import build_model


def time_method(method: str, width: float, iterations: int, full: bool, doorping: bool, net: str = "dc",
                trigger_steps: int = 1000) -> float:
    """Median CPU seconds per iteration (after one warm-up iteration)."""
    src = load_source(DataConfig(name="mnist5k", image_size=32))
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    loops = {} if full else {"outer_loop": 2, "inner_loop": 1}
    cfg = resolved(DistillConfig(method=method, ipc=10, batch_real=256 if full else 64, **loops))
    x, y = src.x_train, src.y_train
    hook = None
    if doorping:
        attack = Doorping(AttackConfig(kind="doorping", trigger_steps=trigger_steps, trigger_unit=0.3081),
                          src.shape, 10, gen)
        x, y = attack.poison(x, y)
    real = RealData(x, y, 10, gen)
    if doorping:
        attack.bind(real)
        hook = attack.on_network
    distiller = build_distiller(
        cfg, lambda: build_model("small_cnn", 10, input_size=32, width=width, in_chans=1, **asdict(NETS[net])),
        10, torch.device("cpu"))
    images = torch.rand(100, 1, 32, 32, requires_grad=True)
    distiller.setup(images)
    times = []
    for it in range(iterations + 1):
        t = time.process_time()  # CPU seconds of this process: wall time is meaningless on a loaded machine
        distiller.step(it, images, real, hook)
        if it:
            times.append(time.process_time() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=float, default=0.125)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    p.add_argument("--full", action="store_true")
    p.add_argument("--net", choices=sorted(NETS), default="dc")
    p.add_argument("--trigger-steps", type=int, default=1000)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; small_cnn width {args.width}, ipc 10, MNIST-5k at 32 px, "
          f"{'reference loops (10/50), batch_real 256' if args.full else 'outer 2 / inner 1, batch_real 64'}; "
          f"net {args.net}, DOORPING up to {args.trigger_steps} trigger steps per update")
    kw = {"net": args.net, "trigger_steps": args.trigger_steps}
    rows = {m: time_method(m, args.width, args.iterations, args.full, False, **kw) for m in ("dc", "dsa", "dm", "dd")}
    rows["dc+doorping"] = time_method("dc", args.width, args.iterations, args.full, True, **kw)
    rows["dm+doorping"] = time_method("dm", args.width, args.iterations, args.full, True, **kw)
    base = rows["dm"]
    print(f"{'method':<14} {'CPU s/iter':>12} {'x DM':>8}")
    for name, sec in rows.items():
        print(f"{name:<14} {sec:>12.3f} {sec / base:>8.2f}")
    print(f"DC / DM: {rows['dc'] / rows['dm']:.2f}; DOORPING overhead: DC x{rows['dc+doorping'] / rows['dc']:.2f}, "
          f"DM x{rows['dm+doorping'] / rows['dm']:.2f}")


if __name__ == "__main__":
    main()
