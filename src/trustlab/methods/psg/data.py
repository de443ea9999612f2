"""PSG data preparation for the models and the evaluation: splits as tensors at ``data.image_size``.

Data: the embedded ``psg-scenes`` or a PSG root (``data.name=psg``, ``data.root=<folder with psg.json>``),
both read by :func:`trustlab.methods.psg.format.read_psg`. The models see images and panoptic maps resized to
``data.image_size`` squares (bilinear / nearest); a segment that vanishes in that resize is not in the
model's input (training targets and PredCls/SGCls inputs).

Evaluation (:func:`evaluate_preds`): R@K / mR@K with and without graph constraint from
:mod:`trustlab.metrics.psg`; keys ``R@K``, ``mR@K`` (graph constraint) and ``ngR@K``, ``ngmR@K`` (none).
``data.eval_resolution``:

* ``original`` (default, as OpenPSG): the ground truth is every segment and every relation of the image at its
  own height x width; predicted masks are upsampled (nearest) from the square to that size; PredCls/SGCls
  predictions carry the original ground-truth masks of the segments they were given. A relation whose
  segment vanished at the model's resolution can only be a miss.
* ``image_size`` (a speed option): ground truth and predictions on the squares; relations of vanished
  segments are dropped from the ground truth. Each summary reports ``<split>_relations`` (ground truth
  scored), ``<split>_relations_dropped`` (removed from it: 0 in ``original``) and ``<split>_relations_vanished``
  (relations of segments that vanished in the resize).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trustlab.errors import ConfigError, DataError
from trustlab.methods.psg.config import PSGDataConfig
from trustlab.metrics.psg import SceneGT

EVAL_RESOLUTIONS = ("original", "image_size")


class PanopticMasks:
    """Boolean masks (len(ids) x H x W) of panoptic ids, built from the map on each use: full-resolution ground
    truth without holding every image's S x H x W masks in memory. Behaves as an array for ``np.asarray``."""

    def __init__(self, pan: np.ndarray, ids: np.ndarray) -> None:
        self.pan, self.ids = pan, np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.ids), *self.pan.shape)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        m = self.pan[None] == self.ids[:, None, None]
        return m if dtype is None else m.astype(dtype)

    def __getitem__(self, idx: Any) -> np.ndarray:
        return np.asarray(self)[idx]


def upsample_masks(masks: Any, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of boolean masks N x h x w to N x H x W (pixel centres, as PIL's NEAREST)."""
    m = np.asarray(masks, dtype=bool)
    h, w = m.shape[1:]
    if (h, w) == tuple(shape):
        return m
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.int64), w - 1)
    return m[:, rows][:, :, cols]


@dataclass
class Prepared:
    """A split as tensors: images N x 3 x S x S in [0, 1], panoptic ids, and per-scene labels/masks/relations
    of the segments that survive the resize (the models' view); ``scenes`` are the originals (evaluation)."""

    images: torch.Tensor
    pans: np.ndarray
    labels: list[np.ndarray]
    masks: list[np.ndarray]
    rels: list[np.ndarray]
    scenes: list[Any] = field(default_factory=list)
    kept: list[np.ndarray] = field(default_factory=list)  # per scene: bool per original segment, survives
    eval_resolution: str = "original"

    def __len__(self) -> int:
        return len(self.labels)

    def gt(self, i: int) -> SceneGT:
        """The ground truth scored: every segment and relation at the image's size (``original``), or the
        resized segments and their relations (``image_size``)."""
        if self.eval_resolution == "image_size" or self._unchanged(i):
            return SceneGT(self.masks[i], self.labels[i], self.rels[i])
        sc = self.scenes[i]
        ids = np.asarray([s["id"] for s in sc.segments], dtype=np.int64)
        return SceneGT(PanopticMasks(sc.pan, ids), sc.labels, sc.relations)  # type: ignore[arg-type]

    def given_masks(self, i: int) -> Any:
        """The ground-truth masks given to PredCls/SGCls (the surviving segments, aligned with ``labels[i]``),
        at the evaluation resolution."""
        if self.eval_resolution == "image_size" or self._unchanged(i):
            return self.masks[i]
        sc = self.scenes[i]
        ids = np.asarray([s["id"] for s in sc.segments], dtype=np.int64)
        return PanopticMasks(sc.pan, ids[self.kept[i]])

    def _unchanged(self, i: int) -> bool:
        """The scene was already a square of the models' size (the embedded data): both views are the same."""
        return not self.scenes or (self.scenes[i].pan.shape == self.pans[i].shape and bool(self.kept[i].all()))

    def relation_counts(self) -> dict[str, int]:
        """Unique ground-truth relations scored, dropped from the ground truth, and vanished in the resize."""
        total = sum(len(np.unique(np.asarray(sc.relations).reshape(-1, 3), axis=0)) for sc in self.scenes)
        kept = sum(len(r) for r in self.rels)
        vanished = total - kept
        if self.eval_resolution == "image_size":
            return {"relations": kept, "relations_dropped": vanished, "relations_vanished": vanished}
        return {"relations": total, "relations_dropped": 0, "relations_vanished": vanished}


