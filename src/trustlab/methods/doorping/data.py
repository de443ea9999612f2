"""Data for distillation: the grey source datasets as tensors, and saved distilled sets.

- :func:`load_source` reads ``data.name`` (``mnist5k`` always available, ``fashion-mnist`` from Debian's
  package, or a torchvision-stored set under ``data.root``: ``tv-cifar10``, ``tv-svhn``, ``tv-stl10``,
  ``tv-fashion-mnist``, ``tv-mnist``, ``tv-cifar100``, read by ``trustlab.data.torchvision_sets``) into float
  tensors (N, C, H, W) in [0, 1] (C = 1 for the grey sets, 3 for the colour ones), optionally subsampled
  (``data.max_per_domain``, class-stratified, seeded by ``data.split_seed``) and brought to
  ``data.image_size``: 32 (the recipes' default) zero-pads the 28-px images by 2 pixels per side, as the DC
  code pads MNIST in its first conv, so that small_cnn's three 2x poolings see every pixel (at 28 px the
  last row and column are floored away after the third pooling, and a bottom-right trigger would be nearly
  invisible); other sizes resize (STL-10's 96 px to 32 at the recipes' default).
- :func:`save_distilled` writes ``distilled.pt`` (images, labels, classes, source, trigger) and a PNG
  grid (one row per class); :func:`load_distilled` reads it back with ``weights_only=True``.
- Dataset ``distilled`` in ``trustlab.registry.DATASETS``: any recipe can train on a distilled set with
  ``--set data.name=distilled --set data.root=RUN_DIR_OR_distilled.pt``. Domains: ``distilled`` (train and
  val = the synthetic images, test = the source's test set), ``real`` (the source dataset) and, for a
  backdoored set, ``triggered`` (the source's non-target test images stamped, clipped to [0, 1] and
  quantised to 8 bits, relabelled to the target: its accuracy is the headline ASR).
  Images are repeated to 3 channels and resized to ``data.image_size`` so the
  usual 3-channel models apply. Example (ERM trained on the distilled set, tested on real and triggered)::

      trustlab run erm/digits-dg --set data.name=distilled --set data.root=runs/backdoor/doorping-dm/<id> \\
          --set data.target=real,triggered --set data.image_size=28
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from trustlab.data.base import DGData
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.methods.doorping.config import DistillDataConfig
from trustlab.registry import DATASETS
from trustlab.runs import atomic

SOURCES = ("mnist5k", "fashion-mnist")  # embedded / Debian-packaged; the torchvision-stored sets need data.root
FILE = "distilled.pt"
# the std the reference normalises each source with (baadd's get_dataset, from the DC code): its trigger lives in
# these units; the colour sets' three channel stds are averaged (one scalar unit per trigger pixel). A source not
# listed here (STL-10, which the DC code does not normalise) uses the std of its training pixels (run.py).
REFERENCE_STD = {"mnist5k": 0.3081, "fashion-mnist": 0.3530, "tv-mnist": 0.3081, "tv-fashion-mnist": 0.3530,
                 "tv-cifar10": (0.2023 + 0.1994 + 0.2010) / 3, "tv-svhn": (0.1980 + 0.2010 + 0.1970) / 3}


@dataclass
class Source:
    """A grey classification dataset as float tensors (N, C, H, W) in [0, 1] and int64 labels."""

    name: str
    classes: list[str]
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def _resize(x: Tensor, size: int) -> Tensor:
    """(N, C, h, h) -> (N, C, size, size): unchanged, zero-padded (even growth), else bilinear."""
    h = x.shape[-1]
    if h == size and x.shape[-2] == size:
        return x
    if size > h and (size - h) % 2 == 0 and x.shape[-2] == h:
        p = (size - h) // 2
        return F.pad(x, (p, p, p, p))
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def stratified_subset(labels: np.ndarray, total: int, seed: int) -> np.ndarray:
    """Indices of ``total`` items drawn per class in proportion to the class sizes (sorted)."""
    rng = np.random.default_rng(seed)
    frac = min(1.0, total / max(len(labels), 1))
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep.extend(rng.choice(idx, size=max(1, int(round(frac * len(idx)))), replace=False).tolist())
    return np.sort(np.asarray(keep))


@functools.cache
def _grey(name: str) -> Any:
    """The parsed source dataset, read once per process (parsing MNIST-5k's CSV takes seconds)."""
    from trustlab.data.mnist import load_grey

    return load_grey(name)


@functools.cache
def _stored(name: str, root: str) -> Any:
    """A torchvision-stored set's arrays (x_train, y_train, x_test, y_test, classes), read once per process."""
    from trustlab.data.torchvision_sets import READERS

    reader, what, layout = READERS[name]
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"data.root '{base}' of dataset '{name}' is not a folder; expected {layout} "
                        f"(torchvision.datasets.{what}(root, download=True) writes it)")
    return reader(base)


