"""Anomaly detection (``ood/ad``) and outlier detection (``ood/od``) with classical and deep one-class detectors.

Both work in pixel space (32x32 grey images flattened to 1024-d for the scikit-learn detectors and KNN;
Deep SVDD reads the images). Post-hoc detectors need a classifier and are not used here; to run the
classical detectors on a classifier's *features*, name them in ``detectors.names`` of ``ood/ood``,
``ood/nd`` or ``ood/osr``.

* AD (one-class, Ruff et al. 2018 protocol): for each class c, the detectors are fit on training images
  of class c only; the test set (all classes) is scored with class c as normal; AUROC per class, and
  the mean over classes (one-vs-rest).
* OD (transductive, ODDS-style): one unlabelled set of ``od.size`` images of which a known share
  ``od.rate`` are outliers (from ``od.outliers`` sources, equal parts) and the rest ID training images;
  every detector is fit on the set and scores the same set (``Scorer.fit_score``: LOF uses the fit
  points' own LOF and KNN skips each point itself). The known rate sets the one-class SVM's ``nu``
  (unless given) and ``n`` in precision@n (= recall@n = F1 when flagging the n lowest scores).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from trustlab.engine.runtime import seed_everything
from trustlab.errors import ConfigError, DataError
from trustlab.methods.ood import data as D
from trustlab.methods.ood.base import Outputs, Scorer
from trustlab.methods.ood.common import check_detectors, id_hashes_of, save_scores, subset, write_figures
from trustlab.methods.ood.config import ADRecipeConfig, ODRecipeConfig
from trustlab.methods.ood.evaluate import DetectorResult, EvalSet, evaluate, make_detector
from trustlab.metrics.ood import aupr_out, auroc, check_scores, fpr_at_95, precision_at_n
from trustlab.recipes import RunContext


def pixels(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) -> float (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(x).float().div_(255.0).unsqueeze(1)


def pixel_set(name: str, x: np.ndarray) -> EvalSet:
    imgs = pixels(x)
    return EvalSet(name, imgs, Outputs(None, imgs.flatten(1)))


def _check_pixel_detectors(dets: list[str], params: dict[str, Any]) -> None:
    for n in dets:
        det = make_detector(n, params)
        if not det.pixels_ok:
            raise ConfigError(
                f"detector {n} needs a trained classifier; ood/ad and ood/od work on pixels with "
                "iforest, lof, ocsvm, knn or deep_svdd"
            )


def run_ad(cfg: ADRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    """One-vs-rest anomaly detection: each class normal in turn; AUROC per class and the mean."""
    t0 = time.perf_counter()
    dets = check_detectors(cfg.detectors)
    _check_pixel_detectors(dets, cfg.detectors.params)
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    ids = D.load_id(cfg.data.name)
    a = cfg.ad
    n_cls = len(ids.classes)
    classes = [int(c) for c in a.classes] or list(range(n_cls))
    bad = [c for c in classes if not 0 <= c < n_cls]
    if bad:
        raise ConfigError(f"ad.classes has class ids {bad} outside 0..{n_cls - 1}")
    te_idx = subset(len(ids.y_test), a.max_test, cfg.data.split_seed, ids.y_test)
    x_te, y_te = ids.x_test[te_idx], ids.y_test[te_idx]
    per_class: dict[str, dict[str, float]] = {d: {} for d in dets}
    for i, c in enumerate(classes):
        normal = ids.x_train[ids.y_train == c]
        normal = normal[subset(len(normal), a.max_normal, cfg.data.split_seed + c)]
        if (y_te == c).all() or not (y_te == c).any():
            raise DataError(f"class {c}: the test set has an empty normal or anomalous side; raise ad.max_test")
        fit_set = pixel_set("fit", normal)
        id_test, anomalies = pixel_set("normal", x_te[y_te == c]), pixel_set("anomalous", x_te[y_te != c])
        res = evaluate(dets, None, fit_set.outputs, id_test, {"anomalous": [anomalies]}, (), None,
                       cfg.detectors.params, fit_set.images)
        for d, r in res.items():
            per_class[d][ids.classes[c]] = r.metrics["anomalous"]["auroc"]
        if i == 0 and a.figures:
            write_figures(ctx.record, res, "normal", {"anomalous": ["anomalous"]}, prefix=f"class{c}_")
        ctx.record.log({"class": c, **{f"{d}/auroc": r.metrics["anomalous"]["auroc"] for d, r in res.items()}})
    mean_auroc = {d: float(np.mean(list(v.values()))) for d, v in per_class.items()}
    best = max(mean_auroc, key=mean_auroc.get)
    return {
        "id_dataset": ids.name, "classes": len(classes), "normal_per_class": int(a.max_normal),
        "test_size": len(te_idx), "best_detector": best, "best_mean_auroc": mean_auroc[best],
        "mean_auroc": mean_auroc,
        "auroc_per_class": {d: {**v, "mean": mean_auroc[d], "std": float(np.std(list(v.values())))}
                            for d, v in per_class.items()},
        "seconds": time.perf_counter() - t0,
    }


def contaminated_set(cfg: ODRecipeConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """``(images uint8 (N, 32, 32), is_outlier bool (N,), id name)`` with ``round(N * rate)`` outliers."""
    o = cfg.od
    if not 0 < o.rate < 0.5:
        raise ConfigError(f"od.rate must be in (0, 0.5) (outliers are the minority), got {o.rate}")
    if not o.outliers:
        raise ConfigError("od.outliers is empty; name at least one OOD source, e.g. [glyphs, textures, noise]")
    ids = D.load_id(cfg.data.name)
    n_out = int(round(o.size * o.rate))
    if n_out < 1 or o.size - n_out < 1:
        raise ConfigError(f"od.size={o.size} with od.rate={o.rate} leaves an empty side; raise od.size")
    inl = ids.x_train[subset(len(ids.y_train), o.size - n_out, o.seed, ids.y_train)]
    per = np.diff(np.linspace(0, n_out, len(o.outliers) + 1).round().astype(int))
    hashes = id_hashes_of(ids.x_train, ids.x_test)
    parts = []
    for name, k in zip(o.outliers, per):
        src = D.load_source(name, None, seed=o.seed)
        D.check_not_id(name, src, hashes)
        parts.append(src[np.random.default_rng([o.seed, k, len(name)]).choice(len(src), k, replace=False)])
    x = np.concatenate([inl, *parts])
    flag = np.r_[np.zeros(len(inl), bool), np.ones(n_out, bool)]
    perm = np.random.default_rng(o.seed).permutation(len(x))
    return x[perm], flag[perm], ids.name


def _fit_score(det: Scorer, s: EvalSet) -> np.ndarray:
    if det.needs_input:
        det.setup(None, s.images)
        return check_scores(det.score(s.images), f"scores of detector {det.name()}")
    return check_scores(det.fit_score(s.outputs), f"scores of detector {det.name()}")


def run_od(cfg: ODRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    """Transductive outlier detection in a contaminated set with a known outlier rate."""
    t0 = time.perf_counter()
    dets = check_detectors(cfg.detectors)
    _check_pixel_detectors(dets, cfg.detectors.params)
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    x, is_out, id_name = contaminated_set(cfg)
    s = pixel_set("contaminated", x)
    params = {k: dict(v) for k, v in cfg.detectors.params.items()}
    if "ocsvm" in dets:
        params.setdefault("ocsvm", {}).setdefault("nu", float(cfg.od.rate))
    board: dict[str, dict[str, float]] = {}
    results: dict[str, DetectorResult] = {}
    for name in dets:
        t = time.perf_counter()
        det = make_detector(name, params)
        scores = _fit_score(det, s)
        inl, out = scores[~is_out], scores[is_out]
        board[name] = {"auroc": auroc(inl, out), "aupr_out": aupr_out(inl, out),
                       "precision_at_n": precision_at_n(inl, out), "fpr95": fpr_at_95(inl, out),
                       "seconds": time.perf_counter() - t}
        results[name] = DetectorResult(name, dict(det.params), scores={"inliers": inl, "outliers": out})
    if cfg.od.figures:
        write_figures(ctx.record, results, "inliers", {"outliers": ["outliers"]})
    save_scores(ctx.record, results)
    best = max(board, key=lambda d: board[d]["auroc"])
    return {
        "id_dataset": id_name, "size": len(x), "outliers": int(is_out.sum()), "rate": float(cfg.od.rate),
        "outlier_sources": ", ".join(cfg.od.outliers), "best_detector": best, "best_auroc": board[best]["auroc"],
        "leaderboard": board, "seconds": time.perf_counter() - t0,
    }
