"""Datasets stored the way ``torchvision.datasets.X(root, download=True)`` leaves them, read without torchvision.

``data.root`` is the folder a user passed to torchvision as ``root``; nothing is downloaded or written. The
on-disk layouts (torchvision 0.29's ``datasets/cifar.py``, ``svhn.py``, ``stl10.py``, ``mnist.py``):

* ``tv-cifar10``: ``root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``, Python pickles of
  ``{"data": uint8 (N, 3072) CHW rows, "labels": [int]}`` (``batches.meta``: ``label_names``);
* ``tv-cifar100``: ``root/cifar-100-python/{train,test,meta}`` (``fine_labels``, ``fine_label_names``);
* ``tv-svhn``: ``root/{train,test}_32x32.mat``, MATLAB files with ``X`` uint8 (32, 32, 3, N) and ``y`` (N, 1), label
  10 meaning digit 0 (torchvision maps it to 0, as here);
* ``tv-stl10``: ``root/stl10_binary/{train,test}_{X,y}.bin``, raw uint8 (N, 3, 96, 96) column-major images and 1-based
  labels, ``class_names.txt``;
* ``tv-mnist`` / ``tv-fashion-mnist``: ``root/{MNIST,FashionMNIST}/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
  (or the same names with ``.gz``), big-endian IDX files.

torchvision itself checks each file's md5 before reading it, so it cannot read the tiny fixtures the tests write in
these layouts; these readers check shapes and label ranges instead, and read the CIFAR pickles with an unpickler that
builds only numpy arrays and plain containers (a pickle cannot run code here).

Each set is one domain named after the dataset with ``train``/``val``/``test`` splits: ``val`` is carved out of the
official train split (``data.val_fraction``, stratified, seeded by ``data.split_seed``: training-data validation,
never the test set), ``test`` is the official test split. ``data.max_per_domain`` subsamples train.
"""

from __future__ import annotations

import functools
import gzip
import io
import pickle
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from trustlab.data.base import DGData, TensorImageDataset
from trustlab.data.folder import balanced_subset, stratified_split
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]  # x_train, y_train, x_test, y_test, classes

MAX_FILE_BYTES = 4 << 30  # refuse anything larger than a real release file (STL-10's unlabeled X is 2.6 GB)


def one_line(e: BaseException, limit: int = 160) -> str:
    """An exception's message on one line (library messages can hold newlines), cut to ``limit`` characters."""
    return " ".join(str(e).split())[:limit]


F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(fn: F) -> F:
    """A dataset builder whose DataError is always one line under 400 characters (file names from a user's list or
    split file can hold newlines)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except DataError as e:
            text = one_line(e, 390)
            if text == str(e):
                raise
            raise DataError(text) from e

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------- CIFAR (pickles)


class _ArrayUnpickler(pickle.Unpickler):
    """Builds numpy arrays, dtypes and plain containers only: any other global in the stream is an error."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"), ("builtins", "bytearray"),
        ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"'{path}' is missing")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"'{path}' is larger than any file of the release ({path.stat().st_size} bytes)")
    return path.read_bytes()


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        obj = _ArrayUnpickler(io.BytesIO(_read_bytes(path)), encoding="latin1").load()
    except DataError:
        raise
    except Exception as e:  # a corrupt pickle raises many types (EOFError, UnpicklingError, ValueError, ...)
        raise DataError(f"'{path}' is not a CIFAR batch pickle ({type(e).__name__}: {one_line(e)})") from e
    if not isinstance(obj, dict):
        raise DataError(f"'{path}' holds a {type(obj).__name__}, not the dict of a CIFAR batch")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _cifar_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    if "data" not in d or label_key not in d:
        raise DataError(f"'{path}' has no 'data' or '{label_key}' entry (keys: {', '.join(sorted(d))[:200]})")
    try:
        data = np.asarray(d["data"], dtype=np.uint8)
        labels = np.asarray(d[label_key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"'{path}': 'data' or '{label_key}' is not numeric ({one_line(e)})") from e
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataError(f"'{path}': 'data' must be (N, 3072) with N labels, got {data.shape} and {len(labels)} labels")
    _check_labels(labels, num_classes, path)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _names(path: Path, key: str, n: int) -> list[str]:
    names = _unpickle(path).get(key)
    if not isinstance(names, (list, tuple)) or len(names) != n:
        raise DataError(f"'{path}': '{key}' must list {n} class names")
    return [x.decode("latin1") if isinstance(x, bytes) else str(x) for x in names]


def read_cifar10(root: Path) -> Arrays:
    base = root / "cifar-10-batches-py"
    _need_dir(base, "tv-cifar10", "root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}")
    parts = [_cifar_batch(base / f"data_batch_{i}", "labels", 10) for i in range(1, 6)]
    x_te, y_te = _cifar_batch(base / "test_batch", "labels", 10)
    classes = _names(base / "batches.meta", "label_names", 10)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), x_te, y_te, classes


