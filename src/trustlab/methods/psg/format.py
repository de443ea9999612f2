"""The PSG format: ``psg.json`` + COCO panoptic PNGs, read and written with field-by-field validation.

Layout of a PSG root (the OpenPSG release, and what :func:`write_psg` writes)::

    <root>/psg.json                  # or any json path given with ``json_path``
    <root>/<file_name>               # the RGB image, e.g. images/000001.png (real PSG: coco/train2017/...)
    <root>/<pan_seg_file_name>       # the panoptic PNG, ids = R + 256 G + 256^2 B (rgb2id), 0 = void

``psg.json`` top level: ``data`` (list of images), ``thing_classes``, ``stuff_classes``,
``predicate_classes``, ``test_image_ids``; this package also writes ``val_image_ids`` (absent in the
release: then every non-test image is train). Per image: ``file_name``, ``height``, ``width``,
``image_id``, ``pan_seg_file_name``, ``segments_info`` [{id, category_id (0-based over thing_classes +
stuff_classes), iscrowd, isthing, area}], ``annotations`` [{bbox [x1, y1, x2, y2], bbox_mode 0,
category_id}] aligned with segments_info, ``relations`` [[subject_idx, object_idx, predicate_idx]]
(indices into segments_info; predicate 0-based). Other keys (the release's ``coco_image_id``) are ignored.

Image ids are kept as written: the release writes them as strings (``"image_id": "107902"``,
``test_image_ids`` a list of strings; OpenPSG's preprocessing writes ``str(image_id)`` and only tests
``image_id in test_image_ids``), this package's own writer as integers. Ids are compared by
:func:`id_key`: an integer and the string of its decimal digits are the same id (``107902`` ==
``"107902"``); other strings compare exactly (``"0107902"`` is not ``107902``).

Usage::

    data = read_psg("/data/psg")                  # PSGData; data.split("test") -> list[PSGScene]
    write_psg(tmp_root, data)                      # the same files back
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from trustlab.errors import DataError

TOP_KEYS = ("data", "thing_classes", "stuff_classes", "predicate_classes", "test_image_ids")
ITEM_KEYS = ("file_name", "height", "width", "image_id", "pan_seg_file_name", "segments_info", "relations")
SEGMENT_KEYS = ("id", "category_id", "iscrowd", "isthing")


def rgb2id(color: np.ndarray) -> np.ndarray:
    """COCO panoptic id of each pixel: R + 256 G + 256^2 B (uint8 H x W x 3 -> int64 H x W)."""
    c = np.asarray(color)
    if c.ndim != 3 or c.shape[2] < 3:
        raise DataError(f"a panoptic PNG must be RGB (H x W x 3), got shape {c.shape}")
    c = c[..., :3].astype(np.int64)
    return c[..., 0] + 256 * c[..., 1] + 256 * 256 * c[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb2id`: int ids H x W -> uint8 H x W x 3."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.min(initial=0) < 0 or ids.max(initial=0) >= 256**3:
        raise DataError("panoptic ids must be in [0, 256^3)")
    out = np.empty((*ids.shape, 3), dtype=np.uint8)
    for ch in range(3):
        out[..., ch] = (ids // (256**ch)) % 256
    return out


def masks_to_rle(masks: np.ndarray) -> list[dict]:
    """COCO RLE (pycocotools) of boolean masks N x H x W."""
    from pycocotools import mask as mask_utils

    m = np.asfortranarray(np.asarray(masks, dtype=np.uint8).transpose(1, 2, 0))
    return mask_utils.encode(m)


@dataclass
class PSGScene:
    """One image: ``image`` uint8 H x W x 3, ``pan`` int64 panoptic ids, ``segments`` (segments_info
    dicts), ``relations`` int64 R x 3 (subject, object, predicate)."""

    image_id: int | str  # as written in psg.json (the release: strings)
    file_name: str
    image: np.ndarray
    pan: np.ndarray
    segments: list[dict]
    relations: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([s["category_id"] for s in self.segments], dtype=np.int64)

    def masks(self) -> np.ndarray:
        """Boolean masks S x H x W, one per segment (non-overlapping: a panoptic map)."""
        ids = np.asarray([s["id"] for s in self.segments], dtype=np.int64)
        if len(ids) == 0:
            return np.zeros((0, *self.pan.shape), dtype=bool)
        return self.pan[None] == ids[:, None, None]


@dataclass
class PSGData:
    """A PSG dataset in memory: class lists and scenes per split (``train``, ``val``, ``test``)."""

    name: str
    thing_classes: list[str]
    stuff_classes: list[str]
    predicate_classes: list[str]
    splits: dict[str, list[PSGScene]]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.thing_classes) + list(self.stuff_classes)

    @property
    def num_classes(self) -> int:
        return len(self.thing_classes) + len(self.stuff_classes)

    @property
    def num_predicates(self) -> int:
        return len(self.predicate_classes)

    def split(self, name: str) -> list[PSGScene]:
        if name not in self.splits:
            raise DataError(f"PSG data '{self.name}' has no '{name}' split; splits: {', '.join(self.splits)}")
        return self.splits[name]


# --- reading ------------------------------------------------------------------------------------------


def _inside(root: Path, rel: object, what: str, where: str) -> Path:
    """``root / rel`` when ``rel`` is a relative path that stays under ``root``; else a DataError."""
    if not isinstance(rel, str) or not rel:
        raise DataError(f"{where}: '{what}' must be a non-empty relative path string, got {rel!r}")
    p = PurePosixPath(rel.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (len(rel) > 1 and rel[1] == ":"):
        raise DataError(f"{where}: {what} '{rel}' points outside the data root '{root}'; "
                        "use a path relative to the root without '..'")
    return root / Path(*p.parts)


def _int(v: object, what: str, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise DataError(f"{where}: '{what}' must be an integer, got {v!r}")
    return int(v)


def _count(v: object, what: str, where: str) -> int:
    """A non-negative integer; an integral float (``42555.0``) is accepted as that integer."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise DataError(f"{where}: '{what}' must be a non-negative integer (a pixel count), got {v!r}; "
                        "write the segment's area in pixels")
    return int(v)


