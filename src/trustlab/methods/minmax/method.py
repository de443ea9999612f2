"""Min-max adversarial training over perturbation types (l_inf, l_2, l_1) and the attack settings.

Wang et al., "Adversarial Attack Generation Empowered by Min-Max Optimization", NeurIPS 2021
(https://arxiv.org/abs/1906.03563), Sec. 5 "generalized adversarial training": train ``theta`` on

    min_theta E_(x,y) max_{w in simplex_K, delta_k in ball_k}  sum_k w_k CE(f_theta(x + delta_k), y)
                                                               - (gamma / 2) ||w - 1/K||^2

where the inner max (one delta per type, weights over types) is the APGDA solver of ``solver.py`` with
z ascending. Baselines (Tramer & Boneh, NeurIPS 2019): ``average`` (w = 1/K, "AVG") and ``max``
(w one-hot on the type with the largest loss per sample, "MAX"); ``standard`` trains on clean inputs.
Paper's MNIST types: l_inf eps 0.3, l_2 eps 2.0, l_1 eps 10 (the defaults below).

    at = MinMaxAT(build_model("small_cnn", 10, 28, in_chans=1), MinMaxATConfig(mode="minmax"))
    out = at.training_step((x, y))   # {"loss", "acc", "w/linf", "w/l2", "w/l1"}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.engine.optim import build_optimizer
from trustlab.errors import ConfigError, did_you_mean
from trustlab.experiment import TrainConfig
from trustlab.methods.minmax.solver import WEIGHTINGS, Ball, Variable, apgda, box_project, check_norm
from trustlab.registry import METHODS
from trustlab.tasks.classification import Classify

AT_MODES = ("minmax", "average", "max", "standard")
LOSSES = ("cw", "ce")
INITS = ("normal", "uniform", "zero")


@dataclass
class AttackConfig:
    """APGDA attack settings. Defaults: the reference's MNIST l_inf ensemble script (eps 0.2, 20
    iterations, beta 40, gamma 3, CW loss with kappa 50, N(0, 0.1) start); ``step_size`` None means
    2.5 * eps / steps (Madry et al.), in input units along the normalised direction."""

    norm: Literal["linf", "l2", "l1"] = "linf"
    eps: float = 0.2
    steps: int = 20
    step_size: float | None = None
    alpha: float | None = None  # set: the reference's raw-gradient step z - (1/alpha) grad (step_size unused)
    loss: Literal["cw", "ce"] = "cw"  # cw: margin with kappa
    kappa: float = 50.0
    weighting: Literal["minmax", "average", "max"] = "minmax"
    beta: float = 40.0  # inverse step size of the w ascent
    gamma: float = 3.0  # pull of w towards 1/K
    targeted: bool = False  # then y holds the target classes
    init: Literal["normal", "uniform", "zero"] = "normal"  # normal: N(0, init_std)
    init_std: float = 0.1
    l1_sparsity: float = 0.05  # share of coordinates moved per l_1 step
    seed: int | None = None  # random start generator; None uses torch's global RNG

    def check(self) -> AttackConfig:
        """Validate every field; raise one ConfigError line naming the bad one."""
        check_norm(self.norm)
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"attack eps must be > 0, got {self.eps!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"attack steps must be an integer >= 1, got {self.steps!r}")
        if self.alpha is not None and not (isinstance(self.alpha, (int, float)) and self.alpha > 0):
            raise ConfigError(f"attack alpha (inverse step size of the raw-gradient rule) must be > 0 or null, "
                              f"got {self.alpha!r}")
        if self.step_size is not None and not self.step_size > 0:
            raise ConfigError(f"attack step_size must be > 0 (or null for 2.5*eps/steps), got {self.step_size!r}")
        for name, value, options in (("loss", self.loss, LOSSES), ("weighting", self.weighting, WEIGHTINGS),
                                     ("init", self.init, INITS)):
            if value not in options:
                raise ConfigError(f"unknown attack {name} '{value}'{did_you_mean(str(value), options)}; "
                                  f"use one of {', '.join(options)}")
        if self.beta <= 0 or self.gamma < 0:
            raise ConfigError(f"attack beta must be > 0 and gamma >= 0, got {self.beta}, {self.gamma}")
        return self

    def ball(self) -> Ball:
        if self.alpha is not None:
            return Ball(self.norm, float(self.eps), 1.0 / float(self.alpha), self.l1_sparsity, raw=True)
        step = self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps
        return Ball(self.norm, float(self.eps), float(step), self.l1_sparsity)


def parse_types(types: list[str]) -> list[tuple[str, float]]:
    """``["linf:0.3", "l2:2.0"]`` -> ``[("linf", 0.3), ("l2", 2.0)]`` with one-line errors."""
    if not types:
        raise ConfigError("at.types is empty (K=0); give at least one type such as linf:0.3")
    out = []
    for t in types:
        norm, _, eps = str(t).partition(":")
        check_norm(norm)
        try:
            value = float(eps)
        except ValueError:
            raise ConfigError(f"perturbation type '{t}' must look like <norm>:<eps>, e.g. linf:0.3") from None
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"perturbation type '{t}': eps must be > 0")
        out.append((norm, value))
    return out


@dataclass
class MinMaxATConfig:
    """Generalized AT. Types and eps: the paper's MNIST setting. ``steps`` PGD/APGDA iterations per
    batch with step 2.5 * eps / steps; beta/gamma weight the types (gamma -> inf gives AVG, gamma -> 0
    approaches MAX)."""

    mode: Literal["minmax", "average", "max", "standard"] = "minmax"
    types: list[str] = field(default_factory=lambda: ["linf:0.3", "l2:2.0", "l1:10.0"])
    steps: int = 10
    step_scale: float = 2.5
    beta: float = 10.0
    gamma: float = 2.0
    init: str = "uniform"
    l1_sparsity: float = 0.05

    def check(self) -> MinMaxATConfig:
        if self.mode not in AT_MODES:
            raise ConfigError(f"unknown at.mode '{self.mode}'{did_you_mean(self.mode, AT_MODES)}; "
                              f"use one of {', '.join(AT_MODES)}")
        parse_types(self.types)
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"at.steps must be an integer >= 1, got {self.steps!r}")
        if self.beta <= 0 or self.gamma < 0 or self.step_scale <= 0:
            raise ConfigError("at.beta and at.step_scale must be > 0 and at.gamma >= 0")
        return self


def type_names(types: list[tuple[str, float]]) -> list[str]:
    """Unique display names: the norm, or norm@eps when a norm repeats."""
    norms = [n for n, _ in types]
    return [n if norms.count(n) == 1 else f"{n}@{e:g}" for n, e in types]


def multi_type_attack(
    model: nn.Module, x: Tensor, y: Tensor, types: list[tuple[str, float]], *, steps: int, weighting: str,
    step_scale: float = 2.5, beta: float = 10.0, gamma: float = 2.0, init: str = "uniform",
    l1_sparsity: float = 0.05, generator: torch.Generator | None = None,
) -> tuple[list[Tensor], Tensor, Tensor]:
    """The inner max of generalized AT: one x_adv per type (each (B, C, H, W)), w (B, K), CE (B, K).

    All deltas ascend CE in their own ball (and the [0, 1] box) while w ascends on the types' losses.
    """
    variables = []
    for norm, eps in types:
        ball = Ball(norm, eps, step_scale * eps / steps, l1_sparsity)
        start = torch.clamp(x + ball.random(x, init, generator=generator), 0, 1)
        variables.append(Variable(start, ball, lambda z, b=ball: box_project(z, x, b), 0.0, 1.0))

    def losses(zs: list[Tensor]) -> Tensor:
        logits = model(torch.cat(zs))
        return F.cross_entropy(logits, y.repeat(len(zs)), reduction="none").view(len(zs), -1).t()

    res = apgda(losses, variables, len(types), steps=steps, weighting=weighting, beta=beta, gamma=gamma,
                ascend=True, separable=True)
    return res.values, res.w, res.losses


@METHODS.register("minmax-at", help="generalized adversarial training: min-max weights over l_inf/l_2/l_1")
class MinMaxAT(nn.Module):
    """Adversarial training over several perturbation types with min-max / AVG / MAX type weights."""

    def __init__(self, model: nn.Module, cfg: MinMaxATConfig | None = None) -> None:
        super().__init__()
        self.model = model
        self.cfg = (cfg or MinMaxATConfig()).check()
        self.types = parse_types(self.cfg.types)
        self.names = type_names(self.types)

    def training_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        if self.cfg.mode == "standard":
            return Classify(self.model).training_step(batch)  # the shared ERM step
        was_training = self.model.training
        self.model.eval()  # attack the model as it predicts (no batch-norm statistics update)
        advs, w, _ = multi_type_attack(
            self.model, x, y, self.types, steps=self.cfg.steps, weighting=self.cfg.mode,
            step_scale=self.cfg.step_scale, beta=self.cfg.beta, gamma=self.cfg.gamma, init=self.cfg.init,
            l1_sparsity=self.cfg.l1_sparsity,
        )
        self.model.train(was_training)
        k = len(advs)
        logits = self.model(torch.cat(advs))
        ce = F.cross_entropy(logits, y.repeat(k), reduction="none").view(k, -1).t()  # (B, K)
        loss = (w * ce).sum(1).mean()
        correct = (logits.detach().argmax(1) == y.repeat(k)).view(k, -1).t()
        out = {"loss": loss, "acc": correct.all(1).float().mean()}
        for i, name in enumerate(self.names):
            out[f"w/{name}"] = w[:, i].mean()
        return out

    def predict(self, x: Tensor) -> Tensor:
        return self.model(x)

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.model.parameters(), cfg)
