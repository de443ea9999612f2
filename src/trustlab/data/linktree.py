"""Lay a list-defined dataset out as a folder tree of hard links (copies where links are refused), atomically.

Used by the paper suite's readers (Dassl split files, OpenOOD image lists) to give the folder recipes the layout
they read. The tree is built under a hidden temporary name beside ``dest`` and renamed into place, so ``dest`` is
either complete or absent: an interrupted build leaves nothing a later run could mistake for data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path


def link_tree(dest: Path, tree: Mapping[Path, Sequence[str | Path]], top: Path) -> Path:
    """Write ``tree`` ({relative folder: image paths under ``top``}) at ``dest``; each image is named by its path
    relative to ``top`` with separators as ``__`` (unique, traceable). Returns ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for rel, paths in tree.items():
            (tmp / rel).mkdir(parents=True, exist_ok=True)
            for p in paths:
                target = tmp / rel / str(Path(p).relative_to(top)).replace(os.sep, "__")
                try:
                    os.link(p, target)
                except OSError:  # another file system, or links refused: a copy
                    shutil.copyfile(p, target)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
