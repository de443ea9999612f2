"""The min-max paper's ensemble members added to the zoo: ``mlp`` and ``googlenet`` (models/paper_models.py)."""

from __future__ import annotations

import pytest
import torch

from trustlab.errors import ConfigError
from trustlab.models import build_model


def test_mlp_on_grey_28px_has_the_stated_shape() -> None:
    m = build_model("mlp", num_classes=10, input_size=28, in_chans=1, width=0.5, depth=3)
    linears = [layer for layer in m.net if isinstance(layer, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(784, 256), (256, 256), (256, 256)]
    assert m(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ConfigError, match="depth must be >= 1"):
        build_model("mlp", num_classes=10, input_size=28, depth=0)


def test_googlenet_stem_follows_the_input_size_and_width_is_refused() -> None:
    small = build_model("googlenet", num_classes=10, input_size=32, in_chans=1)
    assert small.net.conv1.conv.kernel_size == (3, 3) and small.net.conv1.conv.stride == (1, 1)
    assert small.net.conv1.conv.in_channels == 1 and isinstance(small.net.maxpool1, torch.nn.Identity)
    big = build_model("googlenet", num_classes=10, input_size=96)
    assert big.net.conv1.conv.kernel_size == (7, 7) and big.net.conv1.conv.stride == (2, 2)
    assert not isinstance(big.net.maxpool1, torch.nn.Identity) and big.feature_dim == 1024
    with pytest.raises(ConfigError, match="no width multiplier"):
        build_model("googlenet", num_classes=10, input_size=32, width=0.5)