def source_names() -> tuple[str, ...]:
    """Every ``data.name`` :func:`load_source` reads: the grey sources and the torchvision-stored sets."""
    from trustlab.data.torchvision_sets import READERS

    return (*SOURCES, *READERS)


Arrays = tuple[str, list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # name, classes, x/y train, x/y test


def _arrays(cfg: DataConfig | DistillDataConfig) -> Arrays:
    if cfg.name in SOURCES:
        s = _grey(cfg.name)
        return s.name, list(s.classes), s.x_train, s.y_train, s.x_test, s.y_test
    if cfg.name not in source_names():
        raise DataError(f"data.name '{cfg.name}' is not a distillation source; use one of {', '.join(source_names())}")
    if not cfg.root:
        raise DataError(f"dataset '{cfg.name}' needs data.root, the folder torchvision.datasets wrote it to")
    x_tr, y_tr, x_te, y_te, classes = _stored(cfg.name, str(cfg.root))
    return cfg.name, list(classes), x_tr, y_tr, x_te, y_te


def load_source(cfg: DataConfig | DistillDataConfig) -> Source:
    """``cfg.name`` (:func:`source_names`) -> :class:`Source` (DataError when unknown or missing)."""
    if cfg.image_size < 8:
        raise DataError(f"data.image_size must be >= 8, got {cfg.image_size}")
    name, classes, x_tr, y_tr, x_test, y_test = _arrays(cfg)
    if cfg.max_per_domain is not None and cfg.max_per_domain < len(y_tr):
        keep = stratified_subset(y_tr, cfg.max_per_domain, cfg.split_seed)
        x_tr, y_tr = x_tr[keep], y_tr[keep]

    def tensor(a: np.ndarray) -> Tensor:
        t = torch.from_numpy(np.require(a, requirements=["C", "W"])).float().div(255)
        t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)  # (N, H, W) grey or (N, H, W, C) colour
        return _resize(t.contiguous(), cfg.image_size)

    # MNIST-5k's test split is sorted by class: a fixed shuffle makes every prefix (eval.test_limit,
    # STRIP's calibration half) a fair sample
    order = np.random.default_rng(cfg.split_seed).permutation(len(y_test))
    return Source(name, classes, tensor(x_tr), torch.as_tensor(y_tr, dtype=torch.long),
                  tensor(x_test[order]), torch.as_tensor(y_test[order], dtype=torch.long))


# ---------------------------------------------------------------------------- saving / loading


