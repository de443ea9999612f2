"""Differentiable data transformations for the EOT setting (Wang et al., arXiv:1906.03563, setting 3).

A transformation maps images (B, C, H, W) in [0, 1] to images of the same shape in [0, 1] and is
differentiable in its input, so the attack's gradient passes through it. They are named by short
specs (a list the user can change, e.g. ``--set eot.transforms=[identity,hflip,gamma:0.8]``):

| spec | meaning |
|---|---|
| ``identity`` | x |
| ``hflip`` / ``vflip`` | mirror left-right / top-bottom |
| ``brightness:<b>`` | clamp(x + b, 0, 1), b in [-1, 1] |
| ``gamma:<g>`` | x ** g, g > 0 (x clamped to >= 1e-4 so the gradient stays finite) |
| ``crop:<f>`` | central crop of a fraction f in (0, 1] of each side, bilinearly resized back |

The reference's six (identity, flips, brightness, gamma, crop-resize) are :data:`DEFAULT_TRANSFORMS`.

    ts = parse_transforms(["identity", "hflip", "crop:0.8"])
    ts[2](x).shape == x.shape
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from trustlab.errors import ConfigError, did_you_mean

# the reference trans_attack.py list (K=6): identity, fliplr, flipud, adjust_brightness(delta=0.1),
# adjust_gamma(gamma=1.3), crop_and_resize(box 0.1..0.9, i.e. the central 80%)
DEFAULT_TRANSFORMS = ["identity", "hflip", "vflip", "brightness:0.1", "gamma:1.3", "crop:0.8"]
_KINDS = ("identity", "hflip", "vflip", "brightness", "gamma", "crop")
_NEEDS_VALUE = ("brightness", "gamma", "crop")


@dataclass(frozen=True)
class Transform:
    """A named differentiable transformation; call it on (B, C, H, W) images in [0, 1]."""

    name: str
    fn: Callable[[Tensor], Tensor]

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)


def _crop(x: Tensor, frac: float) -> Tensor:
    h, w = x.shape[-2:]
    ch, cw = max(1, round(h * frac)), max(1, round(w * frac))
    top, left = (h - ch) // 2, (w - cw) // 2
    part = x[..., top : top + ch, left : left + cw]
    return F.interpolate(part, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)


def parse_transform(spec: str) -> Transform:
    """One spec (see the module table) -> :class:`Transform`; a bad spec is one ConfigError line."""
    kind, _, raw = str(spec).partition(":")
    if kind not in _KINDS:
        raise ConfigError(f"unknown transformation '{spec}'{did_you_mean(kind, _KINDS)}; "
                          f"use {', '.join(_KINDS)} (with :<value> for {', '.join(_NEEDS_VALUE)})")
    if kind in _NEEDS_VALUE:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"transformation '{spec}' needs a number, e.g. {kind}:0.8") from None
        if not math.isfinite(value):
            raise ConfigError(f"transformation '{spec}' needs a finite number")
    elif raw:
        raise ConfigError(f"transformation '{kind}' takes no value, got '{spec}'")
    if kind == "identity":
        return Transform(spec, lambda x: x)
    if kind == "hflip":
        return Transform(spec, lambda x: x.flip(-1))
    if kind == "vflip":
        return Transform(spec, lambda x: x.flip(-2))
    if kind == "brightness":
        if not -1 <= value <= 1:
            raise ConfigError(f"transformation '{spec}': brightness shift must be in [-1, 1]")
        return Transform(spec, lambda x: (x + value).clamp(0, 1))
    if kind == "gamma":
        if value <= 0:
            raise ConfigError(f"transformation '{spec}': gamma must be > 0")
        return Transform(spec, lambda x: x.clamp_min(1e-4).pow(value))
    if not 0 < value <= 1:
        raise ConfigError(f"transformation '{spec}': crop fraction must be in (0, 1]")
    return Transform(spec, lambda x: _crop(x, value))


def parse_transforms(specs: list[str] | tuple[str, ...]) -> list[Transform]:
    """A list of specs -> transformations; an empty list (K=0) is a ConfigError."""
    if not specs:
        raise ConfigError("the EOT attack needs at least one transformation (K=0); e.g. [identity, hflip]")
    return [parse_transform(s) for s in specs]


def stack_transforms(transforms: list[Transform], x: Tensor) -> Tensor:
    """(B, C, H, W) -> (K, B, C, H, W): every transformation applied to x."""
    return torch.stack([t(x) for t in transforms])
