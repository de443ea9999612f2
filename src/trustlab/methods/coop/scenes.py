"""Captioned scenes, composed offline: the pretraining data of the embedded CLIP and CoOp's downstream tasks.

A scene is a 32x32 RGB image of one or two digits drawn in a *style* (handwritten MNIST-5k strokes,
printed glyphs from matplotlib's bundled fonts, or outlined glyphs), tinted in a *colour*, placed at a
*position* on a *background* (plain, or crops of scikit-image's brick / grass / gravel textures and of
the ``chelsea`` cat photo, i.e. fur). Every scene keeps its attributes (object, style, colour,
background, position, count); :func:`caption` turns them into a sentence with one of many templates and
synonyms, drawn afresh each time, so the same image is seen with many different captions.

Two disjoint sources are kept apart so the downstream tasks test held-out *images*:

* ``pretrain``: MNIST-5k's train split (4000 digits), even-numbered fonts, the top half of every texture;
* ``downstream``: MNIST-5k's test split (1000 digits), odd-numbered fonts, the bottom half of every texture.

The label words of the downstream tasks are the attribute names themselves (``seven``, ``red``, ``brick``,
``printed``); captions use them and their synonyms, so zero-shot prompts work, and how well depends on
their wording (``"a photo of a {}."`` is a template the captions never use verbatim). Captions
under-describe the scenes as web alt-text does (:data:`MENTION`): digit and colour are named in most
captions, style, background and position in one in ten, so the text tower knows those words only
weakly while the image features still separate them: hand-crafted prompts leave room there (CoOp's
regime, where a few-shot linear probe beats zero-shot CLIP on e.g. EuroSAT or DTD).

Usage::

    arrays = load_scenes()                           # {"pretrain": {...}, "downstream": {...}}
    x, attrs = arrays["pretrain"]["images"], arrays["pretrain"]["attrs"]   # uint8 (N,32,32,3), int64 (N,6)
    text = caption(np.random.default_rng(0), attrs[0])
"""

from __future__ import annotations

import functools
import glob
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from trustlab.data.cache import load_or_build

NAME, VERSION = "coop-scenes", "v1"
GENERATOR_VERSION = "1.0"  # bump when the generator changes: cached copies (and the pretrained CLIP) rebuild
SEED = 0
SIZE = 32
NUM_PRETRAIN = 12000
NUM_DOWNSTREAM = 3000

# Attribute columns of ``attrs`` and the names of their values (the class names of the downstream tasks).
ATTRS = ("object", "style", "colour", "background", "position", "count")
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
STYLES = ["handwritten", "printed", "outlined"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "white"]
BACKGROUNDS = ["plain", "brick", "grass", "gravel", "fur"]
POSITIONS = ["left", "centre", "right"]
COUNTS = ["one", "two"]
VALUES = {"object": DIGITS, "style": STYLES, "colour": COLOURS, "background": BACKGROUNDS,
          "position": POSITIONS, "count": COUNTS}

_RGB = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 255), "yellow": (240, 225, 40),
        "purple": (170, 60, 220), "white": (245, 245, 245)}

# ---------------------------------------------------------------- captions

_SYN = {
    "object": [[w, str(i), f"number {w}", f"digit {i}", f"{w}"] for i, w in enumerate(DIGITS)],
    "style": [["handwritten", "hand-written", "hand drawn", "scribbled"], ["printed", "typed", "typeset", "font"],
              ["outlined", "hollow", "outline", "contour"]],
    "colour": [["red", "crimson", "scarlet"], ["green", "emerald", "lime"], ["blue", "azure", "cobalt"],
               ["yellow", "golden", "lemon"], ["purple", "violet", "magenta"], ["white", "pale", "snowy"]],
    "background": [["plain", "dark", "black", "empty"], ["brick", "brick wall", "bricks"],
                   ["grass", "lawn", "grassy"], ["gravel", "pebbles", "stones"], ["fur", "furry", "cat fur"]],
    "position": [["on the left", "at the left", "left"], ["in the centre", "in the middle", "centred"],
                 ["on the right", "at the right", "right"]],
}
_NOUNS = ["digit", "number", "numeral", "character", "symbol", "sign"]
_OPENERS = ["a photo of {np}", "an image of {np}", "{np}", "a picture showing {np}", "there is {np}",
            "a small drawing of {np}", "a cropped photo of {np}", "close-up of {np}", "a scene with {np}",
            "look, {np}", "this is {np}", "a snapshot of {np}"]
