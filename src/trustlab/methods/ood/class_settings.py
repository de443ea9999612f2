"""Novelty detection (``ood/nd``) and open-set recognition (``ood/osr``) on class splits of one dataset.

Both split the ID dataset's classes into *known* (trained on) and *unknown* (held out). A classifier is
trained on the known classes only (labels remapped to 0..K-1); every detector is fit on its training
features and scores the known-class test images (ID) against the unknown-class test images.

* ND reports the detection metrics of one split (``split.known_classes``, else the first random split).
* OSR (Neal et al. 2018 protocol, MNIST-6/4 style: ``split.known`` of the classes, ``split.splits`` random
  splits) also reports the closed-set accuracy on known classes and OSCR, as mean and std over splits.
  Vaze et al., "Open-Set Recognition: a Good Closed-Set Classifier is All You Need?", ICLR 2022
  (https://arxiv.org/abs/2110.06207) found that better closed-set accuracy gives better open-set AUROC.

APS uses ID-val (held out of the known-class training images) vs the embedded OOD-val sources; the
unknown classes are never used for any choice.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from trustlab.data.mnist import ImageSplits
from trustlab.engine.runtime import seed_everything
from trustlab.errors import ConfigError, DataError
from trustlab.methods.ood import data as D
from trustlab.methods.ood.common import (
    aps_table,
    check_detectors,
    grey_set,
    grids_of,
    save_scores,
    subset,
    train_classifier,
    write_figures,
)
from trustlab.methods.ood.config import NDRecipeConfig, SplitRecipeConfig
from trustlab.methods.ood.evaluate import DetectorResult, EvalSet, evaluate, pool, tunable
from trustlab.metrics.ood import closed_set_accuracy, oscr
from trustlab.recipes import RunContext

METRICS = ("auroc", "fpr95", "aupr_in", "aupr_out")


def class_splits(num_classes: int, known: int, splits: int, known_classes: list[int], seed: int) -> list[list[int]]:
    """Known-class lists: the explicit ``known_classes``, else ``splits`` random draws of ``known`` classes."""
    if known_classes:
        bad = [c for c in known_classes if not 0 <= int(c) < num_classes]
        if bad:
            raise ConfigError(f"split.known_classes has class ids {bad} outside 0..{num_classes - 1}")
        ks = sorted({int(c) for c in known_classes})
        if len(ks) != len(known_classes):
            raise ConfigError(f"split.known_classes lists a class twice: {known_classes}")
        out = [ks]
    else:
        if splits < 1:
            raise ConfigError(f"split.splits must be >= 1, got {splits}")
        rng = np.random.default_rng(seed)
        out = [sorted(rng.choice(num_classes, size=min(max(known, 0), num_classes), replace=False).tolist())
               for _ in range(splits)]
    for ks in out:
        if len(ks) == 0 or len(ks) == num_classes:
            side = "known" if not ks else "unknown"
            raise ConfigError(
                f"class split has an empty {side} side ({len(ks)} of {num_classes} classes known); "
                f"use 2..{num_classes - 1} known classes (split.known or split.known_classes)"
            )
        if len(ks) < 2:
            raise ConfigError("a class split needs >= 2 known classes to train a classifier; use ood/ad for one class")
    return out


def run_split(cfg: NDRecipeConfig | SplitRecipeConfig, ctx: RunContext, ids: ImageSplits, known: list[int],
              dets: list[str], log: bool, figures: bool,
              tag: str = "") -> tuple[dict[str, DetectorResult], dict[str, Any]]:
    """Train on ``known`` classes and score known vs unknown test images with every detector.

    ``log``: the engine logs training curves and checkpoints into the run record (single-model runs only).
    """
    s = cfg.split
    remap = np.full(len(ids.classes), -1, dtype=np.int64)
    remap[known] = np.arange(len(known))
    tr_mask, te_mask = remap[ids.y_train] >= 0, remap[ids.y_test] >= 0
    x_tr, y_tr = ids.x_train[tr_mask], remap[ids.y_train[tr_mask]]
    perm = np.random.default_rng(cfg.data.split_seed).permutation(len(y_tr))
    val_idx, pool_idx = np.sort(perm[: s.id_val]), np.sort(perm[s.id_val :])
    tr_idx = pool_idx[subset(len(pool_idx), cfg.data.max_per_domain, cfg.data.split_seed, y_tr[pool_idx])]
    x_kn, y_kn = ids.x_test[te_mask], remap[ids.y_test[te_mask]]
    x_un = ids.x_test[~te_mask]
    kn_idx = subset(len(y_kn), s.max_test, cfg.data.split_seed, y_kn)
    un_idx = subset(len(x_un), s.max_test, cfg.data.split_seed, ids.y_test[~te_mask])
    if len(kn_idx) == 0 or len(un_idx) == 0:
        raise DataError(f"split {known}: the known or unknown test side is empty; use another class split")
    train_set, val_set = grey_set(x_tr[tr_idx], y_tr[tr_idx]), grey_set(x_tr[val_idx], y_tr[val_idx])
    model, info = train_classifier(cfg.model, cfg.train, cfg.data, train_set, val_set, len(known), 1, ctx, log=log)
    fit_out = EvalSet.build("fit", model, train_set).outputs
    id_test = EvalSet.build("known", model, grey_set(x_kn[kn_idx], y_kn[kn_idx]))
    unknown = EvalSet.build("unknown", model, grey_set(x_un[un_idx]))
    val = None
    grids = grids_of(cfg.detectors)
    if cfg.detectors.aps and s.val and len(val_set) and tunable(dets, cfg.detectors.params, fit_out, *grids):
        parts = [EvalSet.build(n, model, grey_set(D.load_source(n, s.val_size or None, seed=cfg.data.split_seed)))
                 for n in s.val]
        val = (EvalSet.build("id_val", model, val_set), pool("ood_val", parts))
    results = evaluate(dets, model, fit_out, id_test, {"unknown": [unknown]}, (), val, cfg.detectors.params,
                       train_set if "deep_svdd" in dets else None, *grids)
    correct = (id_test.outputs.logits.argmax(1) == id_test.outputs.labels).numpy()
    for r in results.values():
        r.metrics["unknown"]["oscr"] = oscr(r.scores["known"], r.scores["unknown"], correct)
    if figures:
        write_figures(ctx.record, results, "known", {"unknown": ["unknown"]}, prefix=tag)
    acc = closed_set_accuracy(id_test.outputs.logits, id_test.outputs.labels)
    return results, {"acc": acc, "known": known, "train_size": len(train_set), "aps": val is not None, **info}


def _names(ids: ImageSplits, classes: list[int]) -> str:
    return ", ".join(ids.classes[c] for c in classes)


def run_nd(cfg: NDRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    """Novelty detection: one known/unknown split; detection metrics per detector."""
    t0 = time.perf_counter()
    dets = check_detectors(cfg.detectors)
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    ids = D.load_id(cfg.data.name)
    known = class_splits(len(ids.classes), cfg.split.known, 1, cfg.split.known_classes, cfg.split.split_seed)[0]
    results, info = run_split(cfg, ctx, ids, known, dets, log=True, figures=cfg.split.figures)
    save_scores(ctx.record, results)
    unknown = [c for c in range(len(ids.classes)) if c not in known]
    return {
        "id_dataset": ids.name, "known_classes": _names(ids, known), "unknown_classes": _names(ids, unknown),
        "closed_set_acc": info["acc"], "train_size": info["train_size"], "aps": info["aps"],
        "best_auroc": max(r.metrics["unknown"]["auroc"] for r in results.values()),
        "best_detector": max(results, key=lambda d: results[d].metrics["unknown"]["auroc"]),
        "leaderboard": {d: {m: r.metrics["unknown"][m] for m in METRICS} for d, r in results.items()},
        "aps_choice": aps_table(results), "seconds": time.perf_counter() - t0,
    }


def run_osr(cfg: SplitRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    """Open-set recognition over random class splits: accuracy, AUROC, OSCR (mean and std over splits)."""
    t0 = time.perf_counter()
    dets = check_detectors(cfg.detectors)
    ids = D.load_id(cfg.data.name)
    s = cfg.split
    splits = class_splits(len(ids.classes), s.known, s.splits, s.known_classes, s.split_seed)
    per_split: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[str, list[float]]] = {d: {} for d in dets}
    accs = []
    for i, known in enumerate(splits):
        seed_everything(cfg.train.seed + i, cfg.train.deterministic)
        results, info = run_split(cfg, ctx, ids, known, dets, log=len(splits) == 1, figures=s.figures and i == 0,
                                  tag=f"split{i}_")
        save_scores(ctx.record, results, f"scores_split{i}.npz")
        accs.append(info["acc"])
        per_split[f"split {i}"] = {"known": ",".join(map(str, known)), "acc": info["acc"],
                                   **{f"{d}/auroc": r.metrics["unknown"]["auroc"] for d, r in results.items()}}
        for d, r in results.items():
            for m in (*METRICS, "oscr"):
                rows[d].setdefault(m, []).append(r.metrics["unknown"][m])
        ctx.record.log({"split": i, "acc": info["acc"], **{f"{d}/auroc": r.metrics["unknown"]["auroc"]
                                                           for d, r in results.items()}})
    board = {d: {**{m: float(np.mean(v)) for m, v in ms.items()},
                 "auroc_std": float(np.std(ms["auroc"])), "oscr_std": float(np.std(ms["oscr"]))}
             for d, ms in rows.items()}
    return {
        "id_dataset": ids.name, "splits": len(splits), "known_per_split": len(splits[0]),
        "closed_set_acc": float(np.mean(accs)), "closed_set_acc_std": float(np.std(accs)),
        **{f"{d}_auroc": board[d]["auroc"] for d in dets}, **{f"{d}_oscr": board[d]["oscr"] for d in dets},
        "leaderboard": board, "per_split": per_split, "seconds": time.perf_counter() - t0,
    }
