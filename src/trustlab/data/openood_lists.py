"""OpenOOD v1.5's benchmark image lists, ``benchmark_imglist/<id>/*.txt``, as a :class:`DGData` plus OOD sets.

``data.root`` is OpenOOD's ``data/`` folder as its download script leaves it: ``benchmark_imglist/<id>/`` with the
lists, ``images_classic/`` (CIFAR, TIN, MNIST, SVHN, Texture, Places365) and ``images_largescale/`` (ImageNet-200,
SSB-hard, NINCO, iNaturalist, OpenImage-O). A list line is ``<path relative to the image folder> <label>``, parsed as
OpenOOD's ``ImglistDataset`` does (``line.split(' ', 1)``, the label an integer; OOD lists carry -1). Which list is
which follows ``openood/evaluation_api/datasets.py`` (``DATA_INFO``), v1.5: ID train/val/test, the OOD validation
list, near-OOD and far-OOD test lists (``BENCHMARKS``).

``openood-<id>`` (``trustlab list datasets``) is the ID set: one domain named ``<id>`` with the lists' own splits.
:func:`ood_sets` gives the OOD sets (``{"val": {...}, "near": {name: dataset}, "far": {...}}``, labels -1), read
lazily like the ID images. Every listed file must exist and stay inside ``data.root``, checked up front. Nothing
is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trustlab.data.base import SPLITS, DGData
from trustlab.data.folder import ImageFileDataset, balanced_subset
from trustlab.data.linktree import link_tree
from trustlab.data.torchvision_sets import one_line, one_line_errors
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS

RELEASE = "https://github.com/Jingkang50/OpenOOD (scripts/download/download.py; data/benchmark_imglist)"
MAX_LIST_BYTES = 512 << 20


@dataclass(frozen=True)
class Benchmark:
    """One OpenOOD v1.5 ID benchmark: image folder, class count and OOD groups (name -> list file)."""

    id: str
    images: str  # images_classic | images_largescale
    num_classes: int
    ood_val: str
    near: dict[str, str]
    far: dict[str, str]
    ood_images: str = ""  # the OOD sets' image folder when it differs

    def id_list(self, split: str) -> str:
        return f"benchmark_imglist/{self.id}/{split}_{self.id}.txt"

    def lists(self) -> list[str]:
        return [self.id_list(s) for s in SPLITS] + [self.ood_val, *self.near.values(), *self.far.values()]


def _classic(id_: str, n: int, near: list[str], val: str) -> Benchmark:
    far = ["mnist", "svhn", "texture", "places365"]
    return Benchmark(id_, "images_classic", n, f"benchmark_imglist/{id_}/val_{val}.txt",
                     {k: f"benchmark_imglist/{id_}/test_{k}.txt" for k in near},
                     {k: f"benchmark_imglist/{id_}/test_{k}.txt" for k in far})


BENCHMARKS = {
    "cifar10": _classic("cifar10", 10, ["cifar100", "tin"], "cifar100"),
    "cifar100": _classic("cifar100", 100, ["cifar10", "tin"], "cifar10"),
    "imagenet200": Benchmark(
        "imagenet200", "images_largescale", 200, "benchmark_imglist/imagenet200/val_openimage_o.txt",
        {k: f"benchmark_imglist/imagenet200/test_{k}.txt" for k in ("ssb_hard", "ninco")},
        {k: f"benchmark_imglist/imagenet200/test_{k}.txt" for k in ("inaturalist", "textures", "openimage_o")}),
}


def layout(b: Benchmark) -> str:
    return f"root/benchmark_imglist/{b.id}/*.txt and root/{b.images}/ ({RELEASE})"


def parse_list(path: Path, root: Path, images: Path, num_classes: int | None) -> tuple[list[Path], np.ndarray]:
    """``(image paths, labels)`` of an OpenOOD list; ``num_classes`` None allows any integer label (OOD: -1)."""
    if not path.is_file():
        raise DataError(f"OpenOOD list '{path}' is missing")
    if path.stat().st_size > MAX_LIST_BYTES:
        raise DataError(f"'{path}' is larger than any OpenOOD list")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"'{path}' is not UTF-8 text ({one_line(e)})") from e
    paths, labels = [], []
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        tokens = line.split(" ", 1)
        if len(tokens) != 2:
            raise DataError(f"'{path}' line {n}: '{line[:80]}' is not '<relpath> <label>'")
        name, extra = tokens[0], tokens[1].strip()
        try:
            label = int(extra)
        except ValueError:
            raise DataError(f"'{path}' line {n}: label '{extra[:40]}' is not an integer") from None
        if num_classes is not None and not 0 <= label < num_classes:
            raise DataError(f"'{path}' line {n}: label {label} is outside 0..{num_classes - 1}")
        if not name or name.startswith("/") or "\0" in name:
            raise DataError(f"'{path}' line {n}: image path '{name[:80]}' must be relative to '{images}'")
        p = Path(os.path.realpath(images / name))
        if not p.is_relative_to(root):
            raise DataError(f"'{path}' line {n}: image path '{name[:80]}' leaves data.root '{root}'")
        paths.append(p)
        labels.append(label)
    if not paths:
        raise DataError(f"OpenOOD list '{path}' lists no images")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise DataError(f"'{path}' lists {len(missing)} missing image(s): {', '.join(missing[:3])}{more}")
    return paths, np.asarray(labels, dtype=np.int64)


def _root(cfg: DataConfig, b: Benchmark) -> Path:
    if not cfg.root:
        raise DataError(f"dataset 'openood-{b.id}' needs data.root, OpenOOD's data folder: {layout(b)}")
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root '{root}' of dataset 'openood-{b.id}' is not a folder; expected {layout(b)}")
    return Path(os.path.realpath(root))


@one_line_errors
def build_openood(cfg: DataConfig, b: Benchmark) -> DGData:
    root = _root(cfg, b)
    images = root / b.images
    splits = {}
    for s in SPLITS:
        paths, labels = parse_list(root / b.id_list(s), root, images, b.num_classes)
        if s == "train":
            keep = balanced_subset(labels, cfg.max_per_domain, cfg.split_seed)
            paths, labels = [paths[i] for i in keep], labels[keep]
        splits[s] = ImageFileDataset(paths, labels, image_size=cfg.image_size)
    present = np.unique(np.concatenate([splits[s].labels.numpy() for s in SPLITS]))
    classes = [f"class_{k}" for k in range(b.num_classes)]  # the lists carry labels, not class names
    return DGData(name=b.id, domains=[b.id], classes=classes, splits={b.id: splits},
                  info={"root": str(root), "layout": "openood-v1.5", "labels_present": int(len(present))})


@one_line_errors
def ood_sets(cfg: DataConfig, id_name: str) -> dict[str, dict[str, ImageFileDataset]]:
    """The OOD sets of benchmark ``id_name``: ``{"val": {"val": ds}, "near": {name: ds}, "far": {name: ds}}``."""
    b = BENCHMARKS[id_name]
    root = _root(cfg, b)
    images = root / (b.ood_images or b.images)

    def read(rel: str) -> ImageFileDataset:
        # imagenet200's texture list points into images_classic (OpenOOD: data_dir per list); try both folders
        folder = images
        first = next((ln.split(" ", 1)[0] for ln in _head(root / rel)), "")
        if first and not (images / first).exists() and (root / "images_classic" / first).exists():
            folder = root / "images_classic"
        paths, labels = parse_list(root / rel, root, folder, None)
        return ImageFileDataset(paths, labels, image_size=cfg.image_size)

    return {"val": {"val": read(b.ood_val)}, "near": {k: read(v) for k, v in b.near.items()},
            "far": {k: read(v) for k, v in b.far.items()}}


@one_line_errors
def materialize(root: Path, id_name: str, dest: Path) -> Path:
    """Benchmark ``id_name`` as the folders ``ood/folder`` reads, at ``dest`` (which must not exist):
    ``dest/id/<id>/{train,val,test}/class_<kkk>/<file>`` (Dassl's split layout, one domain), ``dest/near/<name>/``,
    ``dest/far/<name>/`` and ``dest/val/<name>/`` (the OOD validation list). Files are hard links to the listed
    images (copies where the file system refuses a link), so every path resolves inside ``dest``; file names are the
    list paths with ``/`` -> ``__`` (unique). Built in a hidden sibling folder and renamed at the end: ``dest`` is
    complete or absent."""

    b = BENCHMARKS[id_name]
    cfg = DataConfig(name=f"openood-{id_name}", root=str(root))
    top = _root(cfg, b)
    tree: dict[Path, list[Path]] = {}
    for s in SPLITS:
        paths, labels = parse_list(top / b.id_list(s), top, top / b.images, b.num_classes)
        for p, y in zip(paths, labels.tolist(), strict=True):
            tree.setdefault(Path("id", b.id, s, f"class_{y:03d}"), []).append(p)
    for group, sets in ood_sets(cfg, id_name).items():
        for name, ds in sets.items():
            tree[Path(group, name if group != "val" else Path(b.ood_val).stem.removeprefix("val_"))] = list(ds.paths)
    return link_tree(dest, tree, top)


def _head(path: Path) -> list[str]:
    if not path.is_file():
        return []
    with open(path, "rb") as fh:
        return [fh.readline().decode("utf-8", "replace").strip()]


def _register(b: Benchmark) -> None:
    def build(cfg: DataConfig) -> DGData:
        return build_openood(cfg, b)

    build.__doc__ = (f"OpenOOD v1.5 {b.id} (ID) from benchmark_imglist/{b.id}/ under data.root; "
                     f"near: {', '.join(b.near)}; far: {', '.join(b.far)}")
    DATASETS.add(f"openood-{b.id}", build)


for _b in BENCHMARKS.values():
    _register(_b)