def id_key(v: object) -> str:
    """The comparison key of an image id: ``str(v)`` for an integer, the string itself for a string."""
    return str(int(v)) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else str(v)


def _image_id(v: object, where: str) -> int | str:
    """An image id as written: a non-empty string (the release) or an integer (this package's writer)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, str) and v.strip():
        return v
    raise DataError(f"{where}: 'image_id' must be a string or an integer (the release writes strings such as "
                    f"\"107902\"), got {v!r}; give each image one scalar id")


def _id_list(top: dict[str, Any], key: str, jpath: Path) -> set[str]:
    """The keys (:func:`id_key`) of a top-level id list (``test_image_ids`` / ``val_image_ids``)."""
    v = top.get(key, [])
    if not isinstance(v, list):
        raise DataError(f"'{jpath}': {key} must be a list of image ids (strings or integers, as data[].image_id), "
                        f"got {type(v).__name__}; write e.g. \"{key}\": [\"107902\", \"107903\"]")
    for j, i in enumerate(v):
        if isinstance(i, bool) or not isinstance(i, (str, int)) or (isinstance(i, str) and not i.strip()):
            raise DataError(f"'{jpath}': {key}[{j}] is {i!r}, not an image id; {key} lists data[].image_id "
                            "values (strings or integers)")
    return {id_key(i) for i in v}


def _read_png(path: Path, where: str) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise DataError(f"{where}: file '{path}' does not exist; check the data root and the json's file names")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as e:
        raise DataError(f"{where}: cannot read image '{path}' ({e}); re-export it as PNG/JPEG") from e


def _check_segments(segs: object, where: str, n_classes: int, n_things: int) -> tuple[list[dict], set[int]]:
    """``segments_info`` validated: the segment dicts (ids, classes, crowd, area) and the set of their ids."""
    if not isinstance(segs, list):
        raise DataError(f"{where}: segments_info must be a list")
    segments = []
    ids: set[int] = set()
    for j, s in enumerate(segs):
        if not isinstance(s, dict) or any(key not in s for key in SEGMENT_KEYS):
            raise DataError(f"{where}: segments_info[{j}] needs {', '.join(SEGMENT_KEYS)}")
        sid = _int(s["id"], f"segments_info[{j}].id", where)
        cat = _int(s["category_id"], f"segments_info[{j}].category_id", where)
        if sid <= 0 or sid in ids:
            raise DataError(f"{where}: segments_info[{j}].id {sid} is {'not positive' if sid <= 0 else 'a duplicate'};"
                            " segment ids are unique positive panoptic ids (0 is void)")
        if not 0 <= cat < n_classes:
            raise DataError(f"{where}: segments_info[{j}].category_id {cat} is outside [0, {n_classes}) "
                            "(0-based over thing_classes + stuff_classes)")
        isthing = _int(int(s["isthing"]) if isinstance(s["isthing"], bool) else s["isthing"],
                       f"segments_info[{j}].isthing", where)
        if bool(isthing) != (cat < n_things):
            raise DataError(f"{where}: segments_info[{j}] has isthing={isthing} but category {cat} is a "
                            f"{'thing' if cat < n_things else 'stuff'} class (things are 0..{n_things - 1})")
        crowd = s["iscrowd"]
        if isinstance(crowd, bool):
            crowd = int(crowd)
        if isinstance(crowd, bool) or not isinstance(crowd, (int, np.integer)) or crowd not in (0, 1):
            raise DataError(f"{where}: segments_info[{j}].iscrowd must be 0 or 1, got {crowd!r}; "
                            "write 0 for a single instance, 1 for a crowd region")
        area = _count(s.get("area", 0), f"segments_info[{j}].area", where)
        ids.add(sid)
        segments.append({"id": sid, "category_id": cat, "iscrowd": int(crowd), "isthing": int(bool(isthing)),
                         "area": area})
    return segments, ids


def _check_annotations(anns: object, segments: list[dict], where: str) -> None:
    """The optional ``annotations`` (boxes): aligned one to one with ``segments_info``, same classes."""
    if anns is not None:
        if not isinstance(anns, list) or len(anns) != len(segments):
            raise DataError(f"{where}: annotations has {len(anns) if isinstance(anns, list) else '?'} entries but "
                            f"segments_info has {len(segments)}; they must be aligned one to one")
        for j, (a, s) in enumerate(zip(anns, segments)):
            if not isinstance(a, dict) or a.get("category_id") != s["category_id"]:
                raise DataError(f"{where}: annotations[{j}].category_id differs from segments_info[{j}]")
            box = a.get("bbox")
            if not (isinstance(box, list) and len(box) == 4 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
                raise DataError(f"{where}: annotations[{j}].bbox must be four numbers [x1, y1, x2, y2] "
                                f"(bbox_mode 0, pixels), got {box!r}")


def _check_relations(rels: object, n_segments: int, n_pred: int, where: str) -> np.ndarray:
    """``relations`` as an R x 3 array of (subject index, object index, predicate index), validated."""
    if not isinstance(rels, list):
        raise DataError(f"{where}: relations must be a list of [subject_idx, object_idx, predicate_idx]")
    rel_arr = np.zeros((len(rels), 3), dtype=np.int64)
    for r, rel in enumerate(rels):
        if not (isinstance(rel, (list, tuple)) and len(rel) == 3):
            raise DataError(f"{where}: relations[{r}] must be [subject_idx, object_idx, predicate_idx], got {rel!r}")
        s_i, o_i, p_i = (_int(v, f"relations[{r}]", where) for v in rel)
        for role, idx in (("subject", s_i), ("object", o_i)):
            if not 0 <= idx < n_segments:
                raise DataError(f"{where}: relations[{r}] {role} points to segment {idx} but the image has "
                                f"{n_segments} segments (indices into segments_info, 0-based)")
        if s_i == o_i:
            raise DataError(f"{where}: relations[{r}] relates segment {s_i} to itself")
        if not 0 <= p_i < n_pred:
            raise DataError(f"{where}: relations[{r}] predicate {p_i} is outside [0, {n_pred}) "
                            "(0-based over predicate_classes)")
        rel_arr[r] = (s_i, o_i, p_i)
    return rel_arr


def _check_item(d: object, k: int, n_classes: int, n_things: int, n_pred: int, root: Path, load: bool
                ) -> PSGScene:
    where = f"psg.json data[{k}]"
    if not isinstance(d, dict):
        raise DataError(f"{where} must be an object, got {type(d).__name__}")
    missing = [key for key in ITEM_KEYS if key not in d]
    if missing:
        raise DataError(f"{where} lacks {', '.join(missing)}; each item needs {', '.join(ITEM_KEYS)}")
    image_id = _image_id(d["image_id"], where)
    where = f"psg.json image_id {image_id!r}"
    h, w = _int(d["height"], "height", where), _int(d["width"], "width", where)
    if h <= 0 or w <= 0:
        raise DataError(f"{where}: height/width must be positive, got {h}x{w}")
    img_path = _inside(root, d["file_name"], "file_name", where)
    pan_path = _inside(root, d["pan_seg_file_name"], "pan_seg_file_name", where)
    segments, ids = _check_segments(d["segments_info"], where, n_classes, n_things)
    _check_annotations(d.get("annotations"), segments, where)
    rel_arr = _check_relations(d["relations"], len(segments), n_pred, where)
    if not load:
        return PSGScene(image_id, str(d["file_name"]), np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.int64),
                        segments, rel_arr)
    image = _read_png(img_path, where)
    pan = rgb2id(_read_png(pan_path, where))
    for what, arr in (("image", image), ("panoptic PNG", pan)):
        if arr.shape[:2] != (h, w):
            raise DataError(f"{where}: the {what} is {arr.shape[1]}x{arr.shape[0]} but the json says {w}x{h}")
    present = set(np.unique(pan).tolist()) - {0}
    extra, absent = sorted(present - ids), sorted(ids - present)
    if extra or absent:
        parts = []
        if extra:
            parts.append(f"ids {extra[:5]} in the PNG are not in segments_info")
        if absent:
            parts.append(f"segments_info ids {absent[:5]} do not occur in the PNG")
        raise DataError(f"{where}: panoptic PNG '{d['pan_seg_file_name']}' does not match segments_info "
                        f"({'; '.join(parts)}); ids are rgb2id(R, G, B) = R + 256 G + 65536 B")
    return PSGScene(image_id, str(d["file_name"]), image, pan, segments, rel_arr)


def _load_top(jpath: Path) -> dict:
    """``psg.json`` parsed, its top-level keys and class lists validated."""
    try:
        top = json.loads(jpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot parse '{jpath}' as JSON ({e})") from e
    if not isinstance(top, dict):
        raise DataError(f"'{jpath}' must hold a JSON object with keys {', '.join(TOP_KEYS)}")
    missing = [k for k in TOP_KEYS if k not in top]
    if missing:
        raise DataError(f"'{jpath}' lacks {', '.join(missing)}; a psg.json has {', '.join(TOP_KEYS)}")
    for key in ("thing_classes", "stuff_classes", "predicate_classes"):
        v = top[key]
        if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
            raise DataError(f"'{jpath}': {key} must be a list of class names")
    if not top["predicate_classes"]:
        raise DataError(f"'{jpath}': predicate_classes is empty; a scene graph needs at least one predicate name")
    if not top["thing_classes"] and not top["stuff_classes"]:
        raise DataError(f"'{jpath}': thing_classes and stuff_classes are both empty")
    if not isinstance(top["data"], list):
        raise DataError(f"'{jpath}': data must be a list of images")
    return top


def read_psg(root: str | os.PathLike[str], json_path: str | os.PathLike[str] | None = None, *,
             val_fraction: float = 0.0, max_images: int | None = None, load_images: bool = True,
             name: str = "psg") -> PSGData:
    """Read and validate a PSG root; see the module docstring for the layout.

    Splits: ``test`` = ``test_image_ids``; ``val`` = ``val_image_ids`` when present, else the last
    ``val_fraction`` of the non-test images (in file order); the rest is ``train``. ``max_images`` keeps
    the first images of each split (quick runs on the real 48k-image release).
    """
    root = Path(root).expanduser()
    jpath = Path(json_path).expanduser() if json_path is not None else root / "psg.json"
    if not root.is_dir():
        raise DataError(f"PSG root '{root}' is not a folder; point data.root at the folder holding psg.json")
    if not jpath.is_file():
        raise DataError(f"no '{jpath.name}' in '{jpath.parent}'; a PSG root holds psg.json (or set data.json)")
    top = _load_top(jpath)
    n_things = len(top["thing_classes"])
    n_classes = n_things + len(top["stuff_classes"])
    n_pred = len(top["predicate_classes"])
    test_ids = _id_list(top, "test_image_ids", jpath)
    val_ids = _id_list(top, "val_image_ids", jpath)
    items = top["data"]
    seen: set[str] = set()
    order: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for k, d in enumerate(items):
        where = f"psg.json data[{k}]"
        if not isinstance(d, dict):
            raise DataError(f"{where} must be an object, got {type(d).__name__}")
        if "image_id" not in d:
            raise DataError(f"{where} lacks image_id; each item needs {', '.join(ITEM_KEYS)}")
        iid = id_key(_image_id(d["image_id"], where))
        if iid in seen:
            raise DataError(f"{where}: image_id {d['image_id']!r} occurs twice; image ids must be unique "
                            "(an integer and the string of its digits are the same id)")
        seen.add(iid)
        order["test" if iid in test_ids else "val" if iid in val_ids else "train"].append(k)
    if not val_ids and val_fraction > 0 and order["train"]:
        n_val = max(1, round(val_fraction * len(order["train"])))
        order["val"], order["train"] = order["train"][-n_val:], order["train"][:-n_val]
    splits: dict[str, list[PSGScene]] = {}
    for split, idx in order.items():
        if max_images is not None:
            idx = idx[:max_images]
        splits[split] = [_check_item(items[k], k, n_classes, n_things, n_pred, root, load_images) for k in idx]
    return PSGData(name, list(top["thing_classes"]), list(top["stuff_classes"]), list(top["predicate_classes"]),
                   splits, info={"root": str(root), "json": str(jpath)})


# --- writing ------------------------------------------------------------------------------------------


def _bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0, 0, 0, 0]
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def scene_item(scene: PSGScene, pan_name: str) -> dict[str, Any]:
    """The psg.json entry of a scene (areas and boxes recomputed from the panoptic map)."""
    masks = scene.masks()
    segs = [{**s, "area": int(m.sum())} for s, m in zip(scene.segments, masks)]
    return {
        "file_name": scene.file_name, "height": int(scene.pan.shape[0]), "width": int(scene.pan.shape[1]),
        "image_id": scene.image_id, "pan_seg_file_name": pan_name, "segments_info": segs,
        "annotations": [{"bbox": _bbox(m), "bbox_mode": 0, "category_id": s["category_id"]}
                        for s, m in zip(segs, masks)],
        "relations": [[int(a), int(b), int(c)] for a, b, c in scene.relations],
    }


def write_psg(root: str | os.PathLike[str], data: PSGData, extra: dict[str, Any] | None = None) -> list[str]:
    """Write ``data`` as a PSG root (images/, panoptic/, psg.json) atomically: everything goes to a temp
    folder next to ``root`` that is renamed into place last (an existing ``root`` is replaced). Returns
    the written files relative to ``root``."""
    from PIL import Image

    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        (tmp / "images").mkdir()
        (tmp / "panoptic").mkdir()
        items, files = [], []
        test_ids, val_ids = [], []
        for split, scenes in data.splits.items():
            for sc in scenes:
                img_rel = sc.file_name
                pan_rel = f"panoptic/{Path(img_rel).stem}.png"
                _inside(tmp, img_rel, "file_name", f"scene {sc.image_id}")
                (tmp / img_rel).parent.mkdir(parents=True, exist_ok=True)  # e.g. the release's train2017/
                Image.fromarray(sc.image).save(tmp / img_rel, format="PNG")
                Image.fromarray(id2rgb(sc.pan)).save(tmp / pan_rel, format="PNG")
                files += [img_rel, pan_rel]
                items.append(scene_item(sc, pan_rel))
                if split == "test":
                    test_ids.append(sc.image_id)
                elif split == "val":
                    val_ids.append(sc.image_id)
        top = {"data": items, "thing_classes": data.thing_classes, "stuff_classes": data.stuff_classes,
               "predicate_classes": data.predicate_classes, "test_image_ids": test_ids,
               "val_image_ids": val_ids, **(extra or {})}
        (tmp / "psg.json").write_text(json.dumps(top, sort_keys=True) + "\n", encoding="utf-8")
        files.append("psg.json")
        for dirpath, _, fnames in os.walk(tmp):
            os.chmod(dirpath, 0o755)
            for f in fnames:
                os.chmod(Path(dirpath) / f, 0o644)
        if root.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old.", dir=root.parent))
            os.replace(root, old / "x")
            os.replace(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return files
