"""Distillation building blocks: DC's gradient distance, DSA, the distillers, ipc checks, resume."""

from __future__ import annotations

import pytest
import torch

from trustlab.errors import ConfigError
from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.config import DistillConfig, resolved
from trustlab.methods.doorping.distill import RealData, build_distiller, check_ipc, match_distance, run_distillation
from trustlab.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _real(n_per_class: int = 12, k: int = 3, size: int = 16, seed: int = 0) -> RealData:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(k).repeat_interleave(n_per_class)
    x = torch.rand(len(y), 1, size, size, generator=g) * 0.3
    for c in range(k):  # class c brightens a different band so classes differ
        x[y == c, :, c * 4 : c * 4 + 4, :] += 0.6
    return RealData(x.clamp(0, 1), y, k, torch.Generator().manual_seed(seed))


def _make_net(k: int = 3):
    return lambda: build_model("small_cnn", k, input_size=16, width=0.0625, in_chans=1)


def test_match_distance_by_hand() -> None:
    g = [torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([5.0, 5.0])]
    assert float(match_distance(g, g)) == pytest.approx(0.0, abs=1e-5)
    opposite = [-g[0], -g[1]]
    assert float(match_distance(g, opposite)) == pytest.approx(4.0, abs=1e-4)  # two rows, 1 - (-1) each
    orth = [torch.tensor([[0.0, 1.0], [0.0, 2.0]]), torch.tensor([0.0, 0.0])]
    assert float(match_distance(g, orth)) == pytest.approx(1.0, abs=1e-4)  # the 1-D bias is skipped


def test_dc_loops_and_defaults_follow_the_reference() -> None:
    r = resolved(DistillConfig(method="dc", ipc=10))
    assert (r.outer_loop, r.inner_loop, r.init, r.lr_img) == (10, 50, "noise", 0.025)
    assert resolved(DistillConfig(method="dc", ipc=1)).outer_loop == 1
    dm = resolved(DistillConfig(method="dm"))
    assert dm.init == "real" and dm.lr_img == 0.25
    assert resolved(DistillConfig(method="dc", ipc=10, outer_loop=3)).outer_loop == 3


def test_ipc_larger_than_a_class_is_a_config_error() -> None:
    y = torch.tensor([0] * 5 + [1] * 3)
    check_ipc(3, y, 2)
    with pytest.raises(ConfigError, match=r"distill.ipc 4 must be between 1 and the 3 real images of class 1"):
        check_ipc(4, y, 2)
    with pytest.raises(ConfigError, match="distill.ipc 0"):
        check_ipc(0, y, 2)


def test_siamese_augment_is_shared_by_seed_and_differentiable() -> None:
    aug = SiameseAugment("color_crop_cutout_flip_scale_rotate")
    x = torch.rand(4, 1, 16, 16, requires_grad=True)
    for seed in range(12):
        a, b = aug(x, seed), aug(x, seed)
        assert a.shape == x.shape and torch.equal(a, b)
    # siamese: one transformation for the whole batch, so identical images stay identical
    same = torch.rand(1, 1, 16, 16).expand(3, -1, -1, -1)
    for seed in range(12):
        out = aug(same, seed)
        assert torch.allclose(out[0], out[2])
    aug(x, 3).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="unknown ops"):
        SiameseAugment("color_blur")


@pytest.mark.parametrize("method", ["dc", "dsa", "dm", "dd"])
def test_each_distiller_moves_the_images_and_calls_the_hook(method: str) -> None:
    torch.manual_seed(0)
    cfg = resolved(DistillConfig(method=method, ipc=2, iterations=2, batch_real=6, outer_loop=2, inner_loop=1,
                                 dd_steps=2, log_every=1, checkpoint_every=0))
    real = _real()
    distiller = build_distiller(cfg, _make_net(), 3, torch.device("cpu"))
    seen = []
    rows = []
    res = run_distillation(distiller, real, on_network=lambda net: seen.append(net), log=rows.append)
    assert res.images.shape == (6, 1, 16, 16) and res.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert 0.0 <= float(res.images.min()) and float(res.images.max()) <= 1.0
    per_iter = 1  # dc/dsa: after each of the outer_loop - 1 inner updates; dm/dd: once per iteration
    assert len(seen) == 2 * per_iter
    assert [r["step"] for r in rows] == [1, 2] and all(len(r) > 1 for r in rows)
    if method == "dd":
        assert res.extra["step_sizes"].shape == (2,)


def _dm_distance(images: torch.Tensor, real: RealData, nets: int = 6) -> float:
    """DM's objective averaged over the same seeded random networks (all real images of each class)."""
    total = 0.0
    for seed in range(nets):
        torch.manual_seed(1000 + seed)
        net = _make_net()()
        with torch.no_grad():
            fr = net(real.images, return_features=True)[1]
            fs = net(images, return_features=True)[1]
        for c in range(3):
            total += float(((fr[real.labels == c].mean(0) - fs[2 * c : 2 * c + 2].mean(0)) ** 2).sum())
    return total / nets


def test_dm_lowers_its_matching_distance() -> None:
    torch.manual_seed(0)
    cfg = resolved(DistillConfig(method="dm", ipc=2, iterations=20, batch_real=12, lr_img=1.0, init="noise",
                                 checkpoint_every=0))
    distiller = build_distiller(cfg, _make_net(), 3, torch.device("cpu"))
    distiller.augment = None  # deterministic objective for the test
    real = _real()
    start = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    res = run_distillation(distiller, real)
    assert _dm_distance(res.images, real) < 0.5 * _dm_distance(start, real)


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run() -> None:
    cfg = resolved(DistillConfig(method="dm", ipc=2, iterations=4, batch_real=6, checkpoint_every=2))

    def run(resume_state=None, keep=None):
        torch.manual_seed(0)
        distiller = build_distiller(cfg, _make_net(), 3, torch.device("cpu"))
        return run_distillation(distiller, _real(), checkpoint=keep, resume_state=resume_state)

    states: list[dict] = []
    full = run(keep=states.append)
    torch.manual_seed(123)  # the resumed run restores the RNG itself
    resumed = run(resume_state=states[0])
    assert states[0]["iteration"] == 2
    assert torch.allclose(full.images, resumed.images, atol=1e-6)


def test_build_distiller_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="distill.batch_real"):
        build_distiller(resolved(DistillConfig(method="dm", batch_real=0)), _make_net(), 3, torch.device("cpu"))


def test_dm_matches_the_conv_embedding_not_the_hidden_layer() -> None:
    # DM's net.embed is the flattened conv map; on the reference net (hidden=24) the 24 hidden units are not it
    from trustlab.methods.doorping.distill import DM

    torch.manual_seed(0)
    net = build_model("small_cnn", 3, input_size=16, width=0.0625, in_chans=1, norm="none", hidden=24)
    x = torch.rand(5, 1, 16, 16)
    seen = []
    net.mlp.register_forward_hook(lambda *_: seen.append(1))
    cfg = resolved(DistillConfig(method="dm", ipc=2, iterations=1, batch_real=4, checkpoint_every=0))
    distiller = DM(cfg, lambda: net, 3, torch.device("cpu"))
    syn = torch.rand(6, 1, 16, 16, requires_grad=True)
    distiller.setup(syn)
    distiller.step(0, syn, _real(), None)
    assert not seen  # the hidden Linear+ReLU never ran: DM matched the conv features
    from trustlab.methods.doorping.distill.dm import embed

    assert embed(net, x).shape == (5, net.width * 2 * 2)
    assert torch.allclose(embed(net, x), net.body(net.normalize(x)).flatten(1))
