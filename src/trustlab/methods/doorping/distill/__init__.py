"""Dataset distillation methods (the victims of the backdoor attacks): DC, DSA, DM, DD.

``build_distiller(cfg, make_net, num_classes, device)`` returns the :class:`Distiller` named by
``cfg.method``; :func:`run_distillation` runs it. See each module for the paper and defaults.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from trustlab.errors import ConfigError
from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.config import DistillConfig
from trustlab.methods.doorping.distill.base import (
    DISTILLERS,
    Distiller,
    DistillResult,
    RealData,
    check_ipc,
    run_distillation,
)
from trustlab.methods.doorping.distill.dc import DC, DSA, match_distance
from trustlab.methods.doorping.distill.dd import DD
from trustlab.methods.doorping.distill.dm import DM

__all__ = [
    "DC", "DD", "DISTILLERS", "DM", "DSA", "DistillResult", "Distiller", "RealData", "build_distiller",
    "check_ipc", "match_distance", "run_distillation",
]


def build_distiller(cfg: DistillConfig, make_net: Callable[[], nn.Module], num_classes: int,
                    device: torch.device) -> Distiller:
    """The distiller of ``cfg.method`` (``cfg`` already :func:`~trustlab.methods.doorping.config.resolved`)."""
    if cfg.method not in DISTILLERS:
        raise ConfigError(f"distill.method '{cfg.method}' is not one of {', '.join(DISTILLERS.names())}")
    if cfg.iterations < 0:
        raise ConfigError(f"distill.iterations must be >= 0, got {cfg.iterations}")
    if cfg.batch_real < 1:
        raise ConfigError(f"distill.batch_real must be >= 1, got {cfg.batch_real}")
    cls = DISTILLERS.get(cfg.method)
    if cfg.method in ("dsa", "dm"):
        return cls(cfg, make_net, num_classes, device, augment=SiameseAugment(cfg.dsa_strategy))
    return cls(cfg, make_net, num_classes, device)
