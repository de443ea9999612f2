"""Data for PMT-IQA: the embedded distortion dataset ``iqa-distort`` and the in-memory :class:`IQAData`.

``iqa-distort`` (built offline in about a minute, cached under ``$TRUSTLAB_DATA/iqa-distort/v1``):

* 21 natural photographs and textures that installed packages ship (scikit-image: astronaut, camera, coffee,
  chelsea, rocket, hubble_deep_field, immunohistochemistry, coins, moon, brick, grass, gravel, retina, cell,
  clock, page, colorwheel; scikit-learn: china, flower; matplotlib: grace_hopper, Minduka_Present_Blue_Pack),
  each cropped three times (random position, 40-100% of the short side) and resized to 64x64: 63 pristine
  reference images;
* every reference distorted by the 12 types of :mod:`~trustlab.methods.pmtiqa.distortions` at 5 levels:
  3,780 distorted images;
* a **proxy MOS**, not human opinion: three full-reference metrics from piq against the pristine image,
  MS-SSIM (kernel 3, 5 scales), GMSD (negated) and HaarPSI, each min-max rescaled to [0, 1] over the
  dataset, averaged and multiplied by 100 (higher = better, ``mos_range`` (0, 100)). Agreement with human
  opinion is whatever those metrics have on LIVE/TID2013 (SRCC about 0.9), and no more.

Splits are by **source photograph** (:func:`split_by_group`): the three crops of a photograph and all their
distortions land in the same split, so no content is shared between train, val and test.

Usage::

    data = load_distortion_data()                  # IQAData
    parts = split_by_group(data.groups, seed=0)    # {"train": idx, "val": idx, "test": idx}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from trustlab.data.base import DatasetEntry
from trustlab.data.cache import load_or_build
from trustlab.errors import DataError
from trustlab.methods.pmtiqa.distortions import DISTORTIONS, LEVELS
from trustlab.registry import DATASETS

NAME, VERSION, GENERATOR = "iqa-distort", "v1", "1.2"  # 1.2: impulse noise seeded (1.1 builds differed)
SIZE = 64
CROPS_PER_SOURCE = 3
SKIMAGE_SOURCES = (
    "astronaut", "camera", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "coins",
    "moon", "brick", "grass", "gravel", "retina", "cell", "clock", "page", "colorwheel",
)
MPL_SOURCES = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")


@dataclass
class IQAData:
    """Scored images in memory: ``images[i]`` uint8 (C, H, W), ``mos[i]``, ``groups[i]`` (content id).

    ``mos_range`` (lo, hi) and ``lower_better`` describe the labels (pyiqa's per-dataset options);
    ``info`` holds optional per-image arrays (``dtype``, ``level``, ``ref``) and name lists.
    """

    name: str
    images: list[torch.Tensor]
    mos: np.ndarray
    groups: np.ndarray
    mos_range: tuple[float, float] = (0.0, 100.0)
    lower_better: bool = False
    names: list[str] = field(default_factory=list)
    splits: dict[str, np.ndarray] | None = None  # explicit splits (CSV split column); else split_by_group
    info: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def quality01(self) -> np.ndarray:
        """Labels mapped to [0, 1] with higher = better (pyiqa: ``1 - norm`` for lower-is-better labels)."""
        lo, hi = self.mos_range
        q = (self.mos.astype(np.float64) - lo) / (hi - lo)
        return 1.0 - q if self.lower_better else q


def _sources() -> list[tuple[str, np.ndarray]]:
    """The pristine photographs: (name, uint8 HxWx3)."""
    import matplotlib
    import skimage.data
    from PIL import Image
    from sklearn.datasets import load_sample_images

    out = []
    for name in SKIMAGE_SOURCES:
        out.append((name, np.asarray(getattr(skimage.data, name)())))
    sk = load_sample_images()
    for fname, img in zip(sk.filenames, sk.images):
        out.append((Path(fname).stem, np.asarray(img)))
    sample_dir = Path(matplotlib.get_data_path()) / "sample_data"
    for fname in MPL_SOURCES:
        with Image.open(sample_dir / fname) as im:
            out.append((Path(fname).stem, np.asarray(im.convert("RGB"))))
    fixed = []
    for name, img in out:
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
        if img.dtype != np.uint8:  # e.g. boolean or float images
            img = np.clip(img.astype(np.float64) * (255 if img.max() <= 1 else 1), 0, 255).astype(np.uint8)
        fixed.append((name, img))
    return fixed


def _crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.4, 1.0))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return np.asarray(Image.fromarray(img[y : y + side, x : x + side]).resize((SIZE, SIZE), Image.LANCZOS))


def proxy_metrics(dist: np.ndarray, ref: np.ndarray, batch: int = 256) -> dict[str, np.ndarray]:
    """Full-reference scores of uint8 NHWC ``dist`` against ``ref`` (piq): ms_ssim, gmsd, haarpsi."""
    import piq

    out: dict[str, list[np.ndarray]] = {"ms_ssim": [], "gmsd": [], "haarpsi": []}
    for i in range(0, len(dist), batch):
        x = torch.from_numpy(dist[i : i + batch]).permute(0, 3, 1, 2).float() / 255
        y = torch.from_numpy(ref[i : i + batch]).permute(0, 3, 1, 2).float() / 255
        out["ms_ssim"].append(piq.multi_scale_ssim(x, y, data_range=1.0, kernel_size=3, reduction="none").numpy())
        out["gmsd"].append(piq.gmsd(x, y, data_range=1.0, reduction="none").numpy())
        out["haarpsi"].append(piq.haarpsi(x, y, data_range=1.0, reduction="none").numpy())
    return {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}


def combine_proxy(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """Proxy MOS in [0, 100]: each metric oriented higher = better, min-max rescaled, averaged, x100."""
    parts = []
    for key, v in sorted(metrics.items()):
        q = -v if key == "gmsd" else v  # GMSD is a deviation: lower is better
        span = q.max() - q.min()
        parts.append((q - q.min()) / span if span > 0 else np.zeros_like(q))
    return 100.0 * np.mean(parts, axis=0)


def build_distortion_arrays(seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Generate the dataset (see the module docstring); ``{"data": {key: array}}`` for the cache."""
    rng = np.random.default_rng(seed)
    sources = _sources()
    refs, ref_source = [], []
    for s, (_, img) in enumerate(sources):
        for _ in range(CROPS_PER_SOURCE):
            refs.append(_crop(img, rng))
            ref_source.append(s)
    types = DISTORTIONS.names()
    imgs, ref_idx, dtype, level = [], [], [], []
    for r, ref in enumerate(refs):
        for t, name in enumerate(types):
            fn = DISTORTIONS.get(name)
            for lv in range(1, LEVELS + 1):
                imgs.append(fn(ref, lv, rng))
                ref_idx.append(r)
                dtype.append(t)
                level.append(lv)
    images = np.stack(imgs)
    ref_arr = np.asarray(ref_idx, dtype=np.int64)
    refs_arr = np.stack(refs)
    metrics = proxy_metrics(images, refs_arr[ref_arr])
    mos = combine_proxy(metrics)
    arrays = {
        "images": images, "refs": refs_arr, "mos": mos.astype(np.float32), "ref": ref_arr,
        "source": np.asarray(ref_source, dtype=np.int64)[ref_arr], "dtype": np.asarray(dtype, dtype=np.int64),
        "level": np.asarray(level, dtype=np.int64), "type_names": np.asarray(types),
        "source_names": np.asarray([n for n, _ in sources]),
        **{f"metric_{k}": v.astype(np.float32) for k, v in metrics.items()},
    }
    return {"data": arrays}


def load_distortion_arrays(seed: int = 0, cache_dir: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """The cached arrays of ``iqa-distort`` (built on first use)."""
    parts = load_or_build(NAME, VERSION, lambda: build_distortion_arrays(seed), seed=seed,
                          generator_version=GENERATOR, cache_dir=cache_dir)
    return parts["data"]


def load_distortion_data(seed: int = 0, exclude_types: tuple[str, ...] = ()) -> IQAData:
    """``iqa-distort`` as :class:`IQAData` (groups = source photograph); ``exclude_types`` are kept out."""
    a = load_distortion_arrays(seed)
    types = [str(t) for t in a["type_names"]]
    for t in exclude_types:
        if t not in types:
            from trustlab.errors import did_you_mean

            raise DataError(f"unknown distortion type '{t}'{did_you_mean(t, types)}; types: {', '.join(types)}")
    keep = ~np.isin(a["dtype"], [types.index(t) for t in exclude_types])
    imgs = torch.from_numpy(a["images"][keep]).permute(0, 3, 1, 2).contiguous()
    return IQAData(
        name=NAME, images=list(imgs), mos=a["mos"][keep].astype(np.float64), groups=a["source"][keep],
        mos_range=(0.0, 100.0), lower_better=False,
        names=[f"{a['source_names'][s]}_r{r}_{types[t]}_{lv}" for s, r, t, lv in
               zip(a["source"][keep], a["ref"][keep], a["dtype"][keep], a["level"][keep])],
        info={"dtype": a["dtype"][keep], "level": a["level"][keep], "ref": a["ref"][keep], "type_names": types},
    )


def split_by_group(groups: np.ndarray, seed: int, val_fraction: float = 0.15,
                   test_fraction: float = 0.2) -> dict[str, np.ndarray]:
    """Indices of train/val/test with every group (reference content) in exactly one split.

    Groups are shuffled with ``seed``; the first ``round(test_fraction * G)`` go to test, the next
    ``round(val_fraction * G)`` to val (each at least one when the fraction is > 0), the rest to train.
    """
    uniq = np.unique(groups)
    g = len(uniq)
    n_test = max(1, round(test_fraction * g)) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * g)) if val_fraction > 0 else 0
    if g - n_test - n_val < 1:
        raise DataError(f"only {g} reference contents: too few to split into train/val/test "
                        f"(val_fraction={val_fraction}, test_fraction={test_fraction}); lower the fractions")
    perm = np.random.default_rng(seed).permutation(uniq)
    parts = {"test": perm[:n_test], "val": perm[n_test : n_test + n_val], "train": perm[n_test + n_val :]}
    return {k: np.flatnonzero(np.isin(groups, v)) for k, v in parts.items()}


