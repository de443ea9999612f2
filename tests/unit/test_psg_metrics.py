"""PSG metrics on hand-made cases: triplet matching, R@K / mR@K, graph constraint, overlapping masks, PQ parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trustlab.metrics.psg import (
    SceneGT,
    ScenePred,
    mask_iou,
    masks_to_panoptic,
    pq_compute,
    pq_update,
    resolve_overlaps,
    triplet_recall,
    triplets_from_pairs,
)


def block(x0: int, x1: int, y0: int = 0, y1: int = 4, h: int = 8, w: int = 8) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


A, B, G = block(0, 4), block(4, 8), block(0, 8, 4, 8)  # two things side by side, stuff below
GT = SceneGT(np.stack([A, B, G]), np.array([0, 1, 5]), np.array([[0, 2, 0], [1, 2, 0], [0, 1, 2]]))


def pred(masks, labels, triplets, scores) -> ScenePred:
    trip = np.asarray(triplets).reshape(-1, 3)
    return ScenePred(np.stack(masks), np.asarray(labels), trip, np.asarray(scores, float))


def test_recall_at_k_by_hand():
    p = pred([A, B, G], [0, 1, 5], [[0, 1, 2], [2, 0, 0], [0, 2, 0], [1, 2, 0]], [0.9, 0.8, 0.7, 0.1])
    r = triplet_recall([GT], [p], num_predicates=3, ks=(1, 2, 3, 4))
    # rank 1 hits (0,1,2); rank 2 is a wrong direction; rank 3 hits (0,2,0); rank 4 hits (1,2,0)
    assert [r[f"R@{k}"] for k in (1, 2, 3, 4)] == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1.0])
    # per predicate @3: predicate 0 has 1 of 2, predicate 2 has 1 of 1, predicate 1 absent (counts 0)
    assert r["per_predicate@3"][0] == 0.5 and r["per_predicate@3"][2] == 1.0 and np.isnan(r["per_predicate@3"][1])
    assert r["mR@3"] == pytest.approx((0.5 + 0 + 1.0) / 3)
    skip = triplet_recall([GT], [p], num_predicates=3, ks=(3,), absent="skip")
    assert skip["mR@3"] == pytest.approx(0.75)


def test_ranking_uses_scores_not_order():
    p = pred([A, B, G], [0, 1, 5], [[2, 0, 0], [0, 1, 2]], [0.1, 0.9])
    assert triplet_recall([GT], [p], 3, ks=(1,))["R@1"] == pytest.approx(1 / 3)


def test_iou_threshold_is_inclusive_and_labels_must_agree():
    half = block(0, 2)  # IoU with A = 8 / 16 = 0.5 -> matches (>= 0.5)
    p = pred([half, B, G], [0, 1, 5], [[0, 1, 2]], [1.0])
    assert triplet_recall([GT], [p], 3, ks=(1,))["R@1"] == pytest.approx(1 / 3)
    less = block(0, 2, 0, 3)  # IoU 6 / 16 < 0.5
    p = pred([less, B, G], [0, 1, 5], [[0, 1, 2]], [1.0])
    assert triplet_recall([GT], [p], 3, ks=(1,))["R@1"] == 0.0
    p = pred([A, B, G], [0, 3, 5], [[0, 1, 2]], [1.0])  # wrong object class
    assert triplet_recall([GT], [p], 3, ks=(1,))["R@1"] == 0.0
    p = pred([A, B, G], [0, 1, 5], [[0, 1, 1]], [1.0])  # wrong predicate
    assert triplet_recall([GT], [p], 3, ks=(1,))["R@1"] == 0.0


def test_overlapping_predicted_masks_keep_vs_resolve():
    """A one-stage model's subject mask spills over the object: matched as is, it still has IoU 16/28 with
    the subject; resolved into a panoptic map first, the object keeps only one column and misses."""
    p0 = block(0, 7)  # covers A and most of B
    p = pred([p0, B], [0, 1], [[0, 1, 2]], [1.0])
    gt = SceneGT(np.stack([A, B]), np.array([0, 1]), np.array([[0, 1, 2]]))
    assert triplet_recall([gt], [p], 3, ks=(1,))["R@1"] == 1.0
    assert triplet_recall([gt], [p], 3, ks=(1,), overlaps="resolve")["R@1"] == 0.0
    res = resolve_overlaps(np.stack([p0, B]), np.array([1.0, 0.5]))
    assert not (res[0] & res[1]).any() and res[1].sum() == 4


def test_graph_constraint():
    pairs = np.array([[0, 1]])
    probs = np.array([[0.6, 0.0, 0.4]])
    gt = SceneGT(np.stack([A, B]), np.array([0, 1]), np.array([[0, 1, 0], [0, 1, 2]]))
    t, s = triplets_from_pairs(pairs, probs, graph_constraint=True)
    assert t.tolist() == [[0, 1, 0]] and s.tolist() == [0.6]
    gc = triplet_recall([gt], [ScenePred(gt.masks, gt.labels, t, s)], 3, ks=(20,))
    t2, s2 = triplets_from_pairs(pairs, probs, graph_constraint=False)
    ng = triplet_recall([gt], [ScenePred(gt.masks, gt.labels, t2, s2)], 3, ks=(20,))
    assert gc["R@20"] == 0.5 and ng["R@20"] == 1.0
    t0, s0 = triplets_from_pairs(np.zeros((0, 2), int), np.zeros((0, 3)))  # no segment pairs at all
    assert t0.shape == (0, 3) and s0.shape == (0,)
    # object scores multiply into the triplet score
    t3, s3 = triplets_from_pairs(np.array([[0, 1], [1, 0]]), np.array([[0.5], [0.4]]), np.array([0.1, 1.0]))
    assert t3[0].tolist() == [0, 1, 0] and s3.tolist() == pytest.approx([0.05, 0.04])


def test_duplicates_empty_predictions_and_images_without_relations():
    dup = SceneGT(GT.masks, GT.labels, np.array([[0, 1, 2], [0, 1, 2]]))
    p = pred([A, B, G], [0, 1, 5], [[0, 1, 2]], [1.0])
    assert triplet_recall([dup], [p], 3, ks=(1,))["R@1"] == 1.0  # GT triplets deduplicated
    empty = ScenePred(GT.masks, GT.labels, np.zeros((0, 3), int), np.zeros(0))
    none = SceneGT(GT.masks, GT.labels, np.zeros((0, 3), int))
    r = triplet_recall([GT, dup, none], [empty, p, p], 3, ks=(1,))
    assert r["images"] == 2 and r["R@1"] == 0.5  # empty prediction counts 0; no-relation image skipped
    with pytest.raises(ValueError):
        triplet_recall([GT], [], 3)


def test_mask_iou_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 9, 7)) > 0.5, rng.random((4, 9, 7)) > 0.6
    b[0] = False  # an empty mask: IoU 0
    ref = np.array([[(x & y).sum() / max((x | y).sum(), 1) for y in b] for x in a])
    np.testing.assert_allclose(mask_iou(a, b), ref, atol=1e-12)


def _random_panoptic(rng, h=12, w=12, things=(0, 1, 2), stuffs=(3, 4), void=True):
    cat = rng.choice(list(things) + list(stuffs), size=(h, w))
    inst = np.where(np.isin(cat, things), rng.integers(1, 3, size=(h, w)), 0)
    # blocky segments so that some IoUs exceed 0.5
    cat = np.kron(cat[: h // 3, : w // 3], np.ones((3, 3), int))
    inst = np.kron(inst[: h // 3, : w // 3], np.ones((3, 3), int))
    if void:
        cat[rng.random(cat.shape) < 0.1] = -1
        inst[cat < 0] = 0
    return cat, inst


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pq_parity_with_torchmetrics(seed):
    from torchmetrics.detection import PanopticQuality

    rng = np.random.default_rng(seed)
    things, stuffs = {0, 1, 2}, {3, 4}
    metric = PanopticQuality(things=things, stuffs=stuffs, allow_unknown_preds_category=True)
    stats = None
    for _ in range(4):
        gc, gi = _random_panoptic(rng)
        pc, pi = gc.copy(), gi.copy()
        noise = rng.random(pc.shape) < 0.25  # corrupt a quarter of the pixels
        pc[noise] = rng.choice([0, 1, 2, 3, 4, -1], size=noise.sum())
        pi[noise] = np.where(np.isin(pc[noise], [0, 1, 2]), rng.integers(1, 3, noise.sum()), 0)
        stats = pq_update(pc, pi, gc, gi, 5, stats)

        def tm(c, i):
            return torch.from_numpy(np.stack([np.where(c < 0, 99, c), i], -1))[None]

        metric.update(tm(pc, pi), tm(gc, gi))
    assert pq_compute(stats)["PQ"] == pytest.approx(float(metric.compute()), abs=1e-6)


def test_pq_by_hand():
    cat, inst = masks_to_panoptic(np.stack([A, B, G]), np.array([0, 0, 5]))
    perfect = pq_update(cat, inst, cat, inst, 6)
    assert pq_compute(perfect) == {"PQ": 1.0, "SQ": 1.0, "RQ": 1.0}
    merged_c, merged_i = masks_to_panoptic(np.stack([A | B, G]), np.array([0, 5]))  # two instances merged
    r = pq_compute(pq_update(merged_c, merged_i, cat, inst, 6))
    # class 0: the merged segment has IoU 0.5 with each (not > 0.5): 0 TP, 1 FP, 2 FN -> 0; class 5: 1.0
    assert r["PQ"] == pytest.approx(0.5)
