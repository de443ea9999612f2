"""Patch triggers for the backdoor attacks on dataset distillation (Liu et al., arXiv:2301.01197, NDSS 2023).

A :class:`PatchTrigger` is a ``mask`` (C, H, W) in {0, 1} and a ``pattern`` (C, H, W) in [0, 1];
stamping is ``x * (1 - mask) + mask * pattern`` on images (N, C, H, W) in [0, 1], and the stamped
images are relabelled to ``target``. The mask is a ``size`` x ``size`` square with a 1-pixel margin
(bottom-right by default: rows/cols ``H-1-size .. H-2``, as the reference's ``trigger_loc``).

- NaiveAttack: :meth:`PatchTrigger.solid` (white square, ``color`` 1.0) and :func:`poison`.
- DOORPING: :meth:`PatchTrigger.random` and :func:`optimise_trigger` (neuron selection on the
  penultimate weight layer, activation amplification, Adam, early stop).

Example::

    trig = PatchTrigger.solid((1, 28, 28), size=2, target=0)
    x_p, y_p, idx = poison(x, y, portion=0.01, trigger=trig, generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.errors import ConfigError

MARGIN = 1


def check_portion(portion: float) -> float:
    if not (0.0 < float(portion) <= 1.0):
        raise ConfigError(f"attack.portion must be in (0, 1] (share of the training set poisoned), got {portion}")
    return float(portion)


def check_target(target: int, num_classes: int) -> int:
    if not (0 <= int(target) < num_classes):
        raise ConfigError(
            f"attack.target {target} is not a class; use a label in 0..{num_classes - 1}"
        )
    return int(target)


def patch_mask(shape: tuple[int, int, int], size: int, position: str = "bottom-right") -> Tensor:
    """A (C, H, W) {0, 1} float mask with a ``size`` x ``size`` square at ``position`` (1-px margin)."""
    c, h, w = shape
    limit = min(h, w) - 2 * MARGIN
    if int(size) != size or size < 1 or size > limit:
        raise ConfigError(
            f"attack.size {size} does not fit {h}x{w} images with a {MARGIN}-pixel margin; use 1..{limit}"
        )
    rows = {"top": MARGIN, "bottom": h - MARGIN - size, "center": (h - size) // 2}
    cols = {"left": MARGIN, "right": w - MARGIN - size, "center": (w - size) // 2}
    if position == "center":
        r, q = rows["center"], cols["center"]
    else:
        try:
            vert, horiz = position.split("-")
            r, q = rows[vert], cols[horiz]
        except (ValueError, KeyError):
            raise ConfigError(
                f"attack.position '{position}' is not one of bottom-right, bottom-left, top-right, top-left, center"
            ) from None
    mask = torch.zeros(c, h, w)
    mask[:, r : r + size, q : q + size] = 1.0
    return mask


@dataclass
class PatchTrigger:
    """``mask`` and ``pattern`` (C, H, W); ``stamp(x)`` pastes the pattern under the mask."""

    mask: Tensor
    pattern: Tensor
    target: int

    @classmethod
    def solid(cls, shape: tuple[int, int, int], size: int = 2, target: int = 0,
              position: str = "bottom-right", color: float = 1.0) -> PatchTrigger:
        """NaiveAttack's trigger: a square of constant ``color`` (1.0 = white)."""
        if not 0.0 <= color <= 1.0:
            raise ConfigError(f"attack.color must be in [0, 1], got {color}")
        mask = patch_mask(shape, size, position)
        return cls(mask, mask * color, int(target))

    @classmethod
    def random(cls, shape: tuple[int, int, int], size: int = 2, target: int = 0,
               position: str = "bottom-right", generator: torch.Generator | None = None) -> PatchTrigger:
        """DOORPING's initial trigger: uniform random values under the mask, zeros elsewhere."""
        mask = patch_mask(shape, size, position)
        return cls(mask, mask * torch.rand(shape, generator=generator), int(target))

    def to(self, device: torch.device | str) -> PatchTrigger:
        return PatchTrigger(self.mask.to(device), self.pattern.to(device), self.target)

    def stamp(self, x: Tensor) -> Tensor:
        """(N, C, H, W) or (C, H, W) images in [0, 1] -> the same shape with the trigger pasted."""
        m, p = self.mask.to(x.device, x.dtype), self.pattern.to(x.device, x.dtype)
        return x * (1 - m) + m * p

    def stamp_stored(self, x: Tensor) -> Tensor:
        """:meth:`stamp`, then stored as a real image would be: clipped to [0, 1], quantised to 8 bits."""
        return as_stored(self.stamp(x))

    def state_dict(self) -> dict[str, Any]:
        return {"mask": self.mask.detach().cpu(), "pattern": self.pattern.detach().cpu(), "target": self.target}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PatchTrigger:
        return cls(state["mask"].float(), state["pattern"].float(), int(state["target"]))


def as_stored(x: Tensor) -> Tensor:
    """Images as an 8-bit file stores them: clipped to [0, 1] and rounded to multiples of 1/255."""
    return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0


