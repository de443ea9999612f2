"""Backbones: build, shapes, the Classifier contract, width, complexity counts, weights and errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from trustlab.errors import ConfigError, NotFoundError, TrustlabError
from trustlab.models import Classifier, build_model, count_macs, count_parameters, model_table
from trustlab.registry import MODELS

BUILTIN = ["mobilenet_v3_small", "resnet18", "small_cnn"]
HAS_TIMM = importlib.util.find_spec("timm") is not None
TIMM = pytest.param("timm:resnet10t", marks=pytest.mark.skipif(not HAS_TIMM, reason="timm not installed"))


def _eval_out(model: Classifier, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(x)


def test_builtin_models_are_registered() -> None:
    assert set(BUILTIN) <= set(MODELS.names())


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("name", [*BUILTIN, TIMM])
def test_forward_shapes_and_head_contract(name: str, size: int) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, input_size=size)
    assert isinstance(model, Classifier)
    assert (model.num_classes, model.input_size, model.in_chans) == (7, (size, size), 3)
    x = torch.rand(2, 3, size, size)
    model.eval()
    with torch.no_grad():
        logits = model(x)
        logits2, feats = model(x, return_features=True)
        from_head = model.classifier()(feats)
    assert logits.shape == (2, 7)
    assert feats.shape == (2, model.feature_dim)
    torch.testing.assert_close(logits2, logits)
    torch.testing.assert_close(from_head, logits)
    head = model.classifier()
    assert isinstance(head, nn.Linear)
    assert (head.in_features, head.out_features) == (model.feature_dim, 7)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears[-1] is head


@pytest.mark.parametrize("name", BUILTIN)
def test_normalisation_is_inside_the_model(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5, 32, width=0.25).eval()
    assert torch.equal(model.mean, torch.full((1, 3, 1, 1), 0.5))
    assert "mean" not in model.state_dict() and "std" not in model.state_dict()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        manual = model.classifier()(model.features((x - 0.5) / 0.5))
        torch.testing.assert_close(model(x), manual)
        for value in (0.0, 0.5, 1.0):  # constant images, e.g. instance norm on zero variance
            assert torch.isfinite(model(torch.full((2, 3, 32, 32), value))).all()
    torch.manual_seed(0)
    shifted = build_model(name, 5, 32, width=0.25, mean=(0.1, 0.2, 0.3), std=(0.2, 0.3, 0.4)).eval()
    assert shifted.std.flatten().tolist() == pytest.approx([0.2, 0.3, 0.4])
    with torch.no_grad():
        assert not torch.allclose(shifted(x), model(x))


def test_bad_normalisation_stats() -> None:
    with pytest.raises(ConfigError, match="2 values but in_chans=3"):
        build_model("small_cnn", 10, mean=(0.5, 0.5))
    with pytest.raises(ConfigError, match="std must be > 0"):
        build_model("small_cnn", 10, std=0.0)


@pytest.mark.parametrize("name", BUILTIN)
def test_width_shrinks_parameters_and_macs(name: str) -> None:
    rows = [model_table([name], 10, 32, w)[0] for w in (0.25, 0.5, 1.0)]
    params = [r["params"] for r in rows]
    macs = [r["macs"] for r in rows]
    assert params == sorted(params) and len(set(params)) == 3, params
    assert macs == sorted(macs) and len(set(macs)) == 3, macs


@pytest.mark.parametrize("width", [0.25, 0.5])
def test_tiny_mobilenet_is_under_half_a_million_parameters(width: float) -> None:
    assert count_parameters(build_model("mobilenet_v3_small", 10, 32, width=width)) < 500_000


@pytest.mark.parametrize("name", BUILTIN)
def test_one_channel_and_non_square_inputs(name: str) -> None:
    model = build_model(name, 3, input_size=(32, 48), width=0.25, in_chans=1).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 32, 48)).shape == (2, 3)


def test_small_input_stems() -> None:
    small = build_model("resnet18", 10, 32, width=0.25)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    big = build_model("resnet18", 10, 224, width=0.25)
    assert big.conv1.kernel_size == (7, 7) and isinstance(big.maxpool, nn.MaxPool2d)
    assert build_model("mobilenet_v3_small", 10, 32).net.features[0][0].stride == (1, 1)
    assert build_model("mobilenet_v3_small", 10, 128).net.features[0][0].stride == (2, 2)
    assert build_model("mobilenet_v3_small", 10, 32, small_input=False).net.features[0][0].stride == (2, 2)


def test_full_width_matches_torchvision_at_imagenet_size() -> None:
    ours = build_model("resnet18", 1000, 224)
    ref = torchvision.models.resnet18(weights=None)
    ours_shapes = {k.replace("head.", "fc."): v.shape for k, v in ours.state_dict().items()}
    assert ours_shapes == {k: v.shape for k, v in ref.state_dict().items()}
    assert count_parameters(ours) == count_parameters(ref) == 11_689_512
    mbv3 = build_model("mobilenet_v3_small", 1000, 224)
    assert count_parameters(mbv3) == count_parameters(torchvision.models.mobilenet_v3_small(weights=None))


def test_small_cnn_matches_the_dc_convnet_by_hand() -> None:
    model = build_model("small_cnn", 10, 32)
    # conv 3->128, 2x conv 128->128 (3x3 + bias), 3 GroupNorm affine, Linear(128*4*4, 10)
    assert count_parameters(model) == (3 * 9 + 1) * 128 + 2 * (128 * 9 + 1) * 128 + 3 * 256 + 2048 * 10 + 10
    macs = 32 * 32 * 128 * 27 + 16 * 16 * 128 * 128 * 9 + 8 * 8 * 128 * 128 * 9 + 2048 * 10
    assert count_macs(model, (3, 32, 32)) == macs
    assert [type(m) for m in model.body[:4]] == [nn.Conv2d, nn.GroupNorm, nn.ReLU, nn.AvgPool2d]
    assert model.body[1].num_groups == 128
    bn = build_model("small_cnn", 10, 32, width=0.25, norm="batchnorm", depth=2)
    assert isinstance(bn.body[1], nn.BatchNorm2d) and bn.feature_dim == 32 * 8 * 8
    assert not any(
        isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)) for m in build_model("small_cnn", 10, norm="none").modules()
    )
    assert build_model("small_cnn", 10, width=0.01).width == 8  # channel floor


def test_small_cnn_hidden_layer_is_the_backdoor_reference_convnet() -> None:
    # baadd's ConvNet (Liu et al., arXiv:2301.01197): no norm, flatten -> Linear(2048, 192) -> ReLU -> Linear(192, K)
    model = build_model("small_cnn", 10, 32, norm="none", hidden=192)
    convs = (3 * 9 + 1) * 128 + 2 * (128 * 9 + 1) * 128
    assert count_parameters(model) == convs + (2048 * 192 + 192) + (192 * 10 + 10)
    assert model.feature_dim == 192 and model.classifier().in_features == 192
    x = torch.rand(2, 3, 32, 32)
    logits, feats = model(x, return_features=True)
    assert feats.shape == (2, 192) and (feats >= 0).all()  # after the ReLU
    assert torch.allclose(model.classifier()(feats), logits)
    with pytest.raises(ConfigError, match="hidden must be an integer >= 0"):
        build_model("small_cnn", 10, 32, hidden=-1)


def test_count_macs_toy_model_and_mode_restore() -> None:
    toy = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    assert count_parameters(toy) == (3 * 9 * 4 + 4) + 8 + (256 * 10 + 10)
    toy.train()
    toy[1].eval()  # a frozen BN must stay frozen
    rng = torch.get_rng_state()
    assert count_macs(toy, (3, 8, 8)) == 8 * 8 * 4 * 3 * 9 + 256 * 10
    assert torch.equal(torch.get_rng_state(), rng)
    assert toy.training and toy[0].training and not toy[1].training


def test_weights_round_trip(tmp_path: Path) -> None:
    x = torch.rand(2, 3, 32, 32)
    for name in BUILTIN:
        torch.manual_seed(0)
        src = build_model(name, 10, 32, width=0.25)
        path = tmp_path / f"{name}.pt"
        torch.save(src.state_dict(), path)
        torch.manual_seed(1)
        fresh = build_model(name, 10, 32, width=0.25)
        assert not torch.allclose(_eval_out(fresh, x), _eval_out(src, x))
        torch.manual_seed(1)
        loaded = build_model(name, 10, 32, width=0.25, weights=path)
        torch.testing.assert_close(_eval_out(loaded, x), _eval_out(src, x), rtol=0, atol=0)
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"model": {f"module.{k}": v for k, v in src.state_dict().items()}, "epoch": 3}, wrapped)
    again = build_model(BUILTIN[-1], 10, 32, width=0.25, weights=str(wrapped))
    torch.testing.assert_close(_eval_out(again, x), _eval_out(src, x), rtol=0, atol=0)


def _one_line_error(exc_info: pytest.ExceptionInfo) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


def test_weights_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(NotFoundError) as e:
        build_model("small_cnn", 10, weights=missing)
    assert str(missing) in _one_line_error(e)

    half = tmp_path / "half.pt"
    torch.save(build_model("small_cnn", 10, width=0.5).state_dict(), half)
    with pytest.raises(TrustlabError) as e:
        build_model("small_cnn", 10, width=0.25, weights=half)
    msg = _one_line_error(e)
    assert str(half) in msg and "shape mismatch" in msg and "body.0.weight (64, 3, 3, 3) vs (32, 3, 3, 3)" in msg

    state = build_model("small_cnn", 10).state_dict()
    del state["head.bias"]
    state["extra.weight"] = torch.zeros(1)
    odd = tmp_path / "odd.pt"
    torch.save(state, odd)
    with pytest.raises(TrustlabError) as e:
        build_model("small_cnn", 10, weights=odd)
    msg = _one_line_error(e)
    assert "missing keys head.bias" in msg and "unexpected keys extra.weight" in msg

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(TrustlabError, match="could not read weights file") as e:
        build_model("small_cnn", 10, weights=junk)
    _one_line_error(e)


def test_config_errors() -> None:
    with pytest.raises(NotFoundError, match="did you mean 'resnet18'") as e:
        build_model("resnet81", 10)
    _one_line_error(e)
    for width in (0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="width"):
            build_model("small_cnn", 10, width=width)
    with pytest.raises(ConfigError, match="num_classes"):
        build_model("small_cnn", 1)
    with pytest.raises(ConfigError, match="input_size"):
        build_model("small_cnn", 10, input_size=(32, 32, 3))
    with pytest.raises(ConfigError, match="has no option 'nrom'; its options are: depth, norm, mean, std"):
        build_model("small_cnn", 10, nrom="batchnorm")
    with pytest.raises(ConfigError, match="norm 'layernorm'"):
        build_model("small_cnn", 10, norm="layernorm")
    with pytest.raises(ConfigError, match="at least 8 px"):
        build_model("small_cnn", 10, input_size=4)


def test_forward_input_errors() -> None:
    model = build_model("small_cnn", 10, 32, width=0.25)
    with pytest.raises(ConfigError, match="built for 32x32 inputs, got 28x28"):
        model(torch.rand(1, 3, 28, 28))
    with pytest.raises(ConfigError, match=r"shape \(B, 3, H, W\)"):
        model(torch.rand(1, 1, 32, 32))


@pytest.mark.skipif(not HAS_TIMM, reason="timm not installed")
def test_timm_errors() -> None:
    with pytest.raises(NotFoundError, match="unknown timm model 'resnet10x'.*did you mean") as e:
        build_model("timm:resnet10x", 10)
    _one_line_error(e)
    with pytest.raises(ConfigError, match="no width multiplier"):
        build_model("timm:resnet10t", 10, width=0.5)
    model = build_model("timm:resnet10t", 10, 32, in_chans=1, drop_rate=0.1)
    assert model.model.drop_rate == 0.1 and model(torch.rand(2, 1, 32, 32)).shape == (2, 10)


def test_timm_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # makes `import timm` raise ImportError
    with pytest.raises(ConfigError, match="needs timm, which is not installed"):
        build_model("timm:resnet10t", 10)


def test_model_table_reports_unbuildable_rows() -> None:
    rows = model_table(["small_cnn", "timm:resnet10t"], 10, 32, width=0.5)
    assert rows[0]["name"] == "small_cnn" and rows[0]["params"] == count_parameters(
        build_model("small_cnn", 10, width=0.5)
    )
    assert rows[1]["params"] is None and rows[1]["macs"] is None and rows[1]["description"]
