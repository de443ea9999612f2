"""KD and OKD: distil a frozen teacher into a tiny student for on-device domain generalization.

Source: Zhou, Zhang, Zang, Yang, Loy & Liu, "On-Device Domain Generalization", 2022
(https://arxiv.org/abs/2209.07521; reference code github.com/kaiyangzhou/on-device-dg).

* KD (Hinton et al. 2015, the paper's baseline)::

      L = ce_weight * CE(f_S(x), y) + kd_weight * T^2 * KL(softmax(f_T(x)/T) || softmax(f_S(x)/T))

* OKD (out-of-distribution KD) adds the same KL term on synthetic OOD data ``A(x)`` from a registered
  generator (``generators.py``; default ``fusion``), with the teacher's soft targets only (no labels)::

      L = KD(x, y) + ood_weight * T^2 * KL(softmax(f_T(A(x))/T) || softmax(f_S(A(x))/T))

Defaults from the paper notes: T = 4, ce_weight = 0.1, kd_weight = ood_weight = 0.9, KL with
batchmean reduction. The teacher is frozen and always in eval mode (``train()`` keeps it there). Teacher
and student see the clean batch and ``A(x)`` in two forward passes each, so the student's BatchNorm
statistics are not mixed; ``method.joint_forward=true`` runs one pass over ``cat(x, A(x))`` instead
(exact for the teacher in eval mode and for the per-sample GroupNorm of ``small_cnn``; usually faster on
GPUs, slower on CPUs, where a doubled batch falls out of cache). ``A(x)`` never modifies ``x`` (the
reference's cutmix does).

Shapes: batch ``(x, y)`` with x (B, C, H, W) in [0, 1], y (B,) -> ``{"loss", "ce", "kl", "kl_ood", "acc"}``.

Usage::

    teacher = load_teacher(cfg.teacher, ...).model
    okd = OKD(build_model("small_cnn", 10, width=0.125), teacher, OKDConfig())
    out = okd.training_step((x, y))                  # out["loss"].backward()
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trustlab.engine.optim import build_optimizer
from trustlab.errors import ConfigError
from trustlab.experiment import TrainConfig
from trustlab.methods.okd.config import ID_BRANCHES, KDConfig, OKDConfig
from trustlab.methods.okd.generators import GENERATORS, GeneratorContext, check_variants, kl_soft
from trustlab.registry import METHODS


def _check_weights(cfg: KDConfig | OKDConfig) -> None:
    if cfg.temperature <= 0:
        raise ConfigError(f"method.temperature must be > 0, got {cfg.temperature}")
    weights = {"ce_weight": cfg.ce_weight, "kd_weight": cfg.kd_weight}
    if isinstance(cfg, OKDConfig):
        weights["ood_weight"] = cfg.ood_weight
    for key, value in weights.items():
        if value < 0:
            raise ConfigError(f"method.{key} must be >= 0, got {value}")


def _check_classes(student: nn.Module, teacher: nn.Module) -> None:
    s = getattr(student, "num_classes", None)
    t = getattr(teacher, "num_classes", None)
    if s is not None and t is not None and s != t:
        raise ConfigError(
            f"student has {s} classes but the teacher has {t}; both must be built for the same classes"
        )


@METHODS.register("kd")
class KD(nn.Module):
    """Knowledge distillation from a frozen teacher (the ``model`` is the student, which is evaluated and exported)."""

    def __init__(self, model: nn.Module, teacher: nn.Module, cfg: KDConfig | OKDConfig | None = None) -> None:
        super().__init__()
        _check_classes(model, teacher)
        self.model = model
        self.teacher = teacher.requires_grad_(False).eval()
        self.cfg = cfg or KDConfig()
        _check_weights(self.cfg)

    def train(self, mode: bool = True) -> KD:
        super().train(mode)
        self.teacher.eval()  # frozen: BatchNorm running stats and dropout stay in inference mode
        return self

    def distill(self, teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
        """``T^2 * KL(teacher || student)`` at temperature T (batchmean)."""
        t = self.cfg.temperature
        return t * t * kl_soft(teacher_logits, student_logits, t)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        with torch.no_grad():
            t_logits = self.teacher(x)
        logits = self.model(x)
        ce = F.cross_entropy(logits, y)
        kl = self.distill(t_logits, logits)
        loss = self.cfg.ce_weight * ce + self.cfg.kd_weight * kl
        acc = (logits.detach().argmax(1) == y).float().mean()
        return {"loss": loss, "ce": ce.detach(), "kl": kl.detach(), "acc": acc}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.model.parameters(), cfg)


@METHODS.register("okd")
class OKD(KD):
    """Out-of-distribution KD: KD plus the KL term on ``A(x)`` from ``cfg.generator`` (ID branch kept clean)."""

    def __init__(self, model: nn.Module, teacher: nn.Module, cfg: OKDConfig | None = None) -> None:
        cfg = cfg or OKDConfig()
        super().__init__(model, teacher, cfg)
        self.cfg: OKDConfig = cfg
        self.generator = GENERATORS.get(cfg.generator)
        check_variants(self.generator_context())
        if cfg.id_branch not in ID_BRANCHES:
            raise ConfigError(f"method.id_branch must be one of {list(ID_BRANCHES)}, got '{cfg.id_branch}'")

    def generator_context(self, labels: torch.Tensor | None = None) -> GeneratorContext:
        c = self.cfg
        return GeneratorContext(
            noise_std=c.noise_std, adv_eps=c.adv_eps, jigsaw_grid=c.jigsaw_grid, temperature=c.temperature,
            student=self.model, labels=labels, teacher=self.teacher, cutmix_variant=c.cutmix_variant,
            noise_variant=c.noise_variant, adv_variant=c.adv_variant,
        )

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        b = len(x)
        ctx = self.generator_context(y)
        x_ood = self.generator(x, ctx).detach()
        if self.cfg.id_branch == "in_place" and ctx.cutmixed is not None:
            # the reference's cutmix pastes into its input in place: CE and KD on x then see the cutmixed batch
            x = ctx.cutmixed.detach()
        with torch.no_grad():
            if self.cfg.joint_forward:
                t_all = self.teacher(torch.cat([x, x_ood]))
                t_id, t_ood = t_all[:b], t_all[b:]
            else:
                t_id, t_ood = self.teacher(x), self.teacher(x_ood)
        if self.cfg.joint_forward:
            s_all = self.model(torch.cat([x, x_ood]))
            logits, s_ood = s_all[:b], s_all[b:]
        else:
            logits, s_ood = self.model(x), self.model(x_ood)
        ce = F.cross_entropy(logits, y)
        kl, kl_ood = self.distill(t_id, logits), self.distill(t_ood, s_ood)
        loss = self.cfg.ce_weight * ce + self.cfg.kd_weight * kl + self.cfg.ood_weight * kl_ood
        acc = (logits.detach().argmax(1) == y).float().mean()
        return {"loss": loss, "ce": ce.detach(), "kl": kl.detach(), "kl_ood": kl_ood.detach(), "acc": acc}


# the configs live in config.py; imported here for the methods and kept importable from this module
__all__ = ["KD", "OKD", "KDConfig", "OKDConfig", "ID_BRANCHES"]
