"""Tiny datasets written the way each official tool writes them (shared by the reader and paper-suite tests).

- torchvision: ``cifar-10-batches-py`` pickles (protocol 2, bytes keys, as the release's cPickle files),
  ``train_32x32.mat``/``test_32x32.mat`` (scipy ``savemat``, X (32, 32, 3, N), y (N, 1) with 10 for digit 0),
  ``stl10_binary/*.bin`` (column-major uint8, 1-based labels), ``MNIST/raw`` IDX files (optionally gzipped);
- Dassl/CoOp: ``split_zhou_<Dataset>.json`` as ``OxfordPets.save_split`` writes it (paths relative to the image dir);
- OpenOOD v1.5: ``benchmark_imglist/<id>/*.txt`` lines ``<relpath> <label>`` (OOD lists: -1), images under
  ``images_classic/``.
"""

from __future__ import annotations

import gzip
import json
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def _imgs(n: int, rng: np.random.Generator, h: int = 32, w: int = 32, c: int = 3) -> np.ndarray:
    return rng.integers(0, 256, size=(n, h, w, c) if c else (n, h, w), dtype=np.uint8)


def write_cifar10(root: Path, per_batch: int = 6, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    names = ["batch_1", "batch_2", "batch_3", "batch_4", "batch_5", "test"]
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for fname, bname in zip(files, names, strict=True):
        x = _imgs(per_batch, rng).transpose(0, 3, 1, 2).reshape(per_batch, -1)  # CHW rows
        labels = [int(i % 10) for i in rng.permutation(per_batch)]
        d = {b"batch_label": bname.encode(), b"labels": labels, b"data": x,
             b"filenames": [f"{k}.png".encode() for k in range(per_batch)]}
        (base / fname).write_bytes(pickle.dumps(d, protocol=2))
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [f"c{k}".encode() for k in range(10)],
            b"num_vis": 3072}
    (base / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def write_svhn(root: Path, n: int = 20, seed: int = 0) -> Path:
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        x = _imgs(n, rng).transpose(1, 2, 3, 0)  # (32, 32, 3, N)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)  # 1..10, 10 = digit 0
        savemat(str(root / f"{split}_32x32.mat"), {"X": x, "y": y})
    return root


def write_stl10(root: Path, n: int = 10, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = root / "stl10_binary"
    base.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        x = _imgs(n, rng, 96, 96).transpose(0, 3, 2, 1)  # NHWC -> (N, C, W, H): column-major as the release
        (base / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x).tobytes())
        (base / f"{split}_y.bin").write_bytes((np.arange(n) % 10 + 1).astype(np.uint8).tobytes())
    (base / "class_names.txt").write_text("\n".join(["airplane", "bird", "car", "cat", "deer", "dog", "horse",
                                                     "monkey", "ship", "truck"]) + "\n")
    return root


def idx_bytes(a: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C}[a.dtype.type]
    dt = ">i4" if a.dtype == np.int32 else a.dtype
    return bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">i", d) for d in a.shape) + a.astype(dt).tobytes()


def write_mnist(root: Path, folder: str = "MNIST", n: int = 20, gz: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    labels = (np.arange(n) % 10).astype(np.uint8)
    for prefix in ("train", "t10k"):
        images = (rng.integers(0, 40, size=(n, 28, 28))).astype(np.uint8)
        for i, c in enumerate(labels):  # a learnable class: a bright bar whose row is the label
            images[i, 2 + 2 * c: 4 + 2 * c, 4:24] = 255
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(arr)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return root


def _png(path: Path, rng: np.random.Generator, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def write_dassl(root: Path, name: str = "OxfordPets", image_dir: str = "images", classes: int = 3,
                per_split: tuple[int, int, int] = (6, 2, 3), seed: int = 0) -> Path:
    """``root/split_zhou_<name>.json`` + ``root/<image_dir>/<class>_<k>.jpg`` (Oxford Pets' flat naming)."""
    rng = np.random.default_rng(seed)
    split: dict[str, list[list[object]]] = {"train": [], "val": [], "test": []}
    k = 0
    for s, per in zip(("train", "val", "test"), per_split, strict=True):
        for c in range(classes):
            for _ in range(per):
                rel = f"cls{c}_{k}.jpg"
                _png(root / image_dir / rel, rng)
                split[s].append([rel, c, f"cls{c}"])
                k += 1
    (root / f"split_zhou_{name}.json").write_text(json.dumps(split, indent=4, separators=(",", ": ")))
    return root


def write_openood(root: Path, id_name: str = "cifar10", classes: int = 10, per_class: int = 2, ood: int = 4,
                  seed: int = 0) -> Path:
    """OpenOOD's ``data/`` folder for one classic benchmark: every list of ``BENCHMARKS[id_name]``."""
    from trustlab.data.openood_lists import BENCHMARKS

    rng = np.random.default_rng(seed)
    b = BENCHMARKS[id_name]
    images = root / b.images
    for s in ("train", "val", "test"):
        lines = []
        for c in range(classes):
            for k in range(per_class):
                rel = f"{id_name}/{s}/{c}_{k}.png"
                _png(images / rel, rng)
                lines.append(f"{rel} {c}")
        _write_list(root / b.id_list(s), lines)
    for rel_list in [b.ood_val, *b.near.values(), *b.far.values()]:
        stem = Path(rel_list).stem
        lines = []
        for k in range(ood):
            rel = f"{stem}/{k}.png"
            _png(images / rel, rng)
            lines.append(f"{rel} -1")
        _write_list(root / rel_list, lines)
    return root


def _write_list(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_domainbed(root: Path, domains: tuple[str, ...], classes: int = 2, per_class: int = 8, seed: int = 0) -> Path:
    """DomainBed's ``root/<domain>/<class>/<image>`` (each class a colour, each domain a brightness)."""
    rng = np.random.default_rng(seed)
    for d, dom in enumerate(domains):
        for c in range(classes):
            for k in range(per_class):
                img = np.zeros((32, 32, 3))
                img[..., c % 3] = 0.4 + 0.15 * d
                img = (np.clip(img + rng.normal(0, 0.08, img.shape), 0, 1) * 255).astype(np.uint8)
                (root / dom / f"class{c}").mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(root / dom / f"class{c}" / f"{k}.jpg")
    return root


def write_koniq(root: Path, n: int = 16, seed: int = 0) -> Path:
    """pyiqa's KonIQ-10k: images under ``root/512x384/`` and ``meta_info_KonIQ10kDataset.csv`` (image_name, MOS, std);
    returns the CSV path."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, (48, 64, 3)).astype(float)
    (root / "512x384").mkdir(parents=True, exist_ok=True)
    lines = ["image_name,MOS,std"]
    for i in range(n):
        img = np.clip(base + rng.normal(0, 4 + 5 * i, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / "512x384" / f"{1000 + i}.jpg")
        lines.append(f"512x384/{1000 + i}.jpg,{90 - 5 * i:.2f},{0.3:.2f}")
    meta = root / "meta_info_KonIQ10kDataset.csv"
    meta.write_text("\n".join(lines) + "\n")
    return meta
