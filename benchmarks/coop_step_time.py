"""CoOp cost: a CoOp training step vs a linear-probe step, and how the text tower's cost grows with classes.

CoOp back-propagates through the frozen text encoder for *every class* at *every step* (the prompts of all K
classes are encoded to get the classifier weights), so a step costs O(K * L) text-token work, whatever the batch;
a linear probe step on cached image features is one (B, d) x (d, K) product. Image features are cached in both
(the image encoder is frozen), so neither pays for the image tower per step. Measured side by side in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/coop_step_time.py [--arch tiny] [--repeats 20]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F


def _time(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="tiny", help="tiny (random init) or an open_clip architecture")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from trustlab.methods.coop.clip_model import build_clip, freeze
    from trustlab.methods.coop.config import CoOpConfig
    from trustlab.methods.coop.method import CoOp

    clip = build_clip(args.arch, None)
    freeze(clip.model)
    dim = clip.model.text_projection.shape[1] if clip.model.text_projection is not None else 64
    words = "zero one two three four five six seven eight nine red green blue yellow purple white plain brick grass " \
            "gravel fur left right centre handwritten printed outlined cat dog car ship bird frog horse deer truck " \
            "plane apple chair lamp".split()
    print(f"arch {args.arch}, context length {clip.context_length}, batch {args.batch}, 1 torch thread")
    print(f"{'classes':>8} {'coop step ms':>13} {'probe step ms':>14} {'coop/probe':>11} {'coop ms/class':>14}")
    for k in (2, 5, 10, 20, 40):
        names = words[:k]
        feats = F.normalize(torch.randn(args.batch, dim), dim=-1)
        y = torch.randint(0, k, (args.batch,))
        model = CoOp(clip, names, CoOpConfig(n_ctx=16))
        opt = torch.optim.SGD([model.prompt_learner.ctx], lr=0.002, momentum=0.9)

        def coop_step(model=model, feats=feats, y=y, opt=opt) -> None:
            loss = F.cross_entropy(model.logits_from_features(feats), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        probe = torch.nn.Linear(dim, k)
        popt = torch.optim.SGD(probe.parameters(), lr=0.1)

        def probe_step(probe=probe, feats=feats, y=y, popt=popt) -> None:
            loss = F.cross_entropy(probe(feats), y)
            popt.zero_grad()
            loss.backward()
            popt.step()

        tc, tp = _time(coop_step, args.repeats), _time(probe_step, args.repeats)
        print(f"{k:>8} {tc * 1e3:>13.2f} {tp * 1e3:>14.3f} {tc / tp:>11.0f} {tc * 1e3 / k:>14.3f}")


if __name__ == "__main__":
    main()
