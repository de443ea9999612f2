"""``psg-scenes``: generated panoptic scenes with scene graphs, written in the PSG format.

Each 64x64 scene has **stuff** regions (sky above a horizon; grass, road or water below it, sometimes
a road band in the grass; sometimes a brick wall standing on the ground at one side), each drawn from a
colour and a texture, and 3-7 **things** (person, car, boat, bird, kite, ball, box, tree) drawn as
shapes of several sizes (perspective: lower on the ground = larger), which may overlap (a later thing
occludes an earlier one; the panoptic map keeps the visible part).

Relations come from how each thing was placed, checked on the final masks (a thing that ended up
hidden is dropped with its relations):

=============  ==========================================================================
on             a thing rests on grass/road (its bottom in that region), or sits on a box/car
in             a bird or kite in the sky
beside         two grounded things side by side (gap <= 6 px, similar base); subject = left
in front of    a grounded thing overlapping (occluding) an earlier one, its base lower
above          a bird/kite/ball over a thing, not touching
parked on      a car on the road
holding        a person and the ball/kite at their side
floating on    a boat on water
leaning on     a grounded thing touching the wall's side
standing on    a person on grass/road, for 30% of them at random (the others: ``on``)
=============  ==========================================================================

``standing on`` copies how real annotations use near-synonyms: nothing in the image tells it from ``on``,
so a likelihood-trained model predicts the frequent ``on`` and the rare synonym's recall (and so mR@K)
suffers, which is what frequency debiasing trades against R@K.

Placement scenarios are drawn with fixed weights, so the predicate distribution is long-tailed (``on``
about half of all relations, ``leaning on`` about 1%), as in real PSG. The frequency prior alone is a
strong baseline for some class pairs (a car on a road is always ``parked on``) and useless for others
(box-box: ``on``, ``beside`` or ``in front of`` depends on geometry; which of two ground regions a
person stands on depends on where).

Built in a few seconds, cached as a PSG root under ``$TRUSTLAB_DATA/psg-scenes/v1/psg/`` with a manifest
of checksums; read back with :func:`trustlab.methods.psg.format.read_psg`, the same reader as real data.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from trustlab.data.base import DatasetEntry
from trustlab.data.cache import MANIFEST, dataset_dir, verify, write_manifest
from trustlab.methods.psg.format import PSGData, PSGScene, read_psg, write_psg
from trustlab.registry import DATASETS

NAME, VERSION, GENERATOR = "psg-scenes", "v1", "1.2"
SIZE = 64
SPLIT_SIZES = {"train": 320, "val": 80, "test": 120}
THINGS = ["person", "car", "boat", "bird", "kite", "ball", "box", "tree"]
STUFF = ["sky", "grass", "water", "road", "wall"]
PREDICATES = ["on", "in", "beside", "in front of", "above", "parked on", "holding", "floating on", "leaning on",
              "standing on"]
STANDING_ON = 0.3  # share of persons on the ground annotated "standing on" instead of "on" (synonyms, as in PSG)
CLASSES = THINGS + STUFF
C = {n: i for i, n in enumerate(CLASSES)}
P = {n: i for i, n in enumerate(PREDICATES)}
SCENARIOS = {"ground": 0.42, "sky": 0.14, "beside": 0.12, "front": 0.10, "above": 0.07, "stack": 0.06,
             "hold": 0.05, "lean": 0.04}
GROUNDED = {"grass": ["person", "box", "ball", "tree", "person", "box"], "road": ["car", "person", "box", "car"],
            "water": ["boat"]}
MIN_VISIBLE = 8  # pixels: a thing hidden below this is dropped with its relations


# --- drawing ------------------------------------------------------------------------------------------


def _texture(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    """An RGB float texture for a stuff class."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    noise = rng.normal(0, 1, (h, w))
    if kind == "sky":
        base = np.array([120, 170, 235]) + rng.normal(0, 8, 3)
        img = base[None, None] + (yy / h * 40)[..., None] + 4 * noise[..., None]
    elif kind == "grass":
        base = np.array([60, 150, 50]) + rng.normal(0, 8, 3)
        img = base[None, None] + 18 * noise[..., None] * np.array([0.5, 1.0, 0.4])
    elif kind == "water":
        base = np.array([30, 80, 170]) + rng.normal(0, 8, 3)
        waves = 20 * np.sin(xx / 3.0 + 2 * np.sin(yy / 2.0) + rng.uniform(0, 6))
        img = base[None, None] + waves[..., None] * np.array([0.3, 0.6, 1.0]) + 3 * noise[..., None]
    elif kind == "road":
        g = 95 + rng.normal(0, 6)
        img = np.full((h, w, 3), g) + 10 * noise[..., None]
        mid = h // 2
        dash = ((xx // 6) % 2 == 0) & (np.abs(yy - mid) < 1)
        img[dash] = [230, 220, 90]
    else:  # wall: bricks
        base = np.array([160, 75, 55]) + rng.normal(0, 8, 3)
        img = base[None, None] + 6 * noise[..., None]
        mortar = (yy % 5 == 0) | (((xx + 4 * ((yy // 5) % 2)) % 8) == 0)
        img[mortar] = [205, 200, 190]
    return np.clip(img, 0, 255)


def _thing_mask(kind: str, w: int, h: int) -> tuple[np.ndarray, list[tuple[np.ndarray, tuple[int, int, int]]]]:
    """A thing's silhouette (bool h x w) and its coloured parts [(bool mask, rgb)] (colours jittered later)."""
    from PIL import Image, ImageDraw

    def layer(draw_fn) -> np.ndarray:
        im = Image.new("L", (w, h), 0)
        draw_fn(ImageDraw.Draw(im))
        return np.asarray(im) > 0

    W, H = w - 1, h - 1
    parts: list[tuple[np.ndarray, tuple[int, int, int]]] = []
    if kind == "person":
        head = layer(lambda d: d.ellipse([W * 0.2, 0, W * 0.8, H * 0.28], fill=1))
        body = layer(lambda d: d.rectangle([W * 0.1, H * 0.28, W * 0.9, H * 0.68], fill=1))
        legs = layer(lambda d: (d.rectangle([W * 0.15, H * 0.68, W * 0.42, H], fill=1),
                                d.rectangle([W * 0.58, H * 0.68, W * 0.85, H], fill=1)))
        parts = [(body, (200, 40, 40)), (legs, (40, 40, 120)), (head, (240, 200, 160))]
    elif kind == "car":
        body = layer(lambda d: d.rectangle([0, H * 0.35, W, H * 0.8], fill=1))
        roof = layer(lambda d: d.polygon([(W * 0.2, H * 0.35), (W * 0.35, 0), (W * 0.7, 0), (W * 0.85, H * 0.35)],
                                         fill=1))
        wheels = layer(lambda d: (d.ellipse([W * 0.08, H * 0.6, W * 0.38, H], fill=1),
                                  d.ellipse([W * 0.62, H * 0.6, W * 0.92, H], fill=1)))
        parts = [(body | roof, (230, 200, 30)), (wheels, (20, 20, 20))]
    elif kind == "boat":
        hull = layer(lambda d: d.polygon([(0, H * 0.6), (W, H * 0.6), (W * 0.8, H), (W * 0.2, H)], fill=1))
        sail = layer(lambda d: d.polygon([(W * 0.5, 0), (W * 0.5, H * 0.58), (W * 0.9, H * 0.58)], fill=1))
        mast = layer(lambda d: d.line([(W * 0.47, 0), (W * 0.47, H * 0.6)], fill=1, width=1))
        parts = [(hull, (120, 60, 20)), (sail | mast, (250, 250, 250))]
    elif kind == "bird":
        wings = layer(lambda d: (d.line([(0, 0), (W * 0.5, H)], fill=1, width=2),
                                 d.line([(W * 0.5, H), (W, 0)], fill=1, width=2)))
        parts = [(wings, (30, 30, 30))]
    elif kind == "kite":
        body = layer(lambda d: d.polygon([(W * 0.5, 0), (W, H * 0.45), (W * 0.5, H * 0.8), (0, H * 0.45)], fill=1))
        tail = layer(lambda d: d.line([(W * 0.5, H * 0.8), (W * 0.5, H)], fill=1, width=1))
        parts = [(body, (240, 60, 200)), (tail, (240, 240, 60))]
    elif kind == "ball":
        parts = [(layer(lambda d: d.ellipse([0, 0, W, H], fill=1)), (250, 130, 20))]
    elif kind == "box":
        box = layer(lambda d: d.rectangle([0, 0, W, H], fill=1))
        lines = layer(lambda d: (d.line([(0, 0), (W, H)], fill=1), d.line([(0, H), (W, 0)], fill=1)))
        parts = [(box, (170, 120, 60)), (lines & box, (100, 60, 20))]
    else:  # tree
        crown = layer(lambda d: d.polygon([(W * 0.5, 0), (W, H * 0.75), (0, H * 0.75)], fill=1))
        trunk = layer(lambda d: d.rectangle([W * 0.38, H * 0.75, W * 0.62, H], fill=1))
        parts = [(crown, (20, 90, 30)), (trunk, (90, 55, 25))]
    sil = np.zeros((h, w), dtype=bool)
    for m, _ in parts:
        sil |= m
    return sil, parts


SHAPE = {  # (aspect w/h, base height range at the horizon, at the bottom)
    "person": (0.45, (8, 20)), "car": (1.9, (5, 11)), "boat": (1.4, (7, 14)), "bird": (1.6, (3, 6)),
    "kite": (0.8, (6, 11)), "ball": (1.0, (3, 8)), "box": (1.0, (5, 12)), "tree": (0.7, (10, 22)),
}


class _Scene:
    """Scene under construction: a stuff id map, a list of things (class, placed mask, parts), relations."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.stuff = np.zeros((SIZE, SIZE), dtype=np.int64)  # stuff class index per pixel
        self.things: list[dict[str, Any]] = []
        self.rels: list[tuple[int, int, int]] = []  # (subject, object, predicate); ids: things >= 0, stuff -1-cls

    def size_at(self, kind: str, base_y: int) -> tuple[int, int]:
        aspect, (lo, hi) = SHAPE[kind]
        t = np.clip((base_y - self.horizon) / max(1, SIZE - self.horizon), 0, 1)
        h = int(round((lo + (hi - lo) * t) * self.rng.uniform(0.85, 1.2)))
        h = max(3, h)
        return max(3, int(round(h * aspect))), h

    def add(self, kind: str, x0: int, y0: int, w: int, h: int) -> int | None:
        if x0 < 0 or y0 < 0 or x0 + w > SIZE or y0 + h > SIZE:
            return None
        sil, parts = _thing_mask(kind, w, h)
        full = np.zeros((SIZE, SIZE), dtype=bool)
        full[y0 : y0 + h, x0 : x0 + w] = sil
        jitter = self.rng.integers(-30, 31, 3)
        placed = []
        for m, rgb in parts:
            pm = np.zeros((SIZE, SIZE), dtype=bool)
            pm[y0 : y0 + h, x0 : x0 + w] = m
            placed.append((pm, np.clip(np.asarray(rgb) + jitter, 0, 255)))
        self.things.append({"kind": kind, "mask": full, "parts": placed, "box": (x0, y0, x0 + w, y0 + h)})
        return len(self.things) - 1

    def ground_class(self, x: int, y: int) -> str:
        return CLASSES[int(self.stuff[min(y, SIZE - 1), min(max(x, 0), SIZE - 1)])]

    def grounded(self) -> list[int]:
        return [i for i, t in enumerate(self.things) if t.get("grounded")]


def _layout(sc: _Scene) -> None:
    rng = sc.rng
    sc.horizon = int(rng.integers(20, 35))
    ground = rng.choice(["grass", "road", "water"], p=[0.5, 0.3, 0.2])
    sc.stuff[:] = C["sky"]
    sc.stuff[sc.horizon :] = C[ground]
    if ground == "grass" and rng.random() < 0.35:
        y_r = sc.horizon + (SIZE - sc.horizon) // 2 + int(rng.integers(-3, 4))
        sc.stuff[y_r:] = C["road"]
    sc.wall = None
    if ground != "water" and rng.random() < 0.3:
        w = int(rng.integers(10, 19))
        top, bottom = sc.horizon - int(rng.integers(10, 17)), sc.horizon + int(rng.integers(3, 8))
        x0 = 0 if rng.random() < 0.5 else SIZE - w
        sc.stuff[top:bottom, x0 : x0 + w] = C["wall"]
        sc.wall = (x0, top, x0 + w, bottom)


def _place_grounded(sc: _Scene, kind: str | None = None, base_y: int | None = None, x_center: float | None = None,
                    tries: int = 12) -> int | None:
    rng = sc.rng
    for _ in range(tries):
        by = int(base_y if base_y is not None else rng.integers(sc.horizon + 3, SIZE))
        by = min(by, SIZE - 1)
        cx = x_center if x_center is not None else float(rng.uniform(4, SIZE - 4))
        g = sc.ground_class(int(cx), by)
        if g not in GROUNDED:
            continue
        k = kind if kind is not None else str(rng.choice(GROUNDED[g]))
        if k not in GROUNDED[g]:
            continue
        w, h = sc.size_at(k, by)
        x0 = int(round(cx - w / 2))
        if sc.wall is not None:
            wx0, _, wx1, wy1 = sc.wall
            if x0 < wx1 and x0 + w > wx0 and by < wy1 + 1:
                continue  # do not stand inside the wall
        i = sc.add(k, x0, by - h + 1, w, h)
        if i is None:
            continue
        sc.things[i]["grounded"] = True
        sc.things[i]["base"] = by
        g = sc.ground_class(x0 + w // 2, by)
        pred = {"car": "parked on", "boat": "floating on"}.get(k, "on") if g in ("road", "water") else "on"
        if k == "car" and g != "road":
            pred = "on"
        if k == "person" and pred == "on" and rng.random() < STANDING_ON:
            pred = "standing on"
        sc.rels.append((i, -1 - C[g], P[pred]))
        return i
    return None


def _scenario(sc: _Scene, name: str) -> None:
    rng = sc.rng
    things = sc.things
    if name == "ground":
        _place_grounded(sc)
    elif name == "sky":
        k = str(rng.choice(["bird", "kite", "bird"]))
        aspect, (lo, hi) = SHAPE[k]
        h = int(rng.integers(lo, hi + 1))
        w = max(3, int(round(h * aspect)))
        if sc.horizon - h - 2 < 1:
            return
        y0 = int(rng.integers(1, sc.horizon - h - 1))
        x0 = int(rng.integers(0, SIZE - w))
        i = sc.add(k, x0, y0, w, h)
        if i is not None:
            sc.rels.append((i, -1 - C["sky"], P["in"]))
            things[i]["flying"] = True
    elif name in ("beside", "front"):
        base = sc.grounded()
        if not base:
            return _scenario(sc, "ground")
        j = int(rng.choice(base))
        bj = things[j]
        x0, y0, x1, y1 = bj["box"]
        if name == "beside":
            by = int(np.clip(bj["base"] + rng.integers(-2, 3), sc.horizon + 2, SIZE - 1))
            gap = int(rng.integers(1, 5))
            right = rng.random() < 0.5
            w_guess, _ = sc.size_at("box", by)
            cx = x1 + gap + w_guess / 2 if right else x0 - gap - w_guess / 2
            i = _place_grounded(sc, base_y=by, x_center=cx, tries=4)
            if i is None:
                return
            a, b = things[i]["box"], bj["box"]
            if (things[i]["mask"] & bj["mask"]).any() or max(a[0] - b[2], b[0] - a[2]) > 6:
                return
            left, right_i = (i, j) if a[0] < b[0] else (j, i)
            sc.rels.append((left, right_i, P["beside"]))
        else:
            by = int(min(SIZE - 1, bj["base"] + rng.integers(2, 7)))
            cx = float(x0 + (x1 - x0) * rng.uniform(0.0, 1.0))
            i = _place_grounded(sc, base_y=by, x_center=cx, tries=4)
            if i is None or not (things[i]["mask"] & bj["mask"]).any():
                return
            sc.rels.append((i, j, P["in front of"]))
    elif name == "above":
        if not things:
            return
        j = int(rng.integers(len(things)))
        x0, y0, x1, y1 = things[j]["box"]
        k = str(rng.choice(["bird", "kite", "ball"]))
        aspect, (lo, hi) = SHAPE[k]
        h = int(rng.integers(lo, hi + 1))
        w = max(3, int(round(h * aspect)))
        gap = int(rng.integers(3, 10))
        cy0 = y0 - gap - h
        cx0 = int(round((x0 + x1) / 2 - w / 2 + rng.integers(-2, 3)))
        i = sc.add(k, cx0, cy0, w, h)
        if i is None:
            return
        sc.rels.append((i, j, P["above"]))
        if cy0 + h < sc.horizon - 1 and k != "ball":
            sc.rels.append((i, -1 - C["sky"], P["in"]))
    elif name == "stack":
        base = [i for i, t in enumerate(things) if t["kind"] in ("box", "car") and t.get("grounded")]
        if not base:
            return _scenario(sc, "ground")
        j = int(rng.choice(base))
        x0, y0, x1, y1 = things[j]["box"]
        k = str(rng.choice(["box", "ball"]))
        h = max(3, int(round((y1 - y0) * rng.uniform(0.5, 0.9))))
        w = h
        cx0 = int(round((x0 + x1) / 2 - w / 2 + rng.integers(-2, 3)))
        i = sc.add(k, cx0, y0 - h, w, h)
        if i is not None:
            sc.rels.append((i, j, P["on"]))
    elif name == "hold":
        persons = [i for i, t in enumerate(things) if t["kind"] == "person"]
        if not persons:
            i = _place_grounded(sc, kind="person", tries=6)
            if i is None:
                return
            persons = [i]
        j = int(rng.choice(persons))
        x0, y0, x1, y1 = things[j]["box"]
        k = str(rng.choice(["ball", "kite"]))
        h = max(3, int(round((y1 - y0) * (0.35 if k == "ball" else 0.5))))
        w = h if k == "ball" else max(3, int(h * 0.8))
        right = rng.random() < 0.5
        cx0 = x1 if right else x0 - w
        cy0 = int(y0 + (y1 - y0) * 0.4) - (h if k == "kite" else h // 2)
        i = sc.add(k, cx0, cy0, w, h)
        if i is not None:
            sc.rels.append((j, i, P["holding"]))
    elif name == "lean":
        if sc.wall is None:
            return _scenario(sc, "ground")
        wx0, wy0, wx1, wy1 = sc.wall
        by = int(rng.integers(max(sc.horizon + 2, wy1 - 2), min(SIZE, wy1 + 4)))
        k = str(rng.choice(["person", "box", "person"]))
        w, _ = sc.size_at(k, by)
        cx = wx1 + w / 2 if wx0 == 0 else wx0 - w / 2
        i = _place_grounded(sc, kind=k, base_y=by, x_center=cx, tries=3)
        if i is None:
            return
        m = sc.things[i]["mask"]
        wall = sc.stuff == C["wall"]
        grown = np.zeros_like(m)
        grown[:, 1:] |= m[:, :-1]
        grown[:, :-1] |= m[:, 1:]
        if (grown & wall).any():
            sc.rels.append((i, -1 - C["wall"], P["leaning on"]))


def generate_scene(rng: np.random.Generator, image_id: int, file_name: str) -> PSGScene:
    """One scene (see the module docstring)."""
    sc = _Scene(rng)
    _layout(sc)
    n = int(rng.choice([3, 4, 5, 6, 7], p=[0.15, 0.25, 0.25, 0.2, 0.15]))
    names, weights = list(SCENARIOS), np.asarray(list(SCENARIOS.values()))
    for _ in range(n):
        _scenario(sc, str(rng.choice(names, p=weights / weights.sum())))
    # render: stuff textures, then things in order (later ones occlude earlier ones)
    img = np.zeros((SIZE, SIZE, 3))
    for s in np.unique(sc.stuff):
        tex = _texture(rng, CLASSES[int(s)], SIZE, SIZE)
        img[sc.stuff == s] = tex[sc.stuff == s]
    owner = np.full((SIZE, SIZE), -1, dtype=np.int64)
    for i, t in enumerate(sc.things):
        for pm, rgb in t["parts"]:
            img[pm] = rgb
        owner[t["mask"]] = i
    # panoptic map: stuff one segment per class, things one segment each (visible part)
    segments: list[dict] = []
    pan = np.zeros((SIZE, SIZE), dtype=np.int64)
    index_of: dict[int, int] = {}
    next_id = 1
    for i, t in enumerate(sc.things):
        vis = owner == i
        if vis.sum() < MIN_VISIBLE:
            continue
        index_of[i] = len(segments)
        segments.append({"id": next_id, "category_id": C[t["kind"]], "iscrowd": 0, "isthing": 1,
                         "area": int(vis.sum())})
        pan[vis] = next_id
        next_id += 1
    for s in np.unique(sc.stuff):
        vis = (owner < 0) & (sc.stuff == s)
        if vis.sum() == 0:
            continue
        index_of[-1 - int(s)] = len(segments)
        segments.append({"id": next_id, "category_id": int(s), "iscrowd": 0, "isthing": 0, "area": int(vis.sum())})
        pan[vis] = next_id
        next_id += 1
    owner_ids = pan.copy()
    rels = sorted({(index_of[a], index_of[b], p) for a, b, p in sc.rels if a in index_of and b in index_of})
    noise = rng.normal(0, 4, img.shape)
    image = np.clip(img + noise, 0, 255).astype(np.uint8)
    return PSGScene(image_id, file_name, image, owner_ids, segments, np.asarray(rels, dtype=np.int64).reshape(-1, 3))


def generate(seed: int = 0, sizes: dict[str, int] | None = None) -> PSGData:
    """The whole dataset in memory (train/val/test), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    splits: dict[str, list[PSGScene]] = {}
    image_id = 1
    for split, n in (sizes or SPLIT_SIZES).items():
        scenes = []
        while len(scenes) < n:
            sc = generate_scene(rng, image_id, f"images/{image_id:06d}.png")
            image_id += 1
            if len(sc.relations):
                scenes.append(sc)
        splits[split] = scenes
    return PSGData(NAME, THINGS, STUFF, PREDICATES, splits)


def scenes_root(seed: int = 0, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cached PSG root of ``psg-scenes`` (built on first use, verified against its manifest)."""
    import sys

    directory = dataset_dir(NAME, VERSION, cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        problem = verify(directory, generator_version=GENERATOR, seed=seed)
        if problem is not None:
            print(f"trustlab: building {NAME} {VERSION} into {directory} ({problem})", file=sys.stderr)
            files = write_psg(directory / "psg", generate(seed))
            write_manifest(directory, [f"psg/{f}" for f in files], name=NAME, version=VERSION,
                           generator_version=GENERATOR, seed=seed, extra={"splits": SPLIT_SIZES})
    return directory / "psg"


_LOADED: dict[tuple[str, int], PSGData] = {}


def load_scenes(seed: int = 0) -> PSGData:
    """``psg-scenes`` read through the PSG reader (the same code path as real PSG data); kept in memory per
    process, keyed by the cache folder and its manifest's modification time (read-only use)."""
    root = scenes_root(seed)
    key = (str(root), (root.parent / MANIFEST).stat().st_mtime_ns)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = read_psg(root, name=NAME)
    return _LOADED[key]


def load_psg_data(root: str | None = None, json_path: str | None = None, val_fraction: float = 0.1,
                  max_images: int | None = None) -> PSGData:
    """The embedded scenes (``root`` None) or a PSG root on disk."""
    if root is None:
        return load_scenes()
    return read_psg(root, json_path, val_fraction=val_fraction, max_images=max_images)


# --- trustlab data build|show psg-scenes --------------------------------------------------------------


def predicate_counts(data: PSGData, split: str) -> np.ndarray:
    counts = np.zeros(data.num_predicates, dtype=np.int64)
    for sc in data.split(split):
        np.add.at(counts, sc.relations[:, 2], 1)
    return counts


def _build_lines(cfg: Any) -> list[str]:
    data = load_psg_data(getattr(cfg, "root", None))
    lines = [f"{data.name}: {data.num_classes} classes ({len(data.thing_classes)} things, "
             f"{len(data.stuff_classes)} stuff), {data.num_predicates} predicates; "
             + "  ".join(f"{k}={len(v)}" for k, v in data.splits.items())]
    if cfg is not None and getattr(cfg, "root", None) is None:
        manifest = json.loads((scenes_root().parent / MANIFEST).read_text())
        lines.append(f"cached at {scenes_root()} ({len(manifest['files'])} files, manifest with sha256)")
    counts = predicate_counts(data, "train")
    order = np.argsort(-counts)
    lines.append("train predicates (long tail): " + ", ".join(
        f"{data.predicate_classes[i]} {counts[i]}" for i in order))
    n_rel = [len(s.relations) for s in data.split("train")]
    n_seg = [len(s.segments) for s in data.split("train")]
    if n_rel:
        lines.append(f"per train image: {np.mean(n_seg):.1f} segments, {np.mean(n_rel):.1f} relations")
    return lines


def palette(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(40, 255, (max(n, 1), 3)).astype(np.uint8)


def draw_graph_panel(scene: PSGScene, masks: np.ndarray, labels: list[str], triplets: list[tuple[int, int, str]],
                     title: str, scale: int = 4, width: int = 360) -> Any:
    """A PIL image: the scene; its masks coloured and numbered with the scene graph drawn over them (an arrow
    from each subject's centre to its object's centre, the predicate at the middle); the triplets as text."""
    from PIL import Image, ImageDraw

    s = SIZE * scale
    h, w = scene.image.shape[:2]
    sx, sy = s / w, s / h
    lines = max(len(triplets), 1)
    canvas = Image.new("RGB", (2 * s + width, max(s, 14 + 11 * lines) + 16), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 2), title, fill=(0, 0, 0))
    canvas.paste(Image.fromarray(scene.image).resize((s, s), Image.NEAREST), (0, 16))
    col = palette(len(masks))
    over = np.full((h, w, 3), 255, dtype=np.uint8)
    for i in np.argsort([-int(m.sum()) for m in masks], kind="stable"):  # large first: overlaps stay visible
        over[masks[i]] = col[i]
    canvas.paste(Image.fromarray(over).resize((s, s), Image.NEAREST), (s, 16))
    centre = {}
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(xs):
            centre[i] = (s + (xs.mean() + 0.5) * sx, 16 + (ys.mean() + 0.5) * sy)
    for a, b, p in triplets:  # the graph: subject centre -> object centre
        if a in centre and b in centre:
            (x0, y0), (x1, y1) = centre[a], centre[b]
            draw.line([(x0, y0), (x1, y1)], fill=(0, 0, 0), width=2)
            draw.ellipse([x1 - 4, y1 - 4, x1 + 4, y1 + 4], outline=(0, 0, 0), width=2)  # arrow head: object end
            draw.text(((x0 + x1) / 2 + 2, (y0 + y1) / 2 - 5), p, fill=(200, 0, 0))
    for i, (x, y) in centre.items():
        draw.rectangle([x - 5, y - 6, x + 5, y + 5], fill=(255, 255, 255))
        draw.text((x - 3, y - 5), str(i), fill=(0, 0, 0))
    for r, (a, b, p) in enumerate(triplets):
        draw.text((2 * s + 6, 18 + 11 * r), f"{a}:{labels[a]} -{p}-> {b}:{labels[b]}",
                  fill=tuple(int(v) for v in col[a] // 2))
    return canvas


def _show(cfg: Any, out_dir: Path) -> list[Path]:
    """Six scenes of the test split with their panoptic masks (numbered) and their scene graphs."""
    data = load_psg_data(getattr(cfg, "root", None))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenes = data.split("test")[:6] or data.split("train")[:6]
    paths = []
    for sc in scenes:
        masks = sc.masks()
        labels = [data.classes[c] for c in sc.labels]
        trip = [(int(a), int(b), data.predicate_classes[int(p)]) for a, b, p in sc.relations]
        img = draw_graph_panel(sc, masks, labels, trip, f"{data.name} image {sc.image_id}: masks and scene graph")
        safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(sc.image_id))  # release ids are strings
        path = out_dir / f"{data.name}_{safe_id}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
        paths.append(path)
    return paths


DATASETS.add(NAME, DatasetEntry(_build_lines, _show,
                                "PSG: 520 generated 64px panoptic scenes (5 stuff, 8 things, 10 long-tailed "
                                "predicates) in psg.json + panoptic PNG format; data.root=<PSG root> for real PSG"))
