"""CoOp (context optimisation) and its baselines on frozen CLIP features.

Zhou, Yang, Loy, Liu, "Learning to Prompt for Vision-Language Models", IJCV 2022
(https://arxiv.org/abs/2109.01134). Setting: few-shot classification with a frozen CLIP; only the
prompt context is learned. Defaults follow the reference (``configs/trainers/CoOp/rn50*.yaml``): M = 16
random N(0, 0.02) context vectors, unified context, class token at the end, SGD lr 0.002 (the tiny CLIP:
``TINY_LR``, chosen on validation data; momentum 0.9, weight decay 5e-4, Dassl's defaults), cosine
schedule, one warm-up epoch at a constant 1e-5,
batch 32, 50 epochs at 1 shot, 100 at 2 and 4, 200 at 8 and 16 (``coop.epoch_scale`` scales them down).

Baselines: zero-shot CLIP with each hand-crafted prompt, prompt ensembling (mean of the normalised text
embeddings of all prompts, ``ZeroshotCLIP2``), and a linear probe (L2-regularised logistic regression on
the image features with C searched on a few-shot validation set, ``lpclip/linear_probe.py``).

Usage::

    model = CoOp(clip, classnames, CoOpConfig(n_ctx=16))
    fit_coop(model, feats, labels, CoOpConfig(), shots=16, seed=0)
    acc = coop_accuracy(model, test_feats, test_labels)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trustlab.errors import ConfigError
from trustlab.experiment import TrainConfig
from trustlab.methods.coop.clip_model import TINY, Clip
from trustlab.methods.coop.config import REFERENCE_EPOCHS, REFERENCE_LR, TINY_LR, CoOpConfig, CoOpTrainConfig
from trustlab.methods.coop.prompts import PromptLearner, encode_prompts


class CoOp(nn.Module):
    """Frozen CLIP + a :class:`PromptLearner`; logits = exp(logit_scale) * cos(image, text)."""

    def __init__(self, clip: Clip, classnames: list[str], cfg: CoOpConfig) -> None:
        super().__init__()
        self.clip = clip
        self.clip_model = clip.model
        for p in self.clip_model.parameters():
            p.requires_grad_(False)
        self.prompt_learner = PromptLearner(clip, classnames, cfg.n_ctx, cfg.csc, cfg.position,
                                            cfg.init or None, cfg.init_std)

    def text_features(self) -> torch.Tensor:
        t = encode_prompts(self.clip_model, self.prompt_learner(), self.prompt_learner.tokenized)
        return F.normalize(t, dim=-1)

    def logits_from_features(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.clip_model.logit_scale.exp() * image_features @ self.text_features().t()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for float images in [0, 1] (runs the frozen image encoder)."""
        feats = F.normalize(self.clip_model.encode_image(self.clip.preprocess(images)), dim=-1)
        return self.logits_from_features(feats)

    def train(self, mode: bool = True) -> CoOp:  # the frozen CLIP stays in eval mode (no dropout / BN updates)
        super().train(mode)
        self.clip_model.eval()
        return self


def epochs_for(cfg: CoOpConfig, shots: int) -> int:
    if cfg.epochs is not None:
        return max(1, int(cfg.epochs))
    base = REFERENCE_EPOCHS.get(shots, 200 if shots > 16 else 50)
    return max(1, int(round(base * cfg.epoch_scale)))


def resolve_lr(cfg: CoOpConfig, clip: Clip) -> float:
    """``coop.lr``, or when it is unset the default for the model: TINY_LR (tiny CLIP) or REFERENCE_LR."""
    if cfg.lr is not None:
        return float(cfg.lr)
    return TINY_LR if clip.arch == TINY else REFERENCE_LR


def dassl_lr(epoch: int, base_lr: float, epochs: int, warmup_epochs: int, warmup_lr: float) -> float:
    """The learning rate of (0-based) ``epoch`` under Dassl's ``ConstantWarmupScheduler`` around
    ``CosineAnnealingLR(T_max=epochs)`` with ``WARMUP_RECOUNT`` (CoOp's configs: one warm-up epoch at 1e-5),
    stepped once per epoch: ``warmup_lr`` for the warm-up epochs, then the cosine restarts its count, so epoch
    ``e >= warmup_epochs`` runs at ``0.5 * base_lr * (1 + cos(pi * (e - warmup_epochs) / epochs))``: the first
    epoch after the warm-up runs at ``base_lr`` and the last does not reach zero."""
    if epoch < warmup_epochs:
        return warmup_lr
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / epochs))


