"""Data loading and victim specs of the attack recipes."""

from __future__ import annotations

import pytest
import torch

from trustlab.data.mnist import has_fashion_mnist
from trustlab.errors import ConfigError, DataError
from trustlab.experiment import DataConfig, ModelConfig
from trustlab.methods.minmax.run import model_spec
from trustlab.methods.minmax.zoo import build_victim, load_data, pick


def test_mnist5k_subsample_and_victim() -> None:
    d = load_data(DataConfig(name="mnist5k", max_per_domain=100))
    assert len(d.train) == 100 and d.x_test.shape == (1000, 1, 28, 28) and d.num_classes == 10
    assert 0 <= float(d.x_test.min()) and float(d.x_test.max()) <= 1
    net = build_victim("small_cnn:width=0.0625:depth=2:norm=none", d)
    assert net(d.x_test[:2]).shape == (2, 10)
    assert model_spec(ModelConfig(name="small_cnn:depth=2", width=0.5)) == "small_cnn:depth=2:width=0.5"


@pytest.mark.skipif(not has_fashion_mnist(), reason="Fashion-MNIST (Debian dataset-fashion-mnist) not installed")
def test_fashion_mnist() -> None:
    d = load_data(DataConfig(name="fashion-mnist", max_per_domain=50))
    assert len(d.train) == 50 and d.x_test.shape == (10000, 1, 28, 28)


def test_unknown_dataset_and_empty_pick() -> None:
    with pytest.raises(ConfigError, match="not supported by the attack recipes"):
        load_data(DataConfig(name="cifar10"))
    with pytest.raises(DataError, match="no correctly classified test inputs"):
        pick(torch.zeros(5, dtype=torch.bool), 3, 0)
    idx = pick(torch.tensor([True, False, True, True]), 2, 0)
    assert len(idx) == 2 and set(idx.tolist()) <= {0, 2, 3}
