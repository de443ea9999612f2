"""Panoptic scene graph metrics: triplet recall R@K / mR@K (with and without graph constraint) and PQ.

Triplet recall (OpenPSG ``sgg_eval`` with ``detection_method='pan_seg'``, after Neural-MOTIFS):

* ground truth per image: the unique (subject, object, predicate) relations over its segments;
* a prediction is a **ranked** list of triplets (subject mask + class, predicate, object mask + class);
  it matches a ground-truth triplet when the subject class, object class and predicate are equal and
  **both** the subject and the object mask IoU are >= ``iou_thr`` (0.5);
* R@K of an image: the share of its ground-truth triplets matched by any of the top K predictions;
  R@K is the mean over images that have at least one relation;
* mR@K: for each predicate, the mean over images containing it of that image's recall of its triplets
  with that predicate; then the mean over **all** predicate classes (a class with no test triplet counts 0,
  as in the reference; ``absent="skip"`` leaves it out instead).

Graph constraint: a relation model that scores every predicate for every ordered pair emits one triplet per
pair (its best predicate) under the constraint, and every (pair, predicate) combination without it
(:func:`triplets_from_pairs`). Mask IoUs come from pycocotools on RLE (``pycocotools.mask.iou``).

Overlapping masks: predicted masks may overlap (one-stage models predict a mask per triplet). They are
matched as they are; ``resolve_overlaps`` turns them into a panoptic map first (each pixel to the best
scoring mask covering it), which is what a panoptic-format submission does and which changes recalls.

PQ (Kirillov et al.), with torchmetrics' ``PanopticQuality`` conventions: segments are (category,
instance) pairs; id 0 / category -1 is void; a match is same category and IoU > 0.5 where void pixels of
either map are left out of the union; unmatched segments that are mostly void on the other side are not
counted; PQ is the mean over categories with TP + FP/2 + FN/2 > 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KS = (20, 50, 100)


@dataclass
class SceneGT:
    """Ground truth of one image: boolean masks S x H x W, class labels (S,), relations R x 3 (s, o, p)."""

    masks: np.ndarray
    labels: np.ndarray
    relations: np.ndarray


@dataclass
class ScenePred:
    """A ranked prediction: masks N x H x W (may overlap), labels (N,), triplets T x 3 (subject mask index,
    object mask index, predicate), scores (T,). Triplets are ranked by score (highest first, stable)."""

    masks: np.ndarray
    labels: np.ndarray
    triplets: np.ndarray
    scores: np.ndarray


def triplets_from_pairs(pairs: np.ndarray, probs: np.ndarray, obj_scores: np.ndarray | None = None,
                        graph_constraint: bool = True, max_triplets: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Ranked triplets (T x 3) and scores from pair predicate scores.

    ``pairs`` E x 2 (subject, object indices), ``probs`` E x P (foreground predicate scores), ``obj_scores``
    the per-mask confidences (triplet score = subject score x object score x predicate score). With the graph
    constraint each pair contributes its best predicate; without it every (pair, predicate).
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0)
    probs = np.asarray(probs, dtype=np.float64).reshape(len(pairs), -1)
    w = np.ones(len(pairs)) if obj_scores is None else np.asarray(obj_scores)[pairs].prod(1)
    if graph_constraint:
        p = probs.argmax(1)
        sc = probs[np.arange(len(pairs)), p] * w
        trip = np.column_stack([pairs, p])
    else:
        allsc = probs * w[:, None]
        e, p = np.unravel_index(np.arange(allsc.size), allsc.shape)
        sc = allsc.ravel()
        trip = np.column_stack([pairs[e], p])
    order = np.argsort(-sc, kind="stable")[:max_triplets]
    return trip[order], sc[order]


def resolve_overlaps(masks: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Non-overlapping copies of ``masks``: each pixel kept only by the highest-scoring mask covering it."""
    masks = np.asarray(masks, dtype=bool)
    if len(masks) == 0:
        return masks
    weighted = np.where(masks, np.asarray(scores, dtype=np.float64)[:, None, None], -np.inf)
    best = weighted.argmax(0)
    covered = masks.any(0)
    return (best[None] == np.arange(len(masks))[:, None, None]) & covered[None]


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a) x len(b)) of boolean masks, computed by pycocotools on RLE."""
    from pycocotools import mask as mask_utils

    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))

    def rle(m: np.ndarray) -> list:
        return mask_utils.encode(np.asfortranarray(np.asarray(m, dtype=np.uint8).transpose(1, 2, 0)))

    return np.asarray(mask_utils.iou(rle(a), rle(b), [0] * len(b)), dtype=np.float64).reshape(len(a), len(b))


def match_triplets(gt: SceneGT, pred: ScenePred, iou_thr: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(unique GT relations G x 3, boolean T x G: prediction t matches GT triplet g)."""
    rels = np.unique(np.asarray(gt.relations, dtype=np.int64).reshape(-1, 3), axis=0)
    trip = np.asarray(pred.triplets, dtype=np.int64).reshape(-1, 3)
    if len(rels) == 0 or len(trip) == 0:
        return rels, np.zeros((len(trip), len(rels)), dtype=bool)
    gl, pl = np.asarray(gt.labels), np.asarray(pred.labels)
    gt_key = np.column_stack([gl[rels[:, 0]], gl[rels[:, 1]], rels[:, 2]])
    pr_key = np.column_stack([pl[trip[:, 0]], pl[trip[:, 1]], trip[:, 2]])
    same = (pr_key[:, None, :] == gt_key[None, :, :]).all(-1)
    if not same.any():
        return rels, same
    used = np.unique(np.concatenate([trip[same.any(1), 0], trip[same.any(1), 1]]))
    iou = np.zeros((len(pred.masks), len(gt.masks)))
    iou[used] = mask_iou(np.asarray(pred.masks)[used], np.asarray(gt.masks))
    ok_s = iou[trip[:, 0]][:, rels[:, 0]] >= iou_thr
    ok_o = iou[trip[:, 1]][:, rels[:, 1]] >= iou_thr
    return rels, same & ok_s & ok_o