_BG_PHRASES = ["on a {} background", "on {}", "in front of {}", "against a {} backdrop", "over {}",
               "with a {} background", "on a {} surface"]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


# How often a caption names each attribute (count is always named when there are two objects).
MENTION = {"object": 0.85, "colour": 0.7, "style": 0.1, "background": 0.1, "position": 0.1}


def caption(rng: np.random.Generator, attrs: np.ndarray, mention: dict[str, float] | None = None) -> str:
    """One random caption of a scene from its attribute row (see ``ATTRS``); each attribute is named with
    its probability in ``mention`` (default :data:`MENTION`), in one of several wordings, so captions vary
    widely."""
    p = MENTION if mention is None else mention
    obj, style, colour, bg, pos, count = (int(a) for a in attrs)
    words = []
    two = count == 1
    if two:
        words.append(_pick(rng, ["two", "a pair of", "twin", "2"]))
    elif rng.random() < 0.3:
        words.append(_pick(rng, ["one", "a single", "a lone"]))
    else:
        words.append("a")
    if rng.random() < p["colour"]:
        words.append(_pick(rng, _SYN["colour"][colour]))
    if rng.random() < p["style"]:
        words.append(_pick(rng, _SYN["style"][style]))
    noun = _pick(rng, _NOUNS) + ("s" if two else "")
    if rng.random() < p["object"]:
        name = _pick(rng, _SYN["object"][obj])
        words += [name, noun] if rng.random() < 0.5 else [noun, name]
    else:
        words.append(noun)
    np_ = " ".join(words)
    text = _pick(rng, _OPENERS).format(np=np_)
    extras = []
    if rng.random() < p["background"]:
        extras.append(_pick(rng, _BG_PHRASES).format(_pick(rng, _SYN["background"][bg])))
    if not two and rng.random() < p["position"]:
        extras.append(_pick(rng, _SYN["position"][pos]))
    rng.shuffle(extras)
    text = " ".join([text, *extras])
    return text + _pick(rng, [".", "", "."])


# ---------------------------------------------------------------- sources


@functools.cache
def _fonts() -> tuple[str, ...]:
    """matplotlib's bundled TTFs with ordinary digit glyphs, sorted (even ones pretrain, odd ones downstream)."""
    import matplotlib

    prefixes = ("DejaVuSans", "DejaVuSerif", "STIXGeneral", "cmr10", "cmb10", "cmss10", "cmtt10")
    paths = sorted(glob.glob(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "*.ttf")))
    return tuple(p for p in paths if os.path.basename(p).startswith(prefixes) and "Display" not in p)


@functools.cache
def _glyph(font_path: str, digit: int, outline: bool) -> np.ndarray:
    """A 28x28 float mask in [0,1] of a digit glyph, MNIST-like framing (rendered at 2x, downsampled)."""
    font = ImageFont.truetype(font_path, 40)
    im = Image.new("L", (56, 56))
    if outline:
        ImageDraw.Draw(im).text((28, 28), str(digit), fill=0, font=font, anchor="mm", stroke_width=3, stroke_fill=255)
    else:
        ImageDraw.Draw(im).text((28, 28), str(digit), fill=255, font=font, anchor="mm", stroke_width=1,
                                stroke_fill=255)
    return np.asarray(im.resize((28, 28), Image.BILINEAR), dtype=np.float64) / 255.0


