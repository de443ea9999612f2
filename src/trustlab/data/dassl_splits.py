"""Dassl/CoOp's released few-shot benchmark splits, ``split_zhou_<Dataset>.json``, as a :class:`DGData`.

The file (written by Dassl's ``OxfordPets.save_split``, read by ``read_split``) is
``{"train": [[impath, label, classname], ...], "val": [...], "test": [...]}`` with ``impath`` relative to the
dataset's image folder. ``data.root`` is the dataset folder of CoOp's DATASETS.md (e.g. ``$DATA/oxford_pets``) holding
the split file and the image folder; the image folder per dataset is CoOp's (``IMAGE_DIRS``); for another dataset the
images are looked up under ``images/`` or the root itself. With several split files in one folder, ``data.target``
names the dataset (``OxfordPets``).

One domain named after the dataset, with the file's own train/val/test splits (nothing is re-split: the released
splits are the protocol). Class names come from the file (label -> classname must be one-to-one and the labels
0..K-1). Images are read lazily; every listed file must exist and stay inside ``data.root``, checked up front.
Nothing is written.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from trustlab.data.base import SPLITS, DGData
from trustlab.data.folder import ImageFileDataset, balanced_subset
from trustlab.data.linktree import link_tree
from trustlab.data.torchvision_sets import one_line, one_line_errors
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS

# CoOp's datasets/*.py: dataset name in split_zhou_<name>.json -> image folder inside the dataset folder
IMAGE_DIRS = {
    "OxfordPets": "images", "OxfordFlowers": "jpg", "DescribableTextures": "images", "EuroSAT": "2750",
    "StanfordCars": "", "Food101": "images", "SUN397": "SUN397", "Caltech101": "101_ObjectCategories",
    "UCF101": "UCF-101-midframes",
}
SPLIT_RE = re.compile(r"^split_zhou_(.+)\.json$")
LAYOUT = ("root/split_zhou_<Dataset>.json + its image folder (CoOp's DATASETS.md: "
          "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md)")
MAX_SPLIT_BYTES = 256 << 20


def find_split(root: Path, name: str = "") -> tuple[str, Path]:
    """``(dataset name, split file)`` under ``root``; ``name`` picks one when several are there."""
    found = sorted((m.group(1), p) for p in root.iterdir() if p.is_file() and (m := SPLIT_RE.match(p.name)))
    if name and any(n == name for n, _ in found):  # data.target names one (its default names none of them)
        found = [(n, p) for n, p in found if n == name]
    if not found:
        raise DataError(f"no split_zhou_{name or '<Dataset>'}.json in '{root}'; expected {LAYOUT}")
    if len(found) > 1:
        raise DataError(f"several split files in '{root}' ({', '.join(n for n, _ in found)}); "
                        "pick one with --set data.target=<Dataset>")
    return found[0]


def image_dir(root: Path, name: str) -> Path:
    if name in IMAGE_DIRS:
        d = root / IMAGE_DIRS[name]
        if not d.is_dir():
            raise DataError(f"the images of {name} belong in '{d}' (CoOp's layout); it is missing")
        return d
    return root / "images" if (root / "images").is_dir() else root


def read_split_file(path: Path) -> dict[str, list[tuple[str, int, str]]]:
    """The parsed, checked split file: ``{split: [(relpath, label, classname)]}``."""
    if path.stat().st_size > MAX_SPLIT_BYTES:
        raise DataError(f"'{path}' is larger than any released split file")
    try:
        raw = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise DataError(f"'{path}' is not valid JSON ({type(e).__name__}: {one_line(e)})") from e
    if not isinstance(raw, dict) or not all(s in raw for s in SPLITS):
        raise DataError(f"'{path}' must be an object with 'train', 'val' and 'test' lists")
    return {s: _items(raw[s], s, path) for s in SPLITS}


def _items(items: Any, split: str, path: Path) -> list[tuple[str, int, str]]:
    if not isinstance(items, list):
        raise DataError(f"'{path}': '{split}' must be a list of [impath, label, classname]")
    out = []
    for i, it in enumerate(items):
        ok = (isinstance(it, list) and len(it) == 3 and isinstance(it[0], str) and it[0]
              and isinstance(it[1], int) and not isinstance(it[1], bool) and isinstance(it[2], str))
        if not ok:
            raise DataError(f"'{path}': {split}[{i}] is {str(it)[:80]}, not [impath, label, classname]")
        out.append((it[0], it[1], it[2]))
    return out


def _classes(split: dict[str, list[tuple[str, int, str]]], path: Path) -> list[str]:
    names: dict[int, str] = {}
    for s, items in split.items():
        for _, label, cname in items:
            if names.setdefault(label, cname) != cname:
                raise DataError(f"'{path}': label {label} is both '{names[label]}' and '{cname}' ({s} split)")
    if not names:
        raise DataError(f"'{path}' lists no images")
    if sorted(names) != list(range(len(names))):
        raise DataError(f"'{path}': labels must be 0..K-1, found {sorted(names)[:5]}... ({len(names)} labels)")
    if len(set(names.values())) != len(names):
        raise DataError(f"'{path}': two labels share one class name")
    return [names[k] for k in range(len(names))]


def _resolve(images: Path, rel: str, root: Path) -> Path:
    if os.path.isabs(rel) or "\0" in rel:
        raise DataError(f"image path '{rel[:80]}' must be relative to the image folder '{images}'")
    p = Path(os.path.realpath(images / rel))
    if not p.is_relative_to(root):
        raise DataError(f"image path '{rel[:80]}' leaves data.root '{root}'")
    return p


@DATASETS.register("dassl")
@one_line_errors
def build_dassl(cfg: DataConfig) -> DGData:
    """Dassl/CoOp split_zhou_<Dataset>.json under data.root (released train/val/test), images read lazily."""
    if not cfg.root:
        raise DataError(f"dataset 'dassl' needs data.root; expected {LAYOUT}")
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root '{root}' of dataset 'dassl' is not a folder; expected {LAYOUT}")
    root = Path(os.path.realpath(root))
    name, path = find_split(root, (cfg.target or "").strip())
    images = image_dir(root, name)
    split = read_split_file(path)
    classes = _classes(split, path)
    datasets = {}
    missing: list[str] = []
    for s in SPLITS:
        paths = [_resolve(images, rel, root) for rel, _, _ in split[s]]
        missing.extend(str(p) for p in paths if not p.is_file())
        labels = np.array([label for _, label, _ in split[s]], dtype=np.int64)
        if s == "train":
            keep = balanced_subset(labels, cfg.max_per_domain, cfg.split_seed)
            paths, labels = [paths[i] for i in keep], labels[keep]
        datasets[s] = ImageFileDataset(paths, labels, image_size=cfg.image_size)
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise DataError(f"{path.name} lists {len(missing)} image(s) missing under '{images}': "
                        f"{', '.join(missing[:3])}{more}")
    return DGData(name=name, domains=[name], classes=classes, splits={name: datasets},
                  info={"root": str(root), "layout": "dassl-split", "split_file": str(path)})


@one_line_errors
def materialize(root: Path, dest: Path, name: str = "") -> Path:
    """The released split as a Dassl-layout folder tree at ``dest`` (which must not exist), for recipes that read
    folders: ``dest/<Dataset>/{train,val,test}/<classname>/<file>`` (class folders named by the file's class names,
    ``/`` -> ``_``; file names the image paths with ``/`` -> ``__``). Files are hard links (copies where the file
    system refuses a link), so every path resolves inside ``dest``. Everything is read and checked first, then built
    in a hidden sibling folder and renamed: ``dest`` is complete or absent."""

    top = Path(os.path.realpath(Path(root).expanduser()))
    if not top.is_dir():
        raise DataError(f"'{root}' is not a folder; expected {LAYOUT}")
    ds_name, path = find_split(top, name)
    images = image_dir(top, ds_name)
    split = read_split_file(path)
    classes = _classes(split, path)
    folders = [c.replace("/", "_").strip() or f"class_{k}" for k, c in enumerate(classes)]
    if len(set(folders)) != len(folders):
        raise DataError(f"'{path}': two class names give one folder name")
    files = {s: [(_resolve(images, rel, top), folders[label]) for rel, label, _ in split[s]] for s in SPLITS}
    missing = [str(p) for items in files.values() for p, _ in items if not p.is_file()]
    if missing:
        raise DataError(f"{path.name} lists {len(missing)} image(s) missing under '{images}': {', '.join(missing[:3])}")
    tree: dict[Path, list[Path]] = {}
    for s, items in files.items():
        for p, folder in items:
            tree.setdefault(Path(ds_name, s, folder), []).append(p)
    return link_tree(dest, tree, top)
