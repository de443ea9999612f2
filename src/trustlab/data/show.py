"""Sample grids of a :class:`DGData`: one PNG per domain, rows = classes, to eyeball a dataset.

Looking at the data is the cheapest check there is: a wrong channel order, a broken label mapping or a
domain that is blank all show up at a glance. Grids are drawn with PIL (no GUI backend needed) and
written atomically (temp file + ``os.replace``).

Usage::

    paths = save_sample_grids(data, "runs/x/artifacts/samples", per_class=8)
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch.utils.data import Dataset

from trustlab.data.base import DGData

_BG = (255, 255, 255)
_MIN_CELL = 64  # small images (32x32 digits) are upscaled with nearest-neighbour to stay legible


def _labels_of(ds: Dataset) -> np.ndarray:
    """Labels of every item; uses a ``labels`` attribute when the dataset has one (no image decoding)."""
    labels = getattr(ds, "labels", None)
    if labels is not None and len(labels) == len(ds):  # type: ignore[arg-type]
        return np.asarray(torch.as_tensor(labels)).astype(np.int64)
    return np.array([int(ds[i][1]) for i in range(len(ds))], dtype=np.int64)  # type: ignore[arg-type]


def _to_uint8_hwc(x: torch.Tensor) -> np.ndarray:
    arr = x.detach().cpu().float().clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    if arr.ndim == 2:
        arr = arr[None]
    arr = arr.transpose(1, 2, 0)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr[..., :3]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "domain"


def _grid(ds: Dataset, classes: list[str], title: str, per_class: int, rng: np.random.Generator) -> Image.Image:
    labels = _labels_of(ds)
    picks = []
    for c in range(len(classes)):
        idx = np.flatnonzero(labels == c)
        picks.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else idx)
    tiles = {(r, k): _to_uint8_hwc(ds[int(i)][0]) for r, row in enumerate(picks) for k, i in enumerate(row)}
    side = max((max(t.shape[:2]) for t in tiles.values()), default=_MIN_CELL)
    cell = side * max(1, -(-_MIN_CELL // side))
    font = ImageFont.load_default()
    label_w = 8 + max(int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(c, font=font)) for c in classes)
    pad, title_h = 2, 18
    width = label_w + per_class * (cell + pad) + pad
    height = title_h + len(classes) * (cell + pad) + pad
    canvas = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 3), title, fill=(0, 0, 0), font=font)
    for r, name in enumerate(classes):
        y = title_h + r * (cell + pad) + pad
        draw.text((4, y + cell // 2), name, fill=(0, 0, 0), font=font, anchor="lm")
        for k in range(per_class):
            tile = tiles.get((r, k))
            if tile is not None:
                im = Image.fromarray(tile).resize((cell, cell), Image.NEAREST)
                canvas.paste(im, (label_w + k * (cell + pad) + pad, y))
    return canvas


def save_sample_grids(
    data: DGData,
    out_dir: str | os.PathLike[str],
    per_class: int = 8,
    seed: int = 0,
    max_classes: int = 50,
) -> list[Path]:
    """Write ``<out_dir>/<dataset>_<domain>.png`` per domain: ``per_class`` random train images per class.

    Only the first ``max_classes`` classes are drawn (DomainNet has 345). Returns the written paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    classes = data.classes[:max_classes]
    paths = []
    for k, domain in enumerate(data.domains):
        ds = data.get(domain, "train")
        rng = np.random.default_rng([seed, k])
        n = len(ds)  # type: ignore[arg-type]
        grid = _grid(ds, classes, f"{data.name} / {domain} (train, {n} images)", per_class, rng)
        path = out / f"{_safe(data.name)}_{_safe(domain)}.png"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=out)
        os.close(fd)
        try:
            grid.save(tmp, format="PNG")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        paths.append(path)
    return paths
