"""Distortion types of the embedded IQA dataset: ``fn(image uint8 HxWx3, level 1..5, rng) -> uint8 HxWx3``.

Level 1 is the mildest, level 5 the strongest. Nine are written here with Pillow/numpy (the classic LIVE /
TID2013 / KADID families); three come from ``imagecorruptions`` (Hendrycks & Dietterich's ImageNet-C code,
packaged as imagecorruptions-imaug), called with its own severity 1..5.

Every type is registered in ``DISTORTIONS`` (a test checks each changes the image more as the level rises).

Usage::

    from trustlab.methods.pmtiqa.distortions import DISTORTIONS
    out = DISTORTIONS.get("jpeg")(img, 3, np.random.default_rng(0))
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from trustlab.registry import Registry

Distortion = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
DISTORTIONS: Registry[Distortion] = Registry("distortion", listed=False)
LEVELS = 5


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


@DISTORTIONS.register("gaussian_blur", help="Gaussian blur, radius 0.5..3 px (Pillow)")
def gaussian_blur(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    radius = [0.5, 0.9, 1.4, 2.1, 3.0][level - 1]
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))


@DISTORTIONS.register("white_noise", help="additive white Gaussian noise, sigma 4..48 grey levels")
def white_noise(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    sigma = [4, 9, 16, 28, 48][level - 1]
    return _u8(img.astype(np.float64) + rng.normal(0, sigma, img.shape))


@DISTORTIONS.register("jpeg", help="JPEG compression, quality 40..4 (Pillow)")
def jpeg(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    quality = [40, 20, 12, 7, 4][level - 1]
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@DISTORTIONS.register("jpeg2000", help="JPEG 2000 compression, rate 6..40:1 (Pillow/OpenJPEG)")
def jpeg2000(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    rate = [6, 10, 16, 25, 40][level - 1]
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG2000", quality_mode="rates", quality_layers=[rate])
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@DISTORTIONS.register("contrast", help="contrast reduction towards the mean grey, to 75..15% contrast")
def contrast(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    keep = [0.75, 0.55, 0.4, 0.25, 0.15][level - 1]
    x = img.astype(np.float64)
    return _u8(x.mean() + keep * (x - x.mean()))


@DISTORTIONS.register("saturation", help="colour desaturation towards luma, 70..0% saturation kept")
def saturation(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    keep = [0.7, 0.5, 0.3, 0.12, 0.0][level - 1]
    x = img.astype(np.float64)
    grey = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
    return _u8(grey + keep * (x - grey))


@DISTORTIONS.register("quantization", help="uniform colour quantisation, 24..3 levels per channel")
def quantization(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    q = [24, 12, 7, 4, 3][level - 1]
    step = 255.0 / (q - 1)
    return _u8(np.round(img.astype(np.float64) / step) * step)


# no exact 2x: the proxy metrics (GMSD, HaarPSI) average-pool by 2 first and would not see it
@DISTORTIONS.register("pixelation", help="box down- then nearest up-sampling by 1.5..6x")
def pixelation(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    factor = [1.5, 2.5, 3.5, 4.5, 6.0][level - 1]
    h, w = img.shape[:2]
    small = Image.fromarray(img).resize((max(1, round(w / factor)), max(1, round(h / factor))), Image.BOX)
    return np.asarray(small.resize((w, h), Image.NEAREST))


@DISTORTIONS.register("ringing", help="ideal low-pass in the Fourier domain (Gibbs ringing), cut-off 60..14%")
def ringing(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    cut = [0.6, 0.42, 0.3, 0.2, 0.14][level - 1]
    h, w = img.shape[:2]
    fy = np.abs(np.fft.fftfreq(h))[:, None] * 2  # 1.0 = Nyquist
    fx = np.abs(np.fft.fftfreq(w))[None, :] * 2
    mask = (np.sqrt(fy**2 + fx**2) <= cut).astype(np.float64)
    spec = np.fft.fft2(img.astype(np.float64), axes=(0, 1)) * mask[..., None]
    return _u8(np.real(np.fft.ifft2(spec, axes=(0, 1))))


SEEDED = ("impulse_noise",)  # imagecorruptions functions with a ``seed`` argument


def _corruption(name: str) -> Distortion:
    def fn(img: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
        import imagecorruptions

        # imagecorruptions draws from numpy's global RNG, except impulse_noise, which takes its own ``seed``
        # (scikit-image's random_noise; without one it draws fresh OS entropy and builds differ): seed both
        # from ours so builds are reproducible.
        seed = int(rng.integers(0, 2**31 - 1))
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            kwargs = {"seed": seed} if name in SEEDED else {}
            out = imagecorruptions.corrupt(img, corruption_name=name, severity=level, **kwargs)
        finally:
            np.random.set_state(state)
        return _u8(np.asarray(out, dtype=np.float64)[: img.shape[0], : img.shape[1], :3])

    fn.__name__ = name
    return fn


DISTORTIONS.add("motion_blur", _corruption("motion_blur"), "motion blur, imagecorruptions severity 1..5")
DISTORTIONS.add("impulse_noise", _corruption("impulse_noise"), "salt-and-pepper noise, imagecorruptions severity 1..5")
DISTORTIONS.add("speckle_noise", _corruption("speckle_noise"),
                "multiplicative speckle noise, imagecorruptions severity 1..5")
