"""Optimizers and learning-rate schedules (per step): cosine, step, constant (each with a linear or constant
warm-up) and onecycle."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from trustlab.errors import ConfigError
from trustlab.experiment import TrainConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov off), Adam or AdamW from the train config."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ConfigError("the method has no trainable parameters")
    if cfg.lr <= 0:
        raise ConfigError(f"train.lr must be > 0, got {cfg.lr}")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(step: int, total_steps: int, steps_per_epoch: int, cfg: TrainConfig) -> float:
    """The multiplier of the base LR after ``step`` optimizer steps (cosine, step, constant; onecycle is
    :class:`~torch.optim.lr_scheduler.OneCycleLR` itself, see :func:`build_scheduler`).

    Warm-up (``warmup_epochs * steps_per_epoch + warmup_steps`` steps) comes first: ``linear`` rises as
    ``(step + 1) / warm``, ``constant`` holds ``warmup_factor`` (then jumps to the schedule). Cosine decays
    over the steps after the warm-up; the step schedule counts epochs from the start."""
    warm = cfg.warmup_epochs * steps_per_epoch + cfg.warmup_steps
    if warm and step < warm:
        return cfg.warmup_factor if cfg.warmup == "constant" else (step + 1) / warm
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        epoch = step // max(steps_per_epoch, 1)
        return cfg.gamma ** (epoch // max(cfg.step_size, 1))
    span = max(total_steps - warm, 1)
    progress = min(max(step - warm, 0) / span, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    """The per-step schedule of ``cfg`` over ``cfg.epochs * steps_per_epoch`` optimizer steps."""
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=max(1, total), pct_start=cfg.pct_start)
    return LambdaLR(optimizer, lambda s: lr_factor(s, total, steps_per_epoch, cfg))
