"""Evaluating a distilled set: train fresh models on it, then CTA and ASR (Liu et al., arXiv:2301.01197).

- ``cta``: clean test accuracy of a model trained on the distilled set.
- ``asr`` (the headline): the share of *non-target* test images that the model assigns to the target
  once stamped with the trigger and stored as a real image would be: clipped to [0, 1] and quantised
  to 8 bits (:func:`~trustlab.methods.doorping.triggers.as_stored`). A trigger outside the valid pixel
  range cannot be delivered in an image file, and target-class images count as hits without a backdoor.
- ``asr_reference``: the reference's metric: every test image (target class included) stamped with the
  raw, possibly unbounded trigger. ``asr_unclipped``: non-target images, raw trigger.

Fresh models are trained with the shared ERM task layer
(:func:`~trustlab.tasks.classification.train_classifier`, optional per-image DSA augmentation).
Reference evaluation: 10 models, SGD lr 0.01 momentum 0.9 wd 5e-4, batch 256, lr x0.1 at half of
the epochs, 300 epochs (1000 with augmentation; 300 here).

Example::

    model = train_fresh(images, labels, make_net, train_cfg, batch_size=256, seed=0)
    backdoor_metrics(model, x_test, y_test, trigger)   # {"cta", "asr", "asr_reference", "asr_unclipped"}
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from trustlab.experiment import TrainConfig
from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.data import FloatImageDataset
from trustlab.methods.doorping.triggers import PatchTrigger
from trustlab.tasks.classification import predict_labels, train_classifier

METRICS = ("cta", "asr", "asr_reference", "asr_unclipped")


def per_image(augment: SiameseAugment | None) -> Callable[[Tensor], Tensor] | None:
    """DSA with fresh random parameters per batch, as the ``augment`` callable of the task layer."""
    if augment is None:
        return None
    return lambda x: augment(x, int(torch.randint(2**31 - 1, (1,))))


def train_fresh(images: Tensor, labels: Tensor, make_net: Callable[[], nn.Module], train_cfg: TrainConfig, *,
                batch_size: int, seed: int, augment: SiameseAugment | None = None) -> nn.Module:
    """A new ``make_net()`` trained on (images, labels) with ``train_cfg``, seeded by ``seed`` (the net's
    initialisation too); returned in eval mode."""
    from trustlab.engine.runtime import seed_everything

    seed_everything(seed, train_cfg.deterministic)
    model = make_net()
    train_classifier(model, FloatImageDataset(images.detach().cpu(), labels.detach().cpu()), train_cfg,
                     batch_size=batch_size, seed=seed, augment=per_image(augment))
    return model


def backdoor_metrics(model: nn.Module, x_test: Tensor, y_test: Tensor, trigger: PatchTrigger) -> dict[str, float]:
    """``cta``, ``asr`` (headline: non-target images, stamped, clipped and 8-bit quantised),
    ``asr_reference`` (all images, raw stamp) and ``asr_unclipped`` (non-target images, raw stamp)."""
    y = y_test.cpu()
    keep = y != trigger.target
    clean = predict_labels(model, x_test)
    raw = predict_labels(model, trigger.stamp(x_test)) == trigger.target
    stored = predict_labels(model, trigger.stamp_stored(x_test[keep])) == trigger.target
    nan = float("nan")
    return {
        "cta": float((clean == y).float().mean()) if len(y) else nan,
        "asr": float(stored.float().mean()) if keep.any() else nan,
        "asr_reference": float(raw.float().mean()) if len(y) else nan,
        "asr_unclipped": float(raw[keep].float().mean()) if keep.any() else nan,
    }
