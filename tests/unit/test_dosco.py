"""DOSCO builder: context data, encoder, whole-cluster test contexts, JSON layout, sheets, DG view, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trustlab.errors import ConfigError, DataError
from trustlab.experiment import DataConfig
from trustlab.methods.okd.context_data import SCENES, compose
from trustlab.methods.okd.dosco import (
    DoscoConfig,
    Source,
    build_dosco_file,
    build_split,
    load_source,
    split_leakage,
    split_to_dgdata,
    write_split,
)
from trustlab.methods.okd.encoders import StatsEncoder

COLOURS = np.array([[220, 40, 40], [40, 200, 60], [40, 60, 220], [230, 220, 40]], dtype=np.float64)


def synthetic_source(per_class: int = 40, classes: int = 3, seed: int = 0) -> Source:
    """Objects (a bar whose position encodes the class) over four colour contexts with texture noise."""
    rng = np.random.default_rng(seed)
    n = per_class * classes
    labels = np.repeat(np.arange(classes), per_class)
    context = rng.integers(0, 4, n)
    images = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i in range(n):
        img = COLOURS[context[i]] + rng.normal(0, 12, (32, 32, 3))
        img[10:22, 8 + 5 * labels[i] : 12 + 5 * labels[i]] = 255
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    ids = [f"{i:05d}" for i in range(n)]
    return Source("synthetic", [f"c{k}" for k in range(classes)], ids, labels.astype(np.int64), images, context)


@pytest.mark.parametrize("scene", SCENES)
def test_compose_draws_a_contrasting_object_over_every_scene(scene: str) -> None:
    rng = np.random.default_rng(0)
    glyph = np.zeros((32, 32), dtype=np.uint8)
    glyph[8:24, 12:20] = 255
    img = compose(rng, glyph, scene)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    luma = img.astype(float) @ [0.299, 0.587, 0.114]
    inside = luma[10:22, 14:18].mean()  # under the bar, whatever the +-2 px shift
    background = np.concatenate([luma[:, :8].ravel(), luma[:, 24:].ravel()]).mean()
    assert abs(inside - background) > 40, (scene, inside, background)


def test_stats_encoder_separates_contexts_not_objects() -> None:
    src = synthetic_source()
    feats = StatsEncoder().encode(src.images)
    assert feats.shape == (len(src.ids), 54) and np.isfinite(feats).all()
    z = (feats - feats.mean(0)) / (feats.std(0) + 1e-9)
    same_ctx = np.linalg.norm(z[src.context == 0][:5] - z[src.context == 0][5:10], axis=1).mean()
    other_ctx = np.linalg.norm(z[src.context == 0][:5] - z[src.context == 1][:5], axis=1).mean()
    assert same_ctx < other_ctx
    with pytest.raises(ConfigError, match="uint8 images"):
        StatsEncoder().encode(np.zeros((2, 32, 32)))


def test_split_puts_whole_context_clusters_in_test() -> None:
    src = synthetic_source()
    split, meta = build_split(DoscoConfig(clusters=4, seed=0), src)
    assert set(split) == set(src.classes)
    cluster_of = meta["cluster_of"]
    for c, parts in split.items():
        train, val, test = (set(parts[k]) for k in ("train", "val", "test"))
        assert train and val and test and not (train | val) & test and not train & val
        assert len(train) + len(val) + len(test) + meta["guard"][c]["left_out"] == 40
        test_clusters = {cluster_of[i] for i in test}
        assert test_clusters.isdisjoint({cluster_of[i] for i in train | val})  # unseen contexts only
        share = len(test) / 40
        assert 0.1 <= share <= 0.6
        assert {cl["cluster"] for cl in meta["clusters"][c] if cl["split"] == "test"} == test_clusters
    assert meta["context_ari"] > 0.8  # four clean colour contexts are recovered
    other, _ = build_split(DoscoConfig(clusters=4, seed=1), src)
    assert other != split


def test_split_leakage_counts_test_images_whose_true_context_is_in_train() -> None:
    src = synthetic_source(per_class=8, classes=1)  # contexts drawn at random per image
    ids = src.ids
    split = {"c0": {"train": ids[:4], "val": [], "test": ids[4:]}}
    seen = set(src.context[:4].tolist())
    expected = float(np.mean([c in seen for c in src.context[4:]]))
    assert split_leakage(split, src) == {"c0": expected}
    assert split_leakage(split, Source("f", ["c0"], ids, src.labels, src.images)) is None  # no true contexts


def test_builder_reports_leakage_and_the_guard_keeps_test_neighbourhoods_unseen() -> None:
    src = synthetic_source(per_class=60)
    split, meta = build_split(DoscoConfig(clusters=4, seed=0), src)
    assert set(meta["leakage"]) == set(src.classes) and meta["leakage_mean"] == pytest.approx(
        float(np.mean(list(meta["leakage"].values()))))
    assert meta["leakage_max"] < 0.1  # four clean colour contexts: whole contexts go to test
    assert meta["left_out"] == sum(g["left_out"] for g in meta["guard"].values())
    unguarded, meta2 = build_split(DoscoConfig(clusters=4, seed=0, guard=False), src)
    assert meta2["left_out"] == 0
    assert sum(len(v[k]) for v in unguarded.values() for k in v) == len(src.ids)
    with pytest.raises(ConfigError, match="--clustering must be spectral or kmeans"):
        build_split(DoscoConfig(clustering="dbscan"), src)


def test_embedded_dosco_split_leaks_under_ten_percent_and_the_run_data_records_it() -> None:
    from trustlab.tasks.classification import build_data

    data = build_data(DataConfig(name="dosco-digits", target="unseen"))
    info = data.info["dosco"]
    assert set(info["leakage"]) == {str(d) for d in range(10)}
    assert info["leakage_mean"] < 0.10, info["leakage"]
    assert build_data(DataConfig(name="dosco", target="unseen")).info["dosco"]["leakage"] == info["leakage"]


def test_fewer_images_per_class_than_clusters_is_a_data_error() -> None:
    with pytest.raises(DataError, match="class 'c0' of DOSCO source 'synthetic' has 5 images, fewer than --clusters 6"):
        build_split(DoscoConfig(clusters=6), synthetic_source(per_class=5))
    with pytest.raises(ConfigError, match="clusters must be >= 2"):
        build_split(DoscoConfig(clusters=1), synthetic_source())


def test_write_split_reference_layout_and_a_sheet_per_cluster(tmp_path: Path) -> None:
    src = synthetic_source()
    split, meta = build_split(DoscoConfig(clusters=3, seed=2), src)
    path = write_split(split, meta, tmp_path, src)
    assert path.name == "split_v2_k3.json"
    data = json.loads(path.read_text())
    assert all(set(v) == {"train", "val", "test"} and all(isinstance(i, str) for i in v["test"]) for v in data.values())
    assert json.loads(path.with_suffix(".meta.json").read_text())["config"]["clusters"] == 3
    sheets = sorted((tmp_path / "contact").rglob("*.png"))
    assert len(sheets) == 3 * 3
    assert any(p.name.endswith("_test.png") for p in sheets)
    assert Image.open(sheets[0]).size[0] == 8 * 64


def test_split_as_dg_data_has_seen_and_unseen_domains() -> None:
    src = synthetic_source()
    split, meta = build_split(DoscoConfig(clusters=4), src)
    data = split_to_dgdata(split, meta, src, DataConfig(name="dosco", target="unseen", image_size=16), "syn")
    assert data.domains == ["seen", "unseen"]
    targets, sources = data.parse_targets("unseen")
    assert sources == ["seen"]
    n_val = sum(len(v["val"]) for v in split.values())
    assert len(data.get("seen", "val")) + len(data.get("seen", "test")) == n_val
    assert len(data.get("unseen", "test")) == sum(len(v["test"]) for v in split.values())
    x, _ = data.get("unseen", "test")[0]
    assert x.shape == (3, 16, 16)
    bad = {"c0": {"train": ["99999"], "val": [], "test": []}}
    with pytest.raises(DataError, match="not in source"):
        split_to_dgdata(bad, None, src, DataConfig(), "bad")


def test_folder_source_and_split_file_dataset(tmp_path: Path) -> None:
    src = synthetic_source(per_class=12, classes=2)
    root = tmp_path / "objects"
    for i, (img, y) in enumerate(zip(src.images, src.labels)):
        (root / f"class{y}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / f"class{y}" / f"{i:03d}.png")
    folder = load_source(str(root))
    assert folder.classes == ["class0", "class1"] and len(folder.ids) == 24 and folder.ids[0].startswith("class0/")
    split, meta = build_split(DoscoConfig(source=str(root), clusters=3), folder)
    path = write_split(split, meta, tmp_path / "out", folder, sheets=False)
    data = build_dosco_file(DataConfig(name="dosco", root=str(path), target="unseen"))
    assert data.classes == ["class0", "class1"]
    assert len(data.get("unseen", "test")) == sum(len(v["test"]) for v in split.values())
    with pytest.raises(DataError, match="does not exist or is not JSON"):
        build_dosco_file(DataConfig(name="dosco", root=str(tmp_path / "missing.json")))
    with pytest.raises(DataError, match="neither an embedded source"):
        load_source(str(tmp_path / "nowhere"))
