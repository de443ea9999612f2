"""The attacks on tiny random models: constraints hold, weights are reported, bad input fails in one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trustlab.errors import ConfigError, DataError
from trustlab.methods.minmax.attacks import PGD, EnsembleAttack, EOTAttack, UniversalAttack, attack_loss
from trustlab.methods.minmax.config import MinMaxATConfig, parse_types
from trustlab.methods.minmax.transforms import DEFAULT_TRANSFORMS, parse_transform, parse_transforms
from trustlab.methods.minmax.zoo import parse_model_spec
from trustlab.models import build_model


def _net(seed: int = 0, classes: int = 10, depth: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("small_cnn", classes, input_size=12, in_chans=1, width=0.0625, depth=depth, norm="none").eval()


@pytest.fixture(scope="module")
def xy() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(10, 1, 12, 12, generator=g), torch.randint(0, 10, (10,), generator=g)


def _norm(d: torch.Tensor, norm: str) -> torch.Tensor:
    flat = d.flatten(1)
    return {"linf": flat.abs().amax(1), "l2": flat.norm(dim=1), "l1": flat.abs().sum(1)}[norm]


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.0), ("l1", 4.0)])
@pytest.mark.parametrize("weighting", ["minmax", "average", "max"])
def test_ensemble_feasible_and_weights(xy, norm: str, eps: float, weighting: str) -> None:
    x, y = xy
    atk = EnsembleAttack([_net(0), _net(1, depth=1)], norm=norm, eps=eps, steps=3, weighting=weighting, seed=0)
    res = atk.run(x, y)
    assert res.x_adv.shape == x.shape and res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    assert torch.all(_norm(res.x_adv - x, norm) <= eps * (1 + 1e-5))
    assert res.w.shape == (10, 2) and torch.allclose(res.w.sum(1), torch.ones(10))
    assert res.w_history.shape == (4, 2) and set(res.mean_weights()) == {"model0", "model1"}
    assert atk.info is res


def test_cw_and_ce_losses() -> None:
    z = torch.tensor([[2.0, 5.0, 1.0]])
    y = torch.tensor([1])
    assert attack_loss(z, y, "cw", 0.0, False).item() == pytest.approx(3.0)  # Z_y - max other
    assert attack_loss(z, torch.tensor([0]), "cw", 0.0, True).item() == pytest.approx(3.0)  # max other - Z_t
    assert attack_loss(z, y, "cw", 50.0, False).item() == pytest.approx(53.0)
    ce = torch.nn.functional.cross_entropy(z, y)
    assert attack_loss(z, y, "ce", 0.0, False).item() == pytest.approx(-ce.item())


def test_attacks_lower_the_loss_and_targeted_hits_targets(xy) -> None:
    x, y = xy
    net = _net(2)
    pred = net(x).argmax(1)
    res = PGD(net, eps=0.5, steps=8, step_size=0.1)(x, pred)
    assert (net(res).argmax(1) != pred).float().mean() >= 0.8
    target = (pred + 1) % 10
    adv = EnsembleAttack(net, eps=0.5, steps=8, step_size=0.1, targeted=True, loss="ce", seed=0)(x, target)
    assert (net(adv).argmax(1) == target).float().mean() >= 0.8


def test_universal_shares_one_delta_per_group(xy) -> None:
    x, _ = xy
    atk = UniversalAttack(_net(0), k=5, eps=0.2, steps=3, seed=0)
    res = atk.run(x)
    assert res.delta.shape == (2, 1, 12, 12) and res.w.shape == (2, 5) and res.labels.shape == (2, 5)
    assert torch.allclose(res.x_adv, atk.apply(x, res.delta))
    assert torch.all(res.delta.abs() <= 0.2 + 1e-6)


def test_eot_over_transforms(xy) -> None:
    x, _ = xy
    atk = EOTAttack(_net(0), ["identity", "hflip", "crop:0.75"], eps=0.1, steps=3, seed=0)
    res = atk.run(x)
    assert res.domains == ["identity", "hflip", "crop:0.75"] and res.w.shape == (10, 3)
    assert atk.predict_domains(x).shape == (10, 3)
    assert len(parse_transforms(DEFAULT_TRANSFORMS)) == 6
    for spec in DEFAULT_TRANSFORMS:
        out = parse_transform(spec)(x)
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(parse_transform("hflip")(x), x.flip(-1))


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda n: EnsembleAttack(n, eps=0), ConfigError, "eps must be > 0"),
        (lambda n: EnsembleAttack(n, eps=-0.1), ConfigError, "eps must be > 0"),
        (lambda n: EnsembleAttack(n, norm="l3"), ConfigError, "unknown norm 'l3'"),
        (lambda n: EnsembleAttack(n, norm="Linf"), ConfigError, "did you mean 'linf'"),
        (lambda n: EnsembleAttack([]), ConfigError, "K=0"),
        (lambda n: UniversalAttack(n, k=0), ConfigError, "K=0"),
        (lambda n: EOTAttack(n, []), ConfigError, "K=0"),
        (lambda n: EOTAttack(n, ["identity", "rotate:5"]), ConfigError, "unknown transformation 'rotate:5'"),
        (lambda n: EOTAttack(n, ["gamma"]), ConfigError, "needs a number"),
        (lambda n: EnsembleAttack([n, _net(1, classes=5)]), ConfigError, "disagree on the number of classes"),
        (lambda n: EnsembleAttack(n, weighting="mean"), ConfigError, "unknown attack weighting 'mean'"),
        (lambda n: EnsembleAttack(n, steps=0), ConfigError, "steps must be"),
        (lambda n: EnsembleAttack(n, epsilon=0.1), ConfigError, "has no option epsilon"),
        (lambda n: MinMaxATConfig(types=[]).check(), ConfigError, "K=0"),
        (lambda n: parse_types(["linf:0"]), ConfigError, "eps must be > 0"),
        (lambda n: parse_types(["l5:1"]), ConfigError, "unknown norm 'l5'"),
        (lambda n: MinMaxATConfig(mode="avg").check(), ConfigError, "unknown at.mode 'avg'"),
    ],
)
def test_bad_input_is_one_clear_line(make, error, words: str) -> None:
    with pytest.raises(error) as info:
        make(_net(0))
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "x, words",
    [
        (torch.rand(2, 1, 12, 12) * 2 - 0.5, "must lie in [0, 1]"),
        (torch.rand(2, 1, 12, 12) * 255, "must lie in [0, 1]"),
        (torch.rand(1, 12, 12), "(B, C, H, W)"),
    ],
)
def test_inputs_outside_unit_box_are_refused(x: torch.Tensor, words: str) -> None:
    with pytest.raises(DataError) as info:
        EnsembleAttack(_net(0), steps=1)(x, torch.zeros(len(x), dtype=torch.long))
    assert words in str(info.value) and "\n" not in str(info.value)


def test_label_shapes_and_group_size(xy) -> None:
    x, y = xy
    with pytest.raises(DataError, match="labels y must have shape"):
        EnsembleAttack(_net(0), steps=1)(x, y[:3])
    with pytest.raises(DataError, match="multiple of K=3"):
        UniversalAttack(_net(0), k=3, steps=1)(x)
    with pytest.raises(ConfigError, match="targeted attack needs y"):
        EnsembleAttack(_net(0), steps=1, targeted=True)(x)


def test_models_without_num_classes_checked_at_call(xy) -> None:
    x, y = xy

    class Plain(nn.Module):
        def __init__(self, k: int) -> None:
            super().__init__()
            self.lin = nn.Linear(144, k)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x.flatten(1))

    with pytest.raises(ConfigError, match="different class counts"):
        EnsembleAttack([Plain(10), Plain(4)], steps=1)(x, y)


def test_model_spec_parsing() -> None:
    assert parse_model_spec("small_cnn") == ("small_cnn", 1.0, {})
    spec = "small_cnn:width=0.25:depth=2:norm=none"
    assert parse_model_spec(spec) == ("small_cnn", 0.25, {"depth": 2, "norm": "none"})
    assert parse_model_spec("timm:resnet10t:width=0.5") == ("timm:resnet10t", 0.5, {})
    with pytest.raises(ConfigError, match="key=value"):
        parse_model_spec("small_cnn:depth")


def test_model_modes_restored(xy) -> None:
    x, y = xy
    net = _net(0).train()
    EnsembleAttack(net, steps=1)(x, y)
    assert net.training
