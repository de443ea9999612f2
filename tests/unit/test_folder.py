"""The folder loader: DomainBed, ImageFolder and Dassl layouts, splits, and every bad-input message."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import trustlab.data  # noqa: F401  (registers the datasets)
from trustlab.data.folder import ImageFileDataset, balanced_subset, build_folder, stratified_split
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS

COLOURS = {"cat": (255, 0, 0), "dog": (0, 0, 255), "emu": (0, 255, 0)}


def _png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (12, 10), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size, colour)
    (im.convert(mode) if mode != "RGB" else im).save(path)
    return path


def _tree(root: Path, domains: dict[str, dict[str, int]], sub: str = "") -> Path:
    for d, classes in domains.items():
        for c, n in classes.items():
            for i in range(n):
                _png(root / d / sub / c / f"{c}_{i}.png", COLOURS[c])
    return root


def _cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(name="folder", root=str(root), image_size=16, **kw)


def test_domainbed_layout(tmp_path):
    root = _tree(tmp_path / "PACS", {"art": {"cat": 10, "dog": 10}, "photo": {"cat": 10, "dog": 10}})
    (root / "art" / "cat" / ".hidden.png").write_bytes(b"junk")  # hidden: ignored, not "corrupt"
    (root / "art" / "cat" / "notes.txt").write_text("not an image")
    _png(root / "art" / "cat" / "UPPER.JPG", COLOURS["cat"])
    data = DATASETS.get("folder")(_cfg(root, val_fraction=0.2, test_fraction=0.2))
    assert data.name == "PACS" and data.domains == ["art", "photo"] and data.classes == ["cat", "dog"]
    assert data.info["layout"] == "domainbed" and data.info["skipped_corrupt"] == 0
    sizes = {d: {s: len(data.get(d, s)) for s in ("train", "val", "test")} for d in data.domains}
    assert sizes["photo"] == {"train": 12, "val": 4, "test": 4}
    assert sum(sizes["art"].values()) == 21  # the .JPG counts, hidden and .txt do not
    ds = data.get("photo", "train")
    paths = {p for s in ("train", "val", "test") for p in data.get("photo", s).paths}
    assert len(paths) == 20
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32
        colour = COLOURS[data.classes[int(y)]]
        assert torch.allclose(x[:, 0, 0], torch.tensor(colour, dtype=torch.float32) / 255)


def test_random_splits_are_seeded_and_stratified(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 20, "dog": 20}, "b": {"cat": 20, "dog": 20}})
    s0 = build_folder(_cfg(root, split_seed=0))
    s0b = build_folder(_cfg(root, split_seed=0))
    s1 = build_folder(_cfg(root, split_seed=1))
    assert s0.get("a", "val").paths == s0b.get("a", "val").paths
    assert s0.get("a", "val").paths != s1.get("a", "val").paths
    assert np.bincount(s0.get("a", "test").labels.numpy()).tolist() == [4, 4]
    assert not set(s0.get("a", "train").paths) & set(s0.get("a", "test").paths)


def test_imagefolder_layout_is_one_domain(tmp_path):
    root = tmp_path / "pets"
    for c in ("cat", "dog"):
        for i in range(5):
            _png(root / c / f"{i}.png", COLOURS[c])
    data = build_folder(_cfg(root))
    assert data.domains == ["pets"] and data.classes == ["cat", "dog"] and data.info["layout"] == "imagefolder"
    assert sum(len(data.get("pets", s)) for s in ("train", "val", "test")) == 10


def test_dassl_split_folders_are_used(tmp_path):
    root = tmp_path / "digit5"
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        _tree(root, {"mnist": {"cat": n, "dog": n}}, sub=split)
    for split, n in (("train", 10), ("test", 4)):  # no val/: carved out of train
        _tree(root, {"svhn": {"cat": n, "dog": n}}, sub=split)
    data = build_folder(_cfg(root, val_fraction=0.2))
    assert data.info["layout"] == "dassl" and data.domains == ["mnist", "svhn"]
    assert [len(data.get("mnist", s)) for s in ("train", "val", "test")] == [12, 4, 6]
    assert all("/test/" in p for p in data.get("mnist", "test").paths)
    assert [len(data.get("svhn", s)) for s in ("train", "val", "test")] == [16, 4, 8]
    assert all("/train/" in p for p in data.get("svhn", "val").paths)


def test_max_per_domain_subsamples_train(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 20, "dog": 20}})
    data = build_folder(_cfg(root, max_per_domain=6))
    assert np.bincount(data.get("a", "train").labels.numpy()).tolist() == [3, 3]
    assert len(data.get("a", "test")) == 8


def test_root_missing_or_unset(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        build_folder(_cfg(tmp_path / "nope"))
    with pytest.raises(DataError, match="needs data.root"):
        build_folder(DataConfig(name="folder", root=None))
    (tmp_path / "bare").mkdir()
    with pytest.raises(DataError, match="no domain or class folders"):
        build_folder(_cfg(tmp_path / "bare"))


def test_empty_domain(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 3}})
    (root / "b" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match=r"domain 'b' under '.*r' is empty"):
        build_folder(_cfg(root))


def test_class_missing_in_some_domains(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 3, "dog": 3}, "b": {"cat": 3}, "c": {"cat": 3}})
    with pytest.raises(DataError, match=r"class 'dog' is missing in domain\(s\) b, c") as e:
        build_folder(_cfg(root))
    assert "\n" not in str(e.value)


def test_corrupt_images_fail_listing_paths(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 3, "dog": 3}})
    bad = [root / "a" / "dog" / f"bad{i}.png" for i in range(7)]
    for p in bad:
        p.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError) as e:
        build_folder(_cfg(root))
    msg = str(e.value)
    assert msg.startswith("7 unreadable image(s)") and "(and 2 more)" in msg
    assert "--set data.skip_corrupt=true" in msg and str(bad[0]) in msg and "\n" not in msg


def test_skip_corrupt_counts_skipped(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 5, "dog": 5}})
    (root / "a" / "cat" / "broken.jpg").write_bytes(b"garbage")
    good = root / "a" / "dog" / "dog_0.png"
    (root / "a" / "dog" / "truncated.png").write_bytes(good.read_bytes()[:30])
    data = build_folder(_cfg(root, skip_corrupt=True))
    assert data.info["skipped_corrupt"] == 2
    assert sum(len(data.get("a", s)) for s in ("train", "val", "test")) == 10


def test_symlink_outside_root_is_rejected(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 3}})
    outside = _png(tmp_path / "elsewhere" / "x.png", COLOURS["cat"])
    os.symlink(outside, root / "a" / "cat" / "link.png")
    with pytest.raises(DataError, match="resolves outside data.root"):
        build_folder(_cfg(root))


def test_symlink_inside_root_is_fine(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 3}, "b": {"cat": 3}})
    os.symlink(root / "a" / "cat" / "cat_0.png", root / "b" / "cat" / "alias.png")
    data = build_folder(_cfg(root))
    assert sum(len(data.get("b", s)) for s in ("train", "val", "test")) == 4


def test_mixed_layout_and_bad_fractions(tmp_path):
    root = _tree(tmp_path / "r", {"a": {"cat": 3}})
    _png(root / "b" / "x.png", COLOURS["dog"])
    with pytest.raises(DataError, match="mixed layout"):
        build_folder(_cfg(root))
    ok = _tree(tmp_path / "ok", {"a": {"cat": 3}})
    with pytest.raises(DataError, match="val_fraction"):
        build_folder(_cfg(ok, val_fraction=0.6, test_fraction=0.5))


def test_image_file_dataset_converts_modes(tmp_path):
    paths = [
        _png(tmp_path / "g.png", (128, 128, 128), mode="L"),
        _png(tmp_path / "p.gif", (255, 0, 0), mode="P"),
        _png(tmp_path / "a.png", (0, 255, 0), size=(30, 7), mode="RGBA"),
    ]
    ds = ImageFileDataset(paths, [0, 1, 2], image_size=8)
    x, y = ds.tensors()
    assert x.shape == (3, 3, 8, 8) and y.tolist() == [0, 1, 2]
    assert torch.allclose(x[0, :, 0, 0], torch.full((3,), 128 / 255))
    assert torch.allclose(x[1, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    paths[0].unlink()
    with pytest.raises(DataError, match="cannot read image"):
        ds[0]
    with pytest.raises(DataError, match="labels"):
        ImageFileDataset(paths, [0], image_size=8)


def test_split_helpers():
    labels = np.array([0] * 10 + [1] * 3 + [2])
    parts = stratified_split(labels, [0.6, 0.2, 0.2], np.random.default_rng(0))
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))
    assert 13 in parts[0]  # a singleton class stays in the first part
    assert np.bincount(labels[parts[1]], minlength=3).tolist()[0] == 2
    keep = balanced_subset(labels, 4, seed=0)
    assert sorted(np.bincount(labels[keep], minlength=3).tolist()) == [1, 1, 2]
    assert balanced_subset(labels, None, seed=0).tolist() == list(range(len(labels)))
