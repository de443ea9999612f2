"""Post-hoc detectors that read the classifier's logits (and, for GradNorm, features and the head).

All scores: higher = more in-distribution. Shapes: logits (N, K), features (N, D) -> scores (N,).

* ``msp``      Hendrycks & Gimpel, ICLR 2017 (https://arxiv.org/abs/1610.02136): max softmax probability.
* ``mls``      MaxLogit, Hendrycks et al., ICML 2022 (https://arxiv.org/abs/1911.11132): max logit.
* ``energy``   Liu et al., NeurIPS 2020 (https://arxiv.org/abs/2010.03759): ``T * logsumexp(logits / T)``, T=1
               (APS grid [1], OpenOOD's ``ebo.yml`` sweep; ``wide_grid`` 1, 10, 100, 1000).
* ``gen``      Liu, Lochman & Zach, CVPR 2023 (https://arxiv.org/abs/2308.09620): generalized entropy
               ``-sum_{top-M p} p^g (1 - p)^g``, gamma=0.1, M=100 (clipped to K); grid = OpenOOD's ``gen.yml``
               sweep (gamma 0.01..10, M 10..1000, M clipped to K so duplicates collapse).
* ``odin``     Liang, Li & Srikant, ICLR 2018 (https://arxiv.org/abs/1706.02690): input perturbation
               ``x~ = x - eps * sign(grad_x CE(f(x)/T, argmax))`` then ``max softmax(f(x~)/T)``; T=1000,
               eps=0.0014 (grid T in 1, 10, 100, 1000; eps in 0.0014, 0.0028, OpenOOD's ``odin.yml``). The input
               gradient is computed once per temperature and all eps of a search share it. OpenOOD perturbs the
               *normalised* input by ``eps * sign / std``, which is exactly ``eps * sign`` in trustlab's [0, 1]
               pixel space (normalisation is inside the model). A zero gradient counts as +1 (as OpenOOD).
* ``gradnorm`` Huang, Geng & Li, NeurIPS 2021 (https://arxiv.org/abs/2110.00218): L1 norm of the gradient of
               KL(uniform || softmax(f)) w.r.t. the last layer's weights. In closed form (per sample)
               ``dL/dW = (p - 1/K) f^T``, so ``S = ||p - 1/K||_1 * ||f||_1`` (tested against autograd).
               OpenOOD uses all-ones targets, which multiplies S by K: same ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from trustlab.errors import ConfigError
from trustlab.methods.ood.base import Outputs, Scorer, register, require


def _positive(value: float, key: str, who: str) -> None:
    if not (isinstance(value, (int, float)) and value > 0):
        raise ConfigError(f"detector {who}: {key} must be > 0, got {value!r}")


@register("msp")
class MSP(Scorer):
    """Maximum softmax probability (Hendrycks & Gimpel 2017); higher = more in-distribution."""

    needs_fit = False

    def score_outputs(self, out: Outputs) -> Tensor:
        return F.softmax(require(out.logits, "logits", self.name()), dim=1).max(1).values


@register("mls")
class MaxLogit(Scorer):
    """Maximum logit (Hendrycks et al. 2022); higher = more in-distribution."""

    needs_fit = False

    def score_outputs(self, out: Outputs) -> Tensor:
        return require(out.logits, "logits", self.name()).max(1).values


@register("energy")
class Energy(Scorer):
    """Negative free energy ``T * logsumexp(logits / T)`` (Liu et al. 2020); higher = more in-distribution."""

    needs_fit = False
    defaults = {"temperature": 1.0}
    grid = {"temperature": [1.0]}  # OpenOOD ebo.yml: temperature_list [1]
    wide_grid = {"temperature": [1.0, 10.0, 100.0, 1000.0]}

    def check_params(self) -> None:
        _positive(self.params["temperature"], "temperature", self.name())

    def score_outputs(self, out: Outputs) -> Tensor:
        t = float(self.params["temperature"])
        return t * torch.logsumexp(require(out.logits, "logits", self.name()) / t, dim=1)


@register("gen")
class GEN(Scorer):
    """Generalized entropy over the top-M softmax probabilities (Liu et al. 2023); higher = more ID."""

    needs_fit = False
    defaults = {"gamma": 0.1, "m": 100}
    grid = {"gamma": [0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0], "m": [10, 50, 100, 200, 500, 1000]}  # OpenOOD gen.yml

    def check_params(self) -> None:
        _positive(self.params["gamma"], "gamma", self.name())
        if int(self.params["m"]) < 1:
            raise ConfigError(f"detector gen: m must be >= 1, got {self.params['m']}")

    def param_grid(self, train: Outputs) -> dict[str, list]:
        grid = super().param_grid(train)
        k = train.logits.shape[1] if train.logits is not None else 100
        if "m" in grid:  # M above K keeps every class: one grid point for all of them
            grid["m"] = sorted({min(int(m), k) for m in grid["m"]})
        return grid

    def score_outputs(self, out: Outputs) -> Tensor:
        p = F.softmax(require(out.logits, "logits", self.name()).double(), dim=1)
        m = min(int(self.params["m"]), p.shape[1])
        top = p.topk(m, dim=1).values
        g = float(self.params["gamma"])
        return -(top.pow(g) * (1.0 - top).clamp_min(0).pow(g)).sum(1).float()


@register("odin")
class ODIN(Scorer):
    """Temperature scaling + input perturbation (Liang et al. 2018); scores images; higher = more ID.

    Cost per image: one forward pass with its graph, one backward pass to the input per temperature, one
    forward pass of the perturbed images per (temperature, eps) — all (T, eps) pairs of a search in one
    batch (:meth:`score_grid`). Nothing is cached between calls, so a new model, a weight update or a new
    ``fit`` can never see a stale perturbation; the model's train/eval mode is restored after scoring.
    """

    needs_fit = False
    needs_input = True
    grid_refits = False  # nothing is fitted: a whole search is scored by score_grid in one pass
    PASS_IMAGES = 2048  # perturbed images per forward pass (several (T, eps) combos of one batch together)
    defaults = {"temperature": 1000.0, "eps": 0.0014}
    grid = {"temperature": [1.0, 10.0, 100.0, 1000.0], "eps": [0.0014, 0.0028]}  # OpenOOD odin.yml sweep

    def check_params(self) -> None:
        _positive(self.params["temperature"], "temperature", self.name())
        if not (isinstance(self.params["eps"], (int, float)) and self.params["eps"] >= 0):
            raise ConfigError(f"detector odin: eps must be >= 0, got {self.params['eps']!r}")

    def score(self, x: Tensor) -> Tensor:
        return self.score_grid([{}], x=x)[0]

    def score_grid(self, combos: Sequence[Mapping[str, Any]], out: Outputs | None = None,
                   x: Tensor | None = None) -> list[Tensor]:
        """Scores of images ``x`` under each ``{temperature, eps}`` combo (missing keys: current params).

        The input gradient depends on the temperature, not on eps: it is computed once per temperature from
        one forward pass (graph kept across temperatures), and every perturbed batch goes through the model
        in one forward pass.
        """
        if not self.fitted or self.model is None:
            raise ConfigError("detector odin is not set up; call setup(model, fit_loader) first")
        if x is None:
            raise ConfigError("detector odin scores images; pass x")
        settings = [(float(c.get("temperature", self.params["temperature"])), float(c.get("eps", self.params["eps"])))
                    for c in combos]
        model = self.model
        was_training = model.training
        model.eval()
        try:
            p = next(model.parameters(), None)
            xg = x.detach().to(p.device if p is not None else "cpu").requires_grad_(True)
            with torch.enable_grad():
                logits = model(xg)
                labels = logits.detach().argmax(1)
                temps = list(dict.fromkeys(t for t, _ in settings))
                steps: dict[float, Tensor] = {}
                for i, t in enumerate(temps):
                    # sum, not mean: the sign is the same, and no batch-size-dependent underflow to 0 at large T
                    loss = F.cross_entropy(logits / t, labels, reduction="sum")
                    (grad,) = torch.autograd.grad(loss, xg, retain_graph=i + 1 < len(temps))
                    steps[t] = torch.where(grad >= 0, 1.0, -1.0)  # a zero gradient counts as +1 (OpenOOD: ge 0)
            del logits
            with torch.no_grad():
                x0, scores = xg.detach(), []
                per_pass = max(1, self.PASS_IMAGES // len(x0))  # combos per forward pass
                for i in range(0, len(settings), per_pass):
                    group = settings[i : i + per_pass]
                    batch = torch.cat([x0 - eps * steps[t] for t, eps in group])
                    for lg, (t, _) in zip(model(batch).float().split(len(x0)), group):
                        scores.append(F.softmax(lg / t, dim=1).max(1).values.cpu())
                return scores
        finally:
            if was_training:
                model.train()


@register("gradnorm")
class GradNorm(Scorer):
    """L1 norm of the last-layer gradient of KL(uniform || softmax) (Huang et al. 2021); higher = more ID."""

    needs_fit = False
    needs_features = True

    def score_outputs(self, out: Outputs) -> Tensor:
        logits = require(out.logits, "logits", self.name()).double()
        feats = require(out.features, "features", self.name()).double()
        p = F.softmax(logits, dim=1)
        return ((p - 1.0 / p.shape[1]).abs().sum(1) * feats.abs().sum(1)).float()
