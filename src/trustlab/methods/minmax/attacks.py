"""Min-max attacks over K domains (ensemble, universal, EOT) and PGD, all on the APGDA solver.

Wang et al., NeurIPS 2021 (https://arxiv.org/abs/1906.03563), Sec. 3-4; the reference code wangjksjtu/minmax-adv. Every
attack is registered in ``ATTACKS`` and follows the Attack contract: ``attack(x, y) -> x_adv`` with
x (B, C, H, W) in [0, 1] (models normalise inside); ``attack.run(x, y)`` returns an
:class:`AttackResult` with the learned domain weights, and ``attack.info`` keeps the last one.

| setting | domains (K) | shared | ``w`` |
|---|---|---|---|
| ``minmax-ensemble`` | K models | one x_adv per input | (B, K): which model is hardest |
| ``minmax-universal`` | K inputs of a group | one delta per group of K inputs | (G, K), G = B / K |
| ``minmax-eot`` | K transformations | one x_adv per input | (B, K): which transformation is hardest |
| ``pgd`` | 1 model | PGD (Madry et al. 2018), cross-entropy, uniform start | (B, 1) |

``weighting``: ``minmax`` (APGDA), ``average`` (w = 1/K) or ``max`` (all weight on the worst domain).
Labels ``y``: true classes (untargeted) or targets (``targeted=True``), shape (B,) or per-domain
(B, K); ``None`` uses the models' clean predictions (the reference's choice, no label leaking).

    attack = EnsembleAttack([m1, m2, m3], eps=0.2, steps=20)
    res = attack.run(x, y)            # res.x_adv (B, C, H, W), res.w (B, 3), res.w_history (21, 3)
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.errors import ConfigError, DataError
from trustlab.methods.minmax.config import AttackConfig
from trustlab.methods.minmax.solver import SolverResult, Variable, apgda, box_project
from trustlab.methods.minmax.transforms import DEFAULT_TRANSFORMS, Transform, parse_transforms
from trustlab.registry import ATTACKS


def attack_loss(logits: Tensor, y: Tensor, loss: str, kappa: float, targeted: bool) -> Tensor:
    """Per-sample attack loss F (B,) that the perturbation minimises.

    ``cw`` (Carlini & Wagner margin): untargeted ``relu(Z_y - max_{j!=y} Z_j + kappa)``, targeted
    ``relu(max_{j!=t} Z_j - Z_t + kappa)``. ``ce``: untargeted ``-CE(Z, y)``, targeted ``CE(Z, t)``.
    """
    if loss == "ce":
        ce = F.cross_entropy(logits, y, reduction="none")
        return ce if targeted else -ce
    own = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
    margin = other - own if targeted else own - other
    return torch.relu(margin + kappa)


def check_images(x: Tensor) -> None:
    """x must be a float (B, C, H, W) tensor in [0, 1]; otherwise one DataError line."""
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise DataError(f"attack inputs must be float images (B, C, H, W), got {shape}")
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise DataError(
            f"attack inputs must lie in [0, 1], got min {float(x.min()):.3g}, max {float(x.max()):.3g}; "
            "pass unnormalised images (the model normalises inside)"
        )


@dataclass
class AttackResult:
    """One attack's outcome. ``w``/``labels`` rows are samples (groups for universal)."""

    x_adv: Tensor  # same shape as x
    delta: Tensor  # x_adv - x; universal: the shared delta per group (G, C, H, W)
    w: Tensor  # (B, K) learned (or fixed) domain weights
    w_history: Tensor  # (steps + 1, K) batch-mean weights per iteration
    loss_history: Tensor  # (steps + 1, K) batch-mean attack loss per domain
    labels: Tensor  # (B, K) labels / targets per domain
    domains: list[str]

    def mean_weights(self) -> dict[str, float]:
        return {d: float(v) for d, v in zip(self.domains, self.w.mean(0))}


