"""Score many detectors on many sets after one shared forward pass; APS; metrics per detector x set.

Every set is an :class:`EvalSet`: its images (only input-level detectors such as ODIN or Deep SVDD read
them again) and its :class:`Outputs` (logits / features computed once). :func:`evaluate` fits each
detector, optionally picks its hyperparameters with APS, scores every set and computes the metrics.

APS (automatic parameter search, OpenOOD): for each point of the detector's grid, fit and compute the
AUROC of ID-val vs OOD-val; keep the best (the first in grid order on ties). The pair must never be a
test set: the recipes build OOD-val from sources that no test set uses.

Example::

    res = evaluate(["msp", "knn"], model, fit_outputs, id_test, {"near": [s1], "far": [s2]}, val=(idv, oodv))
    res["knn"].metrics["textures"]["auroc"]
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from trustlab.errors import ConfigError, DataError
from trustlab.methods.ood.base import Outputs, Scorer, extract, images_of
from trustlab.metrics.ood import auroc, check_scores, group_mean, ood_metrics
from trustlab.registry import SCORERS


@dataclass
class EvalSet:
    """One set to score: ``images`` (Dataset of (x, y) or (N, C, H, W) tensor) and its shared ``outputs``."""

    name: str
    images: Dataset | torch.Tensor | None
    outputs: Outputs

    @classmethod
    def build(
        cls, name: str, model: nn.Module | None, images: Dataset | torch.Tensor, features: bool = True
    ) -> EvalSet:
        if len(images) == 0:
            raise DataError(f"set '{name}' is empty; give it at least one image")
        return cls(name, images, extract(model, images, features=features))


def pool(name: str, sets: Sequence[EvalSet]) -> EvalSet:
    """Concatenate sets (e.g. several OOD-val sources into one) for APS."""
    if not sets:
        raise DataError(f"set '{name}' has no parts")
    cat = lambda ts: None if any(t is None for t in ts) else torch.cat(ts)
    outs = Outputs(cat([s.outputs.logits for s in sets]), cat([s.outputs.features for s in sets]), None)
    imgs = [s.images for s in sets]
    images = None
    if all(isinstance(i, torch.Tensor) for i in imgs):
        images = torch.cat(imgs)  # type: ignore[arg-type]
    elif all(i is not None for i in imgs):
        images = torch.cat([images_tensor(i) for i in imgs])  # type: ignore[arg-type]
    return EvalSet(name, images, outs)


def images_tensor(data: Dataset | torch.Tensor) -> torch.Tensor:
    return images_of(data)


def score_set(det: Scorer, s: EvalSet, batch_size: int = 256) -> np.ndarray:
    """(N,) float64 scores of one set; non-finite scores are a one-line DataError naming detector and set."""
    return score_set_grid(det, s, [{}], batch_size)[0]


def score_set_grid(det: Scorer, s: EvalSet, combos: Sequence[Mapping[str, Any]],
                   batch_size: int = 256) -> list[np.ndarray]:
    """Scores of one set under each parameter combo (``{}`` = the current params), one array per combo."""
    if det.needs_input:
        if s.images is None:
            raise ConfigError(f"detector {det.name()} scores images, but set '{s.name}' has none")
        x = images_tensor(s.images)
        parts = [det.score_grid(combos, x=x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        scores = [torch.cat([p[j].detach().cpu() for p in parts]) for j in range(len(combos))]
    else:
        scores = det.score_grid(combos, out=s.outputs)
    return [check_scores(sc, f"scores of detector {det.name()} on '{s.name}'") for sc in scores]


def aps_search(det: Scorer, model: nn.Module | None, train: Outputs, val_id: EvalSet, val_ood: EvalSet,
               fit_images: Any = None) -> dict[str, Any]:
    """Pick the grid point with the best ID-val vs OOD-val AUROC; leaves ``det`` fitted with it.

    Detectors whose fit does not depend on the grid (``grid_refits=False``: ODIN, KNN) are fit once and
    score the whole grid in one pass (:meth:`Scorer.score_grid`); the others are refit per grid point.
    """
    grid = det.param_grid(train)
    if not grid:
        fit_detector(det, model, train, val_id.outputs, fit_images)
        return {"searched": 0}
    keys = list(grid)
    combos = [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    if not det.grid_refits:
        fit_detector(det, model, train, val_id.outputs, fit_images)
        pairs = zip(score_set_grid(det, val_id, combos), score_set_grid(det, val_ood, combos))
        aurocs = [auroc(a, b) for a, b in pairs]
    else:
        aurocs = []
        for combo in combos:
            det.set_params(**combo)
            fit_detector(det, model, train, val_id.outputs, fit_images)
            aurocs.append(auroc(score_set(det, val_id), score_set(det, val_ood)))
    best = int(np.argmax(aurocs))  # the first in grid order on ties
    det.set_params(**combos[best])
    if det.grid_refits and best != len(combos) - 1:
        fit_detector(det, model, train, val_id.outputs, fit_images)
    return {"searched": len(combos), "val_auroc": aurocs[best], **combos[best]}


def fit_detector(det: Scorer, model: nn.Module | None, train: Outputs, val: Outputs | None, fit_images: Any) -> None:
    if det.needs_input and det.needs_fit:  # Deep SVDD learns from images
        det.setup(model, fit_images)
    else:
        det.fit(train, val, model)


@dataclass
class DetectorResult:
    """Scores per set, metrics per OOD set, group means, the APS choice and the time spent."""

    name: str
    params: dict[str, Any]
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    groups: dict[str, dict[str, float]] = field(default_factory=dict)
    aps: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def make_detector(name: str, params: Mapping[str, Mapping[str, Any]] | None = None, grid: str = "reference",
                  grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None) -> Scorer:
    """A detector with ``params[name]`` fixed and its APS grid chosen (``grid``: reference | wide; ``grids[name]``
    replaces the lists of some keys)."""
    import trustlab.methods.ood  # noqa: F401  (registers the detectors)

    return SCORERS.get(name)(**dict((params or {}).get(name, {}))).use_grid(grid, (grids or {}).get(name))


def tunable(detectors: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None, train: Outputs,
            grid: str = "reference", grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None) -> bool:
    """True when at least one detector has an APS grid (so an ID-val / OOD-val pair is worth building)."""
    return any(make_detector(d, params, grid, grids).param_grid(train) for d in detectors)


def evaluate(
    detectors: Sequence[str],
    model: nn.Module | None,
    train: Outputs,
    id_test: EvalSet,
    ood: Mapping[str, Sequence[EvalSet]],
    covariate: Sequence[EvalSet] = (),
    val: tuple[EvalSet, EvalSet] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    fit_images: Any = None,
    grid: str = "reference",
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
) -> dict[str, DetectorResult]:
    """Fit (with APS when ``val`` is given), score and measure every detector.

    ``ood`` maps a group name ("near", "far") to its sets; metrics compare ``id_test`` with each OOD set
    and each covariate set (covariate sets as the "OOD" side, to show how much they are rejected);
    ``groups`` holds the mean over each group's sets. With ``val``, every detector's ID-val vs OOD-val AUROC
    at its final parameters is in ``aps["val_auroc"]`` (also for detectors without a grid), so a choice
    between detectors can be made on validation data too.
    """
    if not detectors:
        raise ConfigError("no detectors to evaluate; set detectors.names to at least one of `trustlab list scorers`")
    names = [s.name for g in ood.values() for s in g] + [s.name for s in covariate]
    if len(set(names)) != len(names) or id_test.name in names:
        raise ConfigError(f"set names must be unique, got {[id_test.name, *names]}")
    results: dict[str, DetectorResult] = {}
    for name in detectors:
        t0 = time.perf_counter()
        det = make_detector(name, params, grid, grids)
        det.check_model(model)
        aps: dict[str, Any] = {}
        if val is not None and det.param_grid(train):
            aps = aps_search(det, model, train, val[0], val[1], fit_images)
        else:
            fit_detector(det, model, train, val[0].outputs if val is not None else None, fit_images)
            if val is not None:
                aps = {"searched": 0, "val_auroc": auroc(score_set(det, val[0]), score_set(det, val[1]))}
        res = DetectorResult(name, dict(det.params), aps=aps)
        res.scores[id_test.name] = s_id = score_set(det, id_test)
        for group, sets in ood.items():
            for s in sets:
                res.scores[s.name] = score_set(det, s)
                res.metrics[s.name] = ood_metrics(s_id, res.scores[s.name], f"{name} on {s.name}")
            res.groups[group] = group_mean(res.metrics, [s.name for s in sets])
        for s in covariate:
            res.scores[s.name] = score_set(det, s)
            res.metrics[s.name] = ood_metrics(s_id, res.scores[s.name], f"{name} on {s.name}")
        res.seconds = time.perf_counter() - t0
        results[name] = res
    return results


def leaderboard(results: Mapping[str, DetectorResult], groups: Sequence[str], covariate: Sequence[str] = ()) -> dict:
    """``{detector: {"near/auroc": ..., "far/fpr95": ..., "covariate/auroc": ...}}`` (group means)."""
    table: dict[str, dict[str, float]] = {}
    for name, r in results.items():
        row: dict[str, float] = {}
        for g in groups:
            for m in ("auroc", "fpr95", "aupr_in", "aupr_out"):
                if m in r.groups.get(g, {}):
                    row[f"{g}/{m}"] = r.groups[g][m]
        if covariate:
            row["covariate/auroc"] = float(np.mean([r.metrics[c]["auroc"] for c in covariate]))
        row["seconds"] = r.seconds
        table[name] = row
    return table


def per_set_table(results: Mapping[str, DetectorResult], metric: str) -> dict[str, dict[str, float]]:
    """``{detector: {set: metric}}`` over every OOD / covariate set."""
    return {name: {s: m[metric] for s, m in r.metrics.items()} for name, r in results.items()}
