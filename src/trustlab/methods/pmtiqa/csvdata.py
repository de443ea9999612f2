"""A user's IQA dataset from a pyiqa-style CSV meta file and an image root.

Columns (header row required; names matched case-insensitively, first match wins):

* image: ``dist_name`` | ``name`` | ``image_name`` | ``img_name`` | ``filename`` (a path relative to the root)
* score: ``mos`` | ``dmos`` | ``mos_zscore`` | ``score``
* optional ``std`` | ``sd`` (kept, not used in training), a reference column ``ref_name`` | ``ref_img`` |
  ``ref_image`` | ``reference`` | ``ref`` (FR datasets: the pristine image; a random split then keeps every
  reference's distortions together), and split columns (any column whose name contains ``split``).

Splits, as pyiqa reads them (``BaseIQADataset.get_split``), chosen by ``split_column`` / ``split_index`` /
``split_file``:

* ``split_column="auto"`` (default): ``split_index=N`` picks pyiqa's random-split column
  ``ratio<RATIO>_seed<SEED>_split_<NN>`` (also without the ``_`` before ``NN``) with ``NN == N``; without an
  index, ``official_split`` if present, else ``split``; a CSV whose only split columns are others is an error
  that lists them (choose one); a CSV without split columns gets a random split by reference;
* ``split_column=<name>``: that column (any name); ``split_column="random"``: ignore the split columns;
* ``split_file=<x.pkl>``: pyiqa's older split files, ``{index: {"train": [rows], "val": [rows], "test":
  [rows]}}`` with 0-based data-row indices, entry ``split_index`` (default 1). Read with a restricted
  unpickler (plain dicts, lists, ints; nothing else is constructed).

Split values: ``train`` / ``val`` / ``test`` (any case; ``training`` / ``validation`` too) or pyiqa's KonIQ codes
``0`` / ``1`` / ``2``; an empty value leaves the row out of every split (as pyiqa, whose phases never match it).
A split without ``test`` rows but with ``val`` rows (pyiqa's 8:2 random splits evaluate on ``val``) uses its
``val`` rows as the test split, with a warning. When the CSV has a reference column, a given split that puts one
reference in two splits is reported as a warning.

Layouts (``data.layout``) give the label range and direction of pyiqa's dataset options
(``pyiqa/default_dataset_configs.yml``: ``mos_range`` / ``lower_better``); ``data.mos_range`` /
``data.lower_better`` override them:

==========  ===================================  ============  ============
layout      columns (as pyiqa's meta_info files)  mos_range     lower_better
==========  ===================================  ============  ============
live        ref_name, dist_name, mos (DMOS)       (1, 100)      yes (DMOS)
csiq        ref_name, dist_name, dmos[, std]      (0, 1)        yes (DMOS)
tid2013     ref_name, dist_name, mos[, std]       (0, 9)        no
koniq       img_name, mos, std[, split, ...]      (1, 100)      no
livec       img_name, mos[, std]                  (1, 100)      no
bid         name, mos[, std]                      (0, 5)        no (not in pyiqa)
generic     any of the columns above              from the data  no
==========  ===================================  ============  ============

pyiqa never checks scores against ``mos_range`` (it only rescales by it), and real files exceed it (KonIQ
MOS slightly above 100 on the 1..100 scale, LIVE's realigned DMOS outside (0, 100)): scores outside the range
are kept, with one warning line (count and first row); ``strict_range=True`` makes them an error.

Every image is loaded once, converted to RGB and (``image_size`` > 0) resized so its shorter side is
``image_size`` pixels. Bad input is one :class:`DataError` line naming the row and the fix: a path outside the
root, a missing or unreadable image, a non-numeric score, an unknown split value, an image smaller than the
patch. Warnings are printed as one ``trustlab: warning:`` line each and kept in ``IQAData.info["warnings"]``.
"""

from __future__ import annotations

import csv
import math
import pickle
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trustlab.errors import ConfigError, DataError, NotFoundError, did_you_mean
from trustlab.methods.pmtiqa.data import IQAData

NAME_COLUMNS = ("dist_name", "name", "image_name", "img_name", "filename")
MOS_COLUMNS = ("mos", "dmos", "mos_zscore", "score")
STD_COLUMNS = ("std", "sd")
REF_COLUMNS = ("ref_name", "ref_img", "ref_image", "reference", "ref")
SPLITS = ("train", "val", "test")
SPLIT_VALUES = {"train": "train", "training": "train", "0": "train", "val": "val", "validation": "val",
                "valid": "val", "1": "val", "test": "test", "testing": "test", "2": "test"}
