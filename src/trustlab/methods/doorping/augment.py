"""Differentiable siamese augmentation (DSA), Zhao & Bilen, ICML 2021 (https://arxiv.org/abs/2102.08259).

Each call picks ONE operation of the ``strategy`` (DSA's single mode) and random parameters for it,
all from a ``torch.Generator`` seeded by ``seed``; calling twice with the same seed applies the same
transformation, which is how real and synthetic batches are augmented alike ("siamese") while the
gradient flows back to the synthetic images. With ``siamese=False`` every image gets its own
parameters (used when training fresh models on a distilled set).

Operations on images (N, C, H, W) in [0, 1] (parameters in pixel units, DSA's defaults rescaled):
``color`` (brightness +-0.15, saturation x[0.5, 1.5], contrast x[0.5, 1.5]), ``crop`` (translate by up
to 1/8 of the side), ``cutout`` (zero a square of half the side), ``flip`` (horizontal, p=0.5),
``scale`` (x[1/1.2, 1.2] per axis), ``rotate`` (+-15 degrees).

Example::

    aug = SiameseAugment("color_crop_cutout_scale_rotate")
    xr, xs = aug(x_real, seed=7), aug(x_syn, seed=7)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from trustlab.errors import ConfigError

OPS = ("color", "crop", "cutout", "flip", "scale", "rotate")


class SiameseAugment:
    """``aug(x, seed)`` -> augmented x (same shape), differentiable w.r.t. x."""

    def __init__(self, strategy: str, siamese: bool = True, brightness: float = 0.15, contrast: float = 0.5,
                 saturation: float = 0.5, crop: float = 0.125, cutout: float = 0.5, scale: float = 1.2,
                 rotate: float = 15.0) -> None:
        ops = [op for op in strategy.split("_") if op]
        bad = [op for op in ops if op not in OPS]
        if bad or not ops:
            raise ConfigError(f"distill.dsa_strategy '{strategy}' has unknown ops {bad}; use {', '.join(OPS)}")
        self.ops = ops
        self.siamese = siamese
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation
        self.crop, self.cutout, self.scale, self.rotate_deg = crop, cutout, scale, rotate

    def __call__(self, x: Tensor, seed: int) -> Tensor:
        g = torch.Generator().manual_seed(int(seed))
        op = self.ops[int(torch.randint(len(self.ops), (1,), generator=g))]
        return getattr(self, f"_{op}")(x, g)

    def _rand(self, n: int, g: torch.Generator, device: torch.device) -> Tensor:
        """n uniform [0, 1) values; under siamese mode one value shared by the whole batch."""
        r = torch.rand(1 if self.siamese else n, generator=g)
        return r.expand(n).to(device) if self.siamese else r.to(device)

    def _color(self, x: Tensor, g: torch.Generator) -> Tensor:
        n = len(x)
        b = (self._rand(n, g, x.device) - 0.5) * 2 * self.brightness
        x = x + b.view(-1, 1, 1, 1)
        s = 1 + (self._rand(n, g, x.device) - 0.5) * 2 * self.saturation
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * s.view(-1, 1, 1, 1) + mean
        c = 1 + (self._rand(n, g, x.device) - 0.5) * 2 * self.contrast
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * c.view(-1, 1, 1, 1) + mean

    def _affine(self, x: Tensor, theta: Tensor) -> Tensor:
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")

    def _crop(self, x: Tensor, g: torch.Generator) -> Tensor:
        n = len(x)
        tx = (self._rand(n, g, x.device) - 0.5) * 4 * self.crop  # grid units span 2 per side
        ty = (self._rand(n, g, x.device) - 0.5) * 4 * self.crop
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, 0, 2], theta[:, 1, 2] = tx, ty
        return self._affine(x, theta)

    def _scale(self, x: Tensor, g: torch.Generator) -> Tensor:
        n = len(x)
        lo = 1.0 / self.scale
        sx = lo + self._rand(n, g, x.device) * (self.scale - lo)
        sy = lo + self._rand(n, g, x.device) * (self.scale - lo)
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0], theta[:, 1, 1] = sx, sy
        return self._affine(x, theta)

    def _rotate(self, x: Tensor, g: torch.Generator) -> Tensor:
        n = len(x)
        a = (self._rand(n, g, x.device) - 0.5) * 2 * math.radians(self.rotate_deg)
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), -torch.sin(a)
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
        return self._affine(x, theta)

    def _flip(self, x: Tensor, g: torch.Generator) -> Tensor:
        flip = (self._rand(len(x), g, x.device) < 0.5).view(-1, 1, 1, 1)
        return torch.where(flip, x.flip(3), x)

    def _cutout(self, x: Tensor, g: torch.Generator) -> Tensor:
        n, _, h, w = x.shape
        ch, cw = max(1, int(h * self.cutout / 2)), max(1, int(w * self.cutout / 2))
        cy = (self._rand(n, g, x.device) * h).long().view(-1, 1, 1)
        cx = (self._rand(n, g, x.device) * w).long().view(-1, 1, 1)
        rows = torch.arange(h, device=x.device).view(1, -1, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, -1)
        inside = ((rows - cy).abs() < ch) & ((cols - cx).abs() < cw)
        return x * (~inside).unsqueeze(1).to(x.dtype)
