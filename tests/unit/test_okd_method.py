"""KD / OKD losses against the paper's formula, the frozen teacher, and the DG baselines' mechanics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trustlab.errors import ConfigError
from trustlab.methods.okd.baselines import (
    RSC,
    EFDMix,
    EFDMixConfig,
    MixConfig,
    MixStyle,
    RSCConfig,
    default_layers,
    efdmix,
    mixstyle,
)
from trustlab.methods.okd.method import KD, OKD, KDConfig, OKDConfig
from trustlab.models import build_model


def _nets(classes: int = 10, teacher_classes: int = 10) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    return build_model("small_cnn", classes, 16, width=0.125), build_model("small_cnn", teacher_classes, 16, width=0.25)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return torch.rand(8, 3, 16, 16), torch.randint(0, 10, (8,))


def test_kd_loss_matches_the_paper_formula() -> None:
    student, teacher = _nets()
    kd = KD(student, teacher, KDConfig())
    x, y = _batch()
    out = kd.training_step((x, y))
    with torch.no_grad():
        s, t = student(x), teacher(x)
    p_t = F.softmax(t / 4, 1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / 4, 1))).sum(1).mean()  # KL(T || S), batchmean
    expected = 0.1 * F.cross_entropy(s, y) + 0.9 * 16 * kl
    torch.testing.assert_close(out["loss"], expected, rtol=1e-5, atol=1e-6)
    out["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())


def test_teacher_stays_frozen_in_eval_mode() -> None:
    student, teacher = _nets()
    kd = KD(student, teacher)
    kd.train()
    assert student.training and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    opt = kd.configure_optimizers(__import__("trustlab.experiment", fromlist=["TrainConfig"]).TrainConfig())
    assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in student.parameters()}


def test_okd_adds_the_ood_term_and_keeps_the_id_branch_clean() -> None:
    student, teacher = _nets()
    x, y = _batch()
    clean = x.clone()
    okd = OKD(student, teacher, OKDConfig(generator="mixup"))
    torch.manual_seed(5)
    out = okd.training_step((x, y))
    torch.testing.assert_close(x, clean, rtol=0, atol=0)
    assert set(out) >= {"loss", "ce", "kl", "kl_ood", "acc"}
    expected = 0.1 * out["ce"] + 0.9 * out["kl"] + 0.9 * out["kl_ood"]
    torch.testing.assert_close(out["loss"].detach(), expected, rtol=1e-5, atol=1e-6)
    # with the OOD weight at 0, OKD is KD exactly
    okd0 = OKD(student, teacher, OKDConfig(generator="noise", ood_weight=0.0))
    torch.testing.assert_close(okd0.training_step((x, y))["loss"], KD(student, teacher).training_step((x, y))["loss"])


def test_okd_id_branch_in_place_trains_on_the_cutmixed_batch() -> None:
    """The reference's cutmix pastes into its input: with generator cutmix, ID and OOD branches then coincide."""
    student, teacher = _nets()
    x, y = _batch()
    outs = {}
    for branch in ("clean", "in_place"):
        torch.manual_seed(4)
        outs[branch] = OKD(student, teacher, OKDConfig(generator="cutmix", id_branch=branch)).training_step((x, y))
    torch.testing.assert_close(outs["in_place"]["kl"], outs["in_place"]["kl_ood"])
    assert not torch.allclose(outs["clean"]["kl"], outs["clean"]["kl_ood"])
    torch.testing.assert_close(outs["clean"]["kl_ood"], outs["in_place"]["kl_ood"])  # the same A(x)
    # a generator without cutmix leaves the ID branch clean either way
    losses = []
    for branch in ("clean", "in_place"):
        torch.manual_seed(4)
        losses.append(OKD(student, teacher, OKDConfig(generator="mixup", id_branch=branch)).training_step((x, y)))
    torch.testing.assert_close(losses[0]["loss"], losses[1]["loss"])
    with pytest.raises(ConfigError, match="method.id_branch"):
        OKD(student, teacher, OKDConfig(id_branch="dirty"))
    with pytest.raises(ConfigError, match="method.cutmix_variant"):
        OKD(student, teacher, OKDConfig(cutmix_variant="old"))


