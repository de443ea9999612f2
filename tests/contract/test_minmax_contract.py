"""Every attack and method the minmax package registers runs a couple of steps on tiny CPU data;
the adversarially trained model saves and loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trustlab.methods  # noqa: F401  (registers everything)
from trustlab.engine.fit import fit
from trustlab.experiment import TrainConfig
from trustlab.methods.minmax.config import AT_MODES, MinMaxATConfig
from trustlab.methods.minmax.method import MinMaxAT
from trustlab.models import build_model
from trustlab.registry import ATTACKS, CLAIMS, METHODS, RECIPES

OURS = ["pgd", "minmax-ensemble", "minmax-universal", "minmax-eot"]


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("small_cnn", 10, input_size=12, in_chans=1, width=0.0625, depth=2, norm="none").eval()


def test_registrations() -> None:
    for name in OURS:
        assert name in ATTACKS and ATTACKS.help(name)
    assert "minmax-at" in METHODS
    for r in ("attack/ensemble", "attack/universal", "attack/eot", "attack/minmax-at"):
        assert r in RECIPES
    assert len([c for c in CLAIMS.names() if c.startswith("minmax/")]) == 4


@pytest.mark.parametrize("name", ATTACKS.names())
def test_attack_contract(name: str) -> None:
    """Every registered attack (``ATTACKS.names()``, so a new one is tested too) on a tiny model."""
    net = _net()
    x = torch.rand(10, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (10,), generator=torch.Generator().manual_seed(1))
    kw = {"k": 5} if name == "minmax-universal" else {}
    attack = ATTACKS.get(name)(net, steps=2, **kw)
    x_adv = attack(x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert 0 <= float(x_adv.min()) and float(x_adv.max()) <= 1
    assert not torch.equal(x_adv, x)
    info = attack.info
    assert info is not None and info.w.shape[1] == len(info.domains)
    assert torch.allclose(info.w.sum(1), torch.ones(len(info.w)))
    assert not any(p.grad is not None for p in net.parameters())  # attacks leave the model's grads alone


@pytest.mark.parametrize("mode", AT_MODES)
def test_minmax_at_trains_saves_loads(mode: str, tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(32, 1, 12, 12, generator=g), torch.randint(0, 10, (32,), generator=g)
    data = torch.utils.data.TensorDataset(x, y)
    net = _net()
    method = MinMaxAT(net, MinMaxATConfig(mode=mode, types=["linf:0.1", "l2:0.5", "l1:2.0"], steps=2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = fit(method, data, TrainConfig(epochs=1, device="cpu", max_steps_per_epoch=2), batch_size=16, quiet=True)
    assert res.steps == 2 and all(torch.isfinite(torch.tensor(r["train/loss"])) for r in res.history)
    if mode != "standard":
        w = [res.history[-1][f"train/w/{t}"] for t in ("linf", "l2", "l1")]
        assert sum(w) == pytest.approx(1.0, abs=1e-5)
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    torch.save({"model": net.state_dict()}, tmp_path / "m.pt")
    again = build_model("small_cnn", 10, input_size=12, in_chans=1, width=0.0625, depth=2, norm="none",
                        weights=str(tmp_path / "m.pt")).eval()
    x = torch.rand(4, 1, 12, 12)
    torch.testing.assert_close(again(x), net.eval()(x))
