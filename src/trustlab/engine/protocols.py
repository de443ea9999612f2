"""The small protocols the engine relies on; it never branches on a method's name."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from trustlab.experiment import TrainConfig


@runtime_checkable
class Trainable(Protocol):
    """A method the engine's :func:`~trustlab.engine.fit.fit` can train.

    It is an ``nn.Module`` holding everything it trains (and any frozen teacher). Optional hooks:
    ``on_epoch_start(epoch: int)``, ``configure_scheduler(optimizer, cfg, steps_per_epoch)`` (a per-step LR
    scheduler replacing ``train.schedule``'s, e.g. a reference's own), and the attribute
    ``ddp_find_unused_parameters: bool``.
    """

    def training_step(self, batch: Any) -> dict[str, Any]:
        """One step's outputs: a ``"loss"`` tensor to minimise plus any scalars to log."""
        ...

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for images in [0, 1]."""
        ...

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        """The optimizer; the engine wraps it in the configured LR schedule."""
        ...


class Evaluator(Protocol):
    """Called by fit() every ``train.eval_every`` epochs; keeps its own state (e.g. the best epoch)."""

    def evaluate(self, method: Any, epoch: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