@pytest.mark.parametrize("generator", ["fusion", "cutmix", "jigsaw", "adv"])
def test_okd_joint_forward_equals_two_passes_for_groupnorm_students(generator: str) -> None:
    student, teacher = _nets()
    x, y = _batch()
    losses = []
    for joint in (False, True):
        torch.manual_seed(3)
        losses.append(OKD(student, teacher, OKDConfig(generator=generator, joint_forward=joint)).training_step((x, y)))
    torch.testing.assert_close(losses[0]["loss"], losses[1]["loss"], rtol=1e-5, atol=1e-5)


def test_bad_configs_are_one_line_errors() -> None:
    student, teacher = _nets(10, 5)
    with pytest.raises(ConfigError, match="student has 10 classes but the teacher has 5"):
        KD(student, teacher)
    student, teacher = _nets()
    with pytest.raises(ConfigError, match="temperature"):
        KD(student, teacher, KDConfig(temperature=0))
    with pytest.raises(ConfigError, match="ood_weight"):
        OKD(student, teacher, OKDConfig(ood_weight=-1))
    with pytest.raises(Exception, match="did you mean 'fusion'"):
        OKD(student, teacher, OKDConfig(generator="fuson"))


def test_mixstyle_moves_instance_statistics_to_the_mix() -> None:
    torch.manual_seed(0)
    f = torch.randn(6, 4, 5, 5) * torch.arange(1, 7).view(6, 1, 1, 1) + torch.arange(6).view(6, 1, 1, 1)
    perm = torch.tensor([1, 0, 3, 2, 5, 4])
    lam = torch.tensor([0.0, 1.0, 0.5, 0.5, 0.25, 0.75])
    out = mixstyle(f, lam, perm, 1e-6)
    mu, sig = f.mean((2, 3)), f.std((2, 3), unbiased=True)
    torch.testing.assert_close(out.mean((2, 3)), lam.view(-1, 1) * mu + (1 - lam.view(-1, 1)) * mu[perm])
    torch.testing.assert_close(out.std((2, 3)), lam.view(-1, 1) * sig + (1 - lam.view(-1, 1)) * sig[perm],
                               rtol=1e-3, atol=1e-3)


def test_efdmix_with_lam_zero_takes_the_partners_sorted_values() -> None:
    torch.manual_seed(0)
    f = torch.randn(4, 3, 4, 4)
    perm = torch.tensor([2, 3, 0, 1])
    out = efdmix(f, torch.zeros(4), perm)
    torch.testing.assert_close(out.flatten(2).sort(-1).values, f[perm].flatten(2).sort(-1).values)
    # the rank order of each channel is kept (only the values change)
    assert torch.equal(out.flatten(2).argsort(-1), f.flatten(2).argsort(-1))
    torch.testing.assert_close(efdmix(f, torch.ones(4), perm), f)


def test_efdmix_gradient_reaches_the_partner_as_in_dassl() -> None:
    """Dassl: ``x + (sorted(x[perm])[rank] - x.detach()) * (1 - lam)``: only the own values are detached."""
    torch.manual_seed(0)
    f = torch.randn(4, 3, 4, 4, requires_grad=True)
    perm, lam = torch.tensor([2, 3, 0, 1]), torch.tensor([0.2, 0.5, 0.7, 0.1])
    w = torch.randn(4, 3, 4, 4)
    (grad,) = torch.autograd.grad((efdmix(f, lam, perm) * w).sum(), f)
    # the same formula written out: own values weight 1, partner's sorted values weight (1 - lam)
    g = f.detach().clone().requires_grad_(True)
    flat = g.view(4, 3, -1)
    values, index = flat.sort(-1)
    partner = values[perm].gather(-1, index.argsort(-1))
    ref = (flat + (partner - flat.detach()) * (1 - lam.view(-1, 1, 1))).view_as(g)
    (expected,) = torch.autograd.grad((ref * w).sum(), g)
    torch.testing.assert_close(grad, expected)
    # sample 0 only: its partner (2) receives a gradient
    (g0,) = torch.autograd.grad(efdmix(f, lam, perm)[0].sum(), f)
    assert g0[2].abs().sum() > 0 and g0[1].abs().sum() == 0


