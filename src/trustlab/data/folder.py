"""Image folders on disk as a :class:`DGData`: DomainBed/Dassl layouts and plain ImageFolder.

Three layouts are recognised under ``data.root`` (hidden files and folders are ignored):

* DomainBed ``root/<domain>/<class>/<image>`` (PACS, OfficeHome, VLCS, TerraIncognita, DomainNet);
* Dassl ``root/<domain>/{train,val,test}/<class>/<image>``: the folders are the splits; a missing
  ``val``/``test`` is carved out of ``train`` with the configured fractions;
* ImageFolder ``root/<class>/<image>``: one domain named after the root folder.

Other splits are random, stratified per class and seeded by ``data.split_seed`` (and the domain name,
so adding a domain does not reshuffle the others). Every file is opened with PIL's ``verify()`` at
build time so a corrupt image fails the run up front, not hours into training; with
``data.skip_corrupt=true`` such files are dropped and counted in ``info["skipped_corrupt"]``.
Images are read lazily by :class:`ImageFileDataset` as float CHW in [0, 1].

Usage::

    data = build_folder(DataConfig(name="folder", root="/data/PACS", image_size=224))
    x, y = data.get("photo", "train")[0]      # x: (3, 224, 224) float32
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from trustlab.data.base import SPLITS, DGData
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


class ImageFileDataset(Dataset):
    """Image files read lazily with PIL; items are ``(x float32 (3, S, S) in [0,1], y long)``."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        labels: Sequence[int] | np.ndarray,
        image_size: int,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if len(paths) != len(labels):
            raise DataError(f"{len(paths)} image paths but {len(labels)} labels")
        self.paths = [str(p) for p in paths]
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64), dtype=torch.long)
        self.image_size = int(image_size)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int) -> torch.Tensor:
        """Image ``i`` as float CHW in [0, 1], resized to a square of ``image_size`` (no transform)."""
        try:
            with Image.open(self.paths[i]) as im:
                rgb = im.convert("RGB").resize((self.image_size, self.image_size), Image.BILINEAR)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read image '{self.paths[i]}' ({e}); it may have changed since loading") from e
        return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).float().div_(255.0)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.load(i)
        if self.transform is not None:
            x = self.transform(x)
        return x, self.labels[i]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as one float tensor (N, 3, S, S) in [0, 1] and the labels (no transform)."""
        if not self.paths:
            return torch.zeros(0, 3, self.image_size, self.image_size), self.labels
        return torch.stack([self.load(i) for i in range(len(self))]), self.labels


# ---------------------------------------------------------------- split helpers (shared with digits_dg)


def stratified_split(labels: np.ndarray, fractions: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    """Split indices of ``labels`` into ``len(fractions)`` parts, per class, in the given proportions.

    The first part takes the remainder, so every class with at least one sample keeps one in it.
    Returned index arrays are sorted.
    """
    labels = np.asarray(labels)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = len(idx)
        counts = [int(round(n * f)) for f in fractions[1:]]
        while sum(counts) > n - 1 and sum(counts) > 0:  # keep >= 1 in the first part
            counts[int(np.argmax(counts))] -= 1
        start = n - sum(counts)
        parts[0].append(idx[:start])
        for k, cnt in enumerate(counts, start=1):
            parts[k].append(idx[start : start + cnt])
            start += cnt
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for p in parts]


def balanced_subset(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` samples drawn round-robin over classes (all indices if ``n`` is None)."""
    labels = np.asarray(labels)
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    if n <= 0:
        raise DataError(f"data.max_per_domain must be positive, got {n}")
    perm = np.random.default_rng(seed).permutation(len(labels))
    rank = np.zeros(len(labels), dtype=np.int64)  # position of each sample within its class, in perm order
    for c in np.unique(labels):
        members = perm[labels[perm] == c]
        rank[members] = np.arange(len(members))
    order = perm[np.argsort(rank[perm], kind="stable")]
    return np.sort(order[:n])


# ---------------------------------------------------------------- scanning


