"""Defense building blocks against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trustlab.methods.doorping.defenses.fine_pruning import channel_activations, prune
from trustlab.methods.doorping.defenses.neural_cleanse import anomaly_indices
from trustlab.methods.doorping.defenses.strip import strip_entropy
from trustlab.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_anomaly_index_by_hand() -> None:
    l1 = torch.tensor([10.0, 11.0, 9.0, 10.0, 2.0])
    idx = anomaly_indices(l1)
    # median 10, |dev| = [0, 1, 1, 0, 8] -> MAD 1 -> scaled 1.4826
    assert float(idx[4]) == pytest.approx(8 / 1.4826, rel=1e-4)
    assert float(idx[1]) == pytest.approx(-1 / 1.4826, rel=1e-4)
    assert int(idx.argmax()) == 4


class _Const(nn.Module):
    """Logits that ignore the input: a fixed class (entropy 0) or all equal (entropy log K)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1)


def test_strip_entropy_limits() -> None:
    x, pool = torch.rand(5, 1, 8, 8), torch.rand(7, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    sure = strip_entropy(_Const(torch.tensor([50.0, 0, 0, 0])), x, pool, 4, g)
    flat = strip_entropy(_Const(torch.zeros(4)), x, pool, 4, g)
    assert torch.allclose(sure, torch.zeros(5), atol=1e-6)
    assert torch.allclose(flat, torch.full((5,), math.log(4)), atol=1e-5)


def test_pruning_zeroes_the_chosen_channels_before_the_head() -> None:
    torch.manual_seed(0)
    net = build_model("small_cnn", 4, input_size=16, width=0.0625, in_chans=1)  # 8 channels, 2x2 maps
    x = torch.rand(6, 1, 16, 16)
    act = channel_activations(net, x)
    assert act.shape == (8,)
    prune(net, torch.tensor([1, 5]), 8)
    f = net(x, return_features=True)[1].view(6, 8, -1)
    assert f[:, [1, 5]].abs().sum() > 0  # the features themselves are untouched; the head sees them zeroed
    logits_pruned = net(x)
    w = net.classifier().weight.view(4, 8, -1).clone()
    w[:, [1, 5]] = 0
    expected = f.flatten(1) @ w.flatten(1).T + net.classifier().bias
    assert torch.allclose(logits_pruned, expected, atol=1e-5)
