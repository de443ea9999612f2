"""data.augment: the training-time random resized crop (and flip) of the DG recipes."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from trustlab.data.augment import Augmented, train_transform
from trustlab.errors import ConfigError


def test_none_is_no_transform_and_unknown_is_an_error() -> None:
    assert train_transform("none", 32) is None
    with pytest.raises(ConfigError, match="data.augment 'rotate' is not one of none, crop, crop_flip"):
        train_transform("rotate", 32)


@pytest.mark.parametrize("kind", ["crop", "crop_flip"])
def test_crop_keeps_shape_range_and_is_seeded(kind: str) -> None:
    x = torch.rand(3, 32, 32)
    t = train_transform(kind, 32)
    assert t is not None
    torch.manual_seed(0)
    a = t(x)
    torch.manual_seed(0)
    b = t(x)
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= -1e-6 and a.max() <= 1 + 1e-6
    outs = [t(x) for _ in range(8)]
    assert any(not torch.allclose(o, x) for o in outs)  # it does change images


def test_crop_zooms_in() -> None:
    # a centred bright square can only grow (or stay) under a crop of scale 0.7-1 resized back
    x = torch.zeros(1, 20, 20)
    x[:, 5:15, 5:15] = 1.0
    t = train_transform("crop", 20)
    assert t is not None
    torch.manual_seed(1)
    bright = [float((t(x) > 0.5).float().sum()) for _ in range(20)]
    assert min(bright) >= 100 * 0.9 and max(bright) > 100


def test_augmented_dataset_transforms_images_only() -> None:
    ds = TensorDataset(torch.rand(4, 1, 8, 8), torch.arange(4))
    aug = Augmented(ds, lambda im: im * 0)
    x, y = aug[2]
    assert len(aug) == 4 and int(y) == 2 and float(x.abs().sum()) == 0.0
