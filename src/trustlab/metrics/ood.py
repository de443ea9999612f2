"""OOD-detection and open-set metrics: pure NumPy functions of detector scores.

Conventions (read from OpenOOD v1.5, ``openood/evaluators/metrics.py``; Yang et al., Generalized Out-of-Distribution
Detection: A Survey, arXiv:2110.11334):

* Scores: **higher = more in-distribution** (every trustlab ``Scorer``).
* OOD is the *positive* class and the ranking score is ``-score``. AUROC does not depend on that
  choice (AUROC(OOD+, -s) == AUROC(ID+, s)); FPR@95 and AUPR do, so they are named explicitly.
* ROC and PR curves use every distinct threshold (ties form one step, no intermediate points dropped:
  sklearn's ``roc_curve(..., drop_intermediate=True)`` can remove a collinear point and move FPR@95).
* ``fpr_at_95(..., convention="openood")`` (default): the share of ID samples flagged as OOD at the first
  threshold where >= 95% of OOD samples are caught.
  ``convention="classic"`` (Liang et al., ODIN, ICLR 2018; Hendrycks & Gimpel 2017): the share of OOD
  samples accepted as ID at the first threshold where >= 95% of ID samples are accepted.
* AUPR-In: ID positive, score ``s``; AUPR-Out: OOD positive, score ``-s``. Both are the *trapezoidal*
  area under precision-recall (``sklearn.metrics.auc(recall, precision)`` over
  ``precision_recall_curve``), not average precision.
* Near-/far-OOD rows are the mean of per-dataset metrics (:func:`group_mean`), never a pooled score.
* OSCR (Dhamija et al., NeurIPS 2018, https://arxiv.org/abs/1811.04110): area under the correct
  classification rate (known samples correctly classified *and* accepted) vs the false positive rate
  (unknown samples accepted), over every threshold; ties count one half (it equals AUROC when every
  known sample is classified correctly).

Example::

    m = ood_metrics(id_scores, ood_scores)   # {"auroc", "aupr_in", "aupr_out", "fpr95", "fpr95_classic"}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np

from trustlab.errors import ConfigError, DataError

Convention = Literal["openood", "classic"]
CONVENTIONS = ("openood", "classic")


def check_scores(scores: Iterable[float] | np.ndarray, what: str = "scores") -> np.ndarray:
    """1-D float64 copy of ``scores``; empty or non-finite scores are a one-line DataError."""
    a = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=np.float64)  # type: ignore[union-attr]
    a = a.reshape(-1)
    if a.size == 0:
        raise DataError(f"{what} are empty: the set has no samples; give it at least one image")
    bad = ~np.isfinite(a)
    if bad.any():
        raise DataError(
            f"{what} contain {int(bad.sum())} NaN/inf value(s) of {a.size}; the detector or model produced "
            "non-finite outputs (check its hyperparameters, e.g. a temperature of 0, and the inputs)"
        )
    return a


def _pair(id_scores: Iterable[float], ood_scores: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    return check_scores(id_scores, "ID scores"), check_scores(ood_scores, "OOD scores")


def binary_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative false and true positives at every distinct threshold, highest first.

    ``labels`` are 1 for positives. Returns ``(fps, tps, thresholds)``; at threshold ``t`` the rule is
    "score >= t is positive", so tied scores enter together (one step).
    """
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    return fps, tps, s[last]


def roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` with the point (0, 0) at threshold +inf first; every point kept."""
    labels = np.asarray(labels).astype(bool)
    scores = check_scores(scores)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise DataError(f"ROC needs both classes, got {n_pos} positive and {n_neg} negative samples")
    fps, tps, thr = binary_curve(labels, scores)
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos], np.r_[np.inf, thr]


def auroc(id_scores: Iterable[float], ood_scores: Iterable[float]) -> float:
    """Area under the ROC of OOD-vs-ID with ``-score`` (== P(s_id > s_ood) + 0.5 P(tie))."""
    s_id, s_ood = _pair(id_scores, ood_scores)
    labels = np.r_[np.zeros(s_id.size), np.ones(s_ood.size)]
    fpr, tpr, _ = roc(labels, -np.r_[s_id, s_ood])
    return float(np.trapezoid(tpr, fpr))


def fpr_at_tpr(labels: np.ndarray, scores: np.ndarray, tpr_level: float = 0.95) -> float:
    """False positive rate at the first ROC point whose true positive rate is >= ``tpr_level``."""
    if not 0.0 < tpr_level <= 1.0:
        raise ConfigError(f"recall level must be in (0, 1], got {tpr_level}")
    fpr, tpr, _ = roc(labels, scores)
    return float(fpr[int(np.argmax(tpr >= tpr_level))])


def fpr_at_95(
    id_scores: Iterable[float],
    ood_scores: Iterable[float],
    convention: Convention = "openood",
    recall: float = 0.95,
) -> float:
    """FPR at 95% recall; ``openood``: ID flagged at 95% OOD caught; ``classic``: OOD accepted at 95% ID kept."""
    s_id, s_ood = _pair(id_scores, ood_scores)
    if convention == "openood":
        labels = np.r_[np.zeros(s_id.size), np.ones(s_ood.size)]
        return fpr_at_tpr(labels, -np.r_[s_id, s_ood], recall)
    if convention == "classic":
        labels = np.r_[np.ones(s_id.size), np.zeros(s_ood.size)]
        return fpr_at_tpr(labels, np.r_[s_id, s_ood], recall)
    raise ConfigError(f"FPR@95 convention '{convention}' is not one of {', '.join(CONVENTIONS)}")


def pr_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(precision, recall)`` as ``sklearn.metrics.precision_recall_curve``: recall decreasing, stops at the
    first threshold reaching full recall, then the point (recall 0, precision 1)."""
    labels = np.asarray(labels).astype(bool)
    scores = check_scores(scores)
    if not labels.any():
        raise DataError("precision-recall needs at least one positive sample")
    fps, tps, _ = binary_curve(labels, scores)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    stop = int(np.searchsorted(tps, tps[-1]))
    return np.r_[precision[stop::-1], 1.0], np.r_[recall[stop::-1], 0.0]


def _trapezoid_pr(labels: np.ndarray, scores: np.ndarray) -> float:
    precision, recall = pr_curve(labels, scores)
    return float(-np.trapezoid(precision, recall))  # recall is decreasing


def aupr_in(id_scores: Iterable[float], ood_scores: Iterable[float]) -> float:
    """Trapezoidal area under precision-recall with ID positive and ranking score ``s``."""
    s_id, s_ood = _pair(id_scores, ood_scores)
    return _trapezoid_pr(np.r_[np.ones(s_id.size), np.zeros(s_ood.size)], np.r_[s_id, s_ood])


def aupr_out(id_scores: Iterable[float], ood_scores: Iterable[float]) -> float:
    """Trapezoidal area under precision-recall with OOD positive and ranking score ``-s``."""
    s_id, s_ood = _pair(id_scores, ood_scores)
    return _trapezoid_pr(np.r_[np.zeros(s_id.size), np.ones(s_ood.size)], -np.r_[s_id, s_ood])


def closed_set_accuracy(pred: Iterable[int], labels: Iterable[int]) -> float:
    """Top-1 accuracy of predicted class ids (or of logits' argmax when ``pred`` is 2-D) on known classes."""
    p = np.asarray(pred.detach().cpu() if hasattr(pred, "detach") else pred)  # type: ignore[union-attr]
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels).reshape(-1)  # type: ignore[union-attr]
    if p.ndim == 2:
        p = p.argmax(1)
    p = p.reshape(-1)
    if p.size != y.size:
        raise DataError(f"{p.size} predictions but {y.size} labels")
    if y.size == 0:
        raise DataError("closed-set accuracy of an empty set; the known-class test set has no samples")
    return float((p == y).mean())


def oscr(id_scores: Iterable[float], ood_scores: Iterable[float], id_correct: Iterable[bool]) -> float:
    """Open-set classification rate: area under CCR(t) vs FPR(t) over every threshold t.

    CCR(t) = #{known x: correctly classified and s(x) >= t} / #known, FPR(t) = #{unknown x: s(x) >= t} / #unknown.
    The curve runs from (0, 0) to (1, closed-set accuracy); ties form one step (trapezoid = half credit).
    """
    s_id, s_ood = _pair(id_scores, ood_scores)
    correct = np.asarray(id_correct, dtype=bool).reshape(-1)
    if correct.size != s_id.size:
        raise DataError(f"{correct.size} correctness flags but {s_id.size} ID scores")
    scores = np.r_[s_id, s_ood]
    is_cc = np.r_[correct, np.zeros(s_ood.size, bool)]
    is_unknown = np.r_[np.zeros(s_id.size, bool), np.ones(s_ood.size, bool)]
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    ccr = np.r_[0.0, np.cumsum(is_cc[order])[last] / s_id.size]
    fpr = np.r_[0.0, np.cumsum(is_unknown[order])[last] / s_ood.size]
    return float(np.trapezoid(ccr, fpr))


METRICS = ("auroc", "aupr_in", "aupr_out", "fpr95", "fpr95_classic")


def ood_metrics(id_scores: Iterable[float], ood_scores: Iterable[float], what: str = "") -> dict[str, float]:
    """All OOD metrics of one ID/OOD pair: auroc, aupr_in, aupr_out, fpr95 (OpenOOD), fpr95_classic."""
    tag = f" of {what}" if what else ""
    s_id = check_scores(id_scores, f"ID scores{tag}")
    s_ood = check_scores(ood_scores, f"OOD scores{tag}")
    return {
        "auroc": auroc(s_id, s_ood),
        "aupr_in": aupr_in(s_id, s_ood),
        "aupr_out": aupr_out(s_id, s_ood),
        "fpr95": fpr_at_95(s_id, s_ood, "openood"),
        "fpr95_classic": fpr_at_95(s_id, s_ood, "classic"),
    }


def group_mean(per_dataset: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> dict[str, float]:
    """Mean of each metric over the datasets ``names`` (e.g. the near-OOD row); empty if none given."""
    rows = [per_dataset[n] for n in names]
    if not rows:
        return {}
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def precision_at_n(inlier_scores: Iterable[float], outlier_scores: Iterable[float]) -> float:
    """Outlier detection: share of true outliers among the n lowest-scored samples, n = #outliers.

    Ties at the cut share the remaining slots proportionally (so constant scores give the outlier rate).
    """
    s_in, s_out = _pair(inlier_scores, outlier_scores)
    n = s_out.size
    scores = np.r_[s_in, s_out]
    cut = np.sort(scores)[n - 1]
    below_out, below_in = int((s_out < cut).sum()), int((s_in < cut).sum())
    tie_out, tie_in = int((s_out == cut).sum()), int((s_in == cut).sum())
    slots = n - below_out - below_in
    return float((below_out + slots * tie_out / (tie_out + tie_in)) / n)