def grid_png(images: Tensor, nrow: int, out: Path, scale: int = 2) -> Path:
    """Images (N, C, H, W) in [0, 1] -> one PNG, ``nrow`` images per row (one class per row)."""
    from trustlab.report.figures import image_grid

    x = (images.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return image_grid(x[..., 0] if x.shape[-1] == 1 else x, out, nrow, scale=scale, border=1)


def save_distilled(folder: Path, images: Tensor, labels: Tensor, *, classes: list[str], source: str,
                   method: str, ipc: int, trigger: dict[str, Any] | None = None,
                   extra: dict[str, Tensor] | None = None, source_root: str | None = None) -> Path:
    """Write ``folder/distilled.pt`` and ``folder/distilled.png`` (rows = classes); returns the .pt path.
    ``source_root``: the ``data.root`` of a torchvision-stored source (the ``distilled`` dataset reads its
    test split from there)."""
    state = {
        "images": images.detach().cpu().float(), "labels": labels.detach().cpu().long(), "classes": list(classes),
        "source": source, "method": method, "ipc": int(ipc), "trigger": trigger, "extra": dict(extra or {}),
    }
    if source_root:
        state["source_root"] = str(source_root)
    path = atomic.save_torch(folder / FILE, state)
    grid_png(images, ipc if ipc > 0 else 10, folder / "distilled.png")
    return path


def resolve_distilled_path(root: str | Path | None) -> Path:
    """``root`` may be the .pt file, a folder holding it, or a run folder (``artifacts/distilled.pt``)."""
    if not root:
        raise DataError("data.root is empty; point it at a distilled set: a run folder or its artifacts/distilled.pt")
    p = Path(root)
    for cand in (p, p / FILE, p / "artifacts" / FILE):
        if cand.is_file():
            return cand
    raise DataError(f"no distilled set at '{p}' (looked for {FILE} and artifacts/{FILE}); run a distill/* recipe")


def load_trigger(root: str | Path | None, shape: tuple[int, int, int]) -> Any:
    """The trigger saved with a backdoored distilled set (``attack.trigger_from``), checked against ``shape``."""
    from trustlab.methods.doorping.triggers import PatchTrigger

    state = load_distilled(root)
    if not state.get("trigger"):
        raise DataError(f"the distilled set at '{root}' carries no trigger; point attack.trigger_from at a "
                        "backdoor/* run")
    trig = PatchTrigger.from_state(state["trigger"])
    if tuple(trig.mask.shape) != tuple(shape):
        raise DataError(f"the trigger at '{root}' is for images {tuple(trig.mask.shape)}, these are {tuple(shape)}; "
                        "use a run on the same data.name and data.image_size")
    return trig


def load_distilled(root: str | Path | None) -> dict[str, Any]:
    path = resolve_distilled_path(root)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise DataError(f"'{path}' is not a readable distilled set ({type(exc).__name__}); re-run the recipe") from None
    if not isinstance(state, dict) or not {"images", "labels", "classes", "source"} <= set(state):
        raise DataError(f"'{path}' is not a distilled set (needs images, labels, classes, source)")
    return state


class FloatImageDataset(Dataset):
    """Float images (N, C, H, W) in [0, 1] with labels; items ``(x, y)``."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images.float(), labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[i], self.labels[i]

    def tensors(self) -> tuple[Tensor, Tensor]:
        return self.images, self.labels


@DATASETS.register("distilled", help="a saved distilled set (data.root = run folder or distilled.pt)")
def build_distilled(cfg: DataConfig) -> DGData:
    """Domains distilled / real / triggered (see the module docstring); 3 channels, ``image_size`` px."""
    from trustlab.methods.doorping.triggers import PatchTrigger

    state = load_distilled(cfg.root)
    src = load_source(DataConfig(name=state["source"], root=state.get("source_root"),
                                 image_size=int(state["images"].shape[-1])))

    def view(x: Tensor) -> Tensor:
        x = _resize(x, cfg.image_size)
        return x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x

    syn = FloatImageDataset(view(state["images"]), state["labels"])
    test = FloatImageDataset(view(src.x_test), src.y_test)
    splits: dict[str, dict[str, Dataset]] = {
        "distilled": {"train": syn, "val": syn, "test": test},
        "real": {"train": FloatImageDataset(view(src.x_train), src.y_train), "val": test, "test": test},
    }
    if state.get("trigger"):
        trig = PatchTrigger.from_state(state["trigger"])
        keep = src.y_test != trig.target
        stamped = FloatImageDataset(view(trig.stamp_stored(src.x_test[keep])),
                                    torch.full((int(keep.sum()),), trig.target))
        splits["triggered"] = {"train": stamped, "val": stamped, "test": stamped}
    info = {"method": state.get("method"), "ipc": state.get("ipc"), "source": state["source"]}
    return DGData("distilled", list(splits), list(state["classes"]), splits, info)
