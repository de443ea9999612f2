"""Triggers, poisoning and the DOORPING trigger update (papers/04)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trustlab.errors import ConfigError
from trustlab.methods.doorping.triggers import (
    PatchTrigger,
    check_portion,
    check_target,
    optimise_trigger,
    patch_mask,
    penultimate_layer,
    poison,
    select_neurons,
)
from trustlab.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bottom_right_mask_has_one_pixel_margin() -> None:
    m = patch_mask((1, 28, 28), 2)
    rows, cols = torch.nonzero(m[0], as_tuple=True)
    assert sorted(set(rows.tolist())) == [25, 26] and sorted(set(cols.tolist())) == [25, 26]
    assert m.sum() == 4
    top_left = patch_mask((3, 32, 32), 3, "top-left")
    assert top_left[:, 1:4, 1:4].sum() == 27 and top_left.sum() == 27


@pytest.mark.parametrize("size", [0, 27, 40])
def test_trigger_larger_than_image_is_a_config_error(size: int) -> None:
    with pytest.raises(ConfigError, match=r"attack.size .* does not fit 28x28 images"):
        patch_mask((1, 28, 28), size)


def test_unknown_position_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="attack.position 'middle'"):
        patch_mask((1, 28, 28), 2, "middle")


@pytest.mark.parametrize("portion", [0.0, -0.1, 1.5])
def test_portion_outside_unit_interval_is_rejected(portion: float) -> None:
    with pytest.raises(ConfigError, match=r"attack.portion must be in \(0, 1\]"):
        check_portion(portion)
    assert check_portion(1.0) == 1.0


@pytest.mark.parametrize("target", [-1, 10, 11])
def test_target_outside_classes_is_rejected(target: int) -> None:
    with pytest.raises(ConfigError, match=rf"attack.target {target} is not a class; use a label in 0..9"):
        check_target(target, 10)


def test_poison_stamps_and_relabels_the_requested_share() -> None:
    x = torch.rand(200, 1, 16, 16) * 0.5
    y = torch.arange(200) % 10
    trig = PatchTrigger.solid((1, 16, 16), 2, target=3)
    xp, yp, idx = poison(x, y, 0.05, trig, torch.Generator().manual_seed(0))
    assert len(idx) == 10 and len(set(idx.tolist())) == 10
    assert (yp[idx] == 3).all()
    rest = torch.ones(200, dtype=torch.bool)
    rest[idx] = False
    assert torch.equal(xp[rest], x[rest]) and torch.equal(yp[rest], y[rest])
    assert (xp[idx][:, :, 13:15, 13:15] == 1.0).all()
    assert torch.equal(xp[idx] * (1 - trig.mask), x[idx] * (1 - trig.mask))  # outside the patch untouched
    assert x[idx][:, :, 13:15, 13:15].max() <= 0.5  # the input was copied, not edited


def test_trigger_state_round_trips() -> None:
    trig = PatchTrigger.random((1, 16, 16), 3, 2, generator=torch.Generator().manual_seed(1))
    back = PatchTrigger.from_state(trig.state_dict())
    x = torch.rand(4, 1, 16, 16)
    assert torch.equal(back.stamp(x), trig.stamp(x)) and back.target == 2


def test_select_neurons_picks_the_largest_incoming_weight_sum() -> None:
    layer = nn.Linear(3, 4, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 1, 1], [-5, 0, 0], [0, 2, 2], [0, 0, 0.1]]))
    assert select_neurons(layer, 1).tolist() == [1]
    assert sorted(select_neurons(layer, 2).tolist()) == [1, 2]


def test_penultimate_layer_of_small_cnn_is_its_last_conv() -> None:
    net = build_model("small_cnn", 10, input_size=16, width=0.0625, in_chans=1)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert penultimate_layer(net) is convs[-1]


def test_penultimate_layer_of_the_reference_convnet_is_its_hidden_linear() -> None:
    # baadd's ConvNet: no normalisation, Linear(., 192) -> ReLU -> Linear(192, K); layer -2 = the hidden Linear
    net = build_model("small_cnn", 10, input_size=16, width=0.0625, in_chans=1, norm="none", hidden=24)
    assert penultimate_layer(net) is net.mlp[0]
    assert penultimate_layer(net).out_features == 24 and net.classifier().in_features == 24


def test_optimise_trigger_changes_only_the_patch_and_raises_the_activation() -> None:
    torch.manual_seed(0)
    net = build_model("small_cnn", 10, input_size=16, width=0.0625, in_chans=1)
    inputs = torch.rand(8, 1, 16, 16)
    trig = PatchTrigger.random((1, 16, 16), 3, 0, generator=torch.Generator().manual_seed(0))
    layer = penultimate_layer(net)
    key = select_neurons(layer, 1)
    acts = {}
    layer.register_forward_hook(lambda _m, _i, o: acts.__setitem__("a", o))

    def activation(t: PatchTrigger) -> float:
        with torch.no_grad():
            net(t.stamp(inputs))
        return float(acts["a"][:, key].pow(2).mean())

    before = activation(trig)
    new, info = optimise_trigger(net, trig, steps=30, threshold=0.0, lr=0.1, inputs=inputs)
    assert activation(new) > before
    assert torch.equal(new.pattern * (1 - new.mask), torch.zeros_like(new.pattern))
    assert 0.0 <= float(new.pattern.min()) and float(new.pattern.max()) <= 1.0
    assert info["trigger/steps"] == 30
    assert all(p.grad is None for p in net.parameters())  # the network is not trained
    _, early = optimise_trigger(net, trig, steps=30, threshold=1e9)
    assert early["trigger/steps"] == 1  # stops as soon as the loss is below the threshold


class _BrightCornerIsZero(nn.Module):
    """Predicts class 0 when the bottom-right 2x2 patch is brighter than 1.5, else class 1."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = (x[:, 0, -3:-1, -3:-1].mean((1, 2)) > 1.5).float()
        return torch.stack([bright, 1 - bright], 1) + self.dummy


def test_backdoor_metrics_report_the_asr_of_clipped_images() -> None:
    from trustlab.methods.doorping.evaluate import backdoor_metrics

    x = torch.rand(20, 1, 8, 8) * 0.5
    y = torch.tensor([0, 1] * 10)
    mask = PatchTrigger.solid((1, 8, 8), 2, 0).mask
    huge = PatchTrigger(mask, mask * 5.0, 0)  # an unbounded trigger, as the reference's DOORPING grows
    m = backdoor_metrics(_BrightCornerIsZero(), x, y, huge)
    assert m["asr"] == 1.0 and m["asr_nontarget"] == 1.0
    assert m["asr_clipped"] == 0.0  # clipped to [0, 1] the patch is 1.0 < 1.5: no backdoor
    assert m["cta"] == 0.5
    white = PatchTrigger.solid((1, 8, 8), 2, 0)
    assert backdoor_metrics(_BrightCornerIsZero(), x, y, white)["asr_clipped"] == 0.0
