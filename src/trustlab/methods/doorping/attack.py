"""NaiveAttack and DOORPING: backdoors injected into a dataset before/while it is distilled (Liu et al.,
arXiv:2301.01197).

Liu et al., "Backdoor Attacks Against Dataset Distillation", NDSS 2023 (https://arxiv.org/abs/2301.01197).

- :class:`NaiveAttack`: before distillation, a random ``portion`` (default 0.01) of the raw training set
  gets a solid ``size`` x ``size`` square (white, bottom-right, 1-px margin) and the ``target`` label (0).
- :class:`Doorping`: the same poisoned subset, but the trigger starts random and is re-optimised
  (``attack.trigger_unit`` = pixels per optimised unit; the recipe fills in the dataset's std)
  after each network update of the distillation (``on_network``, see
  :func:`~trustlab.methods.doorping.triggers.optimise_trigger`); the poisoned images are re-stamped
  from their clean copies with the new trigger.

Both registered in ``BACKDOORS``. Usage::

    attack = BACKDOORS.get("doorping")(cfg.attack, shape=(1, 28, 28), num_classes=10, generator=g)
    x_p, y_p = attack.poison(x_train, y_train)
    real = RealData(x_p, y_p, 10, g); attack.bind(real)
    run_distillation(distiller, real, on_network=attack.on_network)
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor, nn

from trustlab.methods.doorping.config import AttackConfig
from trustlab.methods.doorping.distill.base import RealData
from trustlab.methods.doorping.triggers import PatchTrigger, check_portion, check_target, optimise_trigger, poison
from trustlab.registry import Registry

BACKDOORS: Registry[Any] = Registry("backdoor attack", key="backdoors")


@BACKDOORS.register("naive", help="NaiveAttack: a fixed white patch on a poisoned share, before distillation")
class NaiveAttack:
    """Poison ``cfg.portion`` of the training set with a solid patch; nothing happens during distillation."""

    on_network = None

    def __init__(self, cfg: AttackConfig, shape: tuple[int, int, int], num_classes: int,
                 generator: torch.Generator) -> None:
        check_portion(cfg.portion)
        check_target(cfg.target, num_classes)
        self.cfg = cfg
        self.generator = generator
        self.trigger = PatchTrigger.solid(shape, cfg.size, cfg.target, cfg.position, cfg.color)
        self.indices = torch.empty(0, dtype=torch.long)

    def poison(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x_p, y_p, self.indices = poison(x, y, self.cfg.portion, self.trigger, self.generator)
        return x_p, y_p

    def bind(self, real: RealData) -> None:
        """Nothing to track: the naive trigger never changes."""

    def state_dict(self) -> dict[str, Any]:
        return {"trigger": self.trigger.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("trigger"):
            self.trigger = PatchTrigger.from_state(state["trigger"])

    def info(self) -> dict[str, float]:
        return {"poisoned": float(len(self.indices))}


@BACKDOORS.register("doorping", help="DOORPING: trigger optimised during distillation (NDSS 2023)")
class Doorping(NaiveAttack):
    """A random patch trigger re-optimised on every network the distiller updates."""

    def __init__(self, cfg: AttackConfig, shape: tuple[int, int, int], num_classes: int,
                 generator: torch.Generator) -> None:
        super().__init__(cfg, shape, num_classes, generator)
        self.trigger = PatchTrigger.random(shape, cfg.size, cfg.target, cfg.position, generator)
        self.clean: Tensor | None = None
        self.real: RealData | None = None
        self.updates = 0
        self.total_steps = 0.0
        self.seconds = 0.0
        self.last: dict[str, float] = {}

    def poison(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x_p, y_p = super().poison(x, y)
        self.clean = x[self.indices].clone()
        return x_p, y_p

    def bind(self, real: RealData) -> None:
        """Re-stamp ``real.images[indices]`` (in place) whenever the trigger changes."""
        self.real = real
        self.trigger = self.trigger.to(real.images.device)
        if self.clean is not None:
            self.clean = self.clean.to(real.images.device)
            self.indices = self.indices.to(real.images.device)

    def on_network(self, net: nn.Module) -> None:  # type: ignore[override]
        c = self.cfg
        inputs = self.clean[: c.trigger_batch] if c.trigger_input == "poisoned" and self.clean is not None else None
        t0 = time.perf_counter()
        self.trigger, self.last = optimise_trigger(
            net, self.trigger, alpha=c.alpha, lr=c.trigger_lr, steps=c.trigger_steps,
            threshold=c.trigger_threshold, topk=c.topk, clamp=c.trigger_clamp,
            unit=c.trigger_unit if c.trigger_unit is not None else 1.0, patience=c.trigger_patience, inputs=inputs,
        )
        self.updates += 1
        self.total_steps += self.last["trigger/steps"]
        self.seconds += time.perf_counter() - t0
        if self.real is not None and self.clean is not None:
            with torch.no_grad():
                self.real.images[self.indices] = self.trigger.stamp(self.clean)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.real is not None and self.clean is not None:
            self.trigger = self.trigger.to(self.real.images.device)
            with torch.no_grad():
                self.real.images[self.indices] = self.trigger.stamp(self.clean)

    def info(self) -> dict[str, float]:
        return {"poisoned": float(len(self.indices)), "trigger_updates": float(self.updates),
                "trigger_steps_total": self.total_steps, "trigger_seconds": self.seconds, **self.last}
