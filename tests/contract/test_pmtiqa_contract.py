"""PMT-IQA network on each supported backbone, a tiny pmtiqa/distort run on CSV data end to end, and its saved model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trustlab.errors import ConfigError
from trustlab.experiment import ModelConfig
from trustlab.methods.pmtiqa.config import PMTConfig
from trustlab.methods.pmtiqa.method import PMTIQA, build_net

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3_small"])
@pytest.mark.parametrize("multi_scale", [True, False])
def test_net_shapes_and_a_training_step(backbone: str, multi_scale: bool) -> None:
    torch.manual_seed(0)
    net = build_net(ModelConfig(name=backbone, width=0.25), PMTConfig(multi_scale=multi_scale, patch_size=32))
    out = net(torch.rand(4, 3, 32, 32))
    assert out["mos"].shape == (4,) and out["cls"].shape == (4, 10)
    assert hasattr(net, "branches") == multi_scale
    method = PMTIQA(net, "progressive", epochs=3)
    method.on_epoch_start(1)
    assert (method.lambda1, method.lambda2) == (0.5, 0.5)
    loss = method.training_step((torch.rand(4, 3, 32, 32), torch.rand(4), torch.randint(0, 10, (4,))))["loss"]
    loss.backward()
    branch_grad = net.branches[0][0].weight.grad if multi_scale else None
    assert torch.isfinite(loss) and (branch_grad is None or branch_grad.abs().sum() > 0)


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3_small"])
def test_branches_average_windows_and_never_expand_channels(backbone: str) -> None:
    """At 32-px patches the stage maps are 8/4/2 px: each branch must average 2x2 windows (a pooling to the
    reference's 8/4/2 grids there would be the identity), and its 1x1 conv must reduce, not expand."""
    from trustlab.methods.pmtiqa.model import branch_window

    torch.manual_seed(0)
    net = build_net(ModelConfig(name=backbone, width=0.125), PMTConfig(patch_size=32))
    taps = net._run_backbone(torch.rand(2, 3, 32, 32))
    for branch, tap in zip(net.branches, taps[:3]):
        conv = branch[0]
        assert conv.out_channels <= conv.in_channels
        full, pooled = conv(tap), branch(tap)
        assert pooled.shape[-1] < full.shape[-1] or full.shape[-1] == 1  # not an identity pooling
        w = full.shape[-1] // pooled.shape[-1]
        assert w >= 2 or full.shape[-1] == 1
        torch.testing.assert_close(pooled[..., 0, 0], full[..., :w, :w].mean((-2, -1)))  # a window average
        assert not torch.allclose(pooled, full[..., ::w, ::w][..., : pooled.shape[-2], : pooled.shape[-1]])
    # the reference's own setting: 224-px patches, maps 56/28/14, AvgPool2d(7, 7) -> 8/4/2 grids
    assert [branch_window(s, g) for s, g in ((56, 8), (28, 4), (14, 2))] == [7, 7, 7]
    assert [branch_window(s, g) for s, g in ((8, 8), (4, 4), (2, 2), (1, 2))] == [2, 2, 2, 1]


def test_unsupported_backbone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no stage table"):
        build_net(ModelConfig(name="small_cnn", width=0.25), PMTConfig())


def make_csv_dataset(root: Path, n: int = 12) -> Path:
    """A tiny NR dataset: noisier images get lower MOS (livec-style columns)."""
    rng = np.random.default_rng(0)
    base = rng.integers(60, 200, (48, 48, 3)).astype(float)
    lines = ["name,mos"]
    for i in range(n):
        img = np.clip(base + rng.normal(0, 5 + 6 * i, base.shape), 0, 255).astype(np.uint8)
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / "img" / f"{i}.png")
        lines.append(f"img/{i}.png,{90 - 6 * i}")
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    return root / "meta.csv"


def test_tiny_csv_recipe_runs_and_saves_a_scorable_model(tmp_path: Path, runs_dir: Path) -> None:
    from trustlab.methods.pmtiqa.score import score_images
    from trustlab.recipes import RECIPES, run_recipe

    meta = make_csv_dataset(tmp_path)
    over = {**RECIPES.get("pmtiqa/distort").tiny, "data.name": "csv", "data.meta": str(meta), "data.image_size": 40,
            "data.layout": "livec",
            "data.val_fraction": 0.2, "data.test_fraction": 0.3}
    rec = run_recipe("pmtiqa/distort", overrides=over, quiet=True)
    s = rec.summary()
    assert rec.done and s["n_train"] + s["n_val"] + s["n_test"] == 12
    assert -1 <= s["test_srcc"] <= 1 and "test_plcc_l4" in s
    scores = score_images(rec.path, [str(tmp_path / "img")], patches=2)
    assert len(scores) == 12 and all(0 <= v <= 100 for _, v in scores)
    again = score_images(rec.path, [str(tmp_path / "img")], patches=2)
    assert [v for _, v in scores] == [v for _, v in again]  # seeded patches: the same scores twice
