"""OOD generators ``A(x)`` for OKD: small registered functions that turn a clean batch into synthetic OOD data.

Source: Zhou et al., "On-Device Domain Generalization" (arXiv 2209.07521), reference code
github.com/kaiyangzhou/on-device-dg. OKD distils the teacher's soft targets on ``A(x)`` as well as on
``x``; no labels are used on ``A(x)``. Each generator maps a batch ``x`` of shape (B, C, H, W) with
values in [0, 1] to a *new* tensor of the same shape (in [0, 1] except ``noise``, which the reference
does not clamp); ``x`` itself is never modified, so the
ID branch stays clean (the reference's cutmix edits its input in place and so also cutmixes the ID
branch; that quirk is not reproduced).

Generators (``GENERATORS.get(name)(x, ctx)``):

* ``mixup``: ``lam * x + (1 - lam) * x[perm]``, one random permutation of the batch, ``lam ~ Beta(1, 1)``
  drawn per sample.
* ``cutmix``: paste a box of ``x[perm]`` into ``x``; as in the reference, one ``lam ~ Beta(1, 1)`` and
  one box per batch, box sides ``int(sqrt(1 - lam) * (H, W))``, uniform centre, clipped at the border.
* ``fusion`` (default): per sample ``l * mixup(x) + (1 - l) * cutmix(x)``, ``l ~ Beta(1, 1)``.
* ``jigsaw``: cut each image into ``grid x grid`` patches (default 2 x 2) and shuffle them with a random
  non-identity permutation per sample.
* ``noise``: ``x + N(0, (noise_std * s_c)^2)`` per channel c, not clamped, as the reference, which adds
  ``N(0, 0.15^2)`` to ImageNet-normalised input: ``noise_std`` (0.15) is in those units and ``s_c`` is the
  ImageNet std (0.229, 0.224, 0.225), so the default is about 0.034 on the [0, 1] pixel range.
* ``adv``: FGSM on the student's labelled cross-entropy, as the reference:
  ``clamp(x + adv_eps * sign(grad_x CE(student(x), y)), 0, 1)``, ``adv_eps = 0.001`` on the [0, 1] pixel
  range (the reference's 0.001 scaled by the normalised range of each channel, i.e. 0.001 in pixels).
  Needs the student and the labels in ``ctx``.

Before issue 11 three generators behaved differently; each old behaviour stays selectable for the ablation
of those changes (``method.<generator>_variant=previous``; ``reference`` is the default):

* ``cutmix_variant=previous``: one lam and one box *per sample* (``cutmix`` and ``fusion``);
* ``noise_variant=previous``: ``clamp(x + N(0, noise_std^2), 0, 1)``, ``noise_std`` on the [0, 1] pixel range
  (the old default was the same number, 0.15, about 4x the reference's noise);
* ``adv_variant=previous``: FGSM on ``KL(teacher || student)`` at temperature T instead of the labelled CE (the old
  default step was ``adv_eps=4/255``; set it with the variant to restore the old generator fully).

``GeneratorContext.cutmixed`` receives the cutmixed batch from ``cutmix`` (and so ``fusion``): OKD's
``method.id_branch=in_place`` trains the ID branch on it, as the reference does (its cutmix edits the batch in
place).

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
    """What a generator may use besides the batch: strengths, and the student and labels (``adv`` only)."""

    noise_std: float = 0.15  # in ImageNet-normalised units (the reference's)
    adv_eps: float = 0.001  # on the [0, 1] pixel range (the reference's)
    jigsaw_grid: int = 2
    temperature: float = 4.0
    student: nn.Module | None = None
    labels: Tensor | None = None  # the batch's labels (``adv``: the reference's FGSM uses the labelled CE)
    teacher: nn.Module | None = None  # ``adv_variant=previous`` only (FGSM on the KL to the teacher)
    cutmix_variant: str = "reference"  # or "previous": one box per sample (before issue 11)
    noise_variant: str = "reference"  # or "previous": noise_std on pixels, clamped (before issue 11)
    adv_variant: str = "reference"  # or "previous": FGSM on KL(teacher || student) (before issue 11)
    cutmixed: Tensor | None = None  # set by ``cutmix``: the cutmixed batch (OKD's ``id_branch=in_place``)


VARIANTS = ("reference", "previous")


def check_variants(ctx: GeneratorContext) -> None:
    """One line naming a ``method.<generator>_variant`` that is neither ``reference`` nor ``previous``."""
    for key in ("cutmix_variant", "noise_variant", "adv_variant"):
        if getattr(ctx, key) not in VARIANTS:
            raise ConfigError(f"method.{key} must be one of {list(VARIANTS)}, got '{getattr(ctx, key)}'")


GeneratorFn = Callable[[Tensor, GeneratorContext], Tensor]


def _contract(name: str, fn: GeneratorFn) -> None:
    """Generated contract test: a new tensor of the batch's shape, finite, ``x`` untouched, not ``x`` itself."""
    from trustlab.models import build_model

    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16)
    before = x.clone()
    ctx = GeneratorContext(student=build_model("small_cnn", 4, 16, width=0.125), labels=torch.arange(8) % 4)
    out = fn(x, ctx)
    if out.shape != x.shape or not torch.isfinite(out).all() or not torch.equal(x, before) or torch.equal(out, x):
        raise AssertionError(f"generator '{name}' broke its contract (shape, finite, clean input, changed output)")