def kfold_by_group(groups: np.ndarray, folds: int, fold: int, seed: int) -> dict[str, np.ndarray]:
    """Fold ``fold`` of a ``folds``-fold split by group (reference content): every group is tested once.

    Groups are shuffled with ``seed`` and cut into ``folds`` near-equal folds (``np.array_split``); fold
    ``fold`` is test, fold ``(fold + 1) % folds`` is validation (for choosing a regime), the rest train.
    """
    uniq = np.unique(groups)
    if folds < 3:
        raise DataError(f"data.folds={folds}: k-fold needs at least 3 folds (train, val and test folds)")
    if folds > len(uniq):
        raise DataError(f"data.folds={folds} is more than the {len(uniq)} reference contents; lower data.folds")
    if not 0 <= fold < folds:
        raise DataError(f"data.fold={fold} is outside 0..{folds - 1} (data.folds={folds})")
    parts = np.array_split(np.random.default_rng(seed).permutation(uniq), folds)
    test, val = parts[fold], parts[(fold + 1) % folds]
    train = np.setdiff1d(uniq, np.concatenate([test, val]))
    return {k: np.flatnonzero(np.isin(groups, v)) for k, v in (("train", train), ("val", val), ("test", test))}


# --- trustlab data build|show iqa-distort ------------------------------------------------------------


