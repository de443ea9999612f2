"""PMT-IQA inference speed: images per second of the multi-scale (MS) network vs the single-scale (SS) one.

    .venv/bin/python benchmarks/pmtiqa_speed.py [--backbone resnet18] [--width 0.125] [--patch 32]
                                                [--patches 4] [--n 256] [--threads 1] [--repeats 3]

Both networks share the backbone (same name, width, seed); they differ only in the three stage branches
(1x1 conv + pooled grid + Linear) the MS network adds. An "image" is scored as the mean over ``--patches``
random patches (the recipes' test protocol), so images/s = patches/s / patches. The two are timed
alternately ``--repeats`` times in the same process and the best time of each is kept (the machine is
shared); printed: images/s of each, the MS/SS time ratio, and the parameter counts.
"""

from __future__ import annotations

import argparse
import time

import torch

from trustlab.experiment import ModelConfig
from trustlab.methods.pmtiqa.config import PMTConfig
from trustlab.methods.pmtiqa.method import build_net, predict_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--patches", type=int, default=4)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    images = list(torch.randint(0, 256, (args.n, 3, 64, 64), dtype=torch.uint8, generator=g))
    nets = {}
    for ms in (True, False):
        torch.manual_seed(0)
        nets["MS" if ms else "SS"] = build_net(ModelConfig(name=args.backbone, width=args.width),
                                               PMTConfig(multi_scale=ms, patch_size=args.patch)).eval()
    best = {k: float("inf") for k in nets}
    for net in nets.values():  # warm-up
        predict_images(net, images[:16], args.patch, args.patches)
    for _ in range(args.repeats):
        for k, net in nets.items():
            t = time.perf_counter()
            predict_images(net, images, args.patch, args.patches)
            best[k] = min(best[k], time.perf_counter() - t)
    print(f"{args.backbone} width {args.width}, {args.patch}px patches x {args.patches} per image, "
          f"{args.n} images, {args.threads} thread(s), best of {args.repeats}")
    for k, net in nets.items():
        params = sum(p.numel() for p in net.parameters())
        print(f"  {k}: {args.n / best[k]:8.1f} images/s   ({params:,} parameters)")
    print(f"  MS / SS time ratio: {best['MS'] / best['SS']:.3f}")


if __name__ == "__main__":
    main()