GENERATORS: Registry[GeneratorFn] = Registry("ood generator", key="generators", contract=_contract)


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


def cutmix_box(h: int, w: int, device: torch.device) -> tuple[int, int, int, int]:
    """One box ``(y1, y2, x1, x2)`` for the batch: sides ``int(sqrt(1 - lam) * (H, W))``, lam ~ Beta(1, 1),
    uniform centre, clipped at the border (the reference's ``rand_bbox``)."""
    cut = float(torch.sqrt(1.0 - _beta11(1, device)))
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(torch.randint(0, h, ())), int(torch.randint(0, w, ()))
    return max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)


def cutmix_mask(b: int, h: int, w: int, device: torch.device) -> Tensor:
    """``cutmix_variant=previous``: boolean box masks (B, 1, H, W), one lam ~ Beta(1, 1) and box per sample."""
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
    """Paste one random box of a permuted partner into every image (a new tensor; ``x`` is untouched).
    ``ctx.cutmix_variant=previous``: a box per sample. The result is also left in ``ctx.cutmixed``."""
    b, _, h, w = x.shape
    if ctx.cutmix_variant == "previous":
        out = torch.where(cutmix_mask(b, h, w, x.device), x[_perm(b, x.device)], x)
    else:
        y1, y2, x1, x2 = cutmix_box(h, w, x.device)
        out = x.clone()
        out[:, :, y1:y2, x1:x2] = x[_perm(b, x.device), :, y1:y2, x1:x2]
    ctx.cutmixed = out
    return out


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


IMAGENET_STD = (0.229, 0.224, 0.225)


def pixel_noise_std(noise_std: float, channels: int) -> Tensor:
    """(C,) pixel-range std of ``noise_std`` in ImageNet-normalised units (grey: the mean of the three)."""
    s = torch.tensor(IMAGENET_STD) if channels == 3 else torch.full((channels,), sum(IMAGENET_STD) / 3)
    return noise_std * s


@GENERATORS.register("noise")
def noise(x: Tensor, ctx: GeneratorContext) -> Tensor:
    """Additive Gaussian noise of std ``ctx.noise_std`` in ImageNet-normalised units, not clamped (reference)."""
    if ctx.noise_std < 0:
        raise ConfigError(f"method.noise_std must be >= 0, got {ctx.noise_std}")
    if ctx.noise_variant == "previous":  # before issue 11: noise_std on the [0, 1] pixel range, clamped
        return (x + ctx.noise_std * torch.randn_like(x)).clamp(0.0, 1.0)
    std = pixel_noise_std(ctx.noise_std, x.shape[1]).to(x.device, x.dtype).view(1, -1, 1, 1)
    return x + std * torch.randn_like(x)


def kl_soft(teacher_logits: Tensor, student_logits: Tensor, temperature: float) -> Tensor:
    """``KL(softmax(t / T) || softmax(s / T))`` with batchmean reduction (Hinton et al. 2015), a scalar."""
    t = F.log_softmax(teacher_logits / temperature, dim=1)
    s = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(s, t, reduction="batchmean", log_target=True)


@GENERATORS.register("adv")
def adv(x: Tensor, ctx: GeneratorContext) -> Tensor:
    """One FGSM step on the student's labelled cross-entropy, size ``ctx.adv_eps`` (pixels), as the reference."""
    previous = ctx.adv_variant == "previous"  # before issue 11: FGSM on KL(teacher || student)
    if ctx.student is None or (ctx.teacher if previous else ctx.labels) is None:
        raise ConfigError("the 'adv' generator needs the student and the batch labels (adv_variant=previous: the "
                          "teacher) in its context")
    if ctx.adv_eps < 0:
        raise ConfigError(f"method.adv_eps must be >= 0, got {ctx.adv_eps}")
    xr = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        if previous:
            with torch.no_grad():
                t = ctx.teacher(x)
            loss = kl_soft(t, ctx.student(xr), ctx.temperature)
        else:
            loss = F.cross_entropy(ctx.student(xr), ctx.labels)
        (grad,) = torch.autograd.grad(loss, xr)  # input gradient only: the student's .grad stays untouched
    return (x.detach() + ctx.adv_eps * grad.sign()).clamp(0.0, 1.0)
