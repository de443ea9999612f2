"""Training-time augmentation of the DG recipes (``data.augment``).

The on-device DG reference (Zhou et al., On-Device Domain Generalization, arXiv:2209.07521; Dassl) trains every model
with ``random_resized_crop`` (scale 0.7-1) and ``random_flip``; ``data.augment`` offers the same:

- ``none`` (default): images as stored;
- ``crop``: RandomResizedCrop to ``data.image_size``, scale (0.7, 1.0), aspect ratio (3/4, 4/3);
- ``crop_flip``: ``crop`` then a horizontal flip with probability 0.5 (not for digits or text).

Only the training split is augmented; validation and test images never are. Randomness comes from
torch's global generator, so runs stay reproducible under ``train.seed``.

Example::

    train_set = Augmented(ConcatDataset(parts), train_transform("crop", 32))
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from trustlab.errors import ConfigError

AUGMENTS = ("none", "crop", "crop_flip")
CROP_SCALE = (0.7, 1.0)


def train_transform(kind: str, image_size: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The transform of ``data.augment=kind`` for (C, H, W) float images, or None for ``none``."""
    if kind not in AUGMENTS:
        raise ConfigError(f"data.augment '{kind}' is not one of {', '.join(AUGMENTS)}")
    if kind == "none":
        return None
    from torchvision.transforms import v2  # lazy: importing torchvision costs seconds

    ops: list[Callable[[torch.Tensor], torch.Tensor]] = [
        v2.RandomResizedCrop(image_size, scale=CROP_SCALE, antialias=True)
    ]
    if kind == "crop_flip":
        ops.append(v2.RandomHorizontalFlip(0.5))
    return v2.Compose(ops)


class Augmented(Dataset):
    """``dataset`` with ``transform`` applied to each item's image (the label is unchanged)."""

    def __init__(self, dataset: Dataset, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.dataset[i]
        return self.transform(x), y
