"""The common classifier wrapper every trustlab backbone is built as.

Contract (DEVELOPERS.md, "APIs to build on", Models): detectors, attacks and methods see one interface::

    logits = model(x)                                   # x: (B, C, H, W) floats in [0, 1]
    logits, feats = model(x, return_features=True)      # feats: (B, model.feature_dim)
    head = model.classifier()                           # the last nn.Linear; head(feats) == logits

Normalisation ``(x - mean) / std`` happens *inside* the model (buffers ``mean`` and ``std``, shape
(1, C, 1, 1), default 0.5 / 0.5 per channel), so attacks can work in [0, 1] pixel space and clamp there.
The buffers are not saved in ``state_dict()``: they come from the config, which the run record keeps.

A subclass implements ``features(x_normalised) -> (B, D)`` and either sets ``self.head`` to an
``nn.Linear(D, num_classes)`` or overrides ``classifier()`` (used by the timm wrapper, whose head
lives inside the timm model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import torch
from torch import Tensor, nn

from trustlab.errors import ConfigError

Stats = float | Sequence[float]


def _stats(value: Stats, in_chans: int, what: str) -> Tensor:
    """Expand a scalar or per-channel sequence to a (1, C, 1, 1) tensor, checking length and sign."""
    values = [float(value)] * in_chans if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) != in_chans:
        raise ConfigError(
            f"model {what} has {len(values)} values but in_chans={in_chans}; give one value per channel or a scalar"
        )
    if what == "std" and any(v <= 0 for v in values):
        raise ConfigError(f"model std must be > 0, got {values}")
    return torch.tensor(values, dtype=torch.float32).view(1, in_chans, 1, 1)


class Classifier(nn.Module):
    """Base class: [0, 1] images -> normalise -> ``features`` -> last ``nn.Linear`` -> logits.

    Args:
        num_classes: number of outputs of the head.
        feature_dim: D, the width of the features fed to the head.
        input_size: (H, W) the model was built for (some backbones, e.g. ``small_cnn``, need exactly it).
        in_chans: C, image channels.
        mean, std: normalisation statistics, a scalar or one value per channel (default 0.5 / 0.5,
            which maps [0, 1] to [-1, 1]).

    Attributes: ``num_classes``, ``feature_dim``, ``input_size``, ``in_chans``, buffers ``mean``, ``std``.
    """

    head: nn.Linear

    def __init__(
        self,
        num_classes: int,
        feature_dim: int,
        input_size: tuple[int, int],
        in_chans: int = 3,
        mean: Stats = 0.5,
        std: Stats = 0.5,
    ) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.in_chans = int(in_chans)
        self.register_buffer("mean", _stats(mean, in_chans, "mean"), persistent=False)
        self.register_buffer("std", _stats(std, in_chans, "std"), persistent=False)

    def normalize(self, x: Tensor) -> Tensor:
        """(B, C, H, W) in [0, 1] -> (B, C, H, W) standardised with the model's mean/std."""
        return (x - self.mean) / self.std

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) *normalised* images -> (B, feature_dim) penultimate features."""
        raise NotImplementedError(f"{type(self).__name__} must implement features()")

    def classifier(self) -> nn.Linear:
        """The last linear layer: ``classifier()(features) == logits``."""
        return self.head

    @overload
    def forward(self, x: Tensor, return_features: Literal[False] = ...) -> Tensor: ...

    @overload
    def forward(self, x: Tensor, return_features: Literal[True]) -> tuple[Tensor, Tensor]: ...

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """(B, C, H, W) images in [0, 1] -> logits (B, num_classes) [, features (B, feature_dim)]."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ConfigError(
                f"model expects images of shape (B, {self.in_chans}, H, W), got {tuple(x.shape)}; "
                f"build it with in_chans={x.shape[1] if x.dim() == 4 else '?'} or convert the images"
            )
        feats = self.features(self.normalize(x))
        logits = self.classifier()(feats)
        if return_features:
            return logits, feats
        return logits

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, feature_dim={self.feature_dim}, "
            f"input_size={self.input_size}, in_chans={self.in_chans}"
        )
