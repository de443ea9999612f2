"""DomainBed's training augmentation, batched: what GMoE's reference applies to every source image.

Gulrajani & Lopez-Paz, "In Search of Lost Domain Generalization" (arXiv:2007.01434); GMoE's ``datasets.py``
uses the same transform: RandomResizedCrop(scale 0.7-1), RandomHorizontalFlip, ColorJitter(0.3, 0.3, 0.3, 0.3),
RandomGrayscale(0.1). torchvision's per-image transforms cost ~10 ms per 32-px image on this CPU (more than the
ViT's training step), so :func:`domainbed_batch` draws the same per-image random parameters and applies them to
the whole batch at once:

* crop + flip: one ``affine_grid`` / ``grid_sample`` (bilinear) per batch, area share U(0.7, 1), log-uniform
  aspect ratio in (3/4, 4/3), a uniform position inside the image, flipped with probability 0.5;
* colour jitter: brightness, contrast and saturation factors U(0.7, 1.3), hue shift U(-0.3, 0.3) (HSV, as
  torchvision), in one random order per batch (torchvision draws one order per image);
* greyscale with probability 0.1 per image (ITU-R 601 luma, as torchvision).

Input and output: (B, 3, H, W) floats in [0, 1] (the model normalises). Randomness: torch's global generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

AUGMENTS = ("none", "domainbed")
SCALE = (0.7, 1.0)
RATIO = (3 / 4, 4 / 3)
JITTER = 0.3
GREY_P = 0.1


def _luma(x: Tensor) -> Tensor:
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def crop_flip(x: Tensor) -> Tensor:
    """Random resized crop (area 0.7-1 of the image, aspect 3/4-4/3) back to the same size, then a 0.5 flip."""
    b = x.shape[0]
    area = torch.empty(b).uniform_(*SCALE)
    log_r = torch.empty(b).uniform_(math.log(RATIO[0]), math.log(RATIO[1]))
    ratio = log_r.exp()
    sw = (area * ratio).sqrt().clamp(max=1.0)  # crop width / image width
    sh = (area / ratio).sqrt().clamp(max=1.0)
    cx = (torch.rand(b) * 2 - 1) * (1 - sw)  # crop centre in [-1, 1] coordinates, inside the image
    cy = (torch.rand(b) * 2 - 1) * (1 - sh)
    flip = torch.where(torch.rand(b) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = sw * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = sh, cy
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour_jitter(x: Tensor, strength: float = JITTER) -> Tensor:
    """Brightness, contrast, saturation (factors U(1-s, 1+s)) and hue (shift U(-s, s)) per image."""
    from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

    b = x.shape[0]

    def factor() -> Tensor:
        return torch.empty(b, 1, 1, 1).uniform_(1 - strength, 1 + strength).to(x)

    for op in torch.randperm(4).tolist():
        if op == 0:
            x = (x * factor()).clamp(0, 1)
        elif op == 1:
            m = _luma(x).mean(dim=(1, 2, 3), keepdim=True)
            x = (m + factor() * (x - m)).clamp(0, 1)
        elif op == 2:
            g = _luma(x)
            x = (g + factor() * (x - g)).clamp(0, 1)
        else:
            hsv = _rgb_to_hsv(x)
            shift = torch.empty(b, 1, 1).uniform_(-strength, strength).to(x)
            hsv = torch.stack([(hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
            x = _hsv_to_rgb(hsv)
    return x


def random_grey(x: Tensor, p: float = GREY_P) -> Tensor:
    grey = (torch.rand(x.shape[0], 1, 1, 1) < p).to(x.device)
    return torch.where(grey, _luma(x).expand_as(x), x)


def domainbed_batch(x: Tensor) -> Tensor:
    """DomainBed's training transform on a batch (B, 3, H, W) in [0, 1], per-image random parameters."""
    return random_grey(colour_jitter(crop_flip(x)))
