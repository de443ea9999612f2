"""Pieces shared by the OOD recipes: datasets, classifier training, detector lists, figures, tables.

The classifier behind every post-hoc detector is trained with ERM by the shared classification task
(``trustlab.tasks.classification.train_classifier``: SGD, cosine schedule, as ``erm/*``), unless
``model.weights`` points at a local checkpoint, in which case training is skipped and those weights are scored.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from trustlab.data.augment import Augmented, train_transform
from trustlab.data.base import TensorImageDataset
from trustlab.data.folder import balanced_subset
from trustlab.engine.runtime import resolve_device, seed_everything
from trustlab.errors import ConfigError, DataError
from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.methods.ood.config import (
    ClassicalDetectorsConfig,
    DetectorsConfig,
    EmbeddedIDDataConfig,
    FolderDataConfig,
)
from trustlab.methods.ood.evaluate import DetectorResult
from trustlab.metrics.ood import auroc
from trustlab.recipes import RunContext
from trustlab.registry import SCORERS
from trustlab.runs.store import RunRecord


def grey_set(x: np.ndarray, y: np.ndarray | None = None) -> TensorImageDataset:
    """uint8 (N, H, W) grey images -> Dataset of (x (1, H, W) float in [0, 1], y); y defaults to -1."""
    return TensorImageDataset(x, np.full(len(x), -1, dtype=np.int64) if y is None else y)


def subset(n_total: int, n: int | None, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of ``n`` of ``n_total`` items (class-balanced when ``labels`` are given); all if n is 0/None."""
    if not n or n >= n_total:
        return np.arange(n_total)
    if labels is not None:
        return balanced_subset(labels, n, seed)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def check_detectors(cfg: DetectorsConfig | ClassicalDetectorsConfig) -> list[str]:
    """The configured detector names, each checked against ``SCORERS`` (did-you-mean on typos). The classical
    recipes' section has no search grids: their detectors keep the reference grid."""
    import trustlab.methods.ood  # noqa: F401

    grid, grids = (cfg.grid, cfg.grids) if isinstance(cfg, DetectorsConfig) else ("reference", {})

    if not cfg.names:
        raise ConfigError("detectors.names is empty; name at least one of `trustlab list scorers`")
    for n in cfg.names:
        SCORERS.get(n)
    for key, table in (("params", cfg.params), ("grids", grids)):
        for n, p in table.items():
            if n not in cfg.names:
                raise ConfigError(f"detectors.{key} has '{n}', which is not in detectors.names {cfg.names}")
            if not isinstance(p, dict):
                raise ConfigError(f"detectors.{key}.{n} must be a mapping of parameters, got {p!r}")
    for n in cfg.names:  # bad grid names / keys fail here, before any training
        SCORERS.get(n)(**cfg.params.get(n, {})).use_grid(grid, grids.get(n))
    return list(dict.fromkeys(cfg.names))


def grids_of(cfg: DetectorsConfig) -> tuple[str, dict[str, Any]]:
    """``(grid, grids)`` of ``detectors``: the arguments :func:`evaluate` and :func:`tunable` take."""
    return cfg.grid, dict(cfg.grids)


