"""OOD generators ``A(x)`` for OKD: small registered functions that turn a clean batch into synthetic OOD data.

Source: Zhou et al., "On-Device Domain Generalization" (arXiv 2209.07521), reference code
github.com/kaiyangzhou/on-device-dg. OKD distils the teacher's soft targets on ``A(x)`` as well as on
``x``; no labels are used on ``A(x)``. Each generator maps a batch ``x`` of shape (B, C, H, W) with
values in [0, 1] to a *new* tensor of the same shape and range; ``x`` itself is never modified, so the
ID branch stays clean (the reference's cutmix edits its input in place and so also cutmixes the ID
branch; that quirk is not reproduced).

Generators (``GENERATORS.get(name)(x, ctx)``):

* ``mixup``: ``lam * x + (1 - lam) * x[perm]``, one random permutation of the batch, ``lam ~ Beta(1, 1)``
  drawn per sample.
* ``cutmix``: paste a box of ``x[perm]`` into ``x``; ``lam ~ Beta(1, 1)`` per sample, box sides
  ``sqrt(1 - lam) * (H, W)``, uniform centre, clipped at the border.
* ``fusion`` (default): per sample ``l * mixup(x) + (1 - l) * cutmix(x)``, ``l ~ Beta(1, 1)``.
* ``jigsaw``: cut each image into ``grid x grid`` patches (default 2 x 2) and shuffle them with a random
  non-identity permutation per sample.
* ``noise``: ``clamp(x + N(0, noise_std^2), 0, 1)``, ``noise_std = 0.15`` (on the [0, 1] pixel range).
* ``adv``: FGSM, ``clamp(x + eps * sign(grad_x KL(teacher || student)), 0, 1)``, ``eps = adv_eps`` (default
  4/255 on the [0, 1] pixel range, i.e. 8/255 on the model's normalised [-1, 1] range). Needs the
  student and teacher in ``ctx``.

Randomness comes from torch's global generator (seeded by the run), so runs are reproducible.

Example::

    from trustlab.methods.okd.generators import GENERATORS, GeneratorContext
    x_ood = GENERATORS.get("fusion")(x, GeneratorContext())     # same shape as x, x unchanged
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.errors import ConfigError
from trustlab.registry import Registry


@dataclass
class GeneratorContext:
    """What a generator may use besides the batch: strengths, and the two networks (``adv`` only)."""

    noise_std: float = 0.15
    adv_eps: float = 4 / 255
    jigsaw_grid: int = 2
    temperature: float = 4.0
    student: nn.Module | None = None
    teacher: nn.Module | None = None
    teacher_logits: Tensor | None = None  # teacher(x) when already computed (saves a forward for ``adv``)


GeneratorFn = Callable[[Tensor, GeneratorContext], Tensor]
GENERATORS: Registry[GeneratorFn] = Registry("ood generator", key="generators")


def _beta11(n: int, device: torch.device) -> Tensor:
    """``n`` draws of Beta(1, 1) (= Uniform(0, 1)), shape (n,)."""
    return torch.rand(n, device=device)


def _perm(n: int, device: torch.device) -> Tensor:
    return torch.randperm(n, device=device)


@GENERATORS.register("mixup")
def mixup(x: Tensor, ctx: GeneratorContext) -> Tensor:
    """Per-sample convex blend with a randomly permuted partner: (B, C, H, W) -> (B, C, H, W)."""
    lam = _beta11(len(x), x.device).view(-1, 1, 1, 1).to(x.dtype)
    return lam * x + (1 - lam) * x[_perm(len(x), x.device)]


def cutmix_mask(b: int, h: int, w: int, device: torch.device) -> Tensor:
    """Boolean box masks (B, 1, H, W): side ``sqrt(1 - lam)`` of the image, lam ~ Beta(1, 1), clipped."""
    cut = torch.sqrt(1.0 - _beta11(b, device))
    ch, cw = (cut * h).long(), (cut * w).long()
    cy = torch.randint(0, h, (b,), device=device)
    cx = torch.randint(0, w, (b,), device=device)
    y1, y2 = (cy - ch // 2).clamp(0, h), (cy + ch // 2).clamp(0, h)
    x1, x2 = (cx - cw // 2).clamp(0, w), (cx + cw // 2).clamp(0, w)
    ys = torch.arange(h, device=device).view(1, h)
    xs = torch.arange(w, device=device).view(1, w)
    rows = (ys >= y1.view(-1, 1)) & (ys < y2.view(-1, 1))
    cols = (xs >= x1.view(-1, 1)) & (xs < x2.view(-1, 1))
    return (rows[:, :, None] & cols[:, None, :]).unsqueeze(1)


@GENERATORS.register("cutmix")
def cutmix(x: Tensor, ctx: GeneratorContext) -> Tensor:
    """Paste a random box of a permuted partner into each image (a new tensor; ``x`` is untouched)."""
    b, _, h, w = x.shape
    mask = cutmix_mask(b, h, w, x.device)
    return torch.where(mask, x[_perm(b, x.device)], x)


@GENERATORS.register("fusion")
def fusion(x: Tensor, ctx: GeneratorContext) -> Tensor:
    """The reference default: per sample ``l * mixup(x) + (1 - l) * cutmix(x)``, l ~ Beta(1, 1)."""
    l = _beta11(len(x), x.device).view(-1, 1, 1, 1).to(x.dtype)  # noqa: E741
    return l * mixup(x, ctx) + (1 - l) * cutmix(x, ctx)


def _non_identity_perms(n: int) -> Tensor:
    perms = [p for p in itertools.permutations(range(n)) if list(p) != list(range(n))]
    return torch.tensor(perms, dtype=torch.long)


@GENERATORS.register("jigsaw")
def jigsaw(x: Tensor, ctx: GeneratorContext) -> Tensor:
    """Shuffle ``grid x grid`` patches with a random non-identity permutation per sample."""
    g = int(ctx.jigsaw_grid)
    b, c, h, w = x.shape
    if g < 2 or h % g or w % g:
        raise ConfigError(f"method.jigsaw_grid={g} must be >= 2 and divide the image size {h}x{w}")
    if g * g > 8:  # too many permutations to list; a random one is almost surely not the identity
        order = torch.argsort(torch.rand(b, g * g, device=x.device), dim=1)
    else:
        table = _non_identity_perms(g * g).to(x.device)
        order = table[torch.randint(0, len(table), (b,), device=x.device)]
    ph, pw = h // g, w // g
    patches = x.reshape(b, c, g, ph, g, pw).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, c, ph, pw)
    shuffled = patches[torch.arange(b, device=x.device).view(-1, 1), order]
    return shuffled.reshape(b, g, g, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


@GENERATORS.register("noise")
def noise(x: Tensor, ctx: GeneratorContext) -> Tensor:
    """Additive Gaussian noise, std ``ctx.noise_std`` (pixel range), clamped to [0, 1]."""
    if ctx.noise_std < 0:
        raise ConfigError(f"method.noise_std must be >= 0, got {ctx.noise_std}")
    return (x + ctx.noise_std * torch.randn_like(x)).clamp(0.0, 1.0)


def kl_soft(teacher_logits: Tensor, student_logits: Tensor, temperature: float) -> Tensor:
    """``KL(softmax(t / T) || softmax(s / T))`` with batchmean reduction (Hinton et al. 2015), a scalar."""
    t = F.log_softmax(teacher_logits / temperature, dim=1)
    s = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(s, t, reduction="batchmean", log_target=True)


@GENERATORS.register("adv")
def adv(x: Tensor, ctx: GeneratorContext) -> Tensor:
    """One FGSM step that increases the student's KL to the teacher, size ``ctx.adv_eps`` (pixels)."""
    if ctx.student is None or ctx.teacher is None:
        raise ConfigError("the 'adv' generator needs the student and the teacher in its context")
    if ctx.adv_eps < 0:
        raise ConfigError(f"method.adv_eps must be >= 0, got {ctx.adv_eps}")
    t = ctx.teacher_logits
    if t is None:
        with torch.no_grad():
            t = ctx.teacher(x)
    xr = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = kl_soft(t.detach(), ctx.student(xr), ctx.temperature)
        (grad,) = torch.autograd.grad(loss, xr)  # input gradient only: the student's .grad stays untouched
    return (x.detach() + ctx.adv_eps * grad.sign()).clamp(0.0, 1.0)
