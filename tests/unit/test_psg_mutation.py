"""trustlab.metrics.psg cases that mutation testing (scripts/mutation.py) showed untested: PQ counted by hand
(the strict IoU > 0.5, void pixels, mostly-void segments), triplet ranking ties and cuts, and the edges of
matching, overlap resolution and panoptic maps."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from trustlab.metrics import psg
from trustlab.metrics.psg import (
    SceneGT,
    ScenePred,
    mask_iou,
    masks_to_panoptic,
    match_triplets,
    pq_compute,
    pq_update,
    resolve_overlaps,
    triplet_recall,
    triplets_from_pairs,
)


def _row(*vals):
    return np.array([vals])


def test_pq_by_hand_on_a_strip():
    gt_cat, gt_inst = _row(0, 0, 0, 0, 1, 1, 1, 1), _row(1, 1, 1, 1, 0, 0, 0, 0)
    pr_cat, pr_inst = _row(0, 0, 0, -1, 1, 1, 2, 2), _row(1, 1, 1, 0, 0, 0, 0, 0)
    st = pq_update(pr_cat, pr_inst, gt_cat, gt_inst, 3)
    # cat 0: IoU 3/3 (the pixel void in the prediction leaves the union); cat 1: IoU 2/4 = 0.5 is not a match
    assert st["iou"].tolist() == [1.0, 0.0, 0.0] and st["tp"].tolist() == [1, 0, 0]
    assert st["fp"].tolist() == [0, 1, 1] and st["fn"].tolist() == [0, 1, 0]
    out = pq_compute(st)
    assert out == {"PQ": pytest.approx(1 / 3), "SQ": pytest.approx(1 / 3), "RQ": pytest.approx(1 / 3)}
    # stats accumulate over images
    st2 = pq_update(pr_cat, pr_inst, gt_cat, gt_inst, 3, {k: v.copy() for k, v in st.items()})
    assert st2["tp"].tolist() == [2, 0, 0] and st2["fp"].tolist() == [0, 2, 2] and st2["iou"][0] == 2.0


def test_pq_iou_just_above_half_and_instances():
    gt_cat, gt_inst = _row(1, 1, 1, 1, 1, 1), _row(0, 0, 0, 0, 0, 0)
    pr_cat, pr_inst = _row(1, 1, 1, 1, 0, 0), _row(0, 0, 0, 0, 0, 0)
    st = pq_update(pr_cat, pr_inst, gt_cat, gt_inst, 2)  # IoU 4 / 6 > 0.5
    assert st["tp"].tolist() == [0, 1] and st["iou"][1] == pytest.approx(4 / 6)
    assert st["fp"].tolist() == [1, 0] and st["fn"].tolist() == [0, 0]
    # same category, different instances: two segments
    st = pq_update(_row(0, 0, 0, 0), _row(1, 1, 2, 2), _row(0, 0, 0, 0), _row(1, 1, 2, 2), 1)
    assert st["tp"].tolist() == [2] and st["iou"].tolist() == [2.0]
    assert pq_compute(st) == {"PQ": 1.0, "SQ": 1.0, "RQ": 1.0}


def test_mostly_void_segments_are_not_counted():
    # the prediction's segment lies 3/4 on pixels the ground truth leaves void: not a false positive
    st = pq_update(_row(2, 2, 2, 2), _row(0, 0, 0, 0), _row(-1, -1, -1, 0), _row(0, 0, 0, 0), 3)
    assert st["fp"].tolist() == [0, 0, 0] and st["fn"].tolist() == [1, 0, 0]
    # half on void is still counted (<= 0.5)
    st = pq_update(_row(2, 2, 2, 2), _row(0, 0, 0, 0), _row(-1, -1, 0, 0), _row(0, 0, 0, 0), 3)
    assert st["fp"].tolist() == [0, 0, 1]
    # a ground-truth segment the prediction leaves 3/4 void: not a false negative; half void: counted
    st = pq_update(_row(-1, -1, -1, 0), _row(0, 0, 0, 0), _row(2, 2, 2, 2), _row(0, 0, 0, 0), 3)
    assert st["fn"].tolist() == [0, 0, 0] and st["fp"].tolist() == [1, 0, 0]
    st = pq_update(_row(-1, -1, 0, 0), _row(0, 0, 0, 0), _row(2, 2, 2, 2), _row(0, 0, 0, 0), 3)
    assert st["fn"].tolist() == [0, 0, 1]


def test_pq_compute_skips_empty_categories_and_all_empty_is_nan():
    st = {"iou": np.array([0.8, 0.0, 0.0]), "tp": np.array([1.0, 0.0, 0.0]), "fp": np.array([1.0, 0.0, 2.0]),
          "fn": np.array([0.0, 0.0, 0.0])}
    out = pq_compute(st)  # category 1 has nothing and is left out; category 2 only false positives
    assert out["SQ"] == pytest.approx(0.4) and out["RQ"] == pytest.approx((1 / 1.5 + 0.0) / 2)
    assert out["PQ"] == pytest.approx(0.8 / 1.5 / 2)
    zero = {k: np.zeros(2) for k in ("iou", "tp", "fp", "fn")}
    assert all(math.isnan(v) for v in pq_compute(zero).values()) and set(pq_compute(zero)) == {"PQ", "SQ", "RQ"}


def test_segments_index_void_and_areas():
    idx, info, area = psg._segments(np.array([3, -1, 3, 0, 0, 3]), np.array([7, 0, 7, 1, 2, 7]))
    assert idx.tolist() == [2, -1, 2, 0, 1, 2]
    assert info == {0: (0, 1), 1: (0, 2), 2: (3, 7)} and area.tolist() == [1, 1, 3]


def test_masks_to_panoptic():
    m = np.zeros((2, 2, 3), bool)
    m[0, 0, :2] = True
    m[1, 1, 1:] = True
    cat, inst = masks_to_panoptic(m, [4, 7])
    assert cat.tolist() == [[4, 4, -1], [-1, 7, 7]] and inst.tolist() == [[1, 1, 0], [0, 2, 2]]
    cat, inst = masks_to_panoptic(np.zeros((0, 2, 3), bool), [], shape=(2, 3))
    assert cat.shape == (2, 3) and (cat == -1).all() and (inst == 0).all() and cat.dtype == np.int64


def test_triplets_ranked_stably_cut_and_weighted():
    pairs = np.array([[0, 1], [1, 2], [2, 0]])
    probs = np.array([[0.2, 0.5], [0.5, 0.1], [0.3, 0.3]])
    t, s = triplets_from_pairs(pairs, probs)  # equal best scores keep the pair order
    assert t.tolist() == [[0, 1, 1], [1, 2, 0], [2, 0, 0]] and s.tolist() == [0.5, 0.5, 0.3]
    t, s = triplets_from_pairs(pairs, probs, max_triplets=2)
    assert len(t) == 2 and s.tolist() == [0.5, 0.5]
    t, s = triplets_from_pairs(pairs, probs, graph_constraint=False, max_triplets=4)
    assert t.tolist() == [[0, 1, 1], [1, 2, 0], [2, 0, 0], [2, 0, 1]] and s.tolist() == [0.5, 0.5, 0.3, 0.3]
    t, s = triplets_from_pairs(pairs, probs, obj_scores=np.array([1.0, 0.5, 2.0]))
    assert t.tolist() == [[2, 0, 0], [1, 2, 0], [0, 1, 1]] and s.tolist() == pytest.approx([0.6, 0.5, 0.25])
    t, s = triplets_from_pairs([], [])
    assert t.dtype == np.int64 and t.shape == (0, 3) and s.shape == (0,)


def test_overlaps_iou_and_matching_edges():
    assert resolve_overlaps(np.zeros((0, 2, 2), bool), np.zeros(0)).shape == (0, 2, 2)
    a = np.array([[[1, 1], [0, 0]], [[0, 1], [1, 0]]], bool)
    r = resolve_overlaps(a, [0.2, 0.9])
    assert r.tolist() == [[[True, False], [False, False]], [[False, True], [True, False]]]
    assert mask_iou(np.zeros((0, 2, 2), bool), a).shape == (0, 2) and mask_iou(a, a[:0]).shape == (2, 0)
    gt = SceneGT(a, np.array([0, 1]), np.array([[0, 1, 2], [0, 1, 2], [1, 0, 0]]))
    p = ScenePred(a, np.array([0, 1]), np.array([[1, 0, 0], [0, 1, 2]]), np.array([0.5, 0.4]))
    rels, m = match_triplets(gt, p)
    assert rels.tolist() == [[0, 1, 2], [1, 0, 0]] and m.tolist() == [[False, True], [True, False]]
    rels, m = match_triplets(gt, ScenePred(a, np.array([0, 1]), np.zeros((0, 3), int), np.zeros(0)))
    assert m.shape == (0, 2)
    rels, m = match_triplets(gt, p, iou_thr=1.01)  # nothing reaches an IoU above 1
    assert not m.any()


def test_triplet_recall_options_are_checked():
    a = np.ones((1, 2, 2), bool)
    gt = SceneGT(a, np.array([0]), np.array([[0, 0, 1]]))
    p = ScenePred(a, np.array([0]), np.array([[0, 0, 1]]), np.array([1.0]))
    with pytest.raises(ValueError, match="^absent must be 'zero' or 'skip'$"):
        triplet_recall([gt], [p], 2, absent="nan")
    with pytest.raises(ValueError, match="^1 ground truths but 2 predictions$"):
        triplet_recall([gt], [p, p], 2)
    r = triplet_recall([gt], [p], 2, ks=(1,))
    assert r["R@1"] == 1.0 and r["mR@1"] == 0.5 and r["images"] == 1  # predicate 0 absent counts 0
    assert triplet_recall([gt], [p], 2, ks=(1,), absent="skip")["mR@1"] == 1.0
    none = triplet_recall([SceneGT(a, np.array([0]), np.zeros((0, 3), int))], [p], 2, ks=(5,))
    assert none["images"] == 0 and math.isnan(none["R@5"]) and none["mR@5"] == 0.0  # every predicate absent: 0
    assert triplet_recall([gt], [p], 2, ks=(1,), overlaps="resolve")["R@1"] == 1.0
    empty = ScenePred(np.zeros((0, 2, 2), bool), np.zeros(0, int), np.zeros((0, 3), int), np.zeros(0))
    assert triplet_recall([gt], [empty], 2, ks=(1,), overlaps="resolve")["R@1"] == 0.0


def _scene(n_masks=2):
    a = np.zeros((n_masks, 2, 2), bool)
    a[0, 0] = True
    a[1, 1] = True
    return a


def test_ranking_ties_keep_the_listed_order_and_images_without_relations_anywhere():
    masks = _scene()
    gt = SceneGT(masks, np.array([0, 1]), np.array([[0, 1, 0]]))
    tie = [1, 1, 2, 2, 1, 1, 1, 2, 0, 1, 0, 1, 2, 1, 1, 2, 1, 2, 0, 1]  # scores with ties (20 triplets)
    trip = np.array([[1, 0, 0]] * 20)
    trip[2] = [0, 1, 0]  # the first listed of the top score (2) is the match
    p = ScenePred(masks, np.array([0, 1]), trip, np.array(tie, float))
    assert triplet_recall([gt], [p], 1, ks=(1,))["R@1"] == 1.0
    none = SceneGT(masks, np.array([0, 1]), np.zeros((0, 3), int))
    r = triplet_recall([none, gt], [p, p], 1, ks=(1,))  # an image without relations first is skipped, not the end
    assert r["images"] == 1 and r["R@1"] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no mean of an empty list
        r = triplet_recall([none], [p], 2, ks=(1,), absent="skip")
    assert r["images"] == 0 and math.isnan(r["R@1"]) and math.isnan(r["mR@1"])
    assert all(math.isnan(v) for v in r["per_predicate@1"])


def test_iou_threshold_reaches_matching_and_the_object_edge():
    masks = np.zeros((2, 1, 4), bool)
    masks[0, 0, :2] = True
    masks[1, 0, 2:] = True
    gt = SceneGT(masks, np.array([0, 1]), np.array([[0, 1, 0]]))
    half = masks.copy()
    half[1, 0, 3] = False  # object IoU exactly 0.5: matches (>=)
    p = ScenePred(half, np.array([0, 1]), np.array([[0, 1, 0]]), np.array([1.0]))
    assert triplet_recall([gt], [p], 1, ks=(1,))["R@1"] == 1.0
    assert triplet_recall([gt], [p], 1, ks=(1,), iou_thr=0.6)["R@1"] == 0.0
    low = masks.copy()
    low[0, 0, 1] = False  # subject IoU 0.5 too
    low[1, 0, 3] = False
    assert triplet_recall([gt], [ScenePred(low, np.array([0, 1]), np.array([[0, 1, 0]]), np.array([1.0]))], 1,
                          ks=(1,), iou_thr=0.4)["R@1"] == 1.0
    rels, m = match_triplets(gt, ScenePred(masks, np.array([0, 1]), np.zeros((0, 3), int), np.zeros(0)))
    assert m.dtype == bool


def test_pq_union_leaves_out_void_on_either_side_and_counts_repeats():
    # pred segment 0 spills onto 2 gt-void pixels: they leave its area for the union (IoU 2/2, not 2/4)
    st = pq_update(_row(0, 0, 0, 0), _row(1, 1, 1, 1), _row(0, 0, -1, -1), _row(1, 1, 0, 0), 1)
    assert st["tp"].tolist() == [1] and st["iou"].tolist() == [1.0]
    # one-pixel segments match (union 1)
    st = pq_update(_row(0, 1), _row(1, 1), _row(0, 1), _row(1, 1), 2)
    assert st["tp"].tolist() == [1, 1] and st["iou"].tolist() == [1.0, 1.0]
    # two unmatched gt segments of one category are two false negatives
    st = pq_update(_row(0, 0, 0, 0), _row(1, 1, 1, 1), _row(1, 1, 1, 1), _row(1, 1, 2, 2), 2)
    assert st["fn"].tolist() == [0, 2] and st["fp"].tolist() == [1, 0]
    # PQ with a matched category that also has a false negative: RQ = 1 / (1 + 0.5)
    stats = {"iou": np.array([0.9]), "tp": np.array([1.0]), "fp": np.array([0.0]), "fn": np.array([1.0])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = pq_compute(stats)
        pq_compute({k: np.r_[v, 0.0] for k, v in stats.items()})  # an empty category: no 0/0
    assert out["RQ"] == pytest.approx(1 / 1.5) and out["PQ"] == pytest.approx(0.9 / 1.5)


def test_panoptic_maps_from_integer_masks_and_empty_lists():
    m = np.zeros((2, 2, 3), int)
    m[0, 0, :2] = 1
    m[1, 1, 1:] = 1
    cat, inst = masks_to_panoptic(m, [4, 7])
    assert cat.tolist() == [[4, 4, -1], [-1, 7, 7]] and inst.tolist() == [[1, 1, 0], [0, 2, 2]]
    assert inst.dtype == np.int64
    cat, inst = masks_to_panoptic([], [], shape=(2, 3))
    assert cat.shape == inst.shape == (2, 3) and inst.dtype == np.int64


def test_triplet_defaults_and_weights_without_the_constraint():
    pairs = np.array([[i, i + 1] for i in range(120)])
    t, s = triplets_from_pairs(pairs, np.linspace(0.1, 0.9, 120)[:, None])
    assert len(t) == 100  # the default cut
    t, s = triplets_from_pairs(np.array([[0.0, 1.0]]), np.array([[0.5, 0.2]]), np.array([0.5, 0.8]),
                               graph_constraint=False)
    assert t.dtype == np.int64 and t.tolist() == [[0, 1, 0], [0, 1, 1]] and s.tolist() == pytest.approx([0.2, 0.08])