@dataclass
class AccEvaluator:
    """Validation accuracy every epoch (for the training curves); keeps no best-epoch selection."""

    data: Dataset
    device: torch.device
    last: dict[str, Any] = field(default_factory=dict)

    def evaluate(self, method: Any, epoch: int) -> dict[str, float]:
        from trustlab.tasks.classification import accuracy

        self.last = {"val/acc": accuracy(method.predict, self.data, self.device)}
        return self.last

    def state_dict(self) -> dict[str, Any]:
        return {"last": dict(self.last)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last = dict(state.get("last", {}))


def train_classifier(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    data_cfg: DataConfig | EmbeddedIDDataConfig | FolderDataConfig,
    train_set: Dataset,
    val_set: Dataset | None,
    num_classes: int,
    in_chans: int,
    ctx: RunContext | None = None,
    log: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """Build ``model_cfg``'s model; train it with ERM (``trustlab.tasks.classification``) unless
    ``model.weights`` is set. Returns (model in eval mode, info)."""
    from trustlab.tasks import classification as task

    if len(train_set) == 0:
        raise DataError("the ID training set is empty; raise data.max_per_domain or check the class split")
    seed_everything(train_cfg.seed, train_cfg.deterministic)  # the initial weights depend on the seed
    model = task.build_model_from(model_cfg, num_classes, data_cfg.image_size, in_chans)
    device = resolve_device(train_cfg.device)
    if model_cfg.weights:
        return model.to(device).eval(), {"trained": False, "weights": model_cfg.weights}
    record = ctx.record if (ctx is not None and log) else None
    augment = train_transform(data_cfg.augment, data_cfg.image_size)  # OpenOOD trains with crop + flip
    if augment is not None:
        train_set = Augmented(train_set, augment)
    evaluator = AccEvaluator(val_set, device) if val_set is not None and len(val_set) else None
    result = task.train_classifier(model, train_set, train_cfg, batch_size=data_cfg.batch_size, evaluator=evaluator,
                                   record=record, resume=bool(ctx and ctx.resume and log),
                                   quiet=bool(ctx is None or ctx.quiet), num_workers=data_cfg.num_workers)
    if record is not None:
        record.save_checkpoint({"model": model.state_dict()}, "model.pt")
    return model.eval(), {"trained": True, "train_seconds": result.seconds, "epochs": result.epochs,
                          "samples_per_second": result.samples_per_second}


def id_hashes_of(*arrays: np.ndarray) -> set[str]:
    from trustlab.methods.ood.data import image_hashes

    out: set[str] = set()
    for a in arrays:
        out |= image_hashes(a)
    return out


def covariate_table(results: Mapping[str, DetectorResult], id_name: str, cov: Sequence[str],
                    ood: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per detector: AUROC(clean ID > covariate) and AUROC(covariate > semantic OOD), each > 0.5 when the
    detector places covariate-shifted ID between clean ID and semantic OOD."""
    table = {}
    for name, r in results.items():
        if not cov or not ood:
            continue
        s_cov = np.concatenate([r.scores[c] for c in cov])
        table[name] = {
            "clean_vs_cov_auroc": auroc(r.scores[id_name], s_cov),
            "cov_vs_ood_auroc": float(np.mean([auroc(s_cov, r.scores[o]) for o in ood])),
            "mean_id": float(np.mean(r.scores[id_name])),
            "mean_cov": float(np.mean(s_cov)),
            "mean_ood": float(np.mean(np.concatenate([r.scores[o] for o in ood]))),
        }
    return table


def write_figures(record: RunRecord, results: Mapping[str, DetectorResult], id_name: str,
                  groups: Mapping[str, Sequence[str]], covariate: Sequence[str] = (), prefix: str = "") -> int:
    """Score histograms (ID vs each group) and ROC curves (one per OOD set) per detector; returns #PNGs."""
    from trustlab.report import figures

    written = 0
    for name, r in results.items():
        hist = {f"ID ({id_name})": r.scores[id_name]}
        for g, sets in {**groups, **({"covariate": covariate} if covariate else {})}.items():
            if sets:
                hist[g] = np.concatenate([r.scores[s] for s in sets])
        if figures.histogram(hist, record.artifact(f"hist/{prefix}{name}.png"), f"{name}: score (higher = more ID)"):
            written += 1
        curves = {s: figures.roc_points(r.scores[id_name], r.scores[s]) for sets in groups.values() for s in sets}
        if figures.roc_curve(curves, record.artifact(f"roc/{prefix}{name}.png"), f"{name}: ROC, ID positive"):
            written += 1
    return written


def save_scores(record: RunRecord, results: Mapping[str, DetectorResult], name: str = "scores.npz") -> None:
    """All scores as one compressed npz (``<detector>/<set>`` keys) under artifacts/, written atomically."""
    from trustlab.runs import atomic as run_io

    buf = io.BytesIO()
    arrays = {f"{d}/{s}": a.astype(np.float32) for d, r in results.items() for s, a in r.scores.items()}
    np.savez_compressed(buf, **arrays)
    run_io.write_bytes(record.artifact(name), buf.getvalue())


def aps_table(results: Mapping[str, DetectorResult]) -> dict[str, dict[str, Any]]:
    """``{detector: {chosen params, val_auroc, searched}}`` for detectors that ran APS."""
    return {n: {k: v for k, v in r.aps.items()} for n, r in results.items() if r.aps}
