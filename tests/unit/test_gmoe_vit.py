"""The ViT / GMoE models, FLOP matching, fusion, routing statistics and the recipe's input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trustlab.errors import ConfigError, NotFoundError
from trustlab.methods.gmoe.config import GMoERecipeConfig
from trustlab.methods.gmoe.method import GMoE, build_vit_model, matched_hidden
from trustlab.methods.gmoe.routing import ATTRIBUTES, _patch_attributes, specialisation
from trustlab.models import build_model, count_macs
from trustlab.models.moe import MoEFFN


def test_dense_macs_per_token_matches_flop_counter() -> None:
    model = build_model("vit", 10, 32).eval()
    n, d, depth = model.num_tokens, model.feature_dim, len(model.vit.blocks)
    counted = count_macs(model, (3, 32, 32))
    # FlopCounterMode does not count CPU scaled-dot-product attention: add its two N x N x D products
    counted += depth * 2 * n * n * d
    assert model.macs_per_token()["total"] * n == pytest.approx(counted, rel=1e-6)


def test_gmoe_matches_dense_macs_and_replaces_the_chosen_mlps() -> None:
    cfg = GMoERecipeConfig()
    moe_model = build_vit_model(cfg, 10)
    cfg.model.name = "vit"
    dense = build_vit_model(cfg, 10)
    # the last two of every other block (reference: 8 and 10 of 12, at the top)
    assert [b for b, blk in enumerate(moe_model.vit.blocks) if isinstance(blk.mlp, MoEFFN)] == [1, 3]
    assert moe_model.macs_per_token()["total"] <= dense.macs_per_token()["total"]
    hidden = moe_model.moe_layers()[0].hidden
    assert hidden == matched_hidden(48, 192, cfg.moe) < 192
    # one more hidden unit per expert would cost more than the dense MLP
    router = moe_model.moe_layers()[0].router.macs_per_token()
    assert router + 2 * 48 * (hidden + 1) > 2 * 48 * 192


def test_gmoe_loss_adds_the_aux_loss_and_logs_routing() -> None:
    torch.manual_seed(0)
    method = GMoE(build_model("vit_moe", 10, 32, proj_dim=8))
    out = method.training_step((torch.rand(6, 3, 32, 32), torch.randint(0, 10, (6,))))
    assert out["aux"] > 0 and torch.isclose(out["loss"], out["ce"] + out["aux"])
    assert 0 <= out["moe_drop"] <= 1 and out["moe_cv"] >= 0
    dense = GMoE(build_model("vit", 10, 32)).training_step((torch.rand(2, 3, 32, 32), torch.tensor([0, 1])))
    assert dense["aux"] == 0 and "moe_cv" not in dense


def test_fusion_starts_as_the_plain_model_and_learns() -> None:
    torch.manual_seed(0)
    fused = build_model("vit_moe", 10, 32, fusion="layers", proj_dim=8).eval()
    plain = build_model("vit_moe", 10, 32, proj_dim=8).eval()
    plain.load_state_dict({k: v for k, v in fused.state_dict().items() if not k.startswith("fusion.")})
    x = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(fused(x), plain(x))
    fused.train()
    torch.nn.functional.cross_entropy(fused(x), torch.tensor([0, 1, 2])).backward()
    assert fused.fusion.o.weight.grad.abs().sum() > 0
    assert fused.fusion.last_attention.shape == (3, 3)  # 2 MoE blocks + the final class token


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"moe_blocks": [4]}, ConfigError, r"moe_blocks \[4\] must be distinct block indices in 0..3"),
        ({"moe_blocks": [-1]}, ConfigError, "must be distinct block indices"),
        ({"top_k": 7}, ConfigError, "top_k=7 must be between 1 and moe.num_experts=6"),
        ({"capacity_factor": 0}, ConfigError, "capacity_factor must be > 0"),
        ({"router": "softmax"}, NotFoundError, "unknown router 'softmax'"),
        ({"experts": 4}, ConfigError, r"unknown MoE option\(s\) \['experts'\]"),
        ({"patch_size": 5}, ConfigError, "patch_size=5 must divide the input size"),
        ({"fusion": "stack"}, ConfigError, "fusion must be one of"),
    ],
)
def test_bad_model_options(options: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        build_model("vit_moe", 10, 32, **options)


def test_dense_vit_refuses_moe_options_without_blocks() -> None:
    with pytest.raises(ConfigError, match="need moe_blocks"):
        build_model("vit", 10, 32, num_experts=4)


def test_recipe_rejects_bad_settings_before_building_data() -> None:
    from trustlab.methods.gmoe.run import run_gmoe
    from trustlab.recipes import RunContext

    cfg = GMoERecipeConfig()
    cfg.moe.top_k = 9
    with pytest.raises(ConfigError, match="top_k=9"):
        run_gmoe(cfg, RunContext(record=None))  # type: ignore[arg-type]
    cfg = GMoERecipeConfig()
    cfg.vit.fusion = "layers"
    cfg.model.name = "vit"
    with pytest.raises(ConfigError, match="use model.name=vit_moe"):
        run_gmoe(cfg, RunContext(record=None))  # type: ignore[arg-type]
    cfg = GMoERecipeConfig()
    cfg.model.name = "small_cnn"
    with pytest.raises(ConfigError, match="erm/digits-dg"):
        run_gmoe(cfg, RunContext(record=None))  # type: ignore[arg-type]


def test_patch_attributes() -> None:
    x = torch.zeros(2, 3, 16, 16)
    x[0, :, :8, :8] = 1.0  # first patch of image 0 white
    x[1, 0, 8:, 8:] = 1.0  # last patch of image 1 red
    a = _patch_attributes(x, 8)
    assert a["brightness"].shape == (8,) and a["brightness"][0] == pytest.approx(1.0)
    assert a["colour"][7] > 0.5 and a["colour"][0] == 0
    assert list(a["position"]) == [0, 1, 2, 3] * 2


def test_specialisation_against_permutation_control() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    routing = {a: rng.integers(0, 4, n) for a in ATTRIBUTES}
    routing["experts"] = [routing["ink"].copy(), rng.integers(0, 4, n)]  # layer 0 follows ink, layer 1 random
    out = specialisation(routing, n_perm=10)
    assert out["ink"]["mi"] == pytest.approx((np.log(4) + 0.0) / 2, abs=0.01)
    assert out["ink"]["mi"] > 50 * out["ink"]["perm_max"]
    assert out["class"]["mi"] < 3 * out["class"]["perm_max"] + 1e-3  # unrelated attribute: at chance level


def test_fusion_macs_per_token_matches_flop_counter() -> None:
    """The fusion block over L = 3 class tokens: keys, values (2 L D^2) and output (D^2): 7 D^2 per image."""
    fused = build_model("vit_moe", 10, 32, fusion="layers", proj_dim=8).eval()
    plain = build_model("vit_moe", 10, 32, proj_dim=8).eval()
    d, n = fused.feature_dim, fused.num_tokens
    extra = (fused.macs_per_token()["total"] - plain.macs_per_token()["total"]) * n
    assert extra == pytest.approx(7 * d * d)
    assert count_macs(fused, (3, 32, 32)) - count_macs(plain, (3, 32, 32)) == pytest.approx(extra, rel=1e-6)


def test_domainbed_batch_augmentation() -> None:
    """Per-image random crop/flip, colour jitter and greyscale on a batch in [0, 1]; greyscale about 1 in 10."""
    from trustlab.methods.gmoe.augment import crop_flip, domainbed_batch, random_grey

    torch.manual_seed(0)
    x = torch.rand(2000, 3, 8, 8)
    y = domainbed_batch(x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1 + 1e-6
    grey = (random_grey(x).std(1) < 1e-6).all(2).all(1).float().mean()
    assert 0.08 < float(grey) < 0.12
    ramp = torch.linspace(0, 1, 8).expand(2000, 3, 8, 8).contiguous()  # brightness rises left to right
    out = crop_flip(ramp)
    slope = out[:, 0, :, -1].mean(1) - out[:, 0, :, 0].mean(1)
    flipped = float((slope < 0).float().mean())
    assert 0.45 < flipped < 0.55 and float(slope.abs().min()) > 0.5  # a crop keeps at least 70% of the area
