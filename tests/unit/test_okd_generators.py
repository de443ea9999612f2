"""OKD's OOD generators: output statistics of each, and the ID batch is never modified."""

from __future__ import annotations

import pytest
import torch

from trustlab.errors import ConfigError
from trustlab.methods.okd.generators import GENERATORS, IMAGENET_STD, GeneratorContext, cutmix_box
from trustlab.models import build_model

ALL = ("fusion", "mixup", "cutmix", "jigsaw", "noise", "adv")


def _batch(b: int = 64, c: int = 3, s: int = 16) -> torch.Tensor:
    torch.manual_seed(0)
    # per-sample constant images with distinct levels make the pairing of mixes easy to read off
    return torch.rand(b, c, s, s)


def _ctx() -> GeneratorContext:
    torch.manual_seed(1)
    student = build_model("small_cnn", 10, 16, width=0.125)
    return GeneratorContext(student=student, labels=torch.randint(0, 10, (64,)))


def test_registry_lists_every_generator() -> None:
    assert set(ALL) <= set(GENERATORS.names())


@pytest.mark.parametrize("name", ALL)
def test_shape_range_and_clean_input(name: str) -> None:
    x = _batch()
    before = x.clone()
    out = GENERATORS.get(name)(x, _ctx())
    assert out.shape == x.shape and out.dtype == x.dtype
    if name != "noise":  # the reference does not clamp its noise
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


def test_cutmix_box_area_matches_beta11() -> None:
    torch.manual_seed(0)
    area = torch.tensor([float((y2 - y1) * (x2 - x1)) / 1024
                         for y1, y2, x1, x2 in (cutmix_box(32, 32, torch.device("cpu")) for _ in range(3000))])
    # box side sqrt(1-lam)*32, lam ~ U(0,1): E[area] = E[1-lam] = 0.5 before border clipping, less after
    assert 0.25 < float(area.mean()) < 0.5
    assert float(area.max()) > 0.7 and float(area.min()) == 0.0


def test_cutmix_pastes_one_box_per_batch_from_partners() -> None:
    """The reference's cutmix draws one lam and one box for the whole batch (not one per sample)."""
    torch.manual_seed(3)
    x = _batch(32, 3, 8)
    counts = []
    for _ in range(8):
        out = GENERATORS.get("cutmix")(x, GeneratorContext())
        changed = (out != x).any(1)  # (B, H, W)
        boxes = {tuple(torch.nonzero(c).min(0).values.tolist() + torch.nonzero(c).max(0).values.tolist())
                 for c in changed if c.any()}
        counts.append(len(boxes))
        assert len(boxes) <= 1  # every changed image changed inside the same box
        for i in range(len(x)):
            same = (out[i] == x[i]).all(0)
            partner = [(out[i][:, ~same] == x[j][:, ~same]).all() for j in range(len(x))]
            assert same.all() or any(partner)
    assert 1 in counts  # (a box may be empty when lam is near 1)


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


def test_noise_is_the_references_std_on_imagenet_normalised_input() -> None:
    """Reference: N(0, 0.15^2) added to ImageNet-normalised input = 0.15 * std_c on [0, 1] pixels, unclamped."""
    torch.manual_seed(0)
    x = torch.full((256, 3, 16, 16), 0.99)
    delta = GENERATORS.get("noise")(x, GeneratorContext()) - x
    for c in range(3):
        assert abs(float(delta[:, c].std()) - 0.15 * IMAGENET_STD[c]) < 0.001
    assert abs(float(delta.mean())) < 0.001
    assert float((x + delta).max()) > 1.0  # not clamped, as the reference


def test_adv_is_the_references_fgsm_step_on_the_labelled_ce() -> None:
    import torch.nn.functional as F

    ctx = _ctx()
    assert ctx.adv_eps == 0.001  # the reference's eps, in [0, 1] pixels
    x = _batch(64, 3, 16)
    out = GENERATORS.get("adv")(x, ctx)
    assert ctx.student is not None and ctx.labels is not None
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(ctx.student(xr), ctx.labels), xr)
    torch.testing.assert_close(out, (x + 0.001 * grad.sign()).clamp(0, 1), rtol=0, atol=1e-7)
    assert all(p.grad is None for p in ctx.student.parameters())  # only the input gradient was taken
    ctx.adv_eps = 8 / 255
    big = GENERATORS.get("adv")(x, ctx)
    with torch.no_grad():
        assert F.cross_entropy(ctx.student(big), ctx.labels) > F.cross_entropy(ctx.student(x), ctx.labels)
    with pytest.raises(ConfigError, match="student and the batch labels"):
        GENERATORS.get("adv")(x, GeneratorContext())


# ---------------------------------------------------------------- the generators before issue 11 (ablation)


def test_cutmix_previous_variant_draws_a_box_per_sample() -> None:
    torch.manual_seed(3)
    x = _batch(32, 3, 8)
    ctx = GeneratorContext(cutmix_variant="previous")
    out = GENERATORS.get("cutmix")(x, ctx)
    changed = (out != x).any(1)
    boxes = {tuple(torch.nonzero(c).min(0).values.tolist() + torch.nonzero(c).max(0).values.tolist())
             for c in changed if c.any()}
    assert len(boxes) > 3  # many different boxes in one batch (the reference's: at most one)
    assert ctx.cutmixed is out  # left for OKD's id_branch=in_place
    torch.manual_seed(3)
    ref = GeneratorContext()
    assert not torch.equal(GENERATORS.get("cutmix")(x, ref), out) and ref.cutmixed is not None


def test_noise_previous_variant_is_pixel_std_and_clamped() -> None:
    torch.manual_seed(0)
    x = torch.full((256, 3, 16, 16), 0.5)
    out = GENERATORS.get("noise")(x, GeneratorContext(noise_variant="previous"))
    assert abs(float((out - x).std()) - 0.15) < 0.005  # 0.15 on pixels, about 4x the reference's
    edge = GENERATORS.get("noise")(torch.full((8, 3, 8, 8), 0.99), GeneratorContext(noise_variant="previous"))
    assert float(edge.max()) <= 1.0 and float(edge.min()) >= 0.0


def test_adv_previous_variant_is_fgsm_on_the_kl_to_the_teacher() -> None:
    from trustlab.methods.okd.generators import kl_soft

    ctx = _ctx()
    torch.manual_seed(2)
    ctx.teacher = build_model("small_cnn", 10, 16, width=0.25).eval()
    ctx.adv_variant, ctx.adv_eps, ctx.labels = "previous", 4 / 255, None  # no labels needed
    x = _batch(64, 3, 16)
    out = GENERATORS.get("adv")(x, ctx)
    xr = x.clone().requires_grad_(True)
    with torch.no_grad():
        t = ctx.teacher(x)
    (grad,) = torch.autograd.grad(kl_soft(t, ctx.student(xr), ctx.temperature), xr)
    torch.testing.assert_close(out, (x + 4 / 255 * grad.sign()).clamp(0, 1), rtol=0, atol=1e-7)
    with pytest.raises(ConfigError, match="the teacher"):
        GENERATORS.get("adv")(x, GeneratorContext(student=ctx.student, adv_variant="previous"))


def test_unknown_variant_is_a_one_line_error() -> None:
    from trustlab.methods.okd.generators import check_variants

    check_variants(GeneratorContext(cutmix_variant="previous", noise_variant="previous", adv_variant="previous"))
    with pytest.raises(ConfigError, match="method.noise_variant must be one of"):
        check_variants(GeneratorContext(noise_variant="old"))
