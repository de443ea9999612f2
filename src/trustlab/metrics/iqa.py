"""Image-quality-assessment correlations: SRCC, KRCC, PLCC (plain, 4- and 5-parameter logistic).

Conventions follow pyiqa / the IQA literature:

* ``pred`` is the model's quality score, ``mos`` the subjective (or proxy) score of the dataset.
* ``lower_better=True`` says the *labels* are lower-is-better (LIVE / CSIQ DMOS): the labels are negated
  before correlating, so a good predictor of quality gets positive SRCC/KRCC/PLCC (the sign convention
  of pyiqa, which normalises such labels with ``1 - mos``; the notes' "|PLCC|").
  ``pred_lower_better=True`` does the same for the predictions (a distance-like score).
* PLCC "plain" is Pearson on the raw predictions; ``plcc_logistic4`` / ``plcc_logistic5`` first map the
  predictions through a monotonic logistic fitted to the labels by least squares (VQEG), then Pearson:
  - 4 parameters: ``f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``
  - 5 parameters: ``f(x) = b1 * (0.5 - 1 / (1 + exp(b2 * (x - b3)))) + b4 * x + b5``
* SRCC is Pearson on average ranks (ties get their mean rank, as ``scipy.stats.spearmanr``), KRCC is
  Kendall's tau-b (ties corrected, as ``scipy.stats.kendalltau``). Both are computed here in numpy and
  checked against scipy in ``tests/parity/test_iqa_parity.py``.

A constant input has no defined correlation: the functions return ``nan`` then (scipy does the same).

Usage::

    from trustlab.metrics.iqa import iqa_correlations
    iqa_correlations(pred, mos, lower_better=False)   # {"srcc": .., "krcc": .., "plcc": .., ...}
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from trustlab.errors import DataError

ArrayLike = Sequence[float] | np.ndarray


def _pair(pred: ArrayLike, mos: ArrayLike, lower_better: bool,
          pred_lower_better: bool) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(pred, dtype=np.float64).reshape(-1)
    y = np.asarray(mos, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise DataError(f"IQA metrics need as many predictions as labels, got {x.size} and {y.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError("IQA metrics got a NaN or infinite score; check the model outputs and the MOS column")
    return (-x if pred_lower_better else x), (-y if lower_better else y)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return float("nan")
    xc, yc = x - x.mean(), y - y.mean()
    den = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    if den == 0 or not np.isfinite(den):
        return float("nan")
    return float(np.clip((xc * yc).sum() / den, -1.0, 1.0))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their mean rank (``scipy.stats.rankdata(method="average")``)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # start index of each run of equal values
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], xs.size]
    mean_rank = (starts + ends + 1) / 2.0  # ranks are 1-based: mean of start+1 .. end
    ranks = np.empty_like(xs)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def srcc(pred: ArrayLike, mos: ArrayLike, lower_better: bool = False, pred_lower_better: bool = False) -> float:
    """Spearman rank-order correlation (ties averaged)."""
    x, y = _pair(pred, mos, lower_better, pred_lower_better)
    return _pearson(average_ranks(x), average_ranks(y))


def krcc(pred: ArrayLike, mos: ArrayLike, lower_better: bool = False, pred_lower_better: bool = False,
         chunk: int = 2048) -> float:
    """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - ties_x) (n0 - ties_y)); O(n^2) in chunks."""
    x, y = _pair(pred, mos, lower_better, pred_lower_better)
    n = x.size
    if n < 2:
        return float("nan")
    s = 0.0
    tx = ty = 0
    for i0 in range(0, n, chunk):
        i1 = min(i0 + chunk, n)
        dx = np.sign(x[i0:i1, None] - x[None, :])
        dy = np.sign(y[i0:i1, None] - y[None, :])
        # keep pairs (i, j) with j > i only
        mask = np.arange(n)[None, :] > np.arange(i0, i1)[:, None]
        s += float((dx * dy)[mask].sum())
        tx += int(((dx == 0) & mask).sum())
        ty += int(((dy == 0) & mask).sum())
    n0 = n * (n - 1) // 2
    den = np.sqrt(float(n0 - tx) * float(n0 - ty))
    if den == 0:
        return float("nan")
    return float(np.clip(s / den, -1.0, 1.0))


def plcc(pred: ArrayLike, mos: ArrayLike, lower_better: bool = False, pred_lower_better: bool = False) -> float:
    """Pearson linear correlation on the raw predictions (no logistic mapping)."""
    x, y = _pair(pred, mos, lower_better, pred_lower_better)
    return _pearson(x, y)


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """4-parameter logistic: (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2."""
    z = np.clip(-(x - b3) / (abs(b4) + 1e-12), -50, 50)
    return (b1 - b2) / (1.0 + np.exp(z)) + b2


def logistic5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """5-parameter logistic (VQEG): b1 (0.5 - 1 / (1 + exp(b2 (x - b3)))) + b4 x + b5."""
    z = np.clip(b2 * (x - b3), -50, 50)
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(z))) + b4 * x + b5


def fit_logistic(pred: ArrayLike, mos: ArrayLike, params: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of the 4- or 5-parameter logistic from ``pred`` to ``mos``: (mapped pred, params).

    Starting point as in the VQEG / pyiqa scripts: the label range and the prediction's mean and spread.
    If the optimiser fails to converge, the identity mapping is returned (plain PLCC), with a warning.
    """
    from scipy.optimize import curve_fit

    x = np.asarray(pred, dtype=np.float64).reshape(-1)
    y = np.asarray(mos, dtype=np.float64).reshape(-1)
    if params == 4:
        fn, p0 = logistic4, [y.max(), y.min(), x.mean(), x.std() / 4 + 1e-6]
    elif params == 5:
        fn, p0 = logistic5, [y.max() - y.min(), 1.0 / (x.std() + 1e-6), x.mean(), 0.0, y.mean()]
    else:
        raise DataError(f"logistic fit has 4 or 5 parameters, got {params}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(fn, x, y, p0=p0, maxfev=20000)
        mapped = fn(x, *popt)
        if not np.isfinite(mapped).all():
            raise RuntimeError("non-finite fit")
        return mapped, np.asarray(popt)
    except (RuntimeError, ValueError, TypeError):
        warnings.warn(f"{params}-parameter logistic fit did not converge; using the raw predictions", stacklevel=2)
        return x, np.asarray(p0)


def plcc_logistic(pred: ArrayLike, mos: ArrayLike, params: int = 4, lower_better: bool = False,
                  pred_lower_better: bool = False) -> float:
    """PLCC after mapping ``pred`` through a fitted ``params``-parameter logistic."""
    x, y = _pair(pred, mos, lower_better, pred_lower_better)
    if x.size < params + 1 or x.std() == 0 or y.std() == 0:
        return float("nan")
    mapped, _ = fit_logistic(x, y, params)
    return _pearson(mapped, y)


def iqa_correlations(pred: ArrayLike, mos: ArrayLike, lower_better: bool = False, pred_lower_better: bool = False,
                     logistic: bool = True) -> dict[str, float]:
    """SRCC, KRCC, PLCC and (``logistic``) PLCC after the 4- and 5-parameter logistic fits."""
    out = {
        "srcc": srcc(pred, mos, lower_better, pred_lower_better),
        "krcc": krcc(pred, mos, lower_better, pred_lower_better),
        "plcc": plcc(pred, mos, lower_better, pred_lower_better),
    }
    if logistic:
        out["plcc_l4"] = plcc_logistic(pred, mos, 4, lower_better, pred_lower_better)
        out["plcc_l5"] = plcc_logistic(pred, mos, 5, lower_better, pred_lower_better)
    return out
