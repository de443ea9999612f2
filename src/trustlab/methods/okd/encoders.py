"""Context encoders for DOSCO: images -> context feature vectors that k-means clusters per class.

The paper reads context off a scene-recognition network (an MAE ViT-L/16 fine-tuned on Places365,
features of centre crops). Offline, two kinds are available:

* ``stats`` (default): hand-made colour and texture statistics of the image, weighted towards the
  border ring where the background shows (the object sits in the middle): per-channel mean/std and
  8-bin histograms of the ring, hue (saturation-weighted, as cos/sin), saturation and value of the ring,
  gradient-magnitude mean/std, a uniform LBP histogram (P=8, R=1; scikit-image) and low/mid/high FFT
  band energies of the whole grey image. 54 numbers per image, no training.
* ``<model name>`` with ``weights``: any network of the model registry loaded from a local checkpoint
  (e.g. a Places365 ``resnet18``: ``--context-encoder resnet18 --encoder-weights places.pt
  --encoder-classes 365``); features are its penultimate activations on centre crops (87.5%) resized
  to ``image_size``.

``encode(images uint8 (N, H, W, 3)) -> float64 (N, D)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from trustlab.errors import ConfigError


class ContextEncoder(Protocol):
    name: str

    def encode(self, images: np.ndarray) -> np.ndarray: ...


def _ring(h: int, w: int) -> np.ndarray:
    """Boolean (H, W) mask of the border ring (width ~ 1/5 of the side)."""
    b = max(2, round(min(h, w) / 5))
    m = np.ones((h, w), dtype=bool)
    m[b : h - b, b : w - b] = False
    return m


@dataclass
class StatsEncoder:
    """Colour/texture statistics (see the module docstring); deterministic, no parameters."""

    name: str = "stats"
    bins: int = 8

    def encode(self, images: np.ndarray) -> np.ndarray:
        from skimage.color import rgb2hsv
        from skimage.feature import local_binary_pattern

        if images.ndim != 4 or images.shape[-1] != 3:
            raise ConfigError(f"context encoder expects uint8 images (N, H, W, 3), got shape {images.shape}")
        x = images.astype(np.float64) / 255.0
        n, h, w, _ = x.shape
        ring = x[:, _ring(h, w)]  # (N, P, 3)
        hsv = rgb2hsv(x)[:, _ring(h, w)]
        hue, sat, val = hsv[..., 0] * 2 * np.pi, hsv[..., 1], hsv[..., 2]
        wsum = sat.sum(1) + 1e-6
        hist = [np.stack([np.histogram(r[:, c], bins=self.bins, range=(0, 1))[0] for c in range(3)]).ravel()
                for r in ring]
        grey = x @ np.array([0.299, 0.587, 0.114])
        gy, gx = np.gradient(grey, axis=(1, 2))
        mag = np.hypot(gx, gy)
        lbp = np.stack([
            np.bincount(local_binary_pattern((g * 255).astype(np.uint8), 8, 1, "uniform").astype(int).ravel(),
                        minlength=10)[:10] for g in grey
        ])
        spec = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean((1, 2), keepdims=True)), axes=(1, 2))) ** 2
        yy, xx = np.mgrid[0:h, 0:w]
        radius = np.hypot(yy - h / 2, xx - w / 2) / (min(h, w) / 2)
        bands = [spec[:, (radius >= lo) & (radius < hi)].sum(1) for lo, hi in ((0, 0.25), (0.25, 0.6), (0.6, 2.0))]
        total = sum(bands) + 1e-9
        feats = [
            ring.mean(1), ring.std(1),                                     # 6
            np.asarray(hist, dtype=np.float64) / ring.shape[1],            # 24
            np.stack([(np.cos(hue) * sat).sum(1) / wsum, (np.sin(hue) * sat).sum(1) / wsum], 1),  # 2
            np.stack([sat.mean(1), val.mean(1), val.std(1)], 1),           # 3
            np.stack([mag.mean((1, 2)), mag.std((1, 2))], 1),              # 2
            lbp / (h * w),                                                 # 10
            np.stack([b / total for b in bands], 1),                       # 3
            np.stack([np.log1p(total)], 1),                                # 1
            grey.reshape(n, -1).std(1, keepdims=True),                     # 1 (+2 below)
            np.stack([grey.mean((1, 2)), x[..., 0].mean((1, 2)) - x[..., 2].mean((1, 2))], 1),
        ]
        return np.concatenate(feats, axis=1)


class NetworkEncoder:
    """Penultimate features of a registry model loaded from a local checkpoint (e.g. Places365)."""

    def __init__(self, model: str, weights: str | None, num_classes: int = 365, width: float = 1.0,
                 image_size: int = 224, batch_size: int = 64, device: str = "cpu") -> None:
        from trustlab.models import build_model

        if not weights:
            raise ConfigError(
                f"context encoder '{model}' needs --encoder-weights PATH (a local checkpoint, e.g. Places365); "
                "or use --context-encoder stats"
            )
        self.name = model
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.net = build_model(model, num_classes, input_size=image_size, width=width, weights=weights)
        self.net.to(self.device).eval()

    @torch.no_grad()
    def encode(self, images: np.ndarray) -> np.ndarray:
        import torch.nn.functional as F

        out = []
        for i in range(0, len(images), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + self.batch_size])).permute(0, 3, 1, 2)
            x = x.float().div(255.0).to(self.device)
            h, w = x.shape[-2:]
            ch, cw = max(1, round(h * 0.875)), max(1, round(w * 0.875))
            top, left = (h - ch) // 2, (w - cw) // 2
            x = F.interpolate(x[..., top : top + ch, left : left + cw], size=(self.image_size, self.image_size),
                              mode="bilinear", align_corners=False)
            _, feats = self.net(x, return_features=True)
            out.append(feats.cpu().double().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.net.feature_dim))


def build_encoder(name: str, weights: str | None = None, num_classes: int = 365, width: float = 1.0,
                  image_size: int = 224) -> ContextEncoder:
    """``stats`` or a model name (with local ``weights``); an unknown model name is a NotFoundError."""
    if name == "stats":
        return StatsEncoder()
    return NetworkEncoder(name, weights, num_classes, width, image_size)
