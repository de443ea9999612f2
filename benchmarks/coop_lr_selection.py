"""CoOp's context learning rate for the embedded tiny CLIP, chosen on few-shot *validation* data only.

The reference lr (0.002, SGD) was set for OpenAI's CLIP; on the tiny CLIP it leaves the context at its
initialisation. This study trains CoOp with each lr of a grid at the suites' schedule (``coop.epoch_scale``
0.25) on the same few shots as the ``coop/fewshot`` runs and scores it on the validation pool (scenes
1800-2199, all of it by default; ``--val-shots k`` scores on k per class instead, as the reference's linear
probe does); the test pool (2200-2999) is never read. The lr with the best mean validation accuracy over
tasks x shots x seeds is the tiny CLIP's default (``trustlab.methods.coop.method.TINY_LR``). Also printed:
how far the context moved, ||ctx - ctx_init|| / ||ctx_init||. Prints a markdown table (``--out``: JSON).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/coop_lr_selection.py [--seeds 0 1] [--out lr.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

GRID = (0.002, 0.01, 0.05, 0.2, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrs", type=float, nargs="+", default=list(GRID))
    ap.add_argument("--tasks", nargs="+", default=["digit", "colour", "background", "style", "position"])
    ap.add_argument("--shots", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--epoch-scale", type=float, default=0.25)
    ap.add_argument("--val-shots", type=int, default=0, help="0: the whole validation pool")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from trustlab.engine.runtime import seed_everything as set_seed
    from trustlab.methods.coop.config import CoOpConfig
    from trustlab.methods.coop.method import CoOp, coop_accuracy, fit_coop
    from trustlab.methods.coop.pretrain import load_pretrained_tiny
    from trustlab.methods.coop.tasks import embedded_task, sample_shots

    start, cpu0 = time.time(), time.process_time()
    clip = load_pretrained_tiny()
    acc: dict[float, dict[str, list[float]]] = {lr: {t: [] for t in args.tasks} for lr in args.lrs}
    moved: dict[float, list[float]] = {lr: [] for lr in args.lrs}
    for name in args.tasks:
        task = embedded_task(name)
        tr, va = task.pools["train"], task.pools["val"]  # the test pool is not touched
        ftr, fva = clip.encode_images(tr.x), clip.encode_images(va.x)
        k = len(task.classes)
        for seed in args.seeds:
            for s in args.shots:
                run_seed = seed * 1000 + s  # the same shots as coop/fewshot's run with train.seed = seed
                idx = sample_shots(tr.y, k, s, run_seed, task.classes)
                vidx = (sample_shots(va.y, k, min(s, args.val_shots), run_seed + 1, task.classes) if args.val_shots
                        else torch.arange(len(va.y)))
                for lr in args.lrs:
                    cfg = CoOpConfig(lr=lr, epoch_scale=args.epoch_scale)
                    set_seed(run_seed)
                    model = CoOp(clip, task.classes, cfg)
                    ctx0 = model.prompt_learner.ctx.detach().clone()
                    fit_coop(model, ftr[idx], tr.y[idx], cfg, s, run_seed)
                    acc[lr][name].append(coop_accuracy(model, fva[vidx], va.y[vidx]))
                    moved[lr].append(float((model.prompt_learner.ctx.detach() - ctx0).norm() / ctx0.norm()))
    mean = {lr: sum(sum(v) for v in acc[lr].values()) / sum(len(v) for v in acc[lr].values()) for lr in args.lrs}
    best = max(args.lrs, key=lambda lr: mean[lr])
    val = f"min(shots, {args.val_shots}) per class" if args.val_shots else "the whole validation pool"
    print(f"validation accuracy of CoOp ({val}), shots {args.shots}, seeds {args.seeds}, "
          f"epoch_scale {args.epoch_scale}")
    print("| lr | " + " | ".join(args.tasks) + " | mean | context moved |")
    print("|---" * (len(args.tasks) + 3) + "|")
    for lr in args.lrs:
        cells = [f"{sum(acc[lr][t]) / len(acc[lr][t]):.3f}" for t in args.tasks]
        drift = sum(moved[lr]) / len(moved[lr])
        mark = " (chosen)" if lr == best else ""
        print(f"| {lr:g}{mark} | " + " | ".join(cells) + f" | {mean[lr]:.3f} | {drift:.2f} |")
    cpu, wall = time.process_time() - cpu0, time.time() - start
    print(f"chosen lr {best:g}; {cpu:.0f} CPU-s, {wall:.0f} s wall")
    if args.out:
        out = {"args": vars(args), "accuracy": {str(k): v for k, v in acc.items()},
               "mean": {str(k): v for k, v in mean.items()}, "chosen": best,
               "moved": {str(k): v for k, v in moved.items()}, "cpu_seconds": cpu}
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
