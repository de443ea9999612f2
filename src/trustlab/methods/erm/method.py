"""ERM: empirical risk minimisation, the baseline every DG paper compares with.

Gulrajani & Lopez-Paz, "In Search of Lost Domain Generalization" (ICLR 2021,
https://arxiv.org/abs/2007.01434): pool all source domains, minimise cross-entropy, select the model
by training-domain validation. Defaults (SGD, lr 0.01, momentum 0.9, wd 5e-4, cosine) follow the
Dassl/on-device-DG reference setup (papers/01).

    method = ERM(build_model("small_cnn", 10), ERMConfig())
    out = method.training_step((x, y))    # {"loss": tensor, "acc": tensor}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from trustlab.engine.optim import build_optimizer
from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.registry import METHODS


@dataclass
class ERMConfig:
    label_smoothing: float = 0.0


@METHODS.register("erm")
class ERM(nn.Module):
    """Cross-entropy on pooled source domains (the ``model`` is what gets evaluated and exported)."""

    def __init__(self, model: nn.Module, cfg: ERMConfig | None = None) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg or ERMConfig()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        return {"loss": loss, "acc": (logits.detach().argmax(1) == y).float().mean()}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.model.parameters(), cfg)


@dataclass
class ERMRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: ERMConfig = field(default_factory=ERMConfig)
