"""Settings taken from the reference code (wangjksjtu/minmax-adv), the reference step rule, the random-noise
control of the ensemble recipe and the example grid figure."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trustlab.errors import ConfigError
from trustlab.methods.minmax.config import AttackConfig
from trustlab.methods.minmax.figures import example_grid
from trustlab.methods.minmax.run import _random_control
from trustlab.methods.minmax.solver import Ball
from trustlab.methods.minmax.transforms import DEFAULT_TRANSFORMS, parse_transforms
from trustlab.models import build_model
from trustlab.registry import RECIPES


def test_eot_defaults_are_the_reference_trans_attack_settings() -> None:
    # trans_attack.py: identity, fliplr, flipud, adjust_brightness(0.1), adjust_gamma(1.3), crop 0.1..0.9;
    # beta 50, gamma 3
    assert DEFAULT_TRANSFORMS == ["identity", "hflip", "vflip", "brightness:0.1", "gamma:1.3", "crop:0.8"]
    cfg = RECIPES.get("attack/eot").config()
    assert (cfg.attack.beta, cfg.attack.gamma, cfg.eot.distortion) == (50.0, 3.0, 0.5)
    x = torch.full((1, 1, 10, 10), 0.5)
    t = {tr.name: tr for tr in parse_transforms(DEFAULT_TRANSFORMS)}
    assert torch.allclose(t["brightness:0.1"](x), x + 0.1) and torch.allclose(t["gamma:1.3"](x), x ** 1.3)


def test_alpha_gives_the_raw_gradient_step() -> None:
    ball = AttackConfig(alpha=4.0).ball()
    assert ball.raw and ball.step_size == 0.25
    g = torch.randn(2, 1, 4, 4)
    assert torch.equal(ball.direction(g), g)  # not sign(g): the reference's normalize=False
    assert not AttackConfig().ball().raw and torch.equal(Ball("linf", 0.1, 0.01).direction(g), g.sign())
    for bad in (0, -1.0, "x"):
        with pytest.raises(ConfigError, match="attack alpha"):
            AttackConfig(alpha=bad).check()


def test_random_control_is_low_for_a_confident_model_and_within_budget() -> None:
    torch.manual_seed(0)
    net = build_model("small_cnn", 10, input_size=12, in_chans=1, width=0.0625, depth=1, norm="none").eval()
    x = torch.rand(20, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = net(x).argmax(1)
    tiny = _random_control([net], x, y, AttackConfig(eps=1e-6, seed=0))
    assert tiny == 0.0  # noise far below any decision margin changes nothing
    huge = _random_control([net, net], x, y, AttackConfig(eps=1.0, seed=0))
    assert 0.0 <= huge <= 1.0


def test_example_grid_writes_one_png(tmp_path: Path) -> None:
    x = torch.rand(5, 3, 8, 8)
    out = example_grid({"clean": x, "adv": x, "delta": x - 0.5}, tmp_path / "g.png", captions={"adv": ["a"] * 5})
    assert out is not None and out.read_bytes()[:4] == b"\x89PNG"
    assert example_grid({"empty": x[:0]}, tmp_path / "none.png") is None
