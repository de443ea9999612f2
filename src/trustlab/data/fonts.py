"""The one font finder: matplotlib's bundled TTFs (every install has them; nothing is downloaded).

``digit_fonts()`` lists the fonts that render ten distinct, non-empty digits; ``font_paths(text)``
those that render every character of ``text`` distinctly. Generators of glyph images (Digits-DG's
``syn`` domain, the OOD glyph sets, captioned scenes) all take their fonts from here.
"""

from __future__ import annotations

import functools
import glob
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from trustlab.errors import DataError

# Families whose glyphs look like ordinary text (the display/symbol fonts are left out).
FONT_PREFIXES = ("DejaVuSans", "DejaVuSerif", "STIXGeneral", "cmr10", "cmb10", "cmss10", "cmti10", "cmtt10")


@functools.cache
def font_paths(text: str = "0123456789", prefixes: tuple[str, ...] = FONT_PREFIXES) -> tuple[str, ...]:
    """matplotlib's TTFs (of ``prefixes``) that render each character of ``text`` as a distinct, non-empty glyph."""
    import matplotlib

    paths = sorted(glob.glob(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "*.ttf")))
    good = []
    for p in paths:
        base = os.path.basename(p)
        if not base.startswith(prefixes) or "Display" in base:
            continue
        try:
            font = ImageFont.truetype(p, 24)
        except OSError:
            continue
        glyphs = set()
        for ch in text:
            im = Image.new("L", (40, 40))
            ImageDraw.Draw(im).text((20, 20), ch, fill=255, font=font, anchor="mm")
            if np.asarray(im).sum() == 0:
                break
            glyphs.add(im.tobytes())
        if len(glyphs) == len(set(text)):
            good.append(p)
    if not good:
        raise DataError("no usable TTF font found in matplotlib's mpl-data/fonts; reinstall matplotlib")
    return tuple(good)


def digit_fonts() -> tuple[str, ...]:
    """Fonts that render the ten digits distinctly (Digits-DG's ``syn`` domain)."""
    return font_paths("0123456789")
