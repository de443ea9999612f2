"""A user's IQA dataset from a pyiqa-style CSV meta file and an image root.

Columns (header row required; names matched case-insensitively, first match wins):

* image: ``dist_name`` | ``name`` | ``image_name`` | ``img_name`` | ``filename`` (a path relative to the root)
* score: ``mos`` | ``dmos`` | ``mos_zscore`` | ``score``
* optional ``std`` | ``sd`` (kept, not used in training), ``ref_name`` (FR datasets: the pristine image;
  splits then keep every reference's distortions together), ``split`` (``train`` / ``val`` / ``test``: use
  this split instead of a random one by content).

Layouts (``data.layout``) give the label range and direction of the usual datasets (pyiqa's
``mos_range`` / ``lower_better``); ``data.mos_range`` / ``data.lower_better`` override them:

==========  ===================================  ============  ============
layout      columns (as pyiqa's meta_info files)  mos_range     lower_better
==========  ===================================  ============  ============
live        ref_name, dist_name, dmos[, std]      (0, 100)      yes (DMOS)
csiq        ref_name, dist_name, dmos[, std]      (0, 1)        yes (DMOS)
tid2013     ref_name, dist_name, mos[, std]       (0, 9)        no
koniq       name, mos[, std]                      (1, 100)      no
livec       name, mos[, std]                      (0, 100)      no
bid         name, mos[, std]                      (0, 5)        no
generic     any of the columns above              from the data  no
==========  ===================================  ============  ============

Every image is loaded once, converted to RGB and (``image_size`` > 0) resized so its shorter side is
``image_size`` pixels. Bad input is one :class:`DataError` line naming the row and the fix: a path outside the
root, a missing or unreadable image, a non-numeric or out-of-range score, an image smaller than the patch.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trustlab.errors import ConfigError, DataError, NotFoundError, did_you_mean
from trustlab.methods.pmtiqa.data import IQAData

NAME_COLUMNS = ("dist_name", "name", "image_name", "img_name", "filename")
MOS_COLUMNS = ("mos", "dmos", "mos_zscore", "score")
STD_COLUMNS = ("std", "sd")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Layout:
    mos_range: tuple[float, float] | None
    lower_better: bool


LAYOUTS: dict[str, Layout] = {
    "live": Layout((0.0, 100.0), True),
    "csiq": Layout((0.0, 1.0), True),
    "tid2013": Layout((0.0, 9.0), False),
    "koniq": Layout((1.0, 100.0), False),
    "livec": Layout((0.0, 100.0), False),
    "bid": Layout((0.0, 5.0), False),
    "generic": Layout(None, False),
}


def _column(header: dict[str, str], options: tuple[str, ...]) -> str | None:
    for opt in options:
        if opt in header:
            return header[opt]
    return None


def resize_short(img: object, image_size: int) -> object:
    """PIL image with its shorter side resized to ``image_size`` (0 = unchanged)."""
    from PIL import Image

    if image_size <= 0:
        return img
    w, h = img.size  # type: ignore[attr-defined]
    s = image_size / min(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)  # type: ignore[attr-defined]


def load_image(path: Path, image_size: int) -> torch.Tensor:
    """uint8 (3, H, W) tensor of an image file, shorter side resized to ``image_size``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = resize_short(im.convert("RGB"), image_size)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot read image '{path}' ({type(e).__name__}); replace or remove that row") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def load_csv(meta: str | None, root: str | None, *, layout: str = "generic", mos_range: list[float] | None = None,
             lower_better: bool | None = None, image_size: int = 64, patch_size: int = 32) -> IQAData:
    """Read ``meta`` (CSV) and the images under ``root`` (default: the CSV's folder) into :class:`IQAData`."""
    if layout not in LAYOUTS:
        raise ConfigError(f"data.layout '{layout}' is unknown{did_you_mean(layout, LAYOUTS)}; "
                          f"one of {', '.join(LAYOUTS)}")
    if not meta:
        raise ConfigError("data.meta is not set; give the CSV meta file: --set data.meta=path/to/meta.csv")
    meta_path = Path(meta).expanduser()
    if not meta_path.is_file():
        raise NotFoundError(f"CSV meta file '{meta_path}' not found; check data.meta")
    img_root = Path(root).expanduser() if root else meta_path.parent
    if not img_root.is_dir():
        raise NotFoundError(f"image root '{img_root}' is not a folder; check data.root")
    base = img_root.resolve()
    with open(meta_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c for c in (reader.fieldnames or []) if c is not None]
        header = {c.strip().lower(): c for c in fields}
        name_col, mos_col = _column(header, NAME_COLUMNS), _column(header, MOS_COLUMNS)
        if name_col is None or mos_col is None:
            missing = "an image column (" + "|".join(NAME_COLUMNS) + ")" if name_col is None else \
                "a score column (" + "|".join(MOS_COLUMNS) + ")"
            raise DataError(f"CSV '{meta_path}' has no {missing}; its columns are: {', '.join(fields) or '(none)'}")
        ref_col, split_col = _column(header, ("ref_name",)), _column(header, ("split",))
        rows = list(reader)
    if not rows:
        raise DataError(f"CSV '{meta_path}' has a header but no rows")
    images, mos, names, refs, split_of = [], [], [], [], []
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        name = (row.get(name_col) or "").strip()
        if not name:
            raise DataError(f"{meta_path}:{n}: empty image name in column '{name_col}'")
        text = (row.get(mos_col) or "").strip()
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"{meta_path}:{n}: score '{text}' in column '{mos_col}' is not a number; "
                            "fix that row") from None
        if not math.isfinite(value):
            raise DataError(f"{meta_path}:{n}: score '{text}' is not finite; fix that row")
        path = (img_root / name).resolve()
        if not path.is_relative_to(base):
            raise DataError(f"{meta_path}:{n}: image '{name}' points outside the image root '{img_root}'; "
                            "paths must stay inside data.root")
        if not path.is_file():
            raise DataError(f"{meta_path}:{n}: image '{name}' not found under '{img_root}'; check data.root")
        img = load_image(path, image_size)
        if img.shape[1] < patch_size or img.shape[2] < patch_size:
            raise DataError(f"{meta_path}:{n}: image '{name}' is {img.shape[2]}x{img.shape[1]} px after resizing, "
                            f"smaller than method.patch_size={patch_size}; lower the patch or raise data.image_size")
        images.append(img)
        mos.append(value)
        names.append(name)
        refs.append((row.get(ref_col) or "").strip() if ref_col else name)
        if split_col:
            s = (row.get(split_col) or "").strip().lower()
            if s not in SPLITS:
                raise DataError(f"{meta_path}:{n}: split '{s}' is not one of {', '.join(SPLITS)}")
            split_of.append(s)
    mos_arr = np.asarray(mos, dtype=np.float64)
    lay = LAYOUTS[layout]
    rng = tuple(float(v) for v in mos_range) if mos_range is not None else lay.mos_range
    if rng is None:
        rng = (float(mos_arr.min()), float(mos_arr.max()))
    if len(rng) != 2 or not rng[0] < rng[1]:
        raise ConfigError(f"data.mos_range must be [lo, hi] with lo < hi, got {list(rng)}")
    bad = np.flatnonzero((mos_arr < rng[0]) | (mos_arr > rng[1]))
    if len(bad):
        raise DataError(f"{meta_path}:{int(bad[0]) + 2}: score {mos_arr[bad[0]]} is outside mos_range {list(rng)} "
                        f"(layout '{layout}'); set data.mos_range or data.layout")
    _, groups = np.unique(np.asarray(refs), return_inverse=True)
    splits = None
    if split_col:
        s_arr = np.asarray(split_of)
        splits = {s: np.flatnonzero(s_arr == s) for s in SPLITS}
    return IQAData(
        name=meta_path.stem, images=images, mos=mos_arr, groups=groups.astype(np.int64), mos_range=rng,  # type: ignore[arg-type]
        lower_better=lay.lower_better if lower_better is None else bool(lower_better), names=names, splits=splits,
    )