def _ranked(pred: ScenePred) -> ScenePred:
    order = np.argsort(-np.asarray(pred.scores, dtype=np.float64), kind="stable")
    return ScenePred(pred.masks, pred.labels, np.asarray(pred.triplets).reshape(-1, 3)[order],
                     np.asarray(pred.scores)[order])


def triplet_recall(gts: Sequence[SceneGT], preds: Sequence[ScenePred], num_predicates: int,
                   ks: Sequence[int] = KS, iou_thr: float = 0.5, absent: str = "zero",
                   overlaps: str = "keep") -> dict[str, object]:
    """R@K, mR@K and per-predicate recall@K over images (see the module docstring).

    ``overlaps="resolve"`` makes predicted masks non-overlapping first (:func:`resolve_overlaps`, by the
    best triplet score each mask takes part in). Returns ``{"R@K": float, "mR@K": float,
    "per_predicate@K": [recall per predicate (nan when absent)], "images": n}``.
    """
    if len(gts) != len(preds):
        raise ValueError(f"{len(gts)} ground truths but {len(preds)} predictions")
    if absent not in ("zero", "skip"):
        raise ValueError("absent must be 'zero' or 'skip'")
    rec = {k: [] for k in ks}
    per = {k: [[] for _ in range(num_predicates)] for k in ks}
    for gt, pred in zip(gts, preds):
        pred = _ranked(pred)
        if overlaps == "resolve" and len(pred.masks):
            best = np.zeros(len(pred.masks))
            for (s, o, _), sc in zip(pred.triplets, pred.scores):
                best[s], best[o] = max(best[s], sc), max(best[o], sc)
            pred = ScenePred(resolve_overlaps(pred.masks, best), pred.labels, pred.triplets, pred.scores)
        rels, m = match_triplets(gt, pred, iou_thr)
        if len(rels) == 0:
            continue  # images without relations are skipped (reference)
        for k in ks:
            hit = m[:k].any(0)
            rec[k].append(float(hit.mean()))
            for p in np.unique(rels[:, 2]):
                sel = rels[:, 2] == p
                per[k][int(p)].append(float(hit[sel].mean()))
    out: dict[str, object] = {"images": len(rec[ks[0]])}
    for k in ks:
        out[f"R@{k}"] = float(np.mean(rec[k])) if rec[k] else float("nan")
        pp = [float(np.mean(v)) if v else float("nan") for v in per[k]]
        out[f"per_predicate@{k}"] = pp
        vals = [v if v == v else 0.0 for v in pp] if absent == "zero" else [v for v in pp if v == v]
        out[f"mR@{k}"] = float(np.mean(vals)) if vals else float("nan")
    return out


