"""PSG scoring: R@K / mR@K with and without graph constraint (:func:`evaluate_preds`) and PQ
(:func:`panoptic_quality`), predicted masks upsampled to the evaluation ground truth's size
(``data.eval_resolution``, :mod:`trustlab.methods.psg.data`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from trustlab.methods.psg.data import Prepared, upsample_masks
from trustlab.metrics.psg import KS, SceneGT, ScenePred, masks_to_panoptic, pq_compute, pq_update, triplet_recall


class _Fitted:
    """``preds[i]`` with its masks upsampled to ``gts[i]``'s size, one image at a time (lazy)."""

    def __init__(self, gts: list[SceneGT], preds: list[ScenePred]) -> None:
        self.gts, self.preds = gts, preds

    def __len__(self) -> int:
        return len(self.preds)

    def __getitem__(self, i: int) -> ScenePred:
        p, shape = self.preds[i], tuple(np.shape(self.gts[i].masks)[1:])
        if len(shape) != 2 or tuple(np.shape(p.masks)[1:]) == shape:
            return p
        return ScenePred(upsample_masks(p.masks, shape), p.labels, p.triplets, p.scores)  # type: ignore[arg-type]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))


def evaluate_preds(gts: list[SceneGT], preds_gc: list[ScenePred], preds_ng: list[ScenePred] | None,
                   num_predicates: int, overlaps: str = "keep") -> dict[str, Any]:
    """Flat dict of R@K, mR@K (graph constraint) and ngR@K, ngmR@K (no constraint) + per-predicate @50.

    Predicted masks smaller than the ground truth's (the model's squares vs the original size) are upsampled
    (nearest) to each image's size first."""
    if len(gts) and len(preds_gc) == len(gts):
        preds_gc = _Fitted(gts, preds_gc)  # type: ignore[assignment]
        if preds_ng is not None and len(preds_ng) == len(gts):
            preds_ng = _Fitted(gts, preds_ng)  # type: ignore[assignment]
    r = triplet_recall(gts, preds_gc, num_predicates, overlaps=overlaps)
    out: dict[str, Any] = {f"{m}@{k}": r[f"{m}@{k}"] for k in KS for m in ("R", "mR")}
    out["per_predicate@50"] = r["per_predicate@50"]
    if preds_ng is not None:
        n = triplet_recall(gts, preds_ng, num_predicates, overlaps=overlaps)
        out.update({f"ng{m}@{k}": n[f"{m}@{k}"] for k in KS for m in ("R", "mR")})
    return out


def scalars(d: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in d.items() if isinstance(v, float)}


def panoptic_quality(gt: Prepared, pred_masks: list[np.ndarray], pred_labels: list[np.ndarray], num_classes: int
                     ) -> dict[str, float]:
    """PQ against the evaluation ground truth (:meth:`Prepared.gt`), predicted masks upsampled to its size."""
    stats = None
    for i in range(len(gt)):
        g = gt.gt(i)
        shape = tuple(np.shape(g.masks)[1:]) if len(g.masks) else tuple(gt.scenes[i].pan.shape
                                                                        if gt.scenes else gt.pans[i].shape)
        gc, gi = masks_to_panoptic(np.asarray(g.masks, dtype=bool), g.labels, shape)  # type: ignore[arg-type]
        pm = upsample_masks(pred_masks[i], shape) if len(pred_masks[i]) else np.zeros((0, *shape), bool)
        pc, pi = masks_to_panoptic(pm, pred_labels[i], shape)  # type: ignore[arg-type]
        stats = pq_update(pc, pi, gc, gi, num_classes, stats)
    return pq_compute(stats) if stats is not None else {"PQ": float("nan")}