class ContextTrainer(nn.Module):
    """:class:`CoOp` as a :class:`~trustlab.engine.protocols.Trainable`: batches are ``(inputs, labels)`` where the
    inputs are L2-normalised image features (or images, ``on_images``); SGD on the context only; Dassl's schedule
    (:func:`dassl_lr`, per epoch)."""

    def __init__(self, model: CoOp, cfg: CoOpConfig, base_lr: float, epochs: int, on_images: bool = False) -> None:
        super().__init__()
        self.model, self.cfg, self.base_lr, self.epochs, self.on_images = model, cfg, base_lr, epochs, on_images

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.on_images else self.model.logits_from_features(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss": F.cross_entropy(self.predict(x), y)}

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    def configure_scheduler(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                            steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
        c = self.cfg
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: dassl_lr(
            step // steps_per_epoch, self.base_lr, self.epochs, c.warmup_epochs, c.warmup_lr) / self.base_lr)


def fit_coop(model: CoOp, feats: torch.Tensor | None, labels: torch.Tensor, cfg: CoOpConfig, shots: int, seed: int,
             images: torch.Tensor | None = None, train: CoOpTrainConfig | None = None) -> list[float]:
    """Train only the context on (precomputed L2-normalised image features, labels) with the engine's
    :func:`~trustlab.engine.fit.fit`; returns the mean training loss per epoch.

    Batches as Dassl's training loader: a fresh random order every epoch, ``coop.batch_size`` per step, the last
    incomplete batch dropped unless the shots are fewer than one batch (then one batch of all of them). With
    ``images`` given, batches go through the frozen image encoder instead (same result, slower).
    """
    from trustlab.engine.fit import TensorRows, fit

    base_lr = resolve_lr(cfg, model.clip)
    if base_lr <= 0 or cfg.batch_size < 1:
        raise ConfigError("coop.lr must be > 0 and coop.batch_size >= 1")
    train = train or CoOpTrainConfig()
    epochs = epochs_for(cfg, shots)
    tcfg = TrainConfig(epochs=epochs, optimizer="sgd", lr=base_lr, momentum=cfg.momentum,
                       weight_decay=cfg.weight_decay, grad_clip=train.grad_clip,
                       grad_accum_steps=train.grad_accum_steps, device="cpu", seed=seed, eval_every=epochs)
    trainer = ContextTrainer(model, cfg, base_lr, epochs, on_images=images is not None)
    data = TensorRows(images if images is not None else feats, labels)
    result = fit(trainer, data, tcfg, batch_size=cfg.batch_size, collate_fn=TensorRows.collate, quiet=True,
                 generator=torch.Generator())
    model.eval()
    return [row["train/loss"] for row in result.history]


@torch.no_grad()
def coop_accuracy(model: CoOp, feats: torch.Tensor, labels: torch.Tensor) -> float:
    return float((model.logits_from_features(feats).argmax(1) == labels).float().mean())


@torch.no_grad()
def prompt_text_features(clip: Clip, template: str, classnames: list[str]) -> torch.Tensor:
    if "{}" not in template:
        raise ConfigError(f"hand-crafted prompt '{template}' has no '{{}}' for the class name")
    return clip.encode_texts([template.format(c.replace("_", " ")) for c in classnames])


@torch.no_grad()
def zero_shot_accuracy(clip: Clip, text: torch.Tensor, feats: torch.Tensor, labels: torch.Tensor) -> float:
    return float(((feats @ text.t()).argmax(1) == labels).float().mean())


@torch.no_grad()
def ensemble_text_features(clip: Clip, templates: list[str], classnames: list[str]) -> torch.Tensor:
    """Prompt ensembling: mean of the normalised embeddings over templates, renormalised."""
    mean = torch.stack([prompt_text_features(clip, t, classnames) for t in templates]).mean(0)
    return F.normalize(mean, dim=-1)


C_GRID = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)  # lpclip/linear_probe.py search_list
SEARCH_STEPS = 8  # lpclip/linear_probe.py --num_step


def _logreg(x: Any, y: Any, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(solver="lbfgs", max_iter=1000, C=c).fit(x, y)


def search_c(train: tuple[Any, Any], val: tuple[Any, Any], steps: int = SEARCH_STEPS) -> tuple[Any, float]:
    """The reference's C search (``lpclip/linear_probe.py``): the grid :data:`C_GRID` on ``val`` (first best),
    then ``steps`` rounds of a bisection in log10(C) between a tenth and ten times the peak: each round fits
    both ends, keeps the better (the left, smaller C, on a tie) and halves the interval towards it. Returns the
    last round's classifier and its C (as the reference, which reports the last round)."""
    xtr, ytr = train
    xva, yva = val

    def val_acc(clf: Any) -> float:
        return float((clf.predict(xva) == yva).mean())

    accs = [val_acc(_logreg(xtr, ytr, c)) for c in C_GRID]
    peak = C_GRID[int(np.argmax(accs))]
    lo, hi = math.log10(peak) - 1.0, math.log10(peak) + 1.0
    clf, c_final = None, peak
    for _ in range(max(0, steps)):
        left, right = _logreg(xtr, ytr, 10.0 ** lo), _logreg(xtr, ytr, 10.0 ** hi)
        if val_acc(left) < val_acc(right):
            clf, c_final, lo = right, 10.0 ** hi, 0.5 * (lo + hi)
        else:
            clf, c_final, hi = left, 10.0 ** lo, 0.5 * (lo + hi)
    if clf is None:
        clf = _logreg(xtr, ytr, peak)
    return clf, c_final


def linear_probe_accuracy(train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
                          test: tuple[torch.Tensor, torch.Tensor], steps: int = SEARCH_STEPS) -> tuple[float, float]:
    """Logistic regression on raw (not normalised) image features as the reference's ``lpclip``, C from
    :func:`search_c` on ``val``; (test accuracy, C)."""
    clf, c = search_c((train[0].numpy(), train[1].numpy()), (val[0].numpy(), val[1].numpy()), steps)
    return float((clf.predict(test[0].numpy()) == test[1].numpy()).mean()), c