class DomainAttack(abc.ABC):
    """Base of the K-domain attacks: config, input checks, labels, the solver call."""

    name = "domain"
    default = AttackConfig()

    def __init__(self, cfg: AttackConfig | None = None, **overrides: Any) -> None:
        base = cfg if cfg is not None else self.default
        fields = {f.name for f in dataclasses.fields(AttackConfig)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ConfigError(f"{self.name} has no option {', '.join(unknown)}; options: {', '.join(sorted(fields))}")
        self.cfg = dataclasses.replace(base, **overrides).check()
        self.info: AttackResult | None = None

    # subclasses define these three
    domains: list[str]

    @abc.abstractmethod
    def modules(self) -> list[nn.Module]:
        """The K domain models (or the one model), for device/eval-mode handling."""

    @abc.abstractmethod
    def predict_domains(self, x: Tensor) -> Tensor:
        """Predicted class per sample and domain, (B, K), for images x (clean or adversarial)."""

    @abc.abstractmethod
    def _solve(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, SolverResult]:
        """Run APGDA on x with labels (rows, K): (x_adv, delta, solver result)."""

    @property
    def num_domains(self) -> int:
        return len(self.domains)

    def _generator(self, device: torch.device) -> torch.Generator | None:
        if self.cfg.seed is None:
            return None
        return torch.Generator(device=device).manual_seed(self.cfg.seed)

    def _rows(self, x: Tensor) -> int:
        """Rows of w and of the labels: one per input (one per group for the universal attack)."""
        return len(x)

    def _labels(self, x: Tensor, y: Tensor | None) -> Tensor:
        rows, k = self._rows(x), self.num_domains
        if y is None:
            if self.cfg.targeted:
                raise ConfigError("a targeted attack needs y = the target classes")
            return self.predict_domains(x)
        y = torch.as_tensor(y, device=x.device).long()
        if y.dim() == 1 and len(y) == len(x):
            return y.view(rows, k) if rows != len(x) else y[:, None].expand(rows, k)
        if y.dim() == 2 and tuple(y.shape) == (rows, k):
            return y
        raise DataError(f"labels y must have shape ({len(x)},) or ({rows}, {k}), got {tuple(y.shape)}")

    def run(self, x: Tensor, y: Tensor | None = None) -> AttackResult:
        """Attack x (B, C, H, W) in [0, 1]; see the module docstring for y."""
        check_images(x)
        mods = self.modules()
        modes = [m.training for m in mods]
        for m in mods:
            m.eval()
        try:
            with torch.no_grad():
                labels = self._labels(x, y)
            x_adv, delta, res = self._solve(x.detach(), labels)
        finally:
            for m, mode in zip(mods, modes):
                m.train(mode)
        self.info = AttackResult(x_adv, delta, res.w, res.w_history, res.loss_history, labels, list(self.domains))
        return self.info

    def __call__(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.run(x, y).x_adv

    def _apgda(
        self, loss_fn: Callable[[list[Tensor]], Tensor], var: Variable, final_losses: bool = True
    ) -> SolverResult:
        c = self.cfg
        return apgda(loss_fn, [var], self.num_domains, steps=c.steps, weighting=c.weighting, beta=c.beta,
                     gamma=c.gamma, final_losses=final_losses)

    def _loss(self, logits: Tensor, y: Tensor) -> Tensor:
        return attack_loss(logits, y, self.cfg.loss, self.cfg.kappa, self.cfg.targeted)


def _num_classes(models: Sequence[nn.Module]) -> list[int | None]:
    return [getattr(m, "num_classes", None) for m in models]


@ATTACKS.register("minmax-ensemble")
class EnsembleAttack(DomainAttack):
    """Ensemble attack: one x_adv that fools all K models; w says which model is hardest."""

    name = "minmax-ensemble"

    def __init__(self, models: nn.Module | Sequence[nn.Module], cfg: AttackConfig | None = None,
                 names: Sequence[str] | None = None, **overrides: Any) -> None:
        super().__init__(cfg, **overrides)
        self.models = [models] if isinstance(models, nn.Module) else list(models)
        if not self.models:
            raise ConfigError("the ensemble attack needs at least one model (K=0)")
        classes = _num_classes(self.models)
        if None not in classes and len(set(classes)) > 1:
            raise ConfigError(f"ensemble models disagree on the number of classes {classes}; "
                              "every model must predict the same classes")
        self.domains = list(names) if names is not None else [f"model{i}" for i in range(len(self.models))]
        if len(self.domains) != len(self.models):
            raise ConfigError(f"{len(self.domains)} names for {len(self.models)} models")

    def modules(self) -> list[nn.Module]:
        return self.models

    def _logits(self, x: Tensor) -> list[Tensor]:
        out = [m(x) for m in self.models]
        widths = {o.shape[1] for o in out}
        if len(widths) > 1:
            raise ConfigError(f"ensemble models output different class counts {[o.shape[1] for o in out]}; "
                              "every model must predict the same classes")
        return out

    def predict_domains(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.stack([o.argmax(1) for o in self._logits(x)], 1)

    def _solve(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, SolverResult]:
        ball = self.cfg.ball()
        start = torch.clamp(x + ball.random(x, self.cfg.init, self.cfg.init_std, self._generator(x.device)), 0, 1)
        var = Variable(start, ball, lambda z: box_project(z, x, ball), 0.0, 1.0)

        def losses(zs: list[Tensor]) -> Tensor:
            return torch.stack([self._loss(lg, labels[:, k]) for k, lg in enumerate(self._logits(zs[0]))], 1)

        res = self._apgda(losses, var, final_losses=self.num_domains > 1)
        x_adv = res.values[0]
        return x_adv, x_adv - x, res


@ATTACKS.register("pgd")
class PGD(EnsembleAttack):
    """PGD (Madry et al., ICLR 2018): K=1 of the ensemble attack; CE loss, uniform start, fixed w.

    Defaults match torchattacks' ``PGD(model, eps=8/255, alpha=2/255, steps=10, random_start=True)``;
    with the same random start (``torch.manual_seed``) the outputs agree (tests/parity).
    """

    name = "pgd"
    default = AttackConfig(eps=8 / 255, steps=10, step_size=2 / 255, loss="ce", weighting="average", init="uniform")

    def __init__(self, model: nn.Module, cfg: AttackConfig | None = None, **overrides: Any) -> None:
        if isinstance(model, (list, tuple)) and len(model) != 1:
            raise ConfigError("PGD attacks one model; use minmax-ensemble for several")
        super().__init__(model, cfg, **overrides)


@ATTACKS.register("minmax-universal")
class UniversalAttack(DomainAttack):
    """Universal perturbation: one delta per group of K consecutive inputs; w says which input is hardest.

    x (B, C, H, W) with B = G * K: inputs ``g*K .. g*K+K-1`` share ``delta[g]``. The delta stays in the
    ball; each x_k + delta is clipped to [0, 1] (the box of K different inputs is not one set).
    """

    name = "minmax-universal"

    def __init__(self, model: nn.Module, k: int = 5, cfg: AttackConfig | None = None, **overrides: Any) -> None:
        super().__init__(cfg, **overrides)
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"the universal attack needs K >= 1 inputs per perturbation, got K={k}")
        self.model = model
        self.domains = [f"input{i}" for i in range(k)]

    def modules(self) -> list[nn.Module]:
        return [self.model]

    def _groups(self, x: Tensor) -> Tensor:
        k = self.num_domains
        if len(x) % k:
            raise DataError(f"the universal attack needs a batch that is a multiple of K={k}, got {len(x)}")
        return x.view(len(x) // k, k, *x.shape[1:])

    def _rows(self, x: Tensor) -> int:
        return self._groups(x).shape[0]

    def apply(self, x: Tensor, delta: Tensor) -> Tensor:
        """x (B, C, H, W) and delta (G, C, H, W) -> clip(x_k + delta_g, 0, 1), (B, C, H, W)."""
        return torch.clamp(self._groups(x) + delta[:, None], 0, 1).view_as(x)

    def predict_domains(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.model(x).argmax(1).view(self._rows(x), self.num_domains)

    def _solve(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, SolverResult]:
        ball = self.cfg.ball()
        g = self._groups(x).shape[0]
        start = ball.random(x[:g], self.cfg.init, self.cfg.init_std, self._generator(x.device))
        var = Variable(start, ball, ball.project)
        flat = labels.reshape(-1)

        def losses(zs: list[Tensor]) -> Tensor:
            return self._loss(self.model(self.apply(x, zs[0])), flat).view(g, self.num_domains)

        res = self._apgda(losses, var)
        delta = res.values[0]
        return self.apply(x, delta), delta, res


@ATTACKS.register("minmax-eot")
class EOTAttack(DomainAttack):
    """Robust attack over K data transformations (EOT); w says which transformation is hardest.

    F_k = attack loss of model(T_k(x_adv)) + (distortion / 2) * ||T_k(x_adv) - T_k(x)||_2 (the
    reference's term, Lambda = 0.5). Default labels: the model's clean prediction on each T_k(x).
    """

    name = "minmax-eot"

    def __init__(self, model: nn.Module, transforms: Sequence[str | Transform] | None = None,
                 cfg: AttackConfig | None = None, distortion: float = 0.5, **overrides: Any) -> None:
        super().__init__(cfg, **overrides)
        specs = list(DEFAULT_TRANSFORMS if transforms is None else transforms)
        if not specs:
            raise ConfigError("the EOT attack needs at least one transformation (K=0); e.g. [identity, hflip]")
        self.transforms = [t if isinstance(t, Transform) else parse_transforms([t])[0] for t in specs]
        if distortion < 0:
            raise ConfigError(f"EOT distortion weight must be >= 0, got {distortion}")
        self.model, self.distortion = model, float(distortion)
        self.domains = [t.name for t in self.transforms]

    def modules(self) -> list[nn.Module]:
        return [self.model]

    def _logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        views = torch.cat([t(x) for t in self.transforms])  # (K*B, C, H, W)
        return self.model(views).view(self.num_domains, len(x), -1), views

    def predict_domains(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self._logits(x)[0].argmax(2).t()

    def _solve(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, SolverResult]:
        ball = self.cfg.ball()
        start = torch.clamp(x + ball.random(x, self.cfg.init, self.cfg.init_std, self._generator(x.device)), 0, 1)
        var = Variable(start, ball, lambda z: box_project(z, x, ball), 0.0, 1.0)
        k, b = self.num_domains, len(x)
        with torch.no_grad():
            clean_views = torch.cat([t(x) for t in self.transforms])

        def losses(zs: list[Tensor]) -> Tensor:
            logits, views = self._logits(zs[0])
            f = self._loss(logits.reshape(k * b, -1), labels.t().reshape(-1)).view(k, b)
            if self.distortion:
                dist = (views - clean_views).reshape(k, b, -1).norm(dim=2)
                f = f + 0.5 * self.distortion * dist
            return f.t()

        res = self._apgda(losses, var)
        x_adv = res.values[0]
        return x_adv, x_adv - x, res
