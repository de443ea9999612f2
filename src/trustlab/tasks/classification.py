"""Domain-generalization classification: leave-one-domain-out training and evaluation.

Shared by every DG method (ERM, KD, OKD, MixStyle, ...): the recipe builds the data and the model,
passes a method factory, and gets back a summary. Model selection follows DomainBed's IID rule
(training-domain validation): the epoch with the best mean accuracy on the *source* domains' val
splits is selected, and the test accuracies reported are those of that epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from trustlab.data.augment import Augmented, train_transform
from trustlab.data.base import DGData
from trustlab.engine.fit import FitResult, fit
from trustlab.engine.runtime import resolve_device, seed_everything
from trustlab.errors import ConfigError
from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.recipes import RunContext
from trustlab.registry import DATASETS
from trustlab.runs.store import RunRecord


@dataclass
class ERMConfig:
    """Settings of the ERM step (:class:`Classify`); the ``method:`` section of :class:`ERMRecipeConfig`."""

    label_smoothing: float = 0.0


@dataclass
class ERMRecipeConfig:
    """A recipe that trains one classifier by ERM: the ``erm/*`` recipes and the KD/OKD teacher."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: ERMConfig = field(default_factory=ERMConfig)


def build_data(cfg: DataConfig) -> DGData:
    """The dataset named by ``data.name`` (``trustlab list datasets``)."""
    import trustlab.data  # noqa: F401  (registers the datasets)

    return DATASETS.get(cfg.name)(cfg)


def build_model_from(cfg: ModelConfig, num_classes: int, image_size: int, in_chans: int = 3) -> nn.Module:
    from trustlab.models import build_model

    return build_model(
        cfg.name, num_classes, input_size=image_size, width=cfg.width, in_chans=in_chans, weights=cfg.weights
    )


@torch.no_grad()
def accuracy(
    predict: Callable[[torch.Tensor], torch.Tensor], data: Dataset, device: torch.device, batch_size: int = 256
) -> float:
    """Top-1 accuracy of ``predict`` (logits) on ``data``."""
    correct, total = 0, 0
    for x, y in DataLoader(data, batch_size=batch_size, shuffle=False):
        pred = predict(x.to(device)).argmax(1).cpu()
        correct += int((pred == y).sum())
        total += len(y)
    return correct / max(total, 1)


class Classify(nn.Module):
    """The ERM step every method trains classifiers with: cross-entropy on (optionally augmented) inputs.

    A :class:`~trustlab.engine.protocols.Trainable` for :func:`~trustlab.engine.fit.fit`; ``augment`` maps a
    batch of images to an augmented batch (training only); ``model`` is what gets evaluated and exported.
    """

    def __init__(self, model: nn.Module, augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.augment = augment
        self.label_smoothing = label_smoothing

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        if self.augment is not None:
            x = self.augment(x)
        logits = self.model(x)
        loss = nn.functional.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        return {"loss": loss, "acc": (logits.detach().argmax(1) == y).float().mean()}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        from trustlab.engine.optim import build_optimizer

        return build_optimizer(self.model.parameters(), cfg)


def train_classifier(
    model: nn.Module,
    train_set: Dataset,
    train_cfg: TrainConfig,
    *,
    batch_size: int,
    seed: int | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    evaluator: Any = None,
    record: RunRecord | None = None,
    resume: bool = False,
    quiet: bool = True,
    num_workers: int = 0,
) -> FitResult:
    """Train ``model`` in place with ERM (:class:`Classify`) through ``fit``; leaves it in eval mode.

    ``seed`` (default ``train_cfg.seed``) seeds everything before training, so the result depends only on
    the arguments. Returns the :class:`~trustlab.engine.fit.FitResult`.
    """
    from dataclasses import replace

    cfg = train_cfg if seed is None else replace(train_cfg, seed=seed)
    seed_everything(cfg.seed, cfg.deterministic)
    result = fit(Classify(model, augment), train_set, cfg, batch_size=batch_size, evaluator=evaluator,
                 record=record, resume=resume, quiet=quiet, num_workers=num_workers)
    model.eval()
    return result


@torch.no_grad()
def predict_labels(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted labels (on the CPU) of images ``x`` (N, C, H, W), computed in batches on the model's device."""
    device = next(model.parameters()).device
    model.eval()
    return torch.cat([model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)])


def tensor_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` on tensors ``x``, ``y`` (nan when empty)."""
    return float((predict_labels(model, x, batch_size) == y.cpu()).float().mean()) if len(y) else float("nan")


@dataclass
class DGEvaluator:
    """Source-domain val accuracy (for selection) and per-domain test accuracy, every evaluation."""

    data: DGData
    sources: list[str]
    targets: list[str]
    device: torch.device
    record: RunRecord | None = None
    batch_size: int = 256
    best: dict[str, Any] = field(default_factory=dict)

    def evaluate(self, method: Any, epoch: int) -> dict[str, float]:
        out: dict[str, float] = {}
        vals = []
        for d in self.sources:
            acc = accuracy(method.predict, self.data.get(d, "val"), self.device, self.batch_size)
            out[f"val/{d}/acc"] = acc
            vals.append(acc)
        out["val/acc"] = sum(vals) / len(vals)
        for d in self.data.domains:
            out[f"test/{d}/acc"] = accuracy(method.predict, self.data.get(d, "test"), self.device, self.batch_size)
        if not self.best or out["val/acc"] > self.best["val/acc"]:
            self.best = {"epoch": epoch, **out}
            if self.record is not None:
                model = getattr(method, "model", method)
                self.record.save_checkpoint({"model": model.state_dict(), "epoch": epoch}, "best.pt")
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"best": dict(self.best)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = dict(state.get("best", {}))

    def summary(self) -> dict[str, Any]:
        """Accuracies at the selected epoch: held-out, in-domain and per domain."""
        b = self.best
        per_domain = {d: b[f"test/{d}/acc"] for d in self.data.domains}
        return {
            "targets": self.targets,
            "sources": self.sources,
            "selected_epoch": b["epoch"],
            "val_acc": b["val/acc"],
            "heldout_acc": sum(per_domain[d] for d in self.targets) / len(self.targets),
            "indomain_acc": sum(per_domain[d] for d in self.sources) / len(self.sources),
            "per_domain": per_domain,
        }


def run_dg(
    cfg: Any,
    ctx: RunContext,
    make_method: Callable[[nn.Module, DGData, Any], nn.Module],
    extra_summary: Callable[[nn.Module, DGData, FitResult], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Leave ``cfg.data.target`` out, train on the rest with ``make_method``, select by source val.

    ``cfg`` has ``data`` (DataConfig), ``model`` (ModelConfig) and ``train`` (TrainConfig) sections.
    """
    data_cfg: DataConfig = cfg.data
    train_cfg: TrainConfig = cfg.train
    if data_cfg.batch_size < 1:
        raise ConfigError(f"data.batch_size must be >= 1, got {data_cfg.batch_size}")
    seed_everything(train_cfg.seed, train_cfg.deterministic)
    data = build_data(data_cfg)
    targets, sources = data.parse_targets(data_cfg.target)
    train_set: Dataset = ConcatDataset([data.get(d, "train") for d in sources])
    transform = train_transform(data_cfg.augment, data_cfg.image_size)
    if transform is not None:
        train_set = Augmented(train_set, transform)
    model = build_model_from(cfg.model, data.num_classes, data_cfg.image_size)
    method = make_method(model, data, cfg)
    device = resolve_device(train_cfg.device)
    evaluator = DGEvaluator(data, sources, targets, device, ctx.record)
    t0 = time.perf_counter()
    result = fit(
        method,
        train_set,
        train_cfg,
        batch_size=data_cfg.batch_size,
        evaluator=evaluator,
        record=ctx.record,
        resume=ctx.resume,
        quiet=ctx.quiet,
        num_workers=data_cfg.num_workers,
    )
    from trustlab.models import count_macs, count_parameters

    summary = evaluator.summary()
    summary.update(
        {
            "dataset": data.name,
            "model": cfg.model.name,
            "params": count_parameters(model),
            "macs": count_macs(model, (3, data_cfg.image_size, data_cfg.image_size)),
            "train_seconds": time.perf_counter() - t0,
            "samples_per_second": result.samples_per_second,
            "device": result.device,
            "world_size": result.world_size,
            "train_size": len(train_set),
            "final": {k: v for k, v in result.last_eval.items() if k.startswith("test/")},
            **({"skipped_corrupt": data.info["skipped_corrupt"]} if "skipped_corrupt" in data.info else {}),
        }
    )
    if extra_summary is not None:
        summary.update(extra_summary(method, data, result))
    return summary
