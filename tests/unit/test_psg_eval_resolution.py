"""PSG scoring at each image's own size (OpenPSG): a small thing that vanishes in the models' resize is a miss,
not a relation taken out of the ground truth; ``data.eval_resolution=image_size`` is the speed option that
drops them and says how many."""

from __future__ import annotations

import numpy as np
import pytest

from trustlab.methods.psg.config import PSGDataConfig
from trustlab.methods.psg.data import PanopticMasks, load_splits, upsample_masks
from trustlab.methods.psg.evaluation import evaluate_preds
from trustlab.methods.psg.format import PSGData, PSGScene
from trustlab.metrics.psg import ScenePred

H, W = 240, 320  # a 4:3 image, resized to 64 x 64 for the models
# rows 190..192 and columns 208..211 hold no sample of PIL's nearest 240 -> 64 / 320 -> 64 resize
BALL = (slice(190, 193), slice(208, 212))


def _scene(k: int) -> PSGScene:
    pan = np.ones((H, W), np.int64)  # grass (stuff)
    pan[60:180, 30 + 10 * k : 110 + 10 * k] = 2  # a person, large
    pan[BALL] = 3  # a 3 x 4 px ball
    rng = np.random.default_rng(k)
    img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    segs = [{"id": 1, "category_id": 2, "iscrowd": 0, "isthing": 0, "area": 0},
            {"id": 2, "category_id": 0, "iscrowd": 0, "isthing": 1, "area": 0},
            {"id": 3, "category_id": 1, "iscrowd": 0, "isthing": 1, "area": 0}]
    rels = np.array([[1, 0, 0], [2, 0, 0], [1, 2, 1]])  # person on grass, ball on grass, person holding ball
    return PSGScene(k, f"images/{k}.png", img, pan, segs, rels)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from tests.unit.openpsg_fixture import write_openpsg

    data = PSGData("small-things", ["person", "ball"], ["grass"], ["on", "holding"],
                   {"train": [_scene(0), _scene(1)], "val": [], "test": [_scene(2), _scene(3)]})
    root = tmp_path_factory.mktemp("psg") / "root"
    write_openpsg(root, data)
    return root


def _oracle_at_model_size(ev, i: int) -> ScenePred:
    """Every relation the model could see, with the exact masks of its 64 x 64 view: the best a model that
    works on the squares (and so misses the ball) can do."""
    rels = ev.rels[i]
    return ScenePred(ev.masks[i], ev.labels[i], rels, np.linspace(1, 0.5, len(rels)))


def test_vanished_small_things_are_misses_at_the_original_resolution(root):
    _, sp = load_splits(PSGDataConfig(name="psg", root=str(root), image_size=64))
    ev = sp["test"]
    assert [k.tolist() for k in ev.kept] == [[True, True, False]] * 2  # the ball vanished in both test images
    gts = [ev.gt(i) for i in range(len(ev))]
    assert np.shape(gts[0].masks) == (3, H, W) and len(gts[0].relations) == 3
    preds = [_oracle_at_model_size(ev, i) for i in range(len(ev))]
    r = evaluate_preds(gts, preds, preds, 2)
    assert r["R@20"] == pytest.approx(1 / 3) and r["ngR@100"] == pytest.approx(1 / 3)
    assert r["per_predicate@50"][1] == 0.0  # "holding" (the ball) is never found
    assert ev.relation_counts() == {"relations": 6, "relations_dropped": 0, "relations_vanished": 4}
    # a model that finds the ball, with masks at the original size, scores every relation
    full = [ScenePred(np.asarray(g.masks), g.labels, g.relations, np.ones(3)) for g in gts]
    assert evaluate_preds(gts, full, None, 2)["R@20"] == 1.0


def test_small_square_mode_drops_the_relations_and_reports_how_many(root):
    _, sp = load_splits(PSGDataConfig(name="psg", root=str(root), image_size=64, eval_resolution="image_size"))
    ev = sp["test"]
    preds = [_oracle_at_model_size(ev, i) for i in range(len(ev))]
    assert evaluate_preds([ev.gt(i) for i in range(len(ev))], preds, None, 2)["R@20"] == 1.0  # looks perfect
    assert ev.relation_counts() == {"relations": 2, "relations_dropped": 4, "relations_vanished": 4}


def test_two_stage_run_reports_the_counts_and_loses_the_small_things(root, tmp_path):
    from trustlab.recipes import run_recipe

    tiny = {"data.name": "psg", "data.root": str(root), "method.seg_epochs": 1, "method.rel_epochs": 1,
            "method.figures": False}
    rec = run_recipe("psg/two-stage", overrides=tiny, runs_root=tmp_path, quiet=True)
    s = rec.summary()
    assert s["eval_resolution"] == "original"
    assert (s["test_relations"], s["test_relations_dropped"], s["test_relations_vanished"]) == (6, 0, 4)
    assert s["test_predcls"]["R@100"] <= 1 / 3 + 1e-9  # PredCls cannot recover what it was never shown
    rec = run_recipe("psg/two-stage", overrides={**tiny, "data.eval_resolution": "image_size"}, runs_root=tmp_path,
                     quiet=True)
    s = rec.summary()
    assert (s["test_relations"], s["test_relations_dropped"], s["test_relations_vanished"]) == (2, 4, 4)


def test_upsampling_and_lazy_masks():
    m = np.zeros((1, 2, 2), bool)
    m[0, 0, 1] = True
    up = upsample_masks(m, (4, 6))
    assert up.shape == (1, 4, 6) and up[0, :2, 3:].all() and up.sum() == 6
    pan = np.array([[1, 2], [2, 0]])
    pm = PanopticMasks(pan, np.array([2, 1]))
    assert len(pm) == 2 and pm.shape == (2, 2, 2) and np.asarray(pm)[0].sum() == 2 and pm[1][0, 0]


def test_bad_eval_resolution_is_one_line():
    from trustlab.errors import ConfigError

    with pytest.raises(ConfigError, match="data.eval_resolution 'full' is not one of original, image_size"):
        load_splits(PSGDataConfig(eval_resolution="full"))