def _resize_scene(sc: Any, size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from PIL import Image

    img, pan = sc.image, sc.pan
    if img.shape[:2] != (size, size):
        img = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))
        pan_img = Image.fromarray(pan.astype(np.int32), mode="I").resize((size, size), Image.NEAREST)
        pan = np.asarray(pan_img).astype(np.int64)
    ids = np.asarray([s["id"] for s in sc.segments], dtype=np.int64)
    masks = pan[None] == ids[:, None, None] if len(ids) else np.zeros((0, size, size), bool)
    keep = masks.reshape(len(ids), -1).any(1) if len(ids) else np.zeros(0, bool)
    new_index = np.cumsum(keep) - 1
    rels = np.asarray([(new_index[a], new_index[b], p) for a, b, p in sc.relations if keep[a] and keep[b]],
                      dtype=np.int64).reshape(-1, 3)
    pan = np.where(np.isin(pan, ids[keep]), pan, 0)
    return img, pan, sc.labels[keep], masks[keep], np.unique(rels, axis=0) if len(rels) else rels, keep


def prepare(scenes: list[Any], size: int, eval_resolution: str = "original") -> Prepared:
    imgs, pans, labels, masks, rels, kept = [], [], [], [], [], []
    for sc in scenes:
        img, pan, lab, m, r, keep = _resize_scene(sc, size)
        imgs.append(img)
        pans.append(pan)
        labels.append(lab)
        masks.append(m)
        rels.append(r)
        kept.append(keep)
    images = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(255.0) if imgs else torch.zeros(0)
    return Prepared(images, np.stack(pans) if pans else np.zeros((0, size, size), np.int64), labels, masks, rels,
                    list(scenes), kept, eval_resolution)


def load_splits(d: PSGDataConfig) -> tuple[Any, dict[str, Prepared]]:
    """(PSGData, {"train", "val", "test": Prepared})."""
    from trustlab.methods.psg.scenes import load_psg_data

    if d.name == "psg-scenes":
        if d.root is not None:
            raise ConfigError("data.root is for data.name=psg (a PSG root); drop it or set data.name=psg")
        data = load_psg_data(None)
    elif d.name == "psg":
        if d.root is None:
            raise ConfigError("data.name=psg needs data.root=<folder holding psg.json and the image/panoptic files>")
        data = load_psg_data(d.root, d.json, d.val_fraction, d.max_images)
    else:
        from trustlab.errors import did_you_mean

        raise ConfigError(f"data.name '{d.name}' is not a PSG dataset{did_you_mean(d.name, ['psg-scenes', 'psg'])}; "
                          "use psg-scenes (embedded) or psg (data.root)")
    if d.image_size < 16:
        raise ConfigError(f"data.image_size={d.image_size} is too small; use >= 16")
    if d.eval_resolution not in EVAL_RESOLUTIONS:
        raise ConfigError(f"data.eval_resolution '{d.eval_resolution}' is not one of {', '.join(EVAL_RESOLUTIONS)}; "
                          "original scores every relation at each image's size, image_size on the squares")
    out = {}
    for split in ("train", "val", "test"):
        scenes = data.splits.get(split, [])
        cap = d.max_train if split == "train" else d.max_test
        scenes = scenes[:cap] if cap is not None else scenes
        out[split] = prepare(scenes, d.image_size, d.eval_resolution)
    if len(out["train"]) == 0 or sum(len(r) for r in out["train"].rels) == 0:
        raise DataError(f"the train split of '{data.name}' has no relations; a PSG root needs non-test images "
                        "with relations (image ids outside test_image_ids)")
    if len(out["test"]) == 0:
        raise DataError(f"the test split of '{data.name}' is empty; list test images in test_image_ids")
    if len(out["val"]) == 0:
        out["val"] = out["test"]  # reported as val only for tiny runs; README says so
    return data, out