def read_cifar100(root: Path) -> Arrays:
    base = root / "cifar-100-python"
    _need_dir(base, "tv-cifar100", "root/cifar-100-python/{train,test,meta}")
    x_tr, y_tr = _cifar_batch(base / "train", "fine_labels", 100)
    x_te, y_te = _cifar_batch(base / "test", "fine_labels", 100)
    return x_tr, y_tr, x_te, y_te, _names(base / "meta", "fine_label_names", 100)


# ---------------------------------------------------------------- SVHN (.mat)


def _svhn_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    _read_bytes(path)  # exists, sane size
    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError, ... on a broken file
        raise DataError(f"'{path}' is not a readable MATLAB file ({type(e).__name__}: {one_line(e)})") from e
    if "X" not in mat or "y" not in mat:
        raise DataError(f"'{path}' has no 'X' or 'y' variable")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DataError(f"'{path}': X must be (32, 32, 3, N) with N labels, got {x.shape} and {len(y)} labels")
    if x.dtype != np.uint8 or not np.issubdtype(y.dtype, np.number):
        raise DataError(f"'{path}': X must be uint8 and y numeric, got {x.dtype} and {y.dtype}")
    y = y.astype(np.int64)
    y[y == 10] = 0  # SVHN's label 10 is digit 0 (as torchvision)
    _check_labels(y, 10, path)
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), y


def read_svhn(root: Path) -> Arrays:
    x_tr, y_tr = _svhn_split(root / "train_32x32.mat")
    x_te, y_te = _svhn_split(root / "test_32x32.mat")
    return x_tr, y_tr, x_te, y_te, [str(i) for i in range(10)]


# ---------------------------------------------------------------- STL-10 (raw binary)


def _stl_split(base: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(_read_bytes(base / f"{split}_X.bin"), dtype=np.uint8)
    labels = np.frombuffer(_read_bytes(base / f"{split}_y.bin"), dtype=np.uint8).astype(np.int64) - 1
    size = 3 * 96 * 96
    if raw.size == 0 or raw.size % size or raw.size // size != len(labels):
        raise DataError(f"'{base}/{split}_X.bin' holds {raw.size} bytes: not {len(labels)} images of 3x96x96")
    _check_labels(labels, 10, base / f"{split}_y.bin")
    # column-major as in the release (torchvision: reshape (-1, 3, 96, 96) then swap H and W)
    return raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1).copy(), labels


def read_stl10(root: Path) -> Arrays:
    base = root / "stl10_binary"
    _need_dir(base, "tv-stl10", "root/stl10_binary/{train,test}_{X,y}.bin and class_names.txt")
    x_tr, y_tr = _stl_split(base, "train")
    x_te, y_te = _stl_split(base, "test")
    names_file = base / "class_names.txt"
    classes = [str(i) for i in range(10)]
    if names_file.is_file():
        names = [n.strip() for n in names_file.read_text(errors="replace").splitlines() if n.strip()]
        classes = names if len(names) == 10 else classes
    return x_tr, y_tr, x_te, y_te, classes


