"""Patch triggers for the backdoor attacks on dataset distillation (papers/04, NDSS 2023).

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

    def state_dict(self) -> dict[str, Any]:
        return {"mask": self.mask.detach().cpu(), "pattern": self.pattern.detach().cpu(), "target": self.target}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PatchTrigger:
        return cls(state["mask"].float(), state["pattern"].float(), int(state["target"]))


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
    """The last Conv2d/Linear before the classifier head (for ``small_cnn``: the third conv)."""
    head = model.classifier() if hasattr(model, "classifier") else None
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not head]
    if not layers:
        raise ConfigError(f"{type(model).__name__} has no conv/linear layer before its head for DOORPING")
    return layers[-1]


def select_neurons(layer: nn.Module, topk: int = 1) -> Tensor:
    """Indices of the ``topk`` output neurons/channels with the largest sum of |W| over their inputs."""
    w = layer.weight.detach().abs().flatten(1).sum(1)
    return torch.topk(w, min(int(topk), len(w))).indices


def optimise_trigger(model: nn.Module, trigger: PatchTrigger, *, alpha: float = 10.0, lr: float = 0.08,
                     steps: int = 1000, threshold: float = 0.5, topk: int = 1,
                     clamp: bool = True, inputs: Tensor | None = None) -> tuple[PatchTrigger, dict[str, float]]:
    """One DOORPING trigger update on ``model`` (papers/04): returns the new trigger and {steps, loss}.

    The network sees the trigger image alone (the pattern under the mask on a black image), as the
    reference does, or, when ``inputs`` (N, C, H, W) are given, those images stamped with the trigger
    (the poisoned subset: under instance norm an isolated patch is scale-invariant); the activation
    of the selected neurons of the penultimate weight layer (its output, before normalisation) is
    pushed towards ``alpha`` times its value at the first step. Only the masked pixels change; with
    ``clamp`` the pattern stays in [0, 1] (a deviation: the reference leaves it unbounded in normalised
    units, which no real image can carry).
    """
    layer = penultimate_layer(model)
    keys = select_neurons(layer, topk)
    store: dict[str, Tensor] = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: store.__setitem__("act", out))
    was_training = model.training
    model.eval()
    mask = trigger.mask.unsqueeze(0)
    pattern = trigger.pattern.detach().clone().unsqueeze(0).requires_grad_(True)
    opt = torch.optim.Adam([pattern], lr=lr, betas=(0.9, 0.99))
    goal: Tensor | None = None
    loss_value, done = float("nan"), 0
    try:
        for step in range(int(steps)):
            model(pattern * mask if inputs is None else inputs * (1 - mask) + mask * pattern)
            act = store["act"][:, keys]
            if goal is None:
                goal = alpha * act.detach()
            loss = F.mse_loss(act, goal)
            loss_value, done = float(loss.detach()), step
            if loss_value < threshold:
                break
            (grad,) = torch.autograd.grad(loss, pattern)
            pattern.grad = grad * mask
            opt.step()
            if clamp:
                with torch.no_grad():
                    pattern.clamp_(0.0, 1.0)
    finally:
        handle.remove()
        model.train(was_training)
    new = PatchTrigger(trigger.mask, (pattern.detach()[0] * trigger.mask), trigger.target)
    return new, {"trigger/steps": float(done + 1), "trigger/loss": loss_value}