RATIO_SPLIT = re.compile(r"^ratio(\d+)_seed(\d+)_split_?(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Layout:
    mos_range: tuple[float, float] | None
    lower_better: bool


LAYOUTS: dict[str, Layout] = {
    "live": Layout((1.0, 100.0), True),
    "csiq": Layout((0.0, 1.0), True),
    "tid2013": Layout((0.0, 9.0), False),
    "koniq": Layout((1.0, 100.0), False),
    "livec": Layout((1.0, 100.0), False),
    "bid": Layout((0.0, 5.0), False),
    "generic": Layout(None, False),
}


def _column(header: dict[str, str], options: tuple[str, ...]) -> str | None:
    for opt in options:
        if opt in header:
            return header[opt]
    return None


def _warn(msg: str, sink: list[str]) -> None:
    sink.append(msg)
    print(f"trustlab: warning: {msg}", file=sys.stderr)


def _split_value(text: str) -> str | None:
    """train / val / test of a split cell (pyiqa's words or KonIQ's 0 / 1 / 2); None for an empty cell."""
    t = text.strip().lower()
    if not t:
        return None
    if re.fullmatch(r"[012]\.0+", t):
        t = t[0]
    v = SPLIT_VALUES.get(t)
    if v is None:
        raise ValueError(t)
    return v


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numbers only: any class or function in the file is refused."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"it holds a {module}.{name} object")


def read_split_file(path: str, index: int, n_rows: int) -> dict[str, np.ndarray]:
    """pyiqa's split pickle ``{index: {"train": rows, "val": rows, "test": rows}}`` -> row indices per split."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise NotFoundError(f"split file '{p}' not found; check data.split_file")
    try:
        with open(p, "rb") as f:
            top = _PlainUnpickler(f).load()
    except Exception as e:  # noqa: BLE001 - any unpickling failure is the same bad file
        raise DataError(f"split file '{p}' is not a pyiqa split pickle ({e}); it must hold "
                        "{index: {'train': [rows], 'val': [rows], 'test': [rows]}} of plain ints") from None
    if not isinstance(top, dict) or not top:
        raise DataError(f"split file '{p}' must hold a dict {{index: {{'train': [...], 'val': [...], 'test': [...]}}}}")
    if index not in top:
        raise ConfigError(f"data.split_index={index} is not in split file '{p}'; its indices are "
                          f"{', '.join(map(str, sorted(top, key=str)))}")
    entry = top[index]
    if not isinstance(entry, dict) or not set(entry) <= set(SPLITS):
        raise DataError(f"split file '{p}' entry {index} must be a dict with keys train / val / test")
    out = {}
    for s in SPLITS:
        rows = entry.get(s, [])
        if not isinstance(rows, (list, tuple)) or not all(isinstance(r, int) and not isinstance(r, bool)
                                                          for r in rows):
            raise DataError(f"split file '{p}' entry {index}['{s}'] must be a list of row indices (ints)")
        bad = [r for r in rows if not 0 <= r < n_rows]
        if bad:
            raise DataError(f"split file '{p}' entry {index}['{s}'] has row {bad[0]}, outside the CSV's "
                            f"{n_rows} data rows (0-based); is it the split file of this meta file?")
        out[s] = np.asarray(sorted(set(rows)), dtype=np.int64)
    return out


def choose_split_column(fields: list[str], split_column: str, split_index: int | None) -> str | None:
    """The CSV column holding the split (None: a random split), as described in the module docstring."""
    split_cols = [c for c in fields if "split" in c.lower()]
    if split_column == "random":
        if split_index is not None:
            raise ConfigError("data.split_index picks a split column; drop it with data.split_column=random")
        return None
    if split_column != "auto":
        if split_index is not None:
            raise ConfigError(f"data.split_column={split_column} and data.split_index={split_index} both pick a "
                              "split; set one of them")
        by_lower = {c.lower(): c for c in fields}
        if split_column.lower() not in by_lower:
            raise ConfigError(f"data.split_column '{split_column}' is not a column of the CSV"
                              f"{did_you_mean(split_column, split_cols)}; split columns: "
                              f"{', '.join(split_cols) or '(none)'}")
        return by_lower[split_column.lower()]
    if split_index is not None:
        hits = [c for c in split_cols if (m := RATIO_SPLIT.match(c.strip())) and int(m.group(3)) == split_index]
        if len(hits) != 1:
            why = "no" if not hits else f"{len(hits)} ({', '.join(hits)})"
            raise ConfigError(f"data.split_index={split_index}: {why} pyiqa split column "
                              f"ratio<R>_seed<S>_split_{split_index:02d}; split columns: "
                              f"{', '.join(split_cols) or '(none)'}; name one with data.split_column=NAME")
        return hits[0]
    for name in ("official_split", "split"):
        for c in split_cols:
            if c.strip().lower() == name:
                return c
    if split_cols:
        raise ConfigError(f"the CSV has split columns {', '.join(split_cols)} but none was chosen; set "
                          "data.split_index=N (pyiqa's ratio*_split_NN), data.split_column=NAME, or "
                          "data.split_column=random for a random split by reference")
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


def _check_options(layout: str, split_index: int | None, split_file: str | None, split_column: str) -> None:
    if layout not in LAYOUTS:
        raise ConfigError(f"data.layout '{layout}' is unknown{did_you_mean(layout, LAYOUTS)}; "
                          f"one of {', '.join(LAYOUTS)}")
    if split_index is not None and (isinstance(split_index, bool) or not isinstance(split_index, int)
                                    or split_index < 0):
        raise ConfigError(f"data.split_index must be a non-negative integer (pyiqa's split number), "
                          f"got {split_index!r}")
    if split_file is not None and split_column != "auto":
        raise ConfigError("data.split_file and data.split_column both pick a split; set one of them")


def _read_meta(meta_path: Path, split_file: str | None, split_column: str, split_index: int | None
               ) -> tuple[str, str, str | None, str | None, list[dict]]:
    """The CSV's rows and its (image, score, reference, split) columns (None where absent)."""
    with open(meta_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c for c in (reader.fieldnames or []) if c is not None]
        header = {c.strip().lower(): c for c in fields}
        name_col, mos_col = _column(header, NAME_COLUMNS), _column(header, MOS_COLUMNS)
        if name_col is None or mos_col is None:
            missing = "an image column (" + "|".join(NAME_COLUMNS) + ")" if name_col is None else \
                "a score column (" + "|".join(MOS_COLUMNS) + ")"
            raise DataError(f"CSV '{meta_path}' has no {missing}; its columns are: {', '.join(fields) or '(none)'}")
        ref_col = _column(header, REF_COLUMNS)
        split_col = None if split_file is not None else choose_split_column(fields, split_column, split_index)
        rows = list(reader)
    return name_col, mos_col, ref_col, split_col, rows


def _row_score_and_path(row: dict, n: int, name: str, mos_col: str, meta_path: Path, img_root: Path, base: Path
                        ) -> tuple[float, Path]:
    """Line ``n``'s score (a finite number) and its image's path (inside the image root, a file)."""
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
    return value, path


def _score_range(mos_arr: np.ndarray, mos_range: list[float] | None, lay: Layout, layout: str, strict_range: bool,
                 meta_path: Path, warnings: list[str]) -> tuple[float, ...]:
    """The label range (given, the layout's, else the scores' own) and the out-of-range check."""
    rng = tuple(float(v) for v in mos_range) if mos_range is not None else lay.mos_range
    if rng is None:
        rng = (float(mos_arr.min()), float(mos_arr.max()))
    if len(rng) != 2 or not rng[0] < rng[1]:
        raise ConfigError(f"data.mos_range must be [lo, hi] with lo < hi, got {list(rng)}")
    bad = np.flatnonzero((mos_arr < rng[0]) | (mos_arr > rng[1]))
    if len(bad):
        where = f"{meta_path}:{int(bad[0]) + 2}: score {mos_arr[bad[0]]}"
        if strict_range:
            raise DataError(f"{where} is outside mos_range {list(rng)} (layout '{layout}'); set data.mos_range or "
                            "data.layout, or data.strict_range=false to keep such scores")
        _warn(f"{len(bad)} score(s) outside mos_range {list(rng)} (layout '{layout}'), first {where}; kept "
              "(pyiqa does not check the range; data.strict_range=true refuses them)", warnings)
    return rng


def _resolve_splits(split_file: str | None, split_index: int | None, split_col: str | None, ref_col: str | None,
                    split_of: list, refs: list[str], n_rows: int, warnings: list[str]
                    ) -> tuple[dict[str, np.ndarray] | None, str]:
    """The fixed splits (split file, else split column; None for a random split) and where they came from."""
    splits = None
    source = "random by reference" if ref_col else "random by image (no reference column)"
    if split_file is not None:
        index = 1 if split_index is None else split_index
        splits = read_split_file(split_file, index, n_rows)
        source = f"split file {Path(split_file).name} index {index}"
    elif split_col:
        s_arr = np.asarray([v or "" for v in split_of])
        splits = {s: np.flatnonzero(s_arr == s) for s in SPLITS}
        source = f"column {split_col}"
        left = int((s_arr == "").sum())
        if left:
            _warn(f"{left} row(s) have no value in split column '{split_col}'; they are left out (as pyiqa)", warnings)
    if splits is not None:
        if len(splits["test"]) == 0 and len(splits["val"]) > 0:
            splits["test"], splits["val"] = splits["val"], np.zeros(0, dtype=np.int64)
            _warn(f"the split ({source}) has no test rows; its val rows are the test split (pyiqa evaluates its "
                  "8:2 random splits on val)", warnings)
        if ref_col:
            ref_arr = np.asarray(refs)
            seen = [set(ref_arr[splits[s]].tolist()) for s in SPLITS]
            shared = sorted((seen[0] & seen[2]) | (seen[0] & seen[1]) | (seen[1] & seen[2]))
            if shared:
                _warn(f"the split ({source}) puts {len(shared)} reference image(s) in more than one split, e.g. "
                      f"'{shared[0]}'; their content is shared between train and evaluation", warnings)
    return splits, source


def load_csv(meta: str | None, root: str | None, *, layout: str = "generic", mos_range: list[float] | None = None,
             lower_better: bool | None = None, image_size: int = 64, patch_size: int = 32,
             split_column: str = "auto", split_index: int | None = None, split_file: str | None = None,
             strict_range: bool = False) -> IQAData:
    """Read ``meta`` (CSV) and the images under ``root`` (default: the CSV's folder) into :class:`IQAData`.

    Splits and ranges: see the module docstring. ``IQAData.splits`` is None for a random split (the caller
    splits by ``groups``: the reference column, else one group per image)."""
    _check_options(layout, split_index, split_file, split_column)
    if not meta:
        raise ConfigError("data.meta is not set; give the CSV meta file: --set data.meta=path/to/meta.csv")
    meta_path = Path(meta).expanduser()
    if not meta_path.is_file():
        raise NotFoundError(f"CSV meta file '{meta_path}' not found; check data.meta")
    img_root = Path(root).expanduser() if root else meta_path.parent
    if not img_root.is_dir():
        raise NotFoundError(f"image root '{img_root}' is not a folder; check data.root")
    base = img_root.resolve()
    name_col, mos_col, ref_col, split_col, rows = _read_meta(meta_path, split_file, split_column, split_index)
    if not rows:
        raise DataError(f"CSV '{meta_path}' has a header but no rows")
    warnings: list[str] = []
    images, mos, names, refs, split_of = [], [], [], [], []
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        name = (row.get(name_col) or "").strip()
        if not name:
            raise DataError(f"{meta_path}:{n}: empty image name in column '{name_col}'")
        value, path = _row_score_and_path(row, n, name, mos_col, meta_path, img_root, base)
        img = load_image(path, image_size)
        if img.shape[1] < patch_size or img.shape[2] < patch_size:
            raise DataError(f"{meta_path}:{n}: image '{name}' is {img.shape[2]}x{img.shape[1]} px after resizing, "
                            f"smaller than method.patch_size={patch_size}; lower the patch or raise data.image_size")
        images.append(img)
        mos.append(value)
        names.append(name)
        refs.append((row.get(ref_col) or "").strip() if ref_col else name)
        if split_col:
            text = row.get(split_col) or ""
            try:
                split_of.append(_split_value(text))
            except ValueError:
                raise DataError(f"{meta_path}:{n}: split '{text.strip()}' in column '{split_col}' is not train / val / "
                                "test (or pyiqa's 0 / 1 / 2); fix that row") from None
    mos_arr = np.asarray(mos, dtype=np.float64)
    lay = LAYOUTS[layout]
    rng = _score_range(mos_arr, mos_range, lay, layout, strict_range, meta_path, warnings)
    _, groups = np.unique(np.asarray(refs), return_inverse=True)
    splits, source = _resolve_splits(split_file, split_index, split_col, ref_col, split_of, refs, len(rows), warnings)
    return IQAData(
        name=meta_path.stem, images=images, mos=mos_arr, groups=groups.astype(np.int64), mos_range=rng,  # type: ignore[arg-type]
        lower_better=lay.lower_better if lower_better is None else bool(lower_better), names=names, splits=splits,
        info={"split": source, "warnings": warnings},
    )
