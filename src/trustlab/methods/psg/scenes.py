"""``psg-scenes``: generated panoptic scenes with scene graphs, written in the PSG format.

Each 64x64 scene has **stuff** regions (sky above a horizon; grass, road or water below it, sometimes
a road band in the grass; sometimes a brick wall standing on the ground at one side), each drawn from a
colour and a texture, and **things** (person, car, boat, bird, kite, ball, box, tree) put by 4-9 placement
scenarios, drawn as shapes of several sizes (perspective: lower on the ground = larger), which may overlap (a
later thing occludes an earlier one; the panoptic map keeps the visible part).

Relations come from how each thing was placed, checked on the final masks (a thing that ended up
hidden is dropped with its relations). **The predicate depends on the layout**, so one class pair takes
several predicates and the class-pair frequency prior is a baseline a model can beat (generator 2.0,
issue 27; its PredCls R@20 is under 0.6, v1's was 0.87):

=============  ==========================================================================
on             a thing resting on grass/road (its bottom in that region; a car on the road away from its far
               edge), a box/ball on a box/car, a bird perched on a box/car/tree (touching its top)
in             a bird or kite in the sky
beside         two grounded things side by side (gap 1-4 px, similar base; subject = left); a thing on the
               grass within ``ROADSIDE`` px above the road
in front of    a grounded thing overlapping (occluding) an earlier one, its base lower; a thing covering part
               of the wall
behind         the occluded one of ``in front of`` (object = the occluder)
above          a bird/kite/ball over a thing, not touching it (a gap of 3-9 px)
parked on      a car on the road with its base within ``PARK`` px of the road's far edge
holding        a person and the ball/kite at their side at hand height (else it may be ``above`` their head)
floating on    a boat on water
leaning on     a grounded thing touching the wall's side without covering it
standing on    an upright person on grass/road, for 30% of them at random (the others: ``on``)
lying on       a person lying on grass/road (the person's silhouette on its side; ``LYING`` of persons)
=============  ==========================================================================

``standing on`` copies how real annotations use near-synonyms: nothing in the image tells it from ``on``,
so a likelihood-trained model predicts the frequent ``on`` and the rare synonym's recall (and so mR@K)
suffers, which is what frequency debiasing trades against R@K.

Placement scenarios are drawn with fixed weights (``SCENARIOS``), so the predicate distribution is
long-tailed (``on`` about a fifth of all relations, ``leaning on`` well under 1%), as in real PSG.

Built in a few seconds, cached as a PSG root under ``$TRUSTLAB_DATA/psg-scenes/v2/psg/`` with a manifest
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

NAME, VERSION, GENERATOR = "psg-scenes", "v2", "2.0"
SIZE = 64
SPLIT_SIZES = {"train": 320, "val": 80, "test": 120}
THINGS = ["person", "car", "boat", "bird", "kite", "ball", "box", "tree"]
STUFF = ["sky", "grass", "water", "road", "wall"]
PREDICATES = ["on", "in", "beside", "in front of", "above", "parked on", "holding", "floating on", "leaning on",
              "standing on", "behind", "lying on"]
STANDING_ON = 0.3  # share of upright persons annotated "standing on" instead of "on" (synonyms, as in PSG)
LYING = 0.45  # share of persons on the ground lying down ("lying on": a person's mask on its side)
HOLD_ABOVE = 0.4  # share of "hold" scenarios whose ball/kite is above the person's head instead of in the hand
N_SCENARIOS, N_WEIGHTS = [4, 5, 6, 7, 8, 9], [0.1, 0.15, 0.2, 0.2, 0.2, 0.15]  # scenarios per scene
ROADSIDE = 4  # px: a thing on the grass with the road this close below its base is "beside" the road
ROAD_BAND = 0.5  # share of grass scenes with a road band in the lower half
PARK = 12  # px: a car on the road with its base this close to the road's far edge is "parked on" it
WALL = 0.5  # share of grass/road scenes with a wall
CLASSES = THINGS + STUFF
C = {n: i for i, n in enumerate(CLASSES)}
P = {n: i for i, n in enumerate(PREDICATES)}
SCENARIOS = {"ground": 0.12, "sky": 0.03, "beside": 0.15, "front": 0.17, "above": 0.15, "stack": 0.15,
             "hold": 0.13, "lean": 0.10}
GROUNDED = {"grass": ["person", "box", "ball", "tree", "person", "box", "car", "person"],
            "road": ["car", "person", "box", "car", "person"],
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
        self.horizon = SIZE // 2
        self.wall: tuple[int, int, int, int] | None = None

    def size_at(self, kind: str, base_y: int) -> tuple[int, int]:
        aspect, (lo, hi) = SHAPE[kind]
        t = np.clip((base_y - self.horizon) / max(1, SIZE - self.horizon), 0, 1)
        h = int(round((lo + (hi - lo) * t) * self.rng.uniform(0.85, 1.2)))
        h = max(3, h)
        return max(3, int(round(h * aspect))), h

    def add(self, kind: str, x0: int, y0: int, w: int, h: int, lying: bool = False) -> int | None:
        """Place a thing in the box (x0, y0, w, h); ``lying``: its upright silhouette turned on its side."""
        if x0 < 0 or y0 < 0 or x0 + w > SIZE or y0 + h > SIZE:
            return None
        sil, parts = _thing_mask(kind, h, w) if lying else _thing_mask(kind, w, h)
        if lying:
            sil, parts = np.rot90(sil), [(np.rot90(m), rgb) for m, rgb in parts]
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

    def rel(self, subject: int, obj: int | str, predicate: str) -> None:
        """A relation; ``obj`` a thing index or a stuff class name."""
        self.rels.append((subject, -1 - C[obj] if isinstance(obj, str) else obj, P[predicate]))

    def sized(self, kinds: list[str], lo_hi: tuple[int, int] | None = None) -> tuple[str, int, int]:
        """A random kind of ``kinds`` with a height drawn from its range (or ``lo_hi``) and its width."""
        k = str(self.rng.choice(kinds))
        aspect, (lo, hi) = SHAPE[k]
        lo, hi = lo_hi or (lo, hi)
        h = int(self.rng.integers(lo, hi + 1))
        return k, max(3, int(round(h * aspect))), h


def _layout(sc: _Scene) -> None:
    rng = sc.rng
    sc.horizon = int(rng.integers(20, 35))
    ground = rng.choice(["grass", "road", "water"], p=[0.6, 0.32, 0.08])
    sc.stuff[:] = C["sky"]
    sc.stuff[sc.horizon :] = C[ground]
    if ground == "grass" and rng.random() < ROAD_BAND:
        y_r = sc.horizon + (SIZE - sc.horizon) // 2 + int(rng.integers(-3, 4))
        sc.stuff[y_r:] = C["road"]
    sc.wall = None
    if ground != "water" and rng.random() < WALL:
        w = int(rng.integers(10, 19))
        top, bottom = sc.horizon - int(rng.integers(10, 17)), sc.horizon + int(rng.integers(3, 8))
        x0 = 0 if rng.random() < 0.5 else SIZE - w
        sc.stuff[top:bottom, x0 : x0 + w] = C["wall"]
        sc.wall = (x0, top, x0 + w, bottom)


def _ground_predicate(sc: _Scene, kind: str, ground: str, lying: bool, roadside: bool) -> str:
    """A grounded thing's predicate to the region under its base: a car is ``parked on`` the road at its far
    edge (``roadside``: its base within ``PARK`` px of the road's top), ``on`` it elsewhere (driving)."""
    if kind == "person":
        if lying:
            return "lying on"
        return "standing on" if sc.rng.random() < STANDING_ON else "on"
    if kind == "car" and ground == "road":
        return "parked on" if roadside else "on"
    return "floating on" if (kind, ground) == ("boat", "water") else "on"


def _place_grounded(sc: _Scene, kind: str | None = None, base_y: int | None = None, x_center: float | None = None,
                    tries: int = 12) -> int | None:
    """A thing standing on the ground (its base row ``base_y``), with its ground relation; a person lies down
    with probability ``LYING``. A thing that covers part of the wall is ``in front of`` it."""
    rng = sc.rng
    for _ in range(tries):
        by = min(int(base_y if base_y is not None else rng.integers(sc.horizon + 3, SIZE)), SIZE - 1)
        cx = x_center if x_center is not None else float(rng.uniform(4, SIZE - 4))
        g = sc.ground_class(int(cx), by)
        if g not in GROUNDED:
            continue
        k = kind if kind is not None else str(rng.choice(GROUNDED[g]))
        if k not in GROUNDED[g]:
            continue
        lying = k == "person" and rng.random() < LYING
        w, h = sc.size_at(k, by)
        if lying:
            w, h = h, max(3, w)
        x0 = int(round(cx - w / 2))
        if sc.wall is not None:
            wx0, _, wx1, wy1 = sc.wall
            if x0 < wx1 and x0 + w > wx0 and by < wy1 + 1:
                continue  # do not stand inside the wall
        i = sc.add(k, x0, by - h + 1, w, h, lying=lying)
        if i is None:
            continue
        sc.things[i].update(grounded=True, base=by)
        g = sc.ground_class(x0 + w // 2, by)
        road_rows = np.nonzero(sc.stuff[:, min(max(x0 + w // 2, 0), SIZE - 1)] == C["road"])[0]
        roadside = len(road_rows) > 0 and by - int(road_rows.min()) < PARK
        sc.rel(i, g, _ground_predicate(sc, k, g, lying, roadside))
        if sc.wall is not None and (sc.things[i]["mask"] & (sc.stuff == C["wall"])).any():
            sc.rel(i, "wall", "in front of")
        if g == "grass" and (sc.stuff[by + 1 : by + 1 + ROADSIDE, x0 : x0 + w] == C["road"]).any():
            sc.rel(i, "road", "beside")  # standing on the grass at the road's edge
        return i
    return None


def _sc_sky(sc: _Scene) -> None:
    k, w, h = sc.sized(["bird", "kite", "bird"])
    if sc.horizon - h - 2 < 1:
        return
    i = sc.add(k, int(sc.rng.integers(0, SIZE - w)), int(sc.rng.integers(1, sc.horizon - h - 1)), w, h)
    if i is not None:
        sc.rel(i, "sky", "in")


def _sc_beside(sc: _Scene) -> None:
    """A grounded thing beside another (gap 1-4 px, similar base); subject = the left one."""
    base = sc.grounded()
    if not base:
        return _sc_ground(sc)
    rng, j = sc.rng, int(rng_choice(sc.rng, base))
    bj = sc.things[j]
    x0, _, x1, _ = bj["box"]
    by = int(np.clip(bj["base"] + rng.integers(-2, 3), sc.horizon + 2, SIZE - 1))
    gap = int(rng.integers(1, 5))
    w_guess, _ = sc.size_at("box", by)
    cx = x1 + gap + w_guess / 2 if rng.random() < 0.5 else x0 - gap - w_guess / 2
    i = _place_grounded(sc, base_y=by, x_center=cx, tries=4)
    if i is None:
        return
    a, b = sc.things[i]["box"], bj["box"]
    if (sc.things[i]["mask"] & bj["mask"]).any() or max(a[0] - b[2], b[0] - a[2]) > 6:
        return
    left, right = (i, j) if a[0] < b[0] else (j, i)
    sc.rel(left, right, "beside")


def _sc_front(sc: _Scene) -> None:
    """A grounded thing in front of another (it occludes it, its base lower); the other is ``behind`` it."""
    base = sc.grounded()
    if not base:
        return _sc_ground(sc)
    rng, j = sc.rng, int(rng_choice(sc.rng, base))
    x0, _, x1, _ = sc.things[j]["box"]
    by = int(min(SIZE - 1, sc.things[j]["base"] + rng.integers(2, 7)))
    i = _place_grounded(sc, base_y=by, x_center=float(x0 + (x1 - x0) * rng.uniform(0.0, 1.0)), tries=4)
    if i is None or not (sc.things[i]["mask"] & sc.things[j]["mask"]).any():
        return
    sc.rel(i, j, "in front of")
    sc.rel(j, i, "behind")


def _sc_above(sc: _Scene) -> None:
    """A bird, kite or ball over a thing, not touching it (gap 3-9 px)."""
    if not sc.things:
        return
    j = int(sc.rng.integers(len(sc.things)))
    x0, y0, x1, _ = sc.things[j]["box"]
    k, w, h = sc.sized(["bird", "kite", "ball"])
    cy0 = y0 - int(sc.rng.integers(3, 10)) - h
    i = sc.add(k, int(round((x0 + x1) / 2 - w / 2 + sc.rng.integers(-2, 3))), cy0, w, h)
    if i is None:
        return
    sc.rel(i, j, "above")
    if cy0 + h < sc.horizon - 1 and k != "ball":
        sc.rel(i, "sky", "in")


def _sc_stack(sc: _Scene) -> None:
    """A box or ball on a box or car, or a bird perched on a box, car or tree: touching its top (``on``)."""
    base = [i for i, t in enumerate(sc.things) if t["kind"] in ("box", "car", "tree") and t.get("grounded")]
    if not base:
        return _sc_ground(sc)
    j = int(rng_choice(sc.rng, base))
    x0, y0, x1, y1 = sc.things[j]["box"]
    if sc.things[j]["kind"] == "tree" or sc.rng.random() < 0.25:
        k, w, h = sc.sized(["bird"])
    else:
        k = str(sc.rng.choice(["box", "ball"]))
        h = w = max(3, int(round((y1 - y0) * sc.rng.uniform(0.5, 0.9))))
    i = sc.add(k, int(round((x0 + x1) / 2 - w / 2 + sc.rng.integers(-2, 3))), y0 - h, w, h)
    if i is not None:
        sc.rel(i, j, "on")


def _sc_hold(sc: _Scene) -> None:
    """A person and a ball or kite: at their side at hand height (``holding``), or in the air above their
    head (``above``, the kite or ball subject), with probability ``HOLD_ABOVE``."""
    def upright(t: dict[str, Any]) -> bool:
        x0, y0, x1, y1 = t["box"]
        return t["kind"] == "person" and y1 - y0 >= x1 - x0

    persons = [i for i, t in enumerate(sc.things) if upright(t)]
    if not persons:
        i = _place_grounded(sc, kind="person", tries=6)
        if i is None or not upright(sc.things[i]):
            return
        persons = [i]
    j = int(rng_choice(sc.rng, persons))
    x0, y0, x1, y1 = sc.things[j]["box"]
    k = str(sc.rng.choice(["ball", "kite"]))
    h = max(3, int(round((y1 - y0) * (0.35 if k == "ball" else 0.5))))
    w = h if k == "ball" else max(3, int(h * 0.8))
    if sc.rng.random() < HOLD_ABOVE:
        i = sc.add(k, int(round((x0 + x1) / 2 - w / 2 + sc.rng.integers(-2, 3))), y0 - int(sc.rng.integers(3, 8)) - h,
                   w, h)
        if i is not None:
            sc.rel(i, j, "above")
        return
    cx0 = x1 if sc.rng.random() < 0.5 else x0 - w
    i = sc.add(k, cx0, int(y0 + (y1 - y0) * 0.4) - (h if k == "kite" else h // 2), w, h)
    if i is not None:
        sc.rel(j, i, "holding")


def _sc_lean(sc: _Scene) -> None:
    """A person or box touching the wall's side (``leaning on``), or (half of the time) standing in front of it,
    covering part of it (``in front of``, from :func:`_place_grounded`)."""
    if sc.wall is None:
        return _sc_ground(sc)
    wx0, _, wx1, wy1 = sc.wall
    k = str(sc.rng.choice(["person", "box", "person"]))
    if sc.rng.random() < 0.5:
        _place_grounded(sc, kind=k, base_y=int(sc.rng.integers(wy1 + 1, min(SIZE, wy1 + 5))),
                        x_center=float(sc.rng.uniform(wx0 + 2, wx1 - 2)), tries=3)
        return
    by = int(sc.rng.integers(max(sc.horizon + 2, wy1 - 2), min(SIZE, wy1 + 4)))
    w, _ = sc.size_at(k, by)
    i = _place_grounded(sc, kind=k, base_y=by, x_center=wx1 + w / 2 if wx0 == 0 else wx0 - w / 2, tries=3)
    if i is None:
        return
    m = sc.things[i]["mask"]
    grown = np.zeros_like(m)
    grown[:, 1:] |= m[:, :-1]
    grown[:, :-1] |= m[:, 1:]
    if (grown & (sc.stuff == C["wall"])).any() and not (m & (sc.stuff == C["wall"])).any():
        sc.rel(i, "wall", "leaning on")


def _sc_ground(sc: _Scene) -> None:
    _place_grounded(sc)


def rng_choice(rng: np.random.Generator, items: list[int]) -> int:
    return int(items[int(rng.integers(len(items)))])


_SCENARIO_FNS = {"ground": _sc_ground, "sky": _sc_sky, "beside": _sc_beside, "front": _sc_front,
                 "above": _sc_above, "stack": _sc_stack, "hold": _sc_hold, "lean": _sc_lean}


def _render(sc: _Scene) -> tuple[np.ndarray, np.ndarray]:
    """The RGB image (stuff textures, then things in order: later ones occlude earlier ones) and the owner map
    (thing index per pixel, -1 = stuff)."""
    img = np.zeros((SIZE, SIZE, 3))
    for s in np.unique(sc.stuff):
        tex = _texture(sc.rng, CLASSES[int(s)], SIZE, SIZE)
        img[sc.stuff == s] = tex[sc.stuff == s]
    owner = np.full((SIZE, SIZE), -1, dtype=np.int64)
    for i, t in enumerate(sc.things):
        for pm, rgb in t["parts"]:
            img[pm] = rgb
        owner[t["mask"]] = i
    return img, owner


def _panoptic(sc: _Scene, owner: np.ndarray) -> tuple[np.ndarray, list[dict], dict[int, int]]:
    """Panoptic map (one segment per stuff class, one per visible thing), segments_info, and the segment index
    of each thing (>= 0) / stuff (-1 - class) that is visible (things below ``MIN_VISIBLE`` px are dropped)."""
    segments: list[dict] = []
    pan = np.zeros((SIZE, SIZE), dtype=np.int64)
    index_of: dict[int, int] = {}
    regions = [(i, owner == i, C[t["kind"]], 1) for i, t in enumerate(sc.things)]
    regions += [(-1 - int(s), (owner < 0) & (sc.stuff == s), int(s), 0) for s in np.unique(sc.stuff)]
    for key, vis, cat, isthing in regions:
        if vis.sum() < (MIN_VISIBLE if isthing else 1):
            continue
        index_of[key] = len(segments)
        segments.append({"id": len(segments) + 1, "category_id": cat, "iscrowd": 0, "isthing": isthing,
                         "area": int(vis.sum())})
        pan[vis] = len(segments)
    return pan, segments, index_of


def generate_scene(rng: np.random.Generator, image_id: int, file_name: str) -> PSGScene:
    """One scene (see the module docstring)."""
    sc = _Scene(rng)
    _layout(sc)
    n = int(rng.choice(N_SCENARIOS, p=N_WEIGHTS))
    names, weights = list(SCENARIOS), np.asarray(list(SCENARIOS.values()))
    for _ in range(n):
        _SCENARIO_FNS[str(rng.choice(names, p=weights / weights.sum()))](sc)
    img, owner = _render(sc)
    pan, segments, index_of = _panoptic(sc, owner)
    rels = sorted({(index_of[a], index_of[b], p) for a, b, p in sc.rels if a in index_of and b in index_of})
    image = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    return PSGScene(image_id, file_name, image, pan, segments, np.asarray(rels, dtype=np.int64).reshape(-1, 3))


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


def _own_root(cfg: Any) -> Any:
    """``psg`` (the recipes' ``data.name=psg``): a PSG root on disk, so ``--root`` is required."""
    from trustlab.errors import ConfigError

    if cfg is None or getattr(cfg, "root", None) is None:
        raise ConfigError("dataset 'psg' is a PSG root on disk (psg.json + images + panoptic PNGs): pass --root "
                          "<PSG root>; the embedded scenes are 'psg-scenes'")
    return cfg


DATASETS.add(NAME, DatasetEntry(_build_lines, _show,
                                "PSG: 520 generated 64px panoptic scenes (5 stuff, 8 things, 12 long-tailed "
                                "predicates) in psg.json + panoptic PNG format; data.root=<PSG root> for real PSG"))
DATASETS.add("psg", DatasetEntry(lambda cfg: _build_lines(_own_root(cfg)), lambda cfg, out: _show(_own_root(cfg), out),
                                 "PSG: your own PSG root (the OpenPSG release layout: psg.json with string ids, "
                                 "COCO images, panoptic PNGs), --root <PSG root>"))
