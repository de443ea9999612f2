"""A PSG root written the way the OpenPSG release is, independently of ``trustlab.methods.psg.format.write_psg``.

What the release's ``psg.json`` looks like (OpenPSG ``tools/Visualize_Dataset.ipynb`` prints it; the
preprocessing in ``openpsg/utils/vis_tools/preprocess.py`` writes ``out['image_id'] = str(image_id)`` and
``json.dump``s the dict as built, and ``openpsg/datasets/psg.py`` splits with ``d['image_id'] in
dataset['test_image_ids']``):

* top-level keys in this order: ``data``, ``thing_classes``, ``stuff_classes``, ``predicate_classes``,
  ``test_image_ids`` (strings; no ``val_image_ids``);
* per image, in this order: ``file_name`` ("train2017/000000417720.jpg"), ``height``, ``width``, ``image_id``
  (a string, "107902"), ``pan_seg_file_name`` ("panoptic_train2017/000000417720.png"), ``segments_info``
  ({id: a large rgb2id int, category_id, iscrowd, isthing, area: ints}), ``relations`` ([s, o, p] lists),
  ``annotations`` ({bbox: floats [x1, y1, x2, y2], bbox_mode: 0, category_id}), ``coco_image_id`` (a string).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def _rgb(ids: np.ndarray) -> np.ndarray:
    out = np.zeros((*ids.shape, 3), np.uint8)
    for ch in range(3):
        out[..., ch] = (ids // 256**ch) % 256
    return out


def write_openpsg(root: Path, data, seed: int = 0, first_id: int = 107902) -> Path:
    """Write ``data`` (a PSGData) as the release is laid out; returns the psg.json path."""
    rng = np.random.default_rng(seed)
    (root / "train2017").mkdir(parents=True, exist_ok=True)
    (root / "panoptic_train2017").mkdir(parents=True, exist_ok=True)
    items, test_ids = [], []
    n = 0
    for split in ("train", "val", "test"):
        for sc in data.splits.get(split, []):
            image_id, coco_id = str(first_id + n), str(417720 + 7 * n)
            n += 1
            stem = f"{int(coco_id):012d}"
            new_ids = rng.choice(np.arange(1_000_000, 16_000_000), size=len(sc.segments), replace=False)
            pan = np.zeros(sc.pan.shape, np.int64)
            segs, anns = [], []
            for s, new in zip(sc.segments, new_ids):
                m = sc.pan == s["id"]
                pan[m] = new
                ys, xs = np.nonzero(m)
                segs.append({"id": int(new), "category_id": int(s["category_id"]), "iscrowd": 0,
                             "isthing": int(s["isthing"]), "area": int(m.sum())})
                anns.append({"bbox": [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)],
                             "bbox_mode": 0, "category_id": int(s["category_id"])})
            Image.fromarray(sc.image).save(root / "train2017" / f"{stem}.jpg", quality=95)
            Image.fromarray(_rgb(pan)).save(root / "panoptic_train2017" / f"{stem}.png")
            items.append({
                "file_name": f"train2017/{stem}.jpg", "height": int(sc.pan.shape[0]), "width": int(sc.pan.shape[1]),
                "image_id": image_id, "pan_seg_file_name": f"panoptic_train2017/{stem}.png",
                "segments_info": segs, "relations": [[int(a), int(b), int(c)] for a, b, c in sc.relations],
                "annotations": anns, "coco_image_id": coco_id,
            })
            if split == "test":
                test_ids.append(image_id)
    top = {"data": items, "thing_classes": list(data.thing_classes), "stuff_classes": list(data.stuff_classes),
           "predicate_classes": list(data.predicate_classes), "test_image_ids": test_ids}
    with open(root / "psg.json", "w") as f:
        json.dump(top, f)
    return root / "psg.json"
