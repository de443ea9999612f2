"""The GMoE recipes' shipped pretrained ViT (METHOD_CHECKLIST "Shipped weights"): the file matches its checksum,
loads with ``weights_only=True``, reproduces the logits recorded beside it, the build script runs at a tiny
setting, and both arms start from it (the dense ViT all but its head; GMoE's experts copy the pretrained MLP)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trustlab.data import shipped
from trustlab.data.cache import sha256_file
from trustlab.errors import ConfigError
from trustlab.methods.gmoe import shipped as gmoe_shipped
from trustlab.methods.gmoe.config import GMoERecipeConfig
from trustlab.methods.gmoe.method import build_vit_model

PT = gmoe_shipped.WEIGHTS


def test_shipped_vit_matches_its_checksum_loads_weights_only_and_reproduces_its_logits() -> None:
    meta = json.loads(PT.with_suffix(".json").read_text())
    assert sha256_file(PT) == meta["sha256"] and PT.stat().st_size == meta["bytes"] < 5_000_000
    for k in ("command", "seed", "data", "key", "probe", "fashion_test_acc"):
        assert k in meta, k
    assert meta["key"]["vit"] == gmoe_shipped.default_shape() and meta["key"]["recipe"] == gmoe_shipped.RECIPE
    payload = torch.load(PT, map_location="cpu", weights_only=True)
    assert payload["format"] == "trustlab-gmoe-vit/1"
    state = {k[len("weights/"):]: v for k, v in payload.items() if k.startswith("weights/")}
    np.testing.assert_allclose(gmoe_shipped.probe(state), meta["probe"]["logits"], rtol=gmoe_shipped.PROBE_RTOL,
                               atol=gmoe_shipped.PROBE_ATOL)


def test_both_arms_start_from_the_shipped_vit() -> None:
    state, _ = gmoe_shipped.load_for(GMoERecipeConfig())
    cfg = GMoERecipeConfig()
    moe = build_vit_model(cfg, 10)
    cfg.model.name = "vit"
    dense = build_vit_model(cfg, 10)
    for k, v in dense.state_dict().items():
        if not k.startswith("vit.head."):
            assert torch.equal(v, state[k]), k
    assert not torch.equal(dense.vit.head.weight, state["vit.head.weight"])  # new classes: a fresh head
    for k, v in moe.state_dict().items():
        if k in state and ".mlp." not in k and not k.startswith("vit.head."):
            assert torch.equal(v, state[k]), k
    for b in moe.moe_blocks:
        layer, w1 = moe.vit.blocks[b].mlp, state[f"vit.blocks.{b}.mlp.fc1.weight"]
        rows = [int((w1 == col).all(1).nonzero()[0]) for col in layer.w1[0].t()]  # each kept unit of the MLP
        assert len(set(rows)) == layer.hidden < w1.shape[0]
        for e in range(layer.num_experts):
            torch.testing.assert_close(layer.w1[e], w1[rows].t(), rtol=0, atol=0)
            torch.testing.assert_close(layer.b2[e, 0], state[f"vit.blocks.{b}.mlp.fc2.bias"], rtol=0, atol=0)


def test_other_vit_shapes_refuse_the_shipped_weights() -> None:
    cfg = GMoERecipeConfig()
    cfg.vit.depth = 2
    with pytest.raises(ConfigError, match=r"another shape \(depth: 2, shipped 4\); set vit.pretrained=none"):
        build_vit_model(cfg, 10)
    cfg.vit.pretrained = "none"
    assert len(build_vit_model(cfg, 10).vit.blocks) == 2


@pytest.mark.skipif(not __import__("trustlab.data.mnist", fromlist=["x"]).has_fashion_mnist(),
                    reason="Fashion-MNIST (Debian dataset-fashion-mnist) not installed")
def test_build_script_runs_at_a_tiny_setting(tmp_path) -> None:
    out = tmp_path / "vit.pt"
    assert gmoe_shipped.main(["--tiny", "--out", str(out)]) == 0
    meta = shipped.info(out)
    assert meta["key"]["recipe"]["steps"] == gmoe_shipped.TINY["steps"] and meta["sha256"] == sha256_file(out)
    payload, _ = shipped.load(out)
    state = {k[len("weights/"):]: v for k, v in payload.items() if k.startswith("weights/")}
    np.testing.assert_allclose(gmoe_shipped.probe(state), meta["probe"]["logits"], rtol=1e-3, atol=1e-3)
    assert meta["key"]["recipe"] != gmoe_shipped.RECIPE  # the test in the first function catches a tiny file shipped


def test_colourised_pretraining_images_keep_contrast() -> None:
    rng = np.random.default_rng(0)
    grey = np.zeros((64, 28, 28), np.uint8)
    grey[:, 8:20, 8:20] = 255
    x = gmoe_shipped.colourise(grey, rng)
    assert x.shape == (64, 3, 32, 32) and x.min() >= 0 and x.max() <= 1
    luma = torch.tensor([0.299, 0.587, 0.114]) @ torch.from_numpy(x).permute(1, 0, 2, 3).reshape(3, -1)
    luma = luma.reshape(64, 32, 32)
    ring = torch.ones(32, 32, dtype=torch.bool)
    ring[1:-1, 1:-1] = False  # the border ring: symmetric about the centre, so its mean is the gradient's midpoint
    fg, background = luma[:, 16, 16], luma[:, ring].mean(1)
    assert float((fg - background).abs().min()) > 0.15  # the object stands out from its (mean) background
