"""Data for distillation: the grey source datasets as tensors, and saved distilled sets.

- :func:`load_source` reads ``data.name`` (``mnist5k`` always available, ``fashion-mnist`` from Debian's
  package) into float tensors (N, 1, H, W) in [0, 1], optionally subsampled (``data.max_per_domain``,
  class-stratified, seeded by ``data.split_seed``) and brought to ``data.image_size``: 32 (the recipes'
  default) zero-pads the 28-px images by 2 pixels per side, as the DC code pads MNIST in its first conv,
  so that small_cnn's three 2x poolings see every pixel (at 28 px the last row and column are floored
  away after the third pooling, and a bottom-right trigger would be nearly invisible); other sizes resize.
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
from trustlab.registry import DATASETS
from trustlab.runs import atomic

SOURCES = ("mnist5k", "fashion-mnist")
FILE = "distilled.pt"
# the std the reference normalises each source with (baadd's get_dataset): its trigger lives in these units
REFERENCE_STD = {"mnist5k": 0.3081, "fashion-mnist": 0.3530}


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


def load_source(cfg: DataConfig) -> Source:
    """``cfg.name`` in mnist5k | fashion-mnist -> :class:`Source` (DataError when unknown or missing)."""
    if cfg.name not in SOURCES:
        raise DataError(f"data.name '{cfg.name}' is not a distillation source; use one of {', '.join(SOURCES)}")
    if cfg.image_size < 8:
        raise DataError(f"data.image_size must be >= 8, got {cfg.image_size}")
    s = _grey(cfg.name)
    x_tr, y_tr = s.x_train, s.y_train
    if cfg.max_per_domain is not None and cfg.max_per_domain < len(y_tr):
        keep = stratified_subset(y_tr, cfg.max_per_domain, cfg.split_seed)
        x_tr, y_tr = x_tr[keep], y_tr[keep]

    def tensor(a: np.ndarray) -> Tensor:
        return _resize(torch.from_numpy(np.ascontiguousarray(a)).float().div(255).unsqueeze(1), cfg.image_size)

    # MNIST-5k's test split is sorted by class: a fixed shuffle makes every prefix (eval.test_limit,
    # STRIP's calibration half) a fair sample
    order = np.random.default_rng(cfg.split_seed).permutation(len(s.y_test))
    return Source(s.name, list(s.classes), tensor(x_tr), torch.as_tensor(y_tr, dtype=torch.long),
                  tensor(s.x_test[order]), torch.as_tensor(s.y_test[order], dtype=torch.long))


# ---------------------------------------------------------------------------- saving / loading


def grid_png(images: Tensor, nrow: int, out: Path, scale: int = 2) -> Path:
    """Images (N, C, H, W) in [0, 1] -> one PNG, ``nrow`` images per row (one class per row)."""
    from trustlab.report.figures import image_grid

    x = (images.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return image_grid(x[..., 0] if x.shape[-1] == 1 else x, out, nrow, scale=scale, border=1)


def save_distilled(folder: Path, images: Tensor, labels: Tensor, *, classes: list[str], source: str,
                   method: str, ipc: int, trigger: dict[str, Any] | None = None,
                   extra: dict[str, Tensor] | None = None) -> Path:
    """Write ``folder/distilled.pt`` and ``folder/distilled.png`` (rows = classes); returns the .pt path."""
    state = {
        "images": images.detach().cpu().float(), "labels": labels.detach().cpu().long(), "classes": list(classes),
        "source": source, "method": method, "ipc": int(ipc), "trigger": trigger, "extra": dict(extra or {}),
    }
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
    src = load_source(DataConfig(name=state["source"], image_size=int(state["images"].shape[-1])))

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
