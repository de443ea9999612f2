"""OKD vs KD: time per training step, same student, teacher and batch, in one process.

    .venv/bin/python benchmarks/okd_step_time.py [--steps 30] [--reps 5] [--generators fusion,adv]

A step is the method's ``training_step`` + backward + SGD step on one fixed batch (64 Digits-DG-sized
images, 3x32x32). Steps alternate between KD and each OKD variant in rounds, so machine noise hits all
of them; the median over rounds of the mean step time is printed, as wall time and as this process's
CPU time (``time.process_time``, less sensitive to other processes on a shared machine), with the ratio
OKD / KD. The paper expects OKD to cost below 1.7x KD per step. A second figure runs ``fit()`` for one
epoch over 1,024 images (data loading included) for KD and OKD (fusion) and prints the throughput ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from trustlab.engine.fit import fit
from trustlab.experiment import TrainConfig
from trustlab.methods.okd.method import KD, OKD, OKDConfig
from trustlab.models import build_model


def build(kind: str, student: str, s_width: float, teacher: str, t_width: float) -> torch.nn.Module:
    torch.manual_seed(0)
    s = build_model(student, 10, 32, width=s_width)
    t = build_model(teacher, 10, 32, width=t_width)
    if kind == "kd":
        return KD(s, t)
    gen, _, joint = kind.removeprefix("okd-").partition("+")
    return OKD(s, t, OKDConfig(generator=gen, joint_forward=joint == "joint"))


def time_steps(method: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor], steps: int) -> tuple[float, float]:
    """Mean (wall, cpu) seconds per step over ``steps`` steps."""
    opt = method.configure_optimizers(TrainConfig(lr=0.01))
    method.train()
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss = method.training_step(batch)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - w0) / steps, (time.process_time() - c0) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--student", default="small_cnn")
    ap.add_argument("--student-width", type=float, default=0.125)
    ap.add_argument("--teacher", default="small_cnn")
    ap.add_argument("--teacher-width", type=float, default=0.5)
    ap.add_argument("--generators", default="fusion,mixup,cutmix,jigsaw,noise,adv,fusion+joint")
    ap.add_argument("--no-fit", action="store_true", help="skip the fit() throughput figure")
    args = ap.parse_args()

    g = torch.Generator().manual_seed(0)
    batch = (torch.rand(args.batch_size, 3, 32, 32, generator=g), torch.randint(0, 10, (args.batch_size,), generator=g))
    kinds = ["kd"] + [f"okd-{name}" for name in args.generators.split(",") if name]
    methods = {k: build(k, args.student, args.student_width, args.teacher, args.teacher_width) for k in kinds}
    wall: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    for rep in range(args.reps + 1):
        for k, m in methods.items():
            w, c = time_steps(m, batch, args.steps)
            if rep:  # the first round warms up allocators and caches
                wall[k].append(w)
                cpu[k].append(c)
    print(f"student={args.student} w{args.student_width}  teacher={args.teacher} w{args.teacher_width}  "
          f"batch={args.batch_size}  threads={torch.get_num_threads()}  steps={args.steps} x {args.reps} rounds")
    kd_w, kd_c = statistics.median(wall["kd"]), statistics.median(cpu["kd"])
    print(f"{'method':<18} {'wall ms/step':>13} {'cpu ms/step':>12} {'wall ratio':>11} {'cpu ratio':>10}")
    for k in kinds:
        w, c = statistics.median(wall[k]), statistics.median(cpu[k])
        print(f"{k:<18} {w * 1000:13.1f} {c * 1000:12.1f} {w / kd_w:11.2f} {c / kd_c:10.2f}")
    print("paper's expectation: OKD / KD below 1.7x per step")

    if not args.no_fit:
        images = torch.randint(0, 256, (1024, 32, 32, 3), generator=g, dtype=torch.uint8).numpy()
        from trustlab.data.base import TensorImageDataset

        data = TensorImageDataset(images, torch.randint(0, 10, (1024,), generator=g))
        cfg = TrainConfig(epochs=1, device="cpu", lr=0.01, deterministic=False)
        rates: dict[str, list[float]] = {"kd": [], "okd-fusion": []}
        for _ in range(3):
            for k in rates:
                m = build(k, args.student, args.student_width, args.teacher, args.teacher_width)
                rates[k].append(fit(m, data, cfg, batch_size=args.batch_size, quiet=True).samples_per_second)
        kd_r, okd_r = statistics.median(rates["kd"]), statistics.median(rates["okd-fusion"])
        print(f"fit() one epoch, 1024 images: KD {kd_r:.0f} samples/s, OKD {okd_r:.0f} samples/s, "
              f"time ratio OKD/KD {kd_r / okd_r:.2f}")


if __name__ == "__main__":
    main()