# --- panoptic quality ---------------------------------------------------------------------------------


def _segments(cat: np.ndarray, inst: np.ndarray) -> tuple[np.ndarray, dict[int, tuple[int, int]], np.ndarray]:
    """Flattened segment index per pixel (-1 void), {index: (category, instance)}, areas."""
    keys = cat.astype(np.int64) * (1 << 32) + inst.astype(np.int64)
    void = cat < 0
    uniq, inv = np.unique(keys[~void], return_inverse=True)
    idx = np.full(cat.shape, -1, dtype=np.int64)
    idx[~void] = inv
    info = {i: (int(k >> 32), int(k & 0xFFFFFFFF)) for i, k in enumerate(uniq)}
    return idx, info, np.bincount(inv, minlength=len(uniq))


def pq_update(pred_cat: np.ndarray, pred_inst: np.ndarray, gt_cat: np.ndarray, gt_inst: np.ndarray,
              num_classes: int, stats: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Accumulate per-category IoU sums, TP, FP, FN of one image (category -1 = void) into ``stats``."""
    if stats is None:
        stats = {k: np.zeros(num_classes) for k in ("iou", "tp", "fp", "fn")}
    p_idx, p_info, p_area = _segments(np.asarray(pred_cat).ravel(), np.asarray(pred_inst).ravel())
    g_idx, g_info, g_area = _segments(np.asarray(gt_cat).ravel(), np.asarray(gt_inst).ravel())
    np_, ng = len(p_area), len(g_area)
    # intersections, with an extra row/column for void
    inter = np.zeros((np_ + 1, ng + 1), dtype=np.int64)
    np.add.at(inter, (np.where(p_idx < 0, np_, p_idx), np.where(g_idx < 0, ng, g_idx)), 1)
    p_matched, g_matched = np.zeros(np_, bool), np.zeros(ng, bool)
    for pi, gi in zip(*np.nonzero(inter[:np_, :ng])):
        if p_info[pi][0] != g_info[gi][0]:
            continue
        union = p_area[pi] - inter[pi, ng] + g_area[gi] - inter[np_, gi] - inter[pi, gi]
        iou = inter[pi, gi] / union if union > 0 else 0.0
        if iou > 0.5:
            c = g_info[gi][0]
            stats["iou"][c] += iou
            stats["tp"][c] += 1
            p_matched[pi] = g_matched[gi] = True
    for gi in np.flatnonzero(~g_matched):
        if inter[np_, gi] / g_area[gi] <= 0.5:
            stats["fn"][g_info[gi][0]] += 1
    for pi in np.flatnonzero(~p_matched):
        if inter[pi, ng] / p_area[pi] <= 0.5:
            stats["fp"][p_info[pi][0]] += 1
    return stats


def pq_compute(stats: dict[str, np.ndarray]) -> dict[str, float]:
    """PQ, SQ, RQ averaged over categories with TP + FP/2 + FN/2 > 0."""
    tp, fp, fn, iou = stats["tp"], stats["fp"], stats["fn"], stats["iou"]
    den = tp + 0.5 * fp + 0.5 * fn
    sq = np.where(tp > 0, iou / np.maximum(tp, 1), 0.0)
    rq = np.where(den > 0, tp / np.where(den > 0, den, 1), 0.0)
    live = den > 0
    if not live.any():
        return {"PQ": float("nan"), "SQ": float("nan"), "RQ": float("nan")}
    return {"PQ": float((sq * rq)[live].mean()), "SQ": float(sq[live].mean()), "RQ": float(rq[live].mean())}


def masks_to_panoptic(masks: np.ndarray, labels: np.ndarray, shape: tuple[int, int] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(category map, instance map) from non-overlapping masks; uncovered pixels are void (-1, 0)."""
    masks = np.asarray(masks, dtype=bool)
    hw = masks.shape[1:] if len(masks) else shape
    cat = np.full(hw, -1, dtype=np.int64)
    inst = np.zeros(hw, dtype=np.int64)
    for i, (m, c) in enumerate(zip(masks, labels)):
        cat[m] = int(c)
        inst[m] = i + 1
    return cat, inst
