"""What every defense gets and returns, and the ``DEFENSES`` registry.

Threat model (Liu et al., Backdoor Attacks Against Dataset Distillation, arXiv:2301.01197): a user receives a
distilled set (possibly backdoored) and trains a model on it.
A defense sees the suspect model and the distilled images; the clean test set and the true trigger are
used only to *measure* it (detection quality, CTA/ASR after the defense), never by the defense itself,
except that STRIP screens test-time inputs by design.

A defense is ``run(ctx: DefenseContext, cfg) -> dict[str, float]`` with at least ``detected`` (1.0 / 0.0,
NaN for removal-only defenses), ``cta_after`` and ``asr_after`` (the headline ASR of
:func:`~trustlab.methods.doorping.evaluate.backdoor_metrics`; other keys of it with ``_after``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from trustlab.experiment import TrainConfig
from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.evaluate import backdoor_metrics, train_fresh
from trustlab.methods.doorping.triggers import PatchTrigger
from trustlab.registry import Registry


@dataclass
class Defense:
    """A registered defense: ``run(ctx, cfg)``; ``config`` names its section of DefenseConfig."""

    name: str
    run: Callable[[DefenseContext, Any], dict[str, float]]
    config: str
    description: str = ""

    @property
    def __doc__(self) -> str:  # type: ignore[override]  # registry help line
        return self.description


DEFENSES: Registry[Defense] = Registry("defense")


def register_defense(name: str, config: str, description: str) -> Callable[[Callable[..., dict[str, float]]], Any]:
    def deco(fn: Callable[..., dict[str, float]]) -> Callable[..., dict[str, float]]:
        DEFENSES.add(name, Defense(name, fn, config, description), description)
        return fn

    return deco


@dataclass
class DefenseContext:
    """Suspect ``model``; distilled ``syn_x`` (N, C, H, W) / ``syn_y``; clean test set and trigger (measuring)."""

    model: nn.Module
    syn_x: Tensor
    syn_y: Tensor
    x_test: Tensor
    y_test: Tensor
    trigger: PatchTrigger
    make_net: Callable[[], nn.Module]
    train_cfg: TrainConfig
    batch_size: int
    augment: SiameseAugment | None
    seed: int
    before: dict[str, float] = field(default_factory=dict)

    def copy_model(self) -> nn.Module:
        return copy.deepcopy(self.model)

    def measure(self, model: nn.Module) -> dict[str, float]:
        """CTA/ASR of ``model`` as ``*_after`` keys."""
        return {f"{k}_after": v for k, v in backdoor_metrics(model, self.x_test, self.y_test, self.trigger).items()}

    def retrain(self, keep: Tensor) -> dict[str, float]:
        """A fresh model trained on the kept distilled images, measured."""
        model = train_fresh(self.syn_x[keep], self.syn_y[keep], self.make_net, self.train_cfg,
                            batch_size=self.batch_size, seed=self.seed * 1000 + 777, augment=self.augment)
        return self.measure(model)

    def finetune(self, model: nn.Module, x: Tensor, y: Tensor, epochs: int) -> nn.Module:
        """Fine-tune ``model`` in place on (x, y) for ``epochs`` epochs (train_cfg's optimizer, constant lr)."""
        from trustlab.methods.doorping.data import FloatImageDataset
        from trustlab.methods.doorping.evaluate import per_image
        from trustlab.tasks.classification import train_classifier

        cfg = replace(self.train_cfg, epochs=max(int(epochs), 1), schedule="constant")
        train_classifier(model, FloatImageDataset(x, y), cfg, batch_size=self.batch_size, seed=self.seed,
                         augment=per_image(self.augment))
        return model


def features(model: nn.Module, x: Tensor, batch_size: int = 500) -> Tensor:
    """Penultimate features (N, D) of images (N, C, H, W)."""
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch_size].to(device), return_features=True)[1].cpu()
                          for i in range(0, len(x), batch_size)])
