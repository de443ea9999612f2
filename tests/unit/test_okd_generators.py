"""OKD's OOD generators: output statistics of each, and the ID batch is never modified."""

from __future__ import annotations

import pytest
import torch

from trustlab.errors import ConfigError
from trustlab.methods.okd.generators import GENERATORS, GeneratorContext, cutmix_mask, kl_soft
from trustlab.models import build_model

ALL = ("fusion", "mixup", "cutmix", "jigsaw", "noise", "adv")


def _batch(b: int = 64, c: int = 3, s: int = 16) -> torch.Tensor:
    torch.manual_seed(0)
    # per-sample constant images with distinct levels make the pairing of mixes easy to read off
    return torch.rand(b, c, s, s)


def _ctx() -> GeneratorContext:
    torch.manual_seed(1)
    student = build_model("small_cnn", 10, 16, width=0.125)
    teacher = build_model("small_cnn", 10, 16, width=0.25).eval()
    return GeneratorContext(student=student, teacher=teacher)


def test_registry_lists_every_generator() -> None:
    assert set(ALL) <= set(GENERATORS.names())


@pytest.mark.parametrize("name", ALL)
def test_shape_range_and_clean_input(name: str) -> None:
    x = _batch()
    before = x.clone()
    out = GENERATORS.get(name)(x, _ctx())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(x, before, rtol=0, atol=0)  # the ID branch stays clean
    assert not torch.equal(out, x)


def test_mixup_is_a_convex_blend_with_uniform_weights() -> None:
    torch.manual_seed(0)
    levels = torch.rand(512)
    x = levels.view(-1, 1, 1, 1).expand(-1, 3, 4, 4).contiguous()
    out = GENERATORS.get("mixup")(x, GeneratorContext())
    # each output image is constant: a blend of its own level and one partner's level
    assert torch.allclose(out, out[:, :1, :1, :1].expand_as(out))
    blend = out[:, 0, 0, 0]
    lo, hi = levels.min(), levels.max()
    assert ((blend >= lo - 1e-6) & (blend <= hi + 1e-6)).all()
    # batch mean is preserved in expectation (a permutation keeps the multiset of partners)
    assert abs(float(out.mean() - x.mean())) < 0.02


def test_cutmix_pixels_come_from_self_or_partner_and_area_matches_beta11() -> None:
    torch.manual_seed(0)
    masks = cutmix_mask(4000, 32, 32, torch.device("cpu")).float()
    area = masks.mean(dim=(1, 2, 3))
    # box side sqrt(1-lam)*32, lam ~ U(0,1): E[area] = E[1-lam] = 0.5 before border clipping, less after
    assert 0.25 < float(area.mean()) < 0.5
    assert float(area.max()) > 0.7 and float(area.min()) == 0.0
    x = _batch(32, 3, 8)
    out = GENERATORS.get("cutmix")(x, GeneratorContext())
    for i in range(len(x)):
        same = (out[i] == x[i]).all(0)
        partner = [(out[i][:, ~same] == x[j][:, ~same]).all() for j in range(len(x))]
        assert same.all() or any(partner)


def test_fusion_stays_within_the_batch_range_and_mean() -> None:
    x = _batch(256, 3, 16)
    out = GENERATORS.get("fusion")(x, GeneratorContext())
    assert abs(float(out.mean() - x.mean())) < 0.02
    assert float(out.std()) < float(x.std())  # mixing pulls pixels towards the mean


def test_jigsaw_permutes_quadrants_and_keeps_pixel_values() -> None:
    x = _batch(16, 3, 8)
    out = GENERATORS.get("jigsaw")(x, GeneratorContext(jigsaw_grid=2))
    for i in range(len(x)):
        torch.testing.assert_close(out[i].flatten().sort().values, x[i].flatten().sort().values)
        quads = [x[i][:, a:a + 4, b:b + 4] for a in (0, 4) for b in (0, 4)]
        got = [out[i][:, a:a + 4, b:b + 4] for a in (0, 4) for b in (0, 4)]
        assert all(any(torch.equal(g, q) for q in quads) for g in got)
        assert not all(torch.equal(g, q) for g, q in zip(got, quads))  # never the identity
    with pytest.raises(ConfigError, match="jigsaw_grid"):
        GENERATORS.get("jigsaw")(torch.rand(2, 3, 9, 9), GeneratorContext(jigsaw_grid=2))


def test_noise_has_the_configured_std_away_from_the_clamp() -> None:
    torch.manual_seed(0)
    x = torch.full((64, 3, 16, 16), 0.5)
    out = GENERATORS.get("noise")(x, GeneratorContext(noise_std=0.1))
    delta = out - x
    assert abs(float(delta.mean())) < 0.005 and abs(float(delta.std()) - 0.1) < 0.005


def test_adv_is_an_fgsm_step_that_raises_the_distillation_loss() -> None:
    ctx = _ctx()
    ctx.adv_eps = 8 / 255
    x = _batch(32, 3, 16)
    out = GENERATORS.get("adv")(x, ctx)
    step = (out - x).abs()
    inside = (x > ctx.adv_eps) & (x < 1 - ctx.adv_eps)
    assert torch.allclose(step[inside], torch.full_like(step[inside], ctx.adv_eps), atol=1e-6)
    assert float(step.max()) <= ctx.adv_eps + 1e-6
    assert ctx.student is not None and ctx.teacher is not None
    assert all(p.grad is None for p in ctx.student.parameters())  # only the input gradient was taken
    with torch.no_grad():
        t = ctx.teacher
        assert kl_soft(t(out), ctx.student(out), 4.0) > kl_soft(t(x), ctx.student(x), 4.0)
    with pytest.raises(ConfigError, match="student and the teacher"):
        GENERATORS.get("adv")(x, GeneratorContext())
