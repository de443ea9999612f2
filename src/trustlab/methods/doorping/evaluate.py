"""Evaluating a distilled set: train fresh models on it, then CTA and ASR (papers/04).

- CTA: clean test accuracy of a model trained on the distilled set.
- ASR: accuracy on the whole test set stamped with the trigger and relabelled to the target.
- ASR (non-target): the same without the test images whose true label is the target.

Fresh models are trained with the engine's :func:`~trustlab.engine.fit.fit` through
:class:`SynsetTrainer` (CE + optional per-image DSA augmentation). Reference evaluation: 10 models,
SGD lr 0.01 momentum 0.9 wd 5e-4, batch 256, lr x0.1 at half of the epochs, 300 epochs (1000 with
augmentation; 300 here).

Example::

    model = train_fresh(images, labels, make_net, train_cfg, batch_size=256, seed=0)
    backdoor_metrics(model, x_test, y_test, trigger)   # {"cta": ..., "asr": ..., "asr_nontarget": ...}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.engine.fit import fit
from trustlab.engine.optim import build_optimizer
from trustlab.engine.runtime import seed_everything
from trustlab.experiment import TrainConfig
from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.data import FloatImageDataset
from trustlab.methods.doorping.triggers import PatchTrigger


class SynsetTrainer(nn.Module):
    """A :class:`~trustlab.engine.protocols.Trainable`: CE on (augmented) distilled images."""

    def __init__(self, model: nn.Module, augment: SiameseAugment | None = None) -> None:
        super().__init__()
        self.model = model
        self.augment = augment

    def training_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        if self.augment is not None:
            seed = int(torch.randint(2**31 - 1, (1,)))
            x = self.augment(x, seed)
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        return {"loss": loss, "acc": (logits.detach().argmax(1) == y).float().mean()}

    def predict(self, x: Tensor) -> Tensor:
        return self.model(x)

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.model.parameters(), cfg)


def train_fresh(images: Tensor, labels: Tensor, make_net: Callable[[], nn.Module], train_cfg: TrainConfig, *,
                batch_size: int, seed: int, augment: SiameseAugment | None = None) -> nn.Module:
    """A new ``make_net()`` trained on (images, labels) with ``train_cfg`` (seeded by ``seed``)."""
    seed_everything(seed, train_cfg.deterministic)
    model = make_net()
    trainer = SynsetTrainer(model, augment)
    fit(trainer, FloatImageDataset(images.detach().cpu(), labels.detach().cpu()), replace(train_cfg, seed=seed),
        batch_size=batch_size, quiet=True)
    model.eval()
    return model


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 500) -> Tensor:
    """Predicted labels of images (N, C, H, W), on the model's device."""
    device = next(model.parameters()).device
    model.eval()
    return torch.cat([model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return float((predict(model, x) == y.cpu()).float().mean()) if len(y) else float("nan")


def backdoor_metrics(model: nn.Module, x_test: Tensor, y_test: Tensor, trigger: PatchTrigger) -> dict[str, float]:
    """``cta``, ``asr`` (all stamped test images -> target), ``asr_nontarget`` (true label != target) and
    ``asr_clipped``: the ASR when the stamped images are clipped to the valid [0, 1] pixel range, as any
    8-bit image pipeline would store them (equal to ``asr`` for a trigger inside [0, 1]; the reference's
    unbounded DOORPING trigger is not)."""
    clean = predict(model, x_test)
    x_stamped = trigger.stamp(x_test)
    hit = predict(model, x_stamped) == trigger.target
    hit_clipped = predict(model, x_stamped.clamp(0.0, 1.0)) == trigger.target
    keep = y_test.cpu() != trigger.target
    return {
        "cta": float((clean == y_test.cpu()).float().mean()),
        "asr": float(hit.float().mean()),
        "asr_nontarget": float(hit[keep].float().mean()) if keep.any() else float("nan"),
        "asr_clipped": float(hit_clipped.float().mean()),
    }