def _build_lines(cfg: object) -> list[str]:
    a = load_distortion_arrays()
    types = [str(t) for t in a["type_names"]]
    lines = [f"{NAME}: {len(a['images'])} distorted images of {len(a['refs'])} references "
             f"({len(a['source_names'])} source photos x {CROPS_PER_SOURCE} crops), "
             f"{len(types)} types x {LEVELS} levels, "
             f"{SIZE}x{SIZE}; proxy MOS (piq MS-SSIM/GMSD/HaarPSI vs the pristine image, NOT human opinion) "
             f"in [{a['mos'].min():.1f}, {a['mos'].max():.1f}]"]
    parts = split_by_group(a["source"], seed=0)
    lines.append("split seed 0 (by source photo): " + "  ".join(f"{k}={len(v)}" for k, v in parts.items()))
    for t, name in enumerate(types):
        m = [float(a["mos"][(a["dtype"] == t) & (a["level"] == lv)].mean()) for lv in range(1, LEVELS + 1)]
        lines.append(f"  {name:<14} mean proxy MOS by level: " + " ".join(f"{v:5.1f}" for v in m))
    return lines


def _show(cfg: object, out_dir: Path) -> list[Path]:
    """One PNG grid: rows = distortion types, columns = levels 1..5, for two references."""
    from PIL import Image, ImageDraw

    a = load_distortion_arrays()
    types = [str(t) for t in a["type_names"]]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in (0, len(a["refs"]) // 2):
        cell, label_w = SIZE * 2, 110
        canvas = Image.new("RGB", (label_w + (LEVELS + 1) * cell, 16 + len(types) * cell), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        draw.text((4, 2), f"reference {r} | pristine, then levels 1..5 (proxy MOS)", fill=(0, 0, 0))
        for t, name in enumerate(types):
            y = 16 + t * cell
            draw.text((4, y + cell // 2), name, fill=(0, 0, 0))
            canvas.paste(Image.fromarray(a["refs"][r]).resize((cell, cell), Image.NEAREST), (label_w, y))
            for lv in range(1, LEVELS + 1):
                i = int(np.flatnonzero((a["ref"] == r) & (a["dtype"] == t) & (a["level"] == lv))[0])
                tile = Image.fromarray(a["images"][i]).resize((cell, cell), Image.NEAREST)
                canvas.paste(tile, (label_w + lv * cell, y))
                draw.text((label_w + lv * cell + 2, y + 2), f"{a['mos'][i]:.0f}", fill=(255, 255, 0))
        path = out_dir / f"{NAME}_ref{r}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        canvas.save(tmp, format="PNG")
        os.replace(tmp, path)
        paths.append(path)
    return paths


DATASETS.add(NAME, DatasetEntry(_build_lines, _show,
                                "IQA: 63 refs x 12 distortions x 5 levels, 64px, proxy MOS from piq FR metrics"))
