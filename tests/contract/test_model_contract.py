"""Every registered model meets the Classifier contract (DEVELOPERS.md, "APIs to build on", Models) and trains a
step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trustlab.models  # noqa: F401  (registers the built-in models)
from trustlab.models import Classifier, build_model
from trustlab.registry import MODELS

NAMES = [
    *MODELS.names(),
    pytest.param(
        "timm:resnet10t",
        marks=pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm not installed"),
    ),
]


@pytest.mark.parametrize("name", NAMES)
def test_model_contract(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=4, input_size=32)
    assert isinstance(model, Classifier)
    x = torch.rand(4, 3, 32, 32)
    y = torch.tensor([0, 1, 2, 3])

    head = model.classifier()
    assert isinstance(head, nn.Linear)
    assert (head.in_features, head.out_features) == (model.feature_dim, model.num_classes)
    model.eval()
    with torch.no_grad():
        logits, feats = model(x, return_features=True)
        assert logits.shape == (4, 4) and feats.shape == (4, model.feature_dim)
        torch.testing.assert_close(model(x), logits)
        torch.testing.assert_close(head(feats), logits)

    model.train()
    loss = F.cross_entropy(model(x), y)
    assert torch.isfinite(loss)
    loss.backward()
    params = dict(model.named_parameters())
    grads = {n: p.grad for n, p in params.items() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    head_ids = {id(p) for p in head.parameters()}
    body = [n for n, p in params.items() if id(p) not in head_ids]
    assert any(grads[n].abs().sum() > 0 for n in body), "no gradient reaches the feature extractor"
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0

    before = {n: p.detach().clone() for n, p in params.items()}
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    for n, p in params.items():
        if grads[n].abs().sum() > 0:
            assert not torch.equal(p, before[n]), f"{n} did not change after an SGD step"

    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    torch.manual_seed(1)
    loaded = build_model(name, num_classes=4, input_size=32, weights=path).eval()
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
