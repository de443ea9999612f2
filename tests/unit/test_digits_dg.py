"""The embedded Digits-DG generator and its on-disk cache (manifest, checksums, rebuild on damage)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import trustlab.data  # noqa: F401  (registers the datasets)
from trustlab.data import cache
from trustlab.data.base import SPLITS
from trustlab.data.digits_dg import (
    CLASSES,
    DOMAINS,
    GENERATOR_VERSION,
    SEED,
    build_digits_dg,
    build_digits_dg_arrays,
)
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS

EXPECTED_TOTAL = {"mnist": 2500, "usps": 1797, "syn": 2500, "mnistm": 2500}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("trustlab_data")
    return root, build_digits_dg_arrays(cache_dir=root)


def _manifest(root: Path) -> dict:
    return json.loads((root / "digits-dg" / "v1" / "manifest.json").read_text())


def _saturation(images: np.ndarray) -> float:
    x = images.astype(np.float64) / 255.0
    mx, mn = x.max(axis=-1), x.min(axis=-1)
    return float(np.mean((mx - mn) / np.maximum(mx, 1e-6)))


def test_shapes_dtypes_labels_and_sizes(built):
    _, arrays = built
    assert list(arrays) == list(DOMAINS)
    for dom, splits in arrays.items():
        assert list(splits) == list(SPLITS)
        total = 0
        for split, (x, y) in splits.items():
            assert x.dtype == np.uint8 and x.ndim == 4 and x.shape[1:] == (32, 32, 3), (dom, split)
            assert y.dtype == np.int64 and y.shape == (len(x),)
            assert y.min() >= 0 and y.max() <= 9
            assert set(np.unique(y)) == set(range(10)), f"{dom}/{split} lacks a class"
            total += len(y)
        assert total == EXPECTED_TOTAL[dom]
        n_train, n_test = len(splits["train"][1]), len(splits["test"][1])
        assert abs(n_train / total - 0.7) < 0.02 and abs(n_test / total - 0.2) < 0.02


def test_images_are_not_blank_and_splits_do_not_overlap(built):
    _, arrays = built
    for dom, splits in arrays.items():
        seen = set()
        for x, _ in splits.values():
            assert x.std() > 20, f"{dom} looks blank"
            rows = {im.tobytes() for im in x}
            assert not rows & seen, f"{dom}: an image is in two splits"
            seen |= rows


def test_mnist_and_mnistm_use_disjoint_halves(built):
    from trustlab.data.digits_dg import _mnist5k

    _, arrays = built
    source, labels = _mnist5k()
    src = {im.tobytes(): i for i, im in enumerate(source)}
    mnist_idx = {src[im[..., 0].tobytes()] for x, _ in arrays["mnist"].values() for im in x}
    assert len(mnist_idx) == 2500  # every mnist image is a distinct source image: a stratified half
    assert np.bincount(labels[sorted(mnist_idx)]).tolist() == [250] * 10
    mnistm_y = np.concatenate([y for _, y in arrays["mnistm"].values()])
    assert np.bincount(mnistm_y).tolist() == [250] * 10


def test_domains_differ_visually(built):
    _, arrays = built
    sat = {d: _saturation(arrays[d]["train"][0]) for d in DOMAINS}
    assert sat["mnist"] < 0.01 and sat["usps"] < 0.01
    assert sat["syn"] > 0.2 and sat["mnistm"] > 0.2
    means = {d: arrays[d]["train"][0].astype(np.float64).mean(axis=0) for d in DOMAINS}
    for i, a in enumerate(DOMAINS):
        for b in DOMAINS[i + 1 :]:
            assert np.abs(means[a] - means[b]).mean() > 5, f"{a} and {b} have near-identical mean images"


def test_manifest_lists_checksums_and_generator(built):
    root, _ = built
    m = _manifest(root)
    assert m["generator_version"] == GENERATOR_VERSION and m["seed"] == SEED
    assert sorted(m["files"]) == sorted(f"{d}.npz" for d in DOMAINS)
    d = root / "digits-dg" / "v1"
    for fname, meta in m["files"].items():
        assert cache.sha256_file(d / fname) == meta["sha256"]
        assert (d / fname).stat().st_size == meta["bytes"]
    assert not list(d.glob("*.tmp")), "temp files left behind"


def test_build_twice_gives_identical_checksums(built, tmp_path, monkeypatch):
    root, arrays = built
    monkeypatch.setenv("TRUSTLAB_DATA", str(tmp_path))
    again = build_digits_dg_arrays()  # default cache dir -> $TRUSTLAB_DATA
    assert (tmp_path / "digits-dg" / "v1" / "manifest.json").is_file()
    assert _manifest(tmp_path)["files"] == _manifest(root)["files"]
    for d in DOMAINS:
        for s in SPLITS:
            np.testing.assert_array_equal(again[d][s][0], arrays[d][s][0])


def test_corrupted_cache_file_is_detected_and_rebuilt(built, tmp_path, capsys):
    root, arrays = built
    shutil.copytree(root / "digits-dg", tmp_path / "digits-dg")
    target = tmp_path / "digits-dg" / "v1" / "syn.npz"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    capsys.readouterr()

    rebuilt = build_digits_dg_arrays(cache_dir=tmp_path)
    err = capsys.readouterr().err
    assert "checksum mismatch in syn.npz" in err and "rebuilding" in err
    assert len(err.strip().splitlines()) == 1
    np.testing.assert_array_equal(rebuilt["syn"]["train"][0], arrays["syn"]["train"][0])
    assert cache.sha256_file(target) == _manifest(root)["files"]["syn.npz"]["sha256"]

    build_digits_dg_arrays(cache_dir=tmp_path)  # now a clean hit: silent
    assert capsys.readouterr().err == ""


def test_verify_reports_missing_file_and_stale_generator(built, tmp_path):
    root, _ = built
    shutil.copytree(root / "digits-dg", tmp_path / "digits-dg")
    d = tmp_path / "digits-dg" / "v1"
    assert cache.verify(d, generator_version=GENERATOR_VERSION, seed=SEED) is None
    assert "generator" in cache.verify(d, generator_version="0.0-old", seed=SEED)
    assert "seed" in cache.verify(d, generator_version=GENERATOR_VERSION, seed=SEED + 1)
    (d / "usps.npz").unlink()
    assert cache.verify(d, generator_version=GENERATOR_VERSION, seed=SEED) == "missing file usps.npz"
    (d / "manifest.json").unlink()
    assert cache.verify(d, generator_version=GENERATOR_VERSION, seed=SEED) == "no manifest"


def test_save_npz_atomic_roundtrip_and_stable_bytes(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "b": np.array([1.5, -2.0])}
    cache.save_npz_atomic(tmp_path / "x.npz", arrays)
    cache.save_npz_atomic(tmp_path / "y.npz", arrays)
    loaded = cache.load_npz(tmp_path / "x.npz")
    assert set(loaded) == {"a", "b"}
    np.testing.assert_array_equal(loaded["a"], arrays["a"])
    assert cache.sha256_file(tmp_path / "x.npz") == cache.sha256_file(tmp_path / "y.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz", "y.npz"]


def test_cache_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TRUSTLAB_DATA", str(tmp_path / "c"))
    assert cache.cache_root() == tmp_path / "c"
    assert cache.dataset_dir("digits-dg", "v1") == tmp_path / "c" / "digits-dg" / "v1"
    monkeypatch.delenv("TRUSTLAB_DATA")
    assert cache.cache_root() == Path.home() / ".cache" / "trustlab"


def test_registered_builder_returns_dgdata(built, monkeypatch):
    root, arrays = built
    monkeypatch.setenv("TRUSTLAB_DATA", str(root))
    assert DATASETS.get("digits-dg") is build_digits_dg
    data = DATASETS.get("digits-dg")(DataConfig(name="digits-dg"))
    assert data.domains == ["mnist", "usps", "syn", "mnistm"] and data.classes == CLASSES
    assert data.num_classes == 10
    for d in DOMAINS:
        for s in SPLITS:
            assert len(data.get(d, s)) == len(arrays[d][s][1])
    x, y = data.get("syn", "train")[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0.0 <= x.min() <= x.max() <= 1.0
    assert int(y) == int(arrays["syn"]["train"][1][0])
    targets, sources = data.parse_targets("mnistm")
    assert targets == ["mnistm"] and sources == ["mnist", "usps", "syn"]


def test_max_per_domain_and_image_size(built, monkeypatch):
    root, arrays = built
    monkeypatch.setenv("TRUSTLAB_DATA", str(root))
    data = build_digits_dg(DataConfig(max_per_domain=50, image_size=48))
    for d in DOMAINS:
        _, y = data.get(d, "train").tensors()
        assert len(y) == 50
        assert np.bincount(y.numpy(), minlength=10).tolist() == [5] * 10  # balanced subsample
        assert len(data.get(d, "test")) == len(arrays[d]["test"][1])  # only train is subsampled
    x, _ = data.get("mnistm", "val")[0]
    assert x.shape == (3, 48, 48)
    again = build_digits_dg(DataConfig(max_per_domain=50))
    assert torch.equal(again.get("usps", "train").labels, data.get("usps", "train").labels)
    with pytest.raises(DataError, match="max_per_domain"):
        build_digits_dg(DataConfig(max_per_domain=0))
