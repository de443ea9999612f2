"""Every ood/* recipe runs end to end with its registered ``tiny`` overrides and writes a leaderboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import trustlab.methods  # noqa: F401  (registers the recipes)
from trustlab.errors import ConfigError, DataError
from trustlab.recipes import run_recipe
from trustlab.registry import RECIPES


def _run(recipe: str, overrides: dict, tmp_path: Path, tiny: bool = True):
    rec = run_recipe(recipe, overrides={**(RECIPES.get(recipe).tiny if tiny else {}), **overrides},
                     runs_root=tmp_path / "runs", quiet=True)
    assert rec.done
    return rec, rec.summary()


def test_every_ood_recipe_has_tiny_overrides_tested_here():
    names = {n for n in RECIPES.names() if n.startswith("ood/")}
    assert names == {"ood/ad", "ood/nd", "ood/osr", "ood/ood", "ood/od", "ood/folder"}
    assert all(RECIPES.get(n).tiny for n in names)


def test_nd_and_osr(tmp_path):
    _, nd = _run("ood/nd", {}, tmp_path)
    assert nd["known_classes"] == "0, 1, 2" and set(nd["leaderboard"]) == {"msp", "mds", "energy"}
    assert nd["aps"] and nd["aps_choice"]["energy"]["searched"] == 1  # OpenOOD's EBO sweep is [1]
    assert nd["aps_choice"]["mds"]["searched"] == 0 and 0 <= nd["aps_choice"]["mds"]["val_auroc"] <= 1
    _, wide = _run("ood/nd", {"detectors.grid": "wide"}, tmp_path)
    assert wide["aps_choice"]["energy"]["searched"] == 4
    rec, osr = _run("ood/osr", {"split.figures": False}, tmp_path)
    assert osr["splits"] == 2 and len(osr["per_split"]) == 2
    for row in osr["leaderboard"].values():
        assert 0 <= row["oscr"] <= osr["closed_set_acc"] + 1e-9 + row["oscr_std"] * 3 and 0 <= row["auroc"] <= 1
    assert (rec.path / "artifacts" / "scores_split1.npz").is_file()


def test_ad_and_od(tmp_path):
    rec, ad = _run("ood/ad", {"ad.figures": True}, tmp_path)
    assert set(ad["mean_auroc"]) == {"iforest", "lof", "ocsvm", "knn", "deep_svdd"}
    assert set(ad["auroc_per_class"]["knn"]) == {"0", "1", "mean", "std"}
    assert (rec.path / "artifacts" / "hist" / "class0_knn.png").is_file()
    _, od = _run("ood/od", {}, tmp_path)
    assert od["outliers"] == 20 and od["best_auroc"] > 0.5 and len(od["leaderboard"]) == 5
    with pytest.raises(ConfigError, match="needs a trained classifier"):
        _run("ood/od", {"detectors.names": ["msp"]}, tmp_path, tiny=False)
    with pytest.raises(ConfigError, match="od.rate must be in"):
        _run("ood/od", {"od.rate": 0.7}, tmp_path)


def _write_images(folder: Path, n: int, colour: tuple[int, int, int], seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = np.clip(np.array(colour) + rng.normal(0, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i}.png")


def test_folder_path(tmp_path):
    for c, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        _write_images(tmp_path / "id" / f"class{c}", 20, colour, c)
    _write_images(tmp_path / "far" / "noise", 15, (128, 128, 128), 9)
    (tmp_path / "empty").mkdir()
    base = {"data.root": str(tmp_path / "id")}
    rec, s = _run("ood/folder", {**base, "ood.far": [str(tmp_path / "far")], "ood.figures": True}, tmp_path)
    assert s["far_sets"] == "far" and set(s["leaderboard"]) == {"msp", "knn", "vim"}
    assert "covariate_s2_acc" in s and (rec.path / "artifacts" / "roc" / "knn.png").is_file()
    with pytest.raises(DataError, match="holds no images"):
        _run("ood/folder", {**base, "ood.far": [str(tmp_path / "empty")]}, tmp_path)
    with pytest.raises(DataError, match="identical to the ID data"):
        _run("ood/folder", {**base, "ood.near": [str(tmp_path / "id" / "class0")]}, tmp_path)
    with pytest.raises(ConfigError, match="needs data.root"):
        _run("ood/folder", {"data.root": "", "ood.far": ["x"]}, tmp_path)
