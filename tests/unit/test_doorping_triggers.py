"""Triggers, poisoning and the DOORPING trigger update (Liu et al., arXiv:2301.01197)."""

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


def test_headline_asr_counts_non_target_images_stored_as_8_bit_files() -> None:
    from trustlab.methods.doorping.evaluate import backdoor_metrics

    x = torch.rand(20, 1, 8, 8) * 0.5
    y = torch.tensor([0, 1] * 10)
    mask = PatchTrigger.solid((1, 8, 8), 2, 0).mask
    huge = PatchTrigger(mask, mask * 5.0, 0)  # an unbounded trigger, as the reference's DOORPING grows
    m = backdoor_metrics(_BrightCornerIsZero(), x, y, huge)
    assert m["asr_reference"] == 1.0 and m["asr_unclipped"] == 1.0
    assert m["asr"] == 0.0  # clipped to [0, 1] the patch is 1.0 < 1.5: no backdoor
    assert m["cta"] == 0.5


class _Label(nn.Module):
    """Predicts the true label smuggled into pixel (0, 0) (label / 10), whatever the trigger."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        label = (x[:, 0, 0, 0] * 10).round().long()
        return nn.functional.one_hot(label, 10).float() + self.dummy


def test_headline_asr_leaves_out_target_class_images() -> None:
    from trustlab.methods.doorping.evaluate import backdoor_metrics

    y = torch.tensor([0, 1, 2, 3] * 5)
    x = torch.zeros(20, 1, 8, 8)
    x[:, 0, 0, 0] = y / 10
    trig = PatchTrigger.solid((1, 8, 8), 2, 0)
    m = backdoor_metrics(_Label(), x, y, trig)  # no backdoor: every image keeps its label
    assert m["cta"] == 1.0 and m["asr"] == 0.0
    assert m["asr_reference"] == pytest.approx(0.25)  # the reference's metric counts the class-0 images as hits


class _ExactValue(nn.Module):
    """Class 0 only when the patch holds exactly 0.5001 (a value no 8-bit image can carry)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hit = ((x[:, 0, -3:-1, -3:-1] - 0.5001).abs().amax((1, 2)) < 1e-5).float()
        return torch.stack([hit, 1 - hit], 1) + self.dummy


def test_headline_asr_quantises_the_stamped_image_to_8_bits() -> None:
    from trustlab.methods.doorping.evaluate import backdoor_metrics

    x, y = torch.zeros(6, 1, 8, 8), torch.ones(6, dtype=torch.long)
    mask = PatchTrigger.solid((1, 8, 8), 2, 0).mask
    m = backdoor_metrics(_ExactValue(), x, y, PatchTrigger(mask, mask * 0.5001, 0))
    assert m["asr_unclipped"] == 1.0 and m["asr"] == 0.0


def test_as_stored_clips_and_rounds_to_1_over_255() -> None:
    from trustlab.methods.doorping.triggers import as_stored

    out = as_stored(torch.tensor([-3.0, 0.5001, 0.7, 2.0]))
    assert out.tolist() == pytest.approx([0.0, 128 / 255, 178 / 255, 1.0])


def _reference_net() -> nn.Module:
    torch.manual_seed(0)
    return build_model("small_cnn", 10, input_size=16, width=0.0625, in_chans=1, norm="none", hidden=24)


def test_doorping_reads_the_post_relu_activation_of_the_hidden_layer() -> None:
    from trustlab.methods.doorping.triggers import activation_module

    net = _reference_net()
    assert activation_module(net, penultimate_layer(net)) is net.mlp[1]  # the ReLU after the hidden Linear
    dc = build_model("small_cnn", 10, input_size=16, width=0.0625, in_chans=1)  # instance norm after the conv
    assert activation_module(dc, penultimate_layer(dc)) is penultimate_layer(dc)
    no_norm = build_model("small_cnn", 10, input_size=16, width=0.0625, in_chans=1, norm="none")
    assert isinstance(activation_module(no_norm, penultimate_layer(no_norm)), nn.ReLU)  # Identity skipped


def test_a_key_neuron_at_or_below_zero_stops_the_update_at_its_first_step() -> None:
    # the reference's in-place ReLU: the stored activation is max(0, a); 0 -> loss 0 < threshold, stop
    net = _reference_net()
    layer = penultimate_layer(net)
    key = int(select_neurons(layer, 1))
    with torch.no_grad():
        layer.bias[key] = -1e3  # the key neuron's pre-activation is very negative for any input
    trig = PatchTrigger.random((1, 16, 16), 2, 0, generator=torch.Generator().manual_seed(0))
    new, info = optimise_trigger(net, trig, steps=50, clamp=False)
    assert info["trigger/steps"] == 1 and info["trigger/loss"] == 0.0
    assert torch.equal(new.pattern, trig.pattern)


def test_trigger_learning_rate_acts_in_the_given_units() -> None:
    # Adam's first step moves every coordinate by lr in the optimised variable: lr * unit pixels
    net = _reference_net()
    layer = penultimate_layer(net)
    key = int(select_neurons(layer, 1))
    with torch.no_grad():
        layer.bias[key] = 5.0  # a positive activation, so the update runs
    trig = PatchTrigger(patch_mask((1, 16, 16), 2), patch_mask((1, 16, 16), 2) * 0.5, 0)
    moved = {}
    for unit in (1.0, 0.3081):
        new, info = optimise_trigger(net, trig, steps=1, threshold=-1.0, lr=0.08, unit=unit, clamp=False)
        assert info["trigger/steps"] == 1
        moved[unit] = float((new.pattern - trig.pattern).abs().max())
    assert moved[1.0] == pytest.approx(0.08, rel=1e-3)
    assert moved[0.3081] == pytest.approx(0.08 * 0.3081, rel=1e-3)
    with pytest.raises(ConfigError, match="trigger unit must be > 0"):
        optimise_trigger(net, trig, unit=0.0)


def test_a_pinned_bounded_trigger_stops_after_patience_steps() -> None:
    net = _reference_net()
    layer = penultimate_layer(net)
    key = int(select_neurons(layer, 1))
    with torch.no_grad():
        layer.bias[key] = 5.0
    mask = patch_mask((1, 16, 16), 2)
    trig = PatchTrigger(mask, mask * 0.5, 0)
    _, full = optimise_trigger(net, trig, steps=300, threshold=-1.0, patience=0)
    new, early = optimise_trigger(net, trig, steps=300, threshold=-1.0, patience=10)
    assert full["trigger/steps"] == 300
    assert early["trigger/steps"] < 300  # the pattern reached the box's corner and stayed there
    after, _ = optimise_trigger(net, new, steps=50, threshold=-1.0, patience=0)
    assert torch.equal(after.pattern, new.pattern)  # more steps would not have moved it