def _visible(entries: list[os.DirEntry[str]]) -> list[os.DirEntry[str]]:
    return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _subdirs(path: Path) -> list[Path]:
    with os.scandir(path) as it:
        return [Path(e.path) for e in _visible(list(it)) if e.is_dir()]


def _is_image(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _has_images(path: Path) -> bool:
    with os.scandir(path) as it:
        return any(e.is_file() and _is_image(e.name) for e in it)


def _images_under(path: Path, root: Path) -> list[Path]:
    """Image files under ``path`` (recursively, sorted); any path resolving outside ``root`` is an error."""
    found: list[Path] = []
    seen: set[str] = set()
    stack = [path]
    while stack:
        d = stack.pop()
        real = os.path.realpath(d)
        if real in seen:  # symlink loop
            continue
        seen.add(real)
        with os.scandir(d) as it:
            entries = _visible(list(it))
        for e in entries:
            p = Path(e.path)
            if e.is_dir():
                stack.append(p)
            elif _is_image(e.name):
                found.append(p)
    for p in found:
        target = Path(os.path.realpath(p))
        if not target.is_relative_to(root):
            raise DataError(
                f"'{p}' resolves outside data.root '{root}' (to '{target}'); "
                "copy the file into the root or point data.root at a common parent"
            )
    return sorted(found)


def _scan_classes(path: Path, root: Path) -> dict[str, list[Path]]:
    """``{class: [image paths]}`` for the class folders directly under ``path`` (empty ones left out)."""
    out = {}
    for cdir in _subdirs(path):
        imgs = _images_under(cdir, root)
        if imgs:
            out[cdir.name] = imgs
    return out


def _is_dassl_domain(path: Path) -> bool:
    names = {p.name for p in _subdirs(path)}
    return "train" in names and names <= set(SPLITS)


def _scan(root: Path) -> tuple[str, dict[str, dict[str, dict[str, list[Path]]]]]:
    """Detect the layout; returns ``(layout, {domain: {split or "all": {class: [paths]}}})``."""
    top = _subdirs(root)
    if not top:
        raise DataError(f"no domain or class folders under '{root}'; expected root/<domain>/<class>/<image>")
    direct = [d for d in top if _has_images(d)]
    nested = [d for d in top if _is_dassl_domain(d) or any(_has_images(s) for s in _subdirs(d))]
    if direct and nested:
        raise DataError(
            f"mixed layout under '{root}': '{direct[0].name}' holds images directly but '{nested[0].name}' "
            "holds sub-folders of images; use root/<domain>/<class>/<image> or root/<class>/<image>"
        )
    if direct:
        return "imagefolder", {root.name: {"all": _scan_classes(root, root)}}
    layout, domains = "domainbed", {}
    for ddir in top:
        if _is_dassl_domain(ddir):
            layout = "dassl"
            domains[ddir.name] = {s.name: _scan_classes(s, root) for s in _subdirs(ddir)}
        else:
            domains[ddir.name] = {"all": _scan_classes(ddir, root)}
    return layout, domains


def _verify_image(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # PIL raises many types (SyntaxError, struct.error, ...) for broken files
        return False


def _find_corrupt(paths: list[Path]) -> list[Path]:
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        ok = list(pool.map(_verify_image, paths, chunksize=64))
    return [p for p, good in zip(paths, ok, strict=True) if not good]


# ---------------------------------------------------------------- builder


def _drop_corrupt(tree: dict[str, dict[str, dict[str, list[Path]]]], root: Path, skip: bool) -> tuple[int, int]:
    """Fail on unreadable images, or (``skip``) drop them from ``tree`` in place, with classes left empty;
    ``(images, unreadable)``."""
    all_paths = [p for splits in tree.values() for classes in splits.values() for ps in classes.values() for p in ps]
    bad = _find_corrupt(all_paths)
    if bad and not skip:
        shown = ", ".join(str(p) for p in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise DataError(
            f"{len(bad)} unreadable image(s) under '{root}': {shown}{more}; fix or remove them, "
            "or pass --set data.skip_corrupt=true to skip them"
        )
    if bad:
        bad_set = set(bad)
        for splits in tree.values():
            for classes in splits.values():
                for c in list(classes):
                    classes[c] = [p for p in classes[c] if p not in bad_set]
                    if not classes[c]:
                        del classes[c]
    return len(all_paths), len(bad)


def _common_classes(tree: dict[str, dict[str, dict[str, list[Path]]]], root: Path) -> list[str]:
    """The sorted class names; every domain must have images and every class."""
    per_domain = {d: set().union(*(set(cl) for cl in splits.values())) for d, splits in tree.items()}
    for d, present in per_domain.items():
        if not present:
            raise DataError(f"domain '{d}' under '{root}' is empty (no images in class folders)")
    classes = sorted(set().union(*per_domain.values()))
    missing = {c: [d for d in tree if c not in per_domain[d]] for c in classes}
    missing = {c: ds for c, ds in missing.items() if ds}
    if missing:
        shown = "; ".join(f"class '{c}' is missing in domain(s) {', '.join(ds)}" for c, ds in list(missing.items())[:3])
        more = f" (and {len(missing) - 3} more classes)" if len(missing) > 3 else ""
        raise DataError(f"{shown}{more} under '{root}'; every domain needs the same class folders")
    return classes


@DATASETS.register("folder")
def build_folder(cfg: DataConfig) -> DGData:
    """Image folders under data.root: DomainBed root/<domain>/<class>/<image>, Dassl train/val/test, ImageFolder."""
    if not cfg.root:
        raise DataError("dataset 'folder' needs data.root; pass --set data.root=/path/to/dataset")
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root '{root}' does not exist or is not a folder; check the path")
    root = Path(os.path.realpath(root))
    if cfg.val_fraction < 0 or cfg.test_fraction < 0 or cfg.val_fraction + cfg.test_fraction >= 1:
        raise DataError(
            f"data.val_fraction ({cfg.val_fraction}) + data.test_fraction ({cfg.test_fraction}) "
            "must be >= 0 and below 1"
        )
    layout, tree = _scan(root)

    n_images, n_bad = _drop_corrupt(tree, root, cfg.skip_corrupt)
    classes = _common_classes(tree, root)

    cidx = {c: i for i, c in enumerate(classes)}
    splits_out: dict[str, dict[str, Dataset]] = {}
    for d, splits in tree.items():
        rng = np.random.default_rng([cfg.split_seed, zlib.crc32(d.encode())])
        lists: dict[str, tuple[list[Path], np.ndarray]] = {}
        for s, cl in splits.items():
            paths = [p for c in sorted(cl) for p in cl[c]]
            lists[s] = (paths, np.array([cidx[c] for c in sorted(cl) for _ in cl[c]], dtype=np.int64))
        source = "all" if "all" in lists else "train"
        paths, labels = lists.pop(source)
        carve = [s for s in ("val", "test") if s not in lists]  # splits not given as folders
        fracs = {"val": cfg.val_fraction, "test": cfg.test_fraction}
        parts = stratified_split(labels, [1.0 - sum(fracs[s] for s in carve)] + [fracs[s] for s in carve], rng)
        for s, idx in zip(["train", *carve], parts, strict=True):
            lists[s] = ([paths[i] for i in idx], labels[idx])
        tr_paths, tr_labels = lists["train"]
        keep = balanced_subset(tr_labels, cfg.max_per_domain, cfg.split_seed)
        lists["train"] = ([tr_paths[i] for i in keep], tr_labels[keep])
        splits_out[d] = {s: ImageFileDataset(*lists[s], image_size=cfg.image_size) for s in SPLITS}

    return DGData(
        name=root.name,
        domains=list(tree),
        classes=classes,
        splits=splits_out,
        info={
            "root": str(root),
            "layout": layout,
            "skipped_corrupt": n_bad,
            "num_images": n_images - n_bad,
        },
    )
