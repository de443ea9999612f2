"""Detector plumbing and the issue's bad inputs: each is one clear error line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import trustlab.methods  # noqa: F401
from trustlab.errors import ConfigError, DataError
from trustlab.methods.ood import data as D
from trustlab.methods.ood.base import Outputs
from trustlab.methods.ood.class_settings import class_splits
from trustlab.methods.ood.evaluate import EvalSet, aps_search, evaluate, score_set
from trustlab.registry import SCORERS


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg
    return msg


def test_feature_detector_on_a_model_without_features_is_a_clear_error():
    plain = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    loader = DataLoader(TensorDataset(torch.rand(8, 1, 4, 4), torch.zeros(8, dtype=torch.long)), batch_size=4)
    for name in ("knn", "vim", "mds", "react", "ash", "gradnorm"):
        with pytest.raises(ConfigError) as err:
            SCORERS.get(name)().setup(plain, loader)
        assert "does not expose forward(x, return_features=True)" in _one_line(err)
    s = SCORERS.get("msp")().setup(plain, loader).score(torch.rand(5, 1, 4, 4))  # logit-only detectors work
    assert s.shape == (5,)


def test_bad_parameters():
    with pytest.raises(ConfigError, match="knn has no parameter K; its parameters: k$"):
        SCORERS.get("knn")(K=5)
    for name, params in (("knn", {"k": 0}), ("energy", {"temperature": 0}), ("ash", {"percentile": 100}),
                         ("react", {"percentile": 0}), ("odin", {"eps": -1}), ("ocsvm", {"nu": 2})):
        with pytest.raises(ConfigError):
            SCORERS.get(name)(**params)


def test_fit_size_errors():
    f = torch.rand(20, 8)
    out = Outputs(torch.rand(20, 3), f, torch.randint(0, 3, (20,)))
    with pytest.raises(ConfigError, match="k=50 needs at least 50 fit samples"):
        SCORERS.get("knn")().fit(out).score_outputs(out)
    head = nn.Linear(8, 3)

    class M(nn.Module):
        def classifier(self):
            return head

        def forward(self, x, return_features=False):
            raise AssertionError

    with pytest.raises(ConfigError, match="dim=8 must be in"):
        SCORERS.get("vim")(dim=8).fit(out, None, M())
    with pytest.raises(DataError, match="fit set is empty"):
        SCORERS.get("mds")().fit(Outputs(None, torch.zeros(0, 8), torch.zeros(0, dtype=torch.long)))


def test_nan_scores_name_detector_and_set():
    f = torch.rand(30, 4)
    bad = f.clone()
    bad[3, 0] = float("nan")
    det = SCORERS.get("knn")(k=2).fit(Outputs(None, f))
    with pytest.raises(DataError) as err:
        score_set(det, EvalSet("textures", None, Outputs(None, bad)))
    assert "detector knn on 'textures'" in _one_line(err) and "NaN/inf" in str(err.value)


@pytest.mark.parametrize("known,classes,msg", [
    (10, [], "empty unknown side"), (0, [], "empty known side"), (6, list(range(10)), "empty unknown side"),
    (6, [3], ">= 2 known classes"), (6, [0, 11], "outside 0..9"),
])
def test_class_split_with_an_empty_side(known, classes, msg):
    with pytest.raises(ConfigError) as err:
        class_splits(10, known, 3, classes, 0)
    assert msg in _one_line(err)


def test_class_splits_are_seeded_and_disjoint():
    a = class_splits(10, 6, 3, [], 0)
    assert a == class_splits(10, 6, 3, [], 0) and len(a) == 3 and all(len(k) == 6 for k in a)


def test_empty_or_id_identical_ood_set():
    ids = np.random.default_rng(0).integers(0, 255, (50, 32, 32), dtype=np.uint8)
    hashes = D.image_hashes(ids)
    with pytest.raises(DataError) as err:
        D.check_not_id("copy", ids[:20].copy(), hashes)
    assert "identical to the ID data (20 of 20" in _one_line(err)
    with pytest.raises(DataError, match="OOD set 'none' is empty"):
        D.check_not_id("none", ids[:0], hashes)
    with pytest.raises(DataError, match="set 'e' is empty"):
        EvalSet.build("e", None, torch.zeros(0, 1, 4, 4))
    D.check_not_id("other", np.zeros((5, 32, 32), np.uint8), hashes)  # different images pass


def test_corruption_and_source_errors():
    with pytest.raises(ConfigError, match="severity must be in 1..5"):
        D.corrupt(np.zeros((2, 32, 32), np.uint8), severity=7)
    with pytest.raises(DataError, match="at least 32x32"):
        D.corrupt(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ConfigError, match="unknown OOD source 'svhn'"):
        D.load_source("svhn")
    with pytest.raises(ConfigError, match="use auto, fashion-mnist or mnist5k"):
        D.resolve_id_name("cifar10")


def test_corrupt_is_seeded_and_keeps_numpy_rng():
    x = np.random.default_rng(0).integers(0, 255, (len(D.COVARIATE), 32, 32), dtype=np.uint8)
    np.random.seed(123)
    a, kinds = D.corrupt(x, 2, seed=1)
    after = np.random.rand()
    np.random.seed(123)
    b, _ = D.corrupt(x, 2, seed=1)
    assert np.array_equal(a, b) and np.random.rand() == after and kinds[0] == D.COVARIATE[0]


def test_aps_picks_the_grid_point_that_separates_val_sets():
    # ID-val: high mean logit, low max; OOD-val: one large logit. Max-like (T=1) ranks OOD higher;
    # mean-like (large T) separates them, so APS must pick a large temperature.
    g = torch.Generator().manual_seed(0)
    idv = Outputs(torch.full((40, 10), 3.0) + 0.1 * torch.randn(40, 10, generator=g), None)
    big_one = torch.cat([torch.full((40, 1), 6.0), torch.zeros(40, 9)], 1)
    oodv = Outputs(big_one + 0.1 * torch.randn(40, 10, generator=g), None)
    det = SCORERS.get("energy")().use_grid("wide")  # the reference grid is [1]; the wide one 1..1000
    choice = aps_search(det, None, idv, EvalSet("id_val", None, idv), EvalSet("ood_val", None, oodv))
    assert choice["temperature"] > 1 and choice["val_auroc"] > 0.9 and choice["searched"] == 4
    assert det.params["temperature"] == choice["temperature"]  # left fitted with the choice
    det.set_params(temperature=1.0)
    assert score_set(det, EvalSet("i", None, idv)).mean() < score_set(det, EvalSet("o", None, oodv)).mean()


def test_evaluate_rejects_duplicate_set_names_and_empty_detector_list():
    s = EvalSet("a", None, Outputs(torch.rand(5, 3), None))
    with pytest.raises(ConfigError, match="unique"):
        evaluate(["msp"], None, s.outputs, s, {"near": [s]})
    with pytest.raises(ConfigError, match="no detectors"):
        evaluate([], None, s.outputs, s, {"near": []})


def test_claim_scales_resolve_to_valid_configs():
    from trustlab.methods.ood.claims import SCALE
    from trustlab.registry import CLAIMS, RECIPES

    assert {c for c in CLAIMS.names() if c.startswith("ood/")} == {
        "ood/feature-beats-msp-far", "ood/covariate-between", "ood/osr-better-classifier"}
    for suite, scale in SCALE.items():
        assert suite in ("smoke", "demo", "quick", "full")
        assert len(scale["seeds"]) >= (3 if suite != "smoke" else 1), suite  # the paired rule needs >= 3
        for s in scale["seeds"]:
            RECIPES.get("ood/ood").config(None, {"train.seed": s, **scale["ood"]})
        if suite in CLAIMS.get("ood/osr-better-classifier").suites:
            for side in ("weak", "strong"):
                cfg = RECIPES.get("ood/osr").config(None, {**scale["osr"], **scale[side]})
                assert cfg.split.splits >= (3 if suite != "smoke" else 1), suite