def test_efdmix_previous_variant_detaches_the_whole_difference() -> None:
    """Before issue 11: ``x + (sorted(x[perm])[rank] - sorted(x)[rank]).detach() * (1 - lam)``."""
    torch.manual_seed(0)
    f = torch.randn(4, 3, 4, 4, requires_grad=True)
    perm, lam = torch.tensor([2, 3, 0, 1]), torch.tensor([0.2, 0.5, 0.7, 0.1])
    torch.testing.assert_close(efdmix(f, lam, perm, "previous"), efdmix(f, lam, perm))  # same forward
    (g0,) = torch.autograd.grad(efdmix(f, lam, perm, "previous")[0].sum(), f)
    assert g0[2].abs().sum() == 0 and torch.equal(g0[0], torch.ones_like(g0[0]))  # identity to the sample only
    with pytest.raises(ConfigError, match="efdmix_variant"):
        EFDMix(build_model("small_cnn", 10, 16, width=0.125), EFDMixConfig(efdmix_variant="old"))


def test_mobilenet_mixing_layers_are_the_references_blocks_1_and_2() -> None:
    model = build_model("mobilenet_v3_small", 10, 32, width=0.35)
    assert default_layers(model) == ["net.features.1", "net.features.2"]
    assert all(name in dict(model.named_modules()) for name in default_layers(model))


@pytest.mark.parametrize(("cls", "cfg"), [(MixStyle, MixConfig), (EFDMix, EFDMixConfig)])
def test_mixing_hooks_act_only_in_training(cls: type, cfg: type) -> None:
    model = build_model("small_cnn", 10, 16, width=0.125)
    assert default_layers(model) == ["body.3", "body.7"]
    method = cls(model, cfg(p=1.0))
    x, y = _batch()
    method.eval()
    with torch.no_grad():
        a, b = method.predict(x), model(x)
    torch.testing.assert_close(a, b)
    method.train()
    torch.manual_seed(0)
    assert torch.isfinite(method.training_step((x, y))["loss"])
    with pytest.raises(ConfigError, match="no module 'nope'"):
        cls(build_model("small_cnn", 10, 16, width=0.125), cfg(layers=["nope"]))


@pytest.mark.parametrize("drop", [0.1, 1 / 3])
def test_rsc_mutes_the_top_features_of_the_challenged_share_of_the_batch(drop: float) -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", 10, 16, width=0.125)
    rsc = RSC(model, RSCConfig(feature_drop=drop, batch_drop=drop))
    x = torch.rand(30, 3, 16, 16)
    y = torch.randint(0, 10, (30,))
    _, feats = model(x, return_features=True)
    mask = rsc.challenge_mask(feats, y)
    muted_rows = (mask == 0).any(1)
    assert int(muted_rows.sum()) == round(30 * drop)  # the share whose true-class probability drops most
    dropped = (mask[muted_rows] == 0).float().mean(1)
    assert torch.allclose(dropped, torch.full_like(dropped, drop), atol=0.05)


def test_rsc_defaults_are_the_on_device_references() -> None:
    assert (RSCConfig().feature_drop, RSCConfig().batch_drop) == (0.1, 0.1)  # trainers/dg/rsc.py


def test_rsc_training_step() -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", 10, 16, width=0.125)
    rsc = RSC(model)
    x, y = torch.rand(30, 3, 16, 16), torch.randint(0, 10, (30,))
    assert torch.isfinite(rsc.training_step((x, y))["loss"])
