"""Min-max adversarial training over perturbation types (l_inf, l_2, l_1) and the attack settings.

Wang et al., "Adversarial Attack Generation Empowered by Min-Max Optimization", NeurIPS 2021
(https://arxiv.org/abs/1906.03563), Sec. 5 "generalized adversarial training": train ``theta`` on

    min_theta E_(x,y) max_{w in simplex_K, delta_k in ball_k}  sum_k w_k CE(f_theta(x + delta_k), y)
                                                               - (gamma / 2) ||w - 1/K||^2

where the inner max (one delta per type, weights over types) is the APGDA solver of ``solver.py`` with
z ascending. Baselines (Tramer & Boneh, NeurIPS 2019): ``average`` (w = 1/K, "AVG") and ``max``
(w one-hot on the type with the largest loss per sample, "MAX"); ``standard`` trains on clean inputs.
Paper's MNIST types: l_inf eps 0.3, l_2 eps 2.0, l_1 eps 10 (the defaults of ``MinMaxATConfig``, config.py).

    at = MinMaxAT(build_model("small_cnn", 10, 28, in_chans=1), MinMaxATConfig(mode="minmax"))
    out = at.training_step((x, y))   # {"loss", "acc", "w/linf", "w/l2", "w/l1"}
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.engine.optim import build_optimizer
from trustlab.experiment import TrainConfig
from trustlab.methods.minmax.config import MinMaxATConfig, parse_types
from trustlab.methods.minmax.solver import Ball, Variable, apgda, box_project
from trustlab.registry import METHODS
from trustlab.tasks.classification import Classify


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