@functools.cache
def _textures() -> tuple[np.ndarray, ...]:
    """Grey 0..255 textures in BACKGROUNDS order after ``plain``: brick, grass, gravel, fur (chelsea)."""
    import skimage.data as skd

    cat = np.asarray(skd.chelsea(), dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    return tuple(np.asarray(getattr(skd, n)(), dtype=np.float64) for n in ("brick", "grass", "gravel")) + (cat,)


def _background(rng: np.random.Generator, kind: int, half: int) -> np.ndarray:
    """A 32x32x3 float background, dark enough for any object colour; ``half`` 0/1 = top/bottom of textures."""
    if kind == 0:
        return np.broadcast_to(rng.uniform(0, 50, 3), (SIZE, SIZE, 3)).astype(np.float64)
    tex = _textures()[kind - 1]
    h, w = tex.shape
    lo, hi = (0, h // 2) if half == 0 else (h // 2, h)
    s = int(rng.integers(40, 96))
    y, x = int(rng.integers(lo, hi - s + 1)), int(rng.integers(0, w - s + 1))
    patch = Image.fromarray(tex[y : y + s, x : x + s].astype(np.float32), mode="F").resize((SIZE, SIZE), Image.BILINEAR)
    g = np.asarray(patch, dtype=np.float64)
    g = (g - g.min()) / max(g.max() - g.min(), 1.0)
    tint = rng.uniform(0.5, 1.0, 3) * rng.uniform(60, 110)
    return g[..., None] * tint


def _place(mask28: np.ndarray, size: int, cx: float, cy: float) -> np.ndarray:
    """Resize a 28x28 mask to ``size`` and paste it centred at (cx, cy) on a 32x32 canvas."""
    m = np.asarray(Image.fromarray((mask28 * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR),
                   dtype=np.float64) / 255.0
    out = np.zeros((SIZE, SIZE))
    x0, y0 = int(round(cx - size / 2)), int(round(cy - size / 2))
    xs, ys = max(0, x0), max(0, y0)
    xe, ye = min(SIZE, x0 + size), min(SIZE, y0 + size)
    out[ys:ye, xs:xe] = m[ys - y0 : ye - y0, xs - x0 : xe - x0]
    return out


def compose(rng: np.random.Generator, attrs: np.ndarray, digits: tuple[np.ndarray, np.ndarray],
            fonts: tuple[str, ...], half: int) -> np.ndarray:
    """Render one scene (uint8 32x32x3) with the attributes ``attrs`` (a row as in ``ATTRS``)."""
    obj, style, colour, bg, pos, count = (int(a) for a in attrs)
    imgs, labels = digits

    def mask() -> np.ndarray:
        if style == 0:
            idx = np.flatnonzero(labels == obj)
            return imgs[int(idx[rng.integers(len(idx))])].astype(np.float64) / 255.0
        return _glyph(fonts[int(rng.integers(len(fonts)))], obj, outline=style == 2)

    if count == 0:
        size = int(rng.integers(18, 24))
        cx = SIZE / 2 + (pos - 1) * 7 + rng.uniform(-1.5, 1.5)
        a = _place(mask(), size, cx, SIZE / 2 + rng.uniform(-3, 3))
    else:
        size = int(rng.integers(14, 18))
        a = np.maximum(_place(mask(), size, SIZE / 2 - 7.5, SIZE / 2 + rng.uniform(-3, 3)),
                       _place(mask(), size, SIZE / 2 + 7.5, SIZE / 2 + rng.uniform(-3, 3)))
    rgb = np.clip(np.array(_RGB[COLOURS[colour]], dtype=np.float64) + rng.normal(0, 18, 3), 0, 255)
    out = _background(rng, bg, half) * (1 - a[..., None]) + rgb * a[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def make_scenes(n: int, source: str, seed: int) -> dict[str, np.ndarray]:
    """``n`` scenes with uniformly drawn attributes from ``source`` (pretrain | downstream)."""
    from trustlab.data.mnist import load_mnist5k

    mnist = load_mnist5k()
    half = 0 if source == "pretrain" else 1
    digits = (mnist.x_train, mnist.y_train) if half == 0 else (mnist.x_test, mnist.y_test)
    fonts = _fonts()[half::2]
    rng = np.random.default_rng([seed, half])
    sizes = [len(VALUES[a]) for a in ATTRS]
    attrs = np.stack([rng.integers(0, k, n) for k in sizes], axis=1).astype(np.int64)
    attrs[:, ATTRS.index("count")] = (rng.random(n) < 0.2).astype(np.int64)
    attrs[attrs[:, ATTRS.index("count")] == 1, ATTRS.index("position")] = 1  # two objects: side by side, centred
    images = np.stack([compose(rng, row, digits, fonts, half) for row in attrs])
    return {"images": images, "attrs": attrs}


def load_scenes(cache_dir: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """The cached pretraining and downstream scenes (built on first use, a few seconds)."""
    return load_or_build(
        NAME, VERSION,
        lambda: {"pretrain": make_scenes(NUM_PRETRAIN, "pretrain", SEED),
                 "downstream": make_scenes(NUM_DOWNSTREAM, "downstream", SEED)},
        seed=SEED, generator_version=GENERATOR_VERSION, cache_dir=cache_dir,
    )
