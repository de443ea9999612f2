"""ERM: empirical risk minimisation, the baseline every DG paper compares with.

Gulrajani & Lopez-Paz, "In Search of Lost Domain Generalization" (ICLR 2021,
https://arxiv.org/abs/2007.01434): pool all source domains, minimise cross-entropy, select the model
by training-domain validation. Defaults (SGD, lr 0.01, momentum 0.9, wd 5e-4, cosine) follow the
Dassl/on-device-DG reference setup (Zhou et al., On-Device Domain Generalization, arXiv:2209.07521).

    method = ERM(build_model("small_cnn", 10), ERMConfig())
    out = method.training_step((x, y))    # {"loss": tensor, "acc": tensor}
"""

from __future__ import annotations

from torch import nn

from trustlab.registry import METHODS
from trustlab.tasks.classification import Classify, ERMConfig, ERMRecipeConfig

__all__ = ["ERM", "ERMConfig", "ERMRecipeConfig"]  # the configs live in the shared layer (the KD/OKD teacher uses them)


@METHODS.register("erm")
class ERM(Classify):
    """Cross-entropy on pooled source domains (the ``model`` is what gets evaluated and exported)."""

    def __init__(self, model: nn.Module, cfg: ERMConfig | None = None) -> None:
        cfg = cfg or ERMConfig()
        super().__init__(model, label_smoothing=cfg.label_smoothing)
        self.cfg = cfg
