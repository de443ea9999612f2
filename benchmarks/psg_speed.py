"""PSG inference speed: images per second of the two-stage model and of PSGTR (SGDet, batch of 64 test images,
CPU), measured side by side (alternating repetitions) in one process; and the cost of the metrics on 1,000
images (triplet recall with and without graph constraint, and PQ).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/psg_speed.py [--reps 3] [--images 1000]

Weights: trained ones from run folders (``--two-stage RUN --psgtr RUN``), else freshly initialised (the
two-stage cost depends on how many segments the segmenter finds, so trained weights give the real figure).
Metric cost: PredCls-style predictions (ground-truth masks, random pair scores) of the test scenes, repeated
to ``--images``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--two-stage", default=None, metavar="RUN_DIR", help="a psg/two-stage run: its trained weights")
    ap.add_argument("--psgtr", default=None, metavar="RUN_DIR", help="a psg/psgtr run: its trained weights")
    args = ap.parse_args()
    from trustlab.methods.psg.config import PSGDataConfig, PSGTRConfig, TwoStageConfig
    from trustlab.methods.psg.data import load_splits
    from trustlab.methods.psg.method import graphs_for, segment
    from trustlab.methods.psg.psgtr import PSGTR, decode
    from trustlab.methods.psg.twostage import RelationHead, TinyPanoptic, make_pred, predict_pairs
    from trustlab.metrics.psg import masks_to_panoptic, pq_compute, pq_update, triplet_recall

    torch.manual_seed(0)
    data, sp = load_splits(PSGDataConfig(max_test=64))
    ev = sp["test"]
    nc, npred, nth = data.num_classes, data.num_predicates, len(data.thing_classes)
    m = TwoStageConfig()
    seg = TinyPanoptic(nc, m.seg_width).eval()
    head = RelationHead(seg.feat_dim + 74, nc, npred, m.rel_dim).eval()
    tr = PSGTR(nc, npred, PSGTRConfig()).eval()
    if args.two_stage:
        state = torch.load(f"{args.two_stage}/checkpoints/model.pt", weights_only=False)
        seg.load_state_dict(state["segmenter"])
        head.load_state_dict(state["relation"])
    if args.psgtr:
        tr.load_state_dict(torch.load(f"{args.psgtr}/checkpoints/model.pt", weights_only=False)["model"])
    weights = "trained" if args.two_stage and args.psgtr else "untrained (give --two-stage/--psgtr run dirs)"

    def two_stage() -> list:
        feats, segs = segment(seg, ev.images, nth, m.min_area)
        g = graphs_for(feats, ev.images, [s[0] for s in segs], [s[1] for s in segs], ev.rels)
        out = []
        for i, (masks, _, sc) in enumerate(segs):
            if len(masks) < 2:
                continue
            pairs, probs, lab2, _ = predict_pairs(head, g.x[i], g.geo[i], g.labels[i], None, 0.0)
            out.append(make_pred(masks, lab2, pairs, probs, sc, True))
        return out

    def psgtr() -> list:
        with torch.no_grad():
            o = tr(ev.images)
            return [decode(o, b, 64, PSGTRConfig(), True) for b in range(len(ev))]

    times: dict[str, list[float]] = {"two-stage": [], "psgtr": []}
    for _ in range(args.reps):
        for name, fn in (("two-stage", two_stage), ("psgtr", psgtr)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    n = len(ev)
    for name, ts in times.items():
        print(f"{name:<10} SGDet inference: {n / statistics.median(ts):7.1f} images/s "
              f"(median of {args.reps}, batch {n}, {weights} weights)")
    ratio = statistics.median(times["two-stage"]) / statistics.median(times["psgtr"])
    print(f"ratio two-stage / PSGTR time: {ratio:.2f}")

    # metric cost on --images images: PredCls-style predictions from the GT masks with random pair scores
    rng = np.random.default_rng(0)
    gts, preds = [], []
    for i in range(args.images):
        gt = ev.gt(i % n)
        k = len(gt.labels)
        ii, jj = np.nonzero(~np.eye(k, dtype=bool))
        probs = rng.random((len(ii), npred))
        preds.append(make_pred(gt.masks, gt.labels, np.column_stack([ii, jj]), probs, np.ones(k), True))
        gts.append(gt)
    t = time.perf_counter()
    triplet_recall(gts, preds, npred)
    t_rec = time.perf_counter() - t
    t = time.perf_counter()
    stats = None
    for gt in gts:
        c, inst = masks_to_panoptic(gt.masks, gt.labels)
        stats = pq_update(c, inst, c, inst, nc, stats)
    pq_compute(stats)
    t_pq = time.perf_counter() - t
    print(f"metrics on {args.images} images: triplet recall (R/mR@20/50/100) {t_rec:.2f} s, PQ {t_pq:.2f} s; "
          f"recall / PQ time {t_rec / t_pq:.2f}")


if __name__ == "__main__":
    main()
