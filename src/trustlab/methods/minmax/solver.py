"""APGDA: alternating projected gradient descent (perturbation) / ascent (domain weights).

Wang, Zhang, Liu, Chen, Xu, Fardad, Li, "Adversarial Attack Generation Empowered by Min-Max
Optimization", NeurIPS 2021 (https://arxiv.org/abs/1906.03563), Algorithm 1. Given K domain losses
``F_k(z)`` (one per model, input or transformation) the solver approximates, per sample::

    min_z max_{w in simplex_K}  sum_k w_k F_k(z) - (gamma / 2) * ||w - 1/K||^2

by alternating, for ``steps`` iterations,

    z <- proj_Z(z - step_size * d(grad_z sum_k w_k F_k(z)))            # descent (``ascend=False``)
    w <- proj_simplex(w + (1 / beta) * (F(z) - gamma * (w - 1/K)))     # ascent on the new z

``d`` is the steepest unit direction of the ball's norm (sign for l_inf, g/||g||_2 for l_2, a sparse
top-k sign direction for l_1, Tramer & Boneh 2019). w starts at 1/K and is one row per sample, so
``w`` has shape (B, K). ``weighting="average"`` keeps w = 1/K (the usual ensemble / EOT average) and
``weighting="max"`` puts all weight on the domain with the largest loss (the worst case).

The reference code (wangjksjtu/minmax-adv, ``attacks/minmax.py``) steps ``z - (1/alpha) * grad`` along the
raw gradient by default (``normalize=False``); here the default step follows the norm's normalised
direction with ``step_size`` in input units, so one setting works for CW and CE losses of any scale, and
``Ball(raw=True, step_size=1/alpha)`` is the reference's rule (``attack.alpha`` in :class:`AttackConfig`;
``tests/parity/test_minmax_parity.py`` checks it against a transcription of the reference loop).

Example::

    ball = Ball("linf", eps=0.2, step_size=0.02)
    var = Variable(x.clone(), ball, project=lambda z: box_project(z, x, ball))
    res = apgda(lambda zs: torch.stack([loss(m(zs[0])) for m in models], 1), [var], K, steps=20)
    res.values[0], res.w          # (B, C, H, W), (B, K)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from trustlab.errors import ConfigError, did_you_mean

NORMS = ("linf", "l2", "l1")
WEIGHTINGS = ("minmax", "average", "max")
_TINY = 1e-12


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is one of linf, l2, l1; otherwise a one-line ConfigError."""
    if norm not in NORMS:
        raise ConfigError(f"unknown norm '{norm}'{did_you_mean(str(norm), NORMS)}; use one of {', '.join(NORMS)}")
    return norm


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def _per_sample(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def project_l1_ball(d: Tensor, eps: float) -> Tensor:
    """Euclidean projection of each sample (dim 0) onto {||d||_1 <= eps} (Duchi et al., ICML 2008)."""
    flat = _flat(d)
    abs_ = flat.abs()
    inside = abs_.sum(1) <= eps
    u, _ = abs_.sort(dim=1, descending=True)
    css = u.cumsum(1) - eps
    idx = torch.arange(1, u.shape[1] + 1, device=d.device, dtype=d.dtype)
    rho = ((u - css / idx) > 0).to(d.dtype).mul(idx).argmax(1, keepdim=True)  # last index where positive
    theta = css.gather(1, rho) / (rho + 1).to(d.dtype)
    out = flat.sign() * (abs_ - theta).clamp_min(0)
    out = torch.where(inside[:, None], flat, out)
    return out.view_as(d)


def project_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of each row of ``v`` (B, K) onto the probability simplex.

    Sort-based exact algorithm (Wang & Carreira-Perpinan 2013, arXiv:1309.1541): the same point the
    reference code finds by bisection on the threshold.
    """
    if v.dim() != 2:
        raise ValueError(f"project_simplex expects (B, K), got {tuple(v.shape)}")
    u, _ = v.sort(dim=1, descending=True)
    css = u.cumsum(1) - 1.0
    idx = torch.arange(1, v.shape[1] + 1, device=v.device, dtype=v.dtype)
    rho = ((u - css / idx) > 0).to(v.dtype).mul(idx).argmax(1, keepdim=True)
    theta = css.gather(1, rho) / (rho + 1).to(v.dtype)
    return (v - theta).clamp_min(0)


@dataclass
class Ball:
    """An l_p ball of radius ``eps`` (norm ``linf``, ``l2`` or ``l1``) and the step taken in it.

    ``l1_sparsity``: share q of coordinates moved per l_1 step (the top-q |gradient| entries).
    ``raw``: step along the raw gradient (the reference code's rule with ``normalize=False``:
    ``z - (1/alpha) grad``, so ``step_size`` = 1/alpha) instead of the norm's steepest unit direction.
    """

    norm: str
    eps: float
    step_size: float
    l1_sparsity: float = 0.05
    raw: bool = False

    def __post_init__(self) -> None:
        check_norm(self.norm)
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"eps must be a number > 0, got {self.eps!r}")
        if not (math.isfinite(self.step_size) and self.step_size > 0):
            raise ConfigError(f"step_size must be > 0, got {self.step_size!r}")
        if not 0 < self.l1_sparsity <= 1:
            raise ConfigError(f"l1_sparsity must be in (0, 1], got {self.l1_sparsity!r}")

    def project(self, d: Tensor) -> Tensor:
        """Each sample of ``d`` (B, ...) onto the ball."""
        if self.norm == "linf":
            return torch.clamp(d, min=-self.eps, max=self.eps)
        if self.norm == "l2":
            n = _flat(d).norm(dim=1)
            return d * _per_sample(torch.clamp(self.eps / (n + _TINY), max=1.0), d)
        return project_l1_ball(d, self.eps)

    def direction(self, g: Tensor, blocked: Tensor | None = None) -> Tensor:
        """The steepest unit direction (in this norm) along ``g``, per sample.

        ``blocked``: bool mask of coordinates that cannot move that way (at the box edge); only the
        sparse l_1 step uses it, so its k coordinates are ones that can move.
        With ``raw`` the gradient itself is returned (the reference's un-normalised step).
        """
        if self.raw:
            return g
        if self.norm == "linf":
            return g.sign()
        if self.norm == "l2":
            return g / _per_sample(_flat(g).norm(dim=1) + _TINY, g)
        flat = _flat(g)
        mag = flat.abs()
        if blocked is not None:
            mag = mag.masked_fill(_flat(blocked), 0.0)
        k = max(1, int(math.ceil(self.l1_sparsity * flat.shape[1])))
        thresh = mag.topk(k, dim=1).values[:, -1:]
        mask = (mag >= thresh) & (mag > 0)
        count = mask.sum(1, keepdim=True).clamp_min(1)
        return (flat.sign() * mask / count).view_as(g)

    def random(self, like: Tensor, kind: str, std: float = 0.1, generator: torch.Generator | None = None) -> Tensor:
        """A random start: ``uniform`` (U(-eps, eps) for l_inf as in PGD; a random point of the ball
        for l_2/l_1), ``normal`` (N(0, std), the reference's start, then projected) or ``zero``."""
        if kind == "zero":
            return torch.zeros_like(like)
        if kind == "normal":
            noise = torch.empty_like(like).normal_(0.0, std, generator=generator)
            return self.project(noise)
        if kind != "uniform":
            raise ConfigError(f"unknown init '{kind}'; use uniform, normal or zero")
        if self.norm == "linf":
            return torch.empty_like(like).uniform_(-self.eps, self.eps, generator=generator)
        d = torch.empty_like(like).normal_(generator=generator)
        n = _flat(d).norm(p=2 if self.norm == "l2" else 1, dim=1)
        r = torch.empty(like.shape[0], device=like.device, dtype=like.dtype).uniform_(generator=generator)
        return d * _per_sample(self.eps * r / (n + _TINY), d)


@dataclass
class Variable:
    """One optimised tensor: its value (B, ...), the ball giving its step, and the projection onto
    its feasible set (ball and box). ``lower``/``upper`` bound the value itself (for the l_1 mask)."""

    value: Tensor
    ball: Ball
    project: Callable[[Tensor], Tensor]
    lower: float | Tensor | None = None
    upper: float | Tensor | None = None


def box_project(z: Tensor, x: Tensor, ball: Ball) -> Tensor:
    """``z`` holds x_adv: clip ``z - x`` to the ball, then ``x + delta`` to [0, 1] (PGD's order)."""
    delta = ball.project(z - x)
    return torch.clamp(x + delta, min=0, max=1)


@dataclass
class SolverResult:
    """``values``: final variables; ``w`` (B, K) final weights; ``w_history`` (steps+1, K) batch-mean
    weights per iteration; ``loss_history`` (steps+1, K) batch-mean F_k; ``losses`` (B, K) final F."""

    values: list[Tensor]
    w: Tensor
    w_history: Tensor
    loss_history: Tensor
    losses: Tensor


def update_weights(w: Tensor, f: Tensor, weighting: str, beta: float, gamma: float) -> Tensor:
    """One APGDA ascent step on w (B, K) given losses f (B, K) (see the module docstring)."""
    k = w.shape[1]
    if weighting == "average":
        return w
    if weighting == "max":
        return torch.nn.functional.one_hot(f.argmax(1), k).to(w.dtype)
    return project_simplex(w + (f - gamma * (w - 1.0 / k)) / beta)


def apgda(
    loss_fn: Callable[[list[Tensor]], Tensor],
    variables: Sequence[Variable],
    num_domains: int,
    *,
    steps: int,
    weighting: str = "minmax",
    beta: float = 40.0,
    gamma: float = 3.0,
    ascend: bool = False,
    separable: bool = False,
    w0: Tensor | None = None,
    final_losses: bool = True,
) -> SolverResult:
    """Run APGDA for ``steps`` iterations; see the module docstring.

    Args:
        loss_fn: variables -> F of shape (B, K), the per-sample loss of each domain.
        variables: what is optimised (usually one; one per perturbation type in min-max AT).
        num_domains: K >= 1.
        steps: iterations (each: one forward+backward for z, one forward for w unless ``average``).
        weighting: ``minmax`` (learned w), ``average`` (w = 1/K fixed) or ``max`` (one-hot worst).
        beta: inverse step size of the w ascent; gamma: strength of the pull of w towards 1/K.
        ascend: z maximises the weighted loss (adversarial training) instead of minimising it.
        separable: variable k only feeds domain k (min-max AT): its step follows grad F_k, so a type
            whose weight reaches 0 keeps being attacked (the direction is scale-free otherwise).
        w0: initial weights (B, K); default 1/K.
        final_losses: with ``average``, spend one more forward pass for F at the final z (otherwise
            the last entry of ``loss_history`` and ``losses`` are those of the last gradient step).
    """
    if num_domains < 1:
        raise ConfigError(f"the number of domains K must be >= 1, got {num_domains}")
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"unknown weighting '{weighting}'{did_you_mean(weighting, WEIGHTINGS)}; "
                          f"use one of {', '.join(WEIGHTINGS)}")
    if steps < 0:
        raise ConfigError(f"steps must be >= 0, got {steps}")
    if beta <= 0 or gamma < 0:
        raise ConfigError(f"beta must be > 0 and gamma >= 0, got beta={beta}, gamma={gamma}")
    zs = [v.value.detach() for v in variables]
    b = zs[0].shape[0]
    w = w0.detach().clone() if w0 is not None else zs[0].new_full((b, num_domains), 1.0 / num_domains)
    sign = 1.0 if ascend else -1.0
    w_hist, f_hist = [w.mean(0)], []
    f: Tensor | None = None
    last_f: Tensor | None = None
    for _ in range(steps):
        zs = [z.requires_grad_(True) for z in zs]
        f = loss_fn(zs)
        last_f = f.detach()
        obj = f.sum() if separable else (w * f).sum()
        grads = torch.autograd.grad(obj, zs)
        f_hist.append(f.detach().mean(0))
        new = []
        for v, z, g in zip(variables, zs, grads):
            z = z.detach()
            blocked = None
            if v.ball.norm == "l1" and v.lower is not None and v.upper is not None:
                up = g * sign > 0  # the coordinate would increase
                blocked = (up & (z >= v.upper)) | (~up & (z <= v.lower))
            new.append(v.project(z + sign * v.ball.step_size * v.ball.direction(g, blocked)))
        zs = new
        if weighting != "average":
            with torch.no_grad():
                f = loss_fn(zs)
            w = update_weights(w, f.detach(), weighting, beta, gamma)
        else:
            f = None
        w_hist.append(w.mean(0))
    if f is None and (final_losses or not f_hist):
        with torch.no_grad():
            f = loss_fn(zs)
    if f is None:  # average weighting without the extra pass: reuse the last gradient step's F
        f = last_f
    f_hist.append(f.detach().mean(0))
    return SolverResult(
        values=[z.detach() for z in zs],
        w=w.detach(),
        w_history=torch.stack(w_hist).detach(),
        loss_history=torch.stack(f_hist).detach(),
        losses=f.detach(),
    )