def poison(x: Tensor, y: Tensor, portion: float, trigger: PatchTrigger,
           generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Stamp and relabel a random ``portion`` of (x, y) (at least one image); returns copies and indices."""
    check_portion(portion)
    n = len(y)
    k = max(1, int(round(portion * n)))
    idx = torch.randperm(n, generator=generator)[:k].to(y.device)
    x, y = x.clone(), y.clone()
    x[idx] = trigger.stamp(x[idx])
    y[idx] = trigger.target
    return x, y, idx


# ------------------------------------------------------------------------------ DOORPING


def penultimate_layer(model: nn.Module) -> nn.Module:
    """The last Conv2d/Linear before the classifier head (``small_cnn``: the third conv, or the hidden
    Linear when ``hidden > 0``; the reference's ``layer=-2`` over the weight parameters)."""
    head = model.classifier() if hasattr(model, "classifier") else None
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not head]
    if not layers:
        raise ConfigError(f"{type(model).__name__} has no conv/linear layer before its head for DOORPING")
    return layers[-1]


def activation_module(model: nn.Module, layer: nn.Module) -> nn.Module:
    """The module whose output DOORPING reads for ``layer``: the ReLU right after it, if there is one.

    In the reference (baadd's ConvNet) every ReLU is in place, so the tensor its forward hook stores on
    the hooked layer is overwritten by the ReLU that follows: the activation it amplifies is the
    post-ReLU value (a neuron at <= 0 gives loss 0 and the update stops at its first step). Here the
    ReLU after ``layer`` (skipping ``nn.Identity``, e.g. ``norm=none``) is hooked instead, which gives the
    same values without relying on in-place ops. A norm layer after ``layer`` is not in place, so
    then ``layer``'s own output is read, as in the reference.
    """
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.children())
        if not any(child is layer for child in children):
            continue
        i = next(j for j, child in enumerate(children) if child is layer)
        following = [c for c in children[i + 1 :] if not isinstance(c, nn.Identity)]
        if following and isinstance(following[0], nn.ReLU):
            return following[0]
        return layer
    return layer


def select_neurons(layer: nn.Module, topk: int = 1) -> Tensor:
    """Indices of the ``topk`` output neurons/channels with the largest sum of |W| over their inputs."""
    w = layer.weight.detach().abs().flatten(1).sum(1)
    return torch.topk(w, min(int(topk), len(w))).indices


def optimise_trigger(model: nn.Module, trigger: PatchTrigger, *, alpha: float = 10.0, lr: float = 0.08,
                     steps: int = 1000, threshold: float = 0.5, topk: int = 1, clamp: bool = True,
                     unit: float = 1.0, patience: int = 0,
                     inputs: Tensor | None = None) -> tuple[PatchTrigger, dict[str, float]]:
    """One DOORPING trigger update on ``model`` (Liu et al., arXiv:2301.01197): returns the new trigger and {steps,
    loss}.

    The network sees the trigger image alone (the pattern under the mask on a black image), as the
    reference does, or, when ``inputs`` (N, C, H, W) are given, those images stamped with the trigger.
    The activation of the selected neurons of the penultimate weight layer (after the ReLU that
    follows it, see :func:`activation_module`) is pushed towards ``alpha`` times its value at the first
    step by Adam(lr, betas 0.9/0.99); it stops when the MSE is below ``threshold``. The pattern is
    optimised in units of ``unit`` pixels: the reference's trigger lives in normalised units (pixel /
    std, MNIST std 0.3081), so ``unit=0.3081`` with ``lr=0.08`` moves it at the reference's speed
    (Adam's step is about ``lr`` in the optimised variable). Only the masked pixels change; with
    ``clamp`` the pattern stays in [0, 1] (the reference leaves it unbounded). With ``clamp`` and
    ``patience`` > 0 the update also stops once the clamped pattern has not moved for ``patience``
    consecutive steps (every pixel pinned at a bound by the gradient: the remaining steps would change
    nothing unless the gradient's sign turned; not in the reference, which has no bounds).
    """
    if unit <= 0:
        raise ConfigError(f"trigger unit must be > 0 (pixels per optimised unit), got {unit}")
    layer = penultimate_layer(model)
    keys = select_neurons(layer, topk)
    store: dict[str, Tensor] = {}
    handle = activation_module(model, layer).register_forward_hook(
        lambda _m, _i, out: store.__setitem__("act", out))
    was_training = model.training
    model.eval()
    mask = trigger.mask.unsqueeze(0)
    z = (trigger.pattern.detach().clone().unsqueeze(0) / unit).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.99))
    goal: Tensor | None = None
    loss_value, done, still = float("nan"), 0, 0
    try:
        for step in range(int(steps)):
            pattern = z * unit
            model(pattern * mask if inputs is None else inputs * (1 - mask) + mask * pattern)
            act = store["act"][:, keys]
            if goal is None:
                goal = alpha * act.detach()
            loss = F.mse_loss(act, goal)
            loss_value, done = float(loss.detach()), step
            if loss_value < threshold:
                break
            (grad,) = torch.autograd.grad(loss, z)
            z.grad = grad * mask
            before = z.detach().clone()
            opt.step()
            if clamp:
                with torch.no_grad():
                    z.clamp_(0.0, 1.0 / unit)
                still = still + 1 if torch.equal(z.detach(), before) else 0
                if patience and still >= patience:
                    done = step
                    break
    finally:
        handle.remove()
        model.train(was_training)
    new = PatchTrigger(trigger.mask, (z.detach()[0] * unit * trigger.mask), trigger.target)
    return new, {"trigger/steps": float(done + 1), "trigger/loss": loss_value}
