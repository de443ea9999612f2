"""PMT-IQA data pieces: distortions, proxy MOS, splits by content, quality levels, loss schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trustlab.errors import DataError
from trustlab.methods.pmtiqa.data import combine_proxy, proxy_metrics, split_by_group
from trustlab.methods.pmtiqa.distortions import DISTORTIONS, LEVELS
from trustlab.methods.pmtiqa.method import SCHEDULES, PatchDataset, quality_levels


def _photo() -> np.ndarray:
    import skimage.data
    from PIL import Image

    return np.asarray(Image.fromarray(skimage.data.astronaut()).resize((64, 64), Image.LANCZOS))


@pytest.mark.parametrize("name", DISTORTIONS.names())
def test_every_distortion_changes_more_as_the_level_rises(name: str) -> None:
    img = _photo()
    fn = DISTORTIONS.get(name)
    errs = []
    for lv in range(1, LEVELS + 1):
        out = fn(img, lv, np.random.default_rng(0))
        assert out.shape == img.shape and out.dtype == np.uint8
        errs.append(np.abs(out.astype(float) - img).mean())
    assert errs[0] > 0.5, f"{name} level 1 leaves the image unchanged"
    assert errs[-1] > errs[0], f"{name}: level 5 is not stronger than level 1 ({errs})"



@pytest.mark.parametrize("name", DISTORTIONS.names())
def test_every_distortion_is_a_function_of_its_rng(name: str) -> None:
    """Same image, level and rng seed -> the same output, whatever else drew random numbers in between
    (impulse noise once drew fresh OS entropy, so two builds of iqa-distort differed)."""
    img, fn = _photo(), DISTORTIONS.get(name)
    a = fn(img, 3, np.random.default_rng(7))
    np.random.seed(123)  # the global RNG state must not matter either
    b = fn(img, 3, np.random.default_rng(7))
    assert np.array_equal(a, b), f"{name} is not reproducible from its rng"

def test_proxy_mos_falls_with_the_level_and_is_oriented_higher_better() -> None:
    img = _photo()
    dist = np.stack([DISTORTIONS.get("white_noise")(img, lv, np.random.default_rng(0)) for lv in (1, 3, 5)])
    m = proxy_metrics(dist, np.stack([img] * 3))
    assert m["ms_ssim"][0] > m["ms_ssim"][2] and m["gmsd"][0] < m["gmsd"][2]  # gmsd: a deviation
    mos = combine_proxy(m)
    assert mos[0] > mos[1] > mos[2] and mos.min() >= 0 and mos.max() <= 100


def test_split_by_group_keeps_each_content_in_one_split() -> None:
    groups = np.repeat(np.arange(20), 7)
    parts = split_by_group(groups, seed=3, val_fraction=0.15, test_fraction=0.2)
    seen = [set(groups[v]) for v in parts.values()]
    assert sum(len(s) for s in seen) == 20 and not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert sorted(np.concatenate(list(parts.values()))) == list(range(len(groups)))
    other = split_by_group(groups, seed=4)
    assert set(groups[other["test"]]) != set(groups[parts["test"]])  # the seed picks another split
    with pytest.raises(DataError, match="too few"):
        split_by_group(np.array([0, 0, 1]), seed=0)


def test_quality_levels_are_uniform_bins() -> None:
    assert quality_levels(np.array([0.0, 0.05, 0.1, 0.55, 0.999, 1.0]), 10).tolist() == [0, 0, 1, 5, 9, 9]


def test_schedules() -> None:
    assert SCHEDULES.get("progressive")(0, 5) == (0.0, 1.0)
    assert SCHEDULES.get("progressive")(4, 5) == (1.0, 0.0)
    assert SCHEDULES.get("progressive")(2, 5) == (0.5, 0.5)
    assert SCHEDULES.get("progressive")(0, 1) == (1.0, 0.0)  # one epoch: regression only
    assert SCHEDULES.get("regression")(3, 5) == (1.0, 0.0)
    assert SCHEDULES.get("constant")(3, 5) == (1.0, 1.0)
    assert SCHEDULES.get("reverse")(0, 5) == (1.0, 0.0)
    assert set(SCHEDULES.names()) == {"progressive", "regression", "constant", "reverse"}


def test_patch_dataset_crops_and_rejects_small_images() -> None:
    imgs = [torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8) for _ in range(3)]
    ds = PatchDataset(imgs, np.array([0.1, 0.5, 0.95]), 10, patch=32, patches=2)
    assert len(ds) == 6
    x, q, lv = ds[4]
    assert x.shape == (3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert float(q) == pytest.approx(0.5) and int(lv) == 5
    with pytest.raises(DataError, match="smaller than method.patch_size"):
        PatchDataset([torch.zeros(3, 20, 64, dtype=torch.uint8)], np.array([0.5]), 10, patch=32)


def test_kfold_by_group_rejects_bad_fold_settings() -> None:
    from trustlab.methods.pmtiqa.data import kfold_by_group

    groups = np.repeat(np.arange(6), 2)
    for folds, fold, match in ((2, 0, "at least 3 folds"), (7, 0, "more than the 6"), (3, 3, "outside 0..2")):
        with pytest.raises(DataError, match=match):
            kfold_by_group(groups, folds, fold, seed=0)


def test_data_types_and_folds_select_what_the_claims_run_on() -> None:
    from trustlab.errors import ConfigError
    from trustlab.methods.pmtiqa.config import PMTRecipeConfig
    from trustlab.methods.pmtiqa.run import load_data

    cfg = PMTRecipeConfig()
    cfg.data.types, cfg.data.folds, cfg.data.fold = ["jpeg", "white_noise"], 7, 6
    data, parts = load_data(cfg)
    names = data.info["type_names"]
    assert {names[t] for t in np.unique(data.info["dtype"])} == {"jpeg", "white_noise"}
    assert len(data) == 63 * 2 * LEVELS and len(np.unique(data.groups[parts["test"]])) == 3
    cfg.data.types = ["jpg"]
    with pytest.raises(ConfigError, match="data.types: unknown type 'jpg'"):
        load_data(cfg)


def test_score_types_restrict_the_correlations_to_those_types() -> None:
    """``data.score_types``: correlations over the images of those types only (what the comparisons against SS-ST
    are scored on); the predictions, and so training and per_type, cover every image."""
    from types import SimpleNamespace

    from trustlab.errors import ConfigError
    from trustlab.methods.pmtiqa.config import PMTRecipeConfig
    from trustlab.methods.pmtiqa.run import load_data, scored

    info = {"type_names": ["a", "b", "c"], "dtype": np.array([0, 1, 2, 0, 1, 2])}
    data = SimpleNamespace(info=info)
    idx = np.array([5, 0, 1, 3])
    assert scored(data, idx, []).tolist() == [True] * 4
    assert scored(data, idx, ["a", "c"]).tolist() == [True, True, False, True]
    cfg = PMTRecipeConfig()
    cfg.data.score_types = ["jpg"]
    with pytest.raises(ConfigError, match="data.score_types: unknown type 'jpg'"):
        load_data(cfg)
    cfg.data.score_types, cfg.data.name, cfg.data.meta, cfg.data.root = ["jpeg"], "csv", "x.csv", "."
    with pytest.raises(ConfigError, match="data.score_types need the embedded"):
        load_data(cfg)