# ---------------------------------------------------------------- (Fashion-)MNIST (IDX)

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``path`` or ``path.gz``): magic ``0 0 <dtype> <ndim>``, big-endian int32 dims, then the data."""
    gz = path.with_name(path.name + ".gz")
    if not path.is_file() and gz.is_file():
        try:
            data = gzip.decompress(_read_bytes(gz))
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"'{gz}' is not a readable gzip file ({one_line(e)})") from e
        path = gz
    else:
        data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or data[3] == 0:
        raise DataError(f"'{path}' is not an IDX file (bad magic number)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"'{path}' is truncated (no room for its {ndim} dimensions)")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_DTYPES[data[2]])
    count = int(np.prod(dims, dtype=object))
    body = data[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise DataError(f"'{path}': dims {dims} need {count * dtype.itemsize} bytes of data, found {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def _mnist_split(raw: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(raw / f"{prefix}-images-idx3-ubyte")
    y = read_idx(raw / f"{prefix}-labels-idx1-ubyte")
    if x.ndim != 3 or x.dtype != np.uint8 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
        raise DataError(f"'{raw}/{prefix}-*': images must be uint8 (N, H, W) with N labels, got {x.shape} and "
                        f"{y.shape}")
    y = y.astype(np.int64)
    _check_labels(y, 10, raw / f"{prefix}-labels-idx1-ubyte")
    return x, y


def _read_mnist_like(folder: str, name: str, classes: list[str]) -> Callable[[Path], Arrays]:
    def read(root: Path) -> Arrays:
        raw = root / folder / "raw"
        _need_dir(raw, name, f"root/{folder}/raw/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz]")
        x_tr, y_tr = _mnist_split(raw, "train")
        x_te, y_te = _mnist_split(raw, "t10k")
        return x_tr, y_tr, x_te, y_te, list(classes)

    return read


# ---------------------------------------------------------------- shared


def _need_dir(path: Path, name: str, layout: str) -> None:
    if not path.is_dir():
        raise DataError(f"dataset '{name}': '{path}' is missing; expected {layout} (the folder "
                        f"torchvision.datasets writes with download=True under its root)")


def _check_labels(labels: np.ndarray, num_classes: int, path: Path) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"'{path}': labels must be in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}")


def build_arrays(name: str, arrays: Arrays, cfg: DataConfig) -> DGData:
    """The official train/test arrays as a one-domain :class:`DGData` (val carved out of train)."""
    x_tr, y_tr, x_te, y_te, classes = arrays
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise DataError(f"data.val_fraction must be in [0, 1), got {cfg.val_fraction}")
    if len(y_tr) == 0 or len(y_te) == 0:
        raise DataError(f"dataset '{name}' has an empty train or test split")
    rng = np.random.default_rng([cfg.split_seed, zlib.crc32(name.encode())])
    tr_idx, va_idx = stratified_split(y_tr, [1.0 - cfg.val_fraction, cfg.val_fraction], rng)
    tr_idx = tr_idx[balanced_subset(y_tr[tr_idx], cfg.max_per_domain, cfg.split_seed)]
    size = cfg.image_size
    splits = {
        "train": TensorImageDataset(to_rgb_size(x_tr[tr_idx], size), y_tr[tr_idx]),
        "val": TensorImageDataset(to_rgb_size(x_tr[va_idx], size), y_tr[va_idx]),
        "test": TensorImageDataset(to_rgb_size(x_te, size), y_te),
    }
    return DGData(name=name, domains=[name], classes=list(classes), splits={name: splits},
                  info={"layout": "torchvision", "official_train": int(len(y_tr)), "official_test": int(len(y_te))})


def to_rgb_size(x: np.ndarray, size: int, chunk: int = 4096) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> uint8 (N, size, size, 3): grey repeated to RGB, resized (antialiased
    bilinear) when the native size differs. Done once at build time, so ``tensors()`` and items agree."""
    import torch
    import torch.nn.functional as F

    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[1] == size and x.shape[2] == size:
        return np.ascontiguousarray(x)
    out = np.empty((len(x), size, size, 3), dtype=np.uint8)
    for i in range(0, len(x), chunk):
        t = torch.from_numpy(np.ascontiguousarray(x[i:i + chunk])).permute(0, 3, 1, 2).float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[i:i + chunk] = t.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def _register(name: str, reader: Callable[[Path], Arrays], what: str, layout: str) -> None:
    @one_line_errors
    def build(cfg: DataConfig) -> DGData:
        if not cfg.root:
            raise DataError(f"dataset '{name}' needs data.root, the folder holding {layout} "
                            f"(torchvision.datasets.{what}(root, download=True) writes it)")
        root = Path(cfg.root).expanduser()
        if not root.is_dir():
            raise DataError(f"data.root '{root}' of dataset '{name}' is not a folder; expected {layout}")
        if cfg.image_size < 8:
            raise DataError(f"data.image_size must be >= 8, got {cfg.image_size}")
        return build_arrays(name, reader(root), cfg)

    build.__doc__ = f"{what} as torchvision stores it under data.root ({layout}); one domain, val from train."
    DATASETS.add(name, build)


READERS: dict[str, tuple[Callable[[Path], Arrays], str, str]] = {
    "tv-cifar10": (read_cifar10, "CIFAR10", "cifar-10-batches-py/"),
    "tv-cifar100": (read_cifar100, "CIFAR100", "cifar-100-python/"),
    "tv-svhn": (read_svhn, "SVHN", "train_32x32.mat, test_32x32.mat"),
    "tv-stl10": (read_stl10, "STL10", "stl10_binary/"),
    "tv-mnist": (_read_mnist_like("MNIST", "tv-mnist", MNIST_CLASSES), "MNIST", "MNIST/raw/"),
    "tv-fashion-mnist": (_read_mnist_like("FashionMNIST", "tv-fashion-mnist", FASHION_CLASSES), "FashionMNIST",
                         "FashionMNIST/raw/"),
}
for _name, (_reader, _what, _layout) in READERS.items():
    _register(_name, _reader, _what, _layout)
