"""Saved distilled sets, the ``distilled`` dataset and the source loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trustlab.data.mnist import has_fashion_mnist
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.methods.doorping.data import _resize, load_distilled, load_source, save_distilled, stratified_subset
from trustlab.methods.doorping.triggers import PatchTrigger
from trustlab.registry import DATASETS


def test_32_pads_28_pixel_images_with_zeros() -> None:
    x = torch.rand(2, 1, 28, 28)
    out = _resize(x, 32)
    assert out.shape == (2, 1, 32, 32)
    assert torch.equal(out[:, :, 2:30, 2:30], x) and out[:, :, :2].abs().sum() == 0
    assert _resize(x, 16).shape == (2, 1, 16, 16) and _resize(x, 28) is x


def test_stratified_subset_keeps_class_shares() -> None:
    y = np.array([0] * 80 + [1] * 20)
    keep = stratified_subset(y, 50, seed=0)
    assert len(keep) == 50 and (y[keep] == 0).sum() == 40 and len(set(keep.tolist())) == 50


def test_load_source_mnist5k_subset() -> None:
    src = load_source(DataConfig(name="mnist5k", image_size=32, max_per_domain=300))
    assert src.x_train.shape == (300, 1, 32, 32) and src.x_test.shape == (1000, 1, 32, 32)
    assert src.num_classes == 10 and 0.0 <= float(src.x_train.min()) and float(src.x_train.max()) <= 1.0
    assert len(src.y_test[:100].unique()) == 10  # the test set is shuffled: a prefix holds every class
    with pytest.raises(DataError, match="data.name 'cifar' is not a distillation source"):
        load_source(DataConfig(name="cifar"))


@pytest.mark.skipif(not has_fashion_mnist(), reason="Fashion-MNIST is not installed (apt dataset-fashion-mnist)")
def test_load_source_fashion_mnist_subset() -> None:
    src = load_source(DataConfig(name="fashion-mnist", image_size=32, max_per_domain=500))
    assert src.x_train.shape == (500, 1, 32, 32) and len(src.y_test) == 10000 and src.classes[0] == "t-shirt"


def test_saved_set_round_trips_and_loads_as_a_dataset(tmp_path: Path) -> None:
    images = torch.rand(20, 1, 32, 32)
    labels = torch.arange(10).repeat_interleave(2)
    trig = PatchTrigger.solid((1, 32, 32), 2, target=0)
    path = save_distilled(tmp_path / "artifacts", images, labels, classes=[str(i) for i in range(10)],
                          source="mnist5k", method="dm", ipc=2, trigger=trig.state_dict())
    assert path.is_file() and (tmp_path / "artifacts" / "distilled.png").is_file()
    state = load_distilled(tmp_path)  # a run folder works as well as the file
    assert torch.equal(state["images"], images) and state["method"] == "dm"
    data = DATASETS.get("distilled")(DataConfig(name="distilled", root=str(tmp_path), image_size=32))
    assert data.domains == ["distilled", "real", "triggered"]
    x, y = data.get("distilled", "train")[3]
    assert x.shape == (3, 32, 32) and int(y) == 1 and torch.equal(x[0], images[3, 0])
    trig_set = data.get("triggered", "test")
    xs, ys = trig_set.tensors()
    assert (ys == 0).all() and (xs[:, :, 29:31, 29:31] == 1.0).all()
    src = load_source(DataConfig(name="mnist5k", image_size=32))
    assert len(trig_set) == int((src.y_test != 0).sum())  # true target-class images are left out


def test_missing_or_foreign_distilled_set_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no distilled set at"):
        load_distilled(tmp_path)
    with pytest.raises(DataError, match="data.root is empty"):
        load_distilled(None)
    (tmp_path / "distilled.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="not a readable distilled set"):
        load_distilled(tmp_path)
