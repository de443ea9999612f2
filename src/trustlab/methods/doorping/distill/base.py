"""The distillation loop shared by DC, DSA, DM and DD, and the real-data sampler they match against.

A :class:`Distiller` owns the optimizer of the synthetic images and implements ``step(it, syn, real,
on_network)``: one outer iteration. ``on_network(net)`` is the attack hook: it is called with every
network the method has just updated (DC/DSA: after each inner-loop training; DM: the iteration's random
embedding network; DD: the network at the end of the unrolled training), which is where DOORPING
re-optimises its trigger and re-stamps the poisoned real images (``real.images`` is edited in place).

:func:`run_distillation` drives the iterations, clamps the synthetic images to [0, 1] after every step
(a deviation: the reference leaves them unbounded in normalised units), logs, and saves/loads a
resumable checkpoint.

Shapes: real images (N, C, H, W) float in [0, 1]; synthetic images (K * ipc, C, H, W), labels
``[0]*ipc + [1]*ipc + ...``.
"""

from __future__ import annotations

import abc
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from trustlab.errors import ConfigError
from trustlab.methods.doorping.config import DistillConfig
from trustlab.registry import Registry

NetHook = Callable[[nn.Module], None]
DISTILLERS: Registry[Any] = Registry("distiller")


class RealData:
    """The (possibly poisoned) training set on the device, with per-class index lists for sampling."""

    def __init__(self, images: Tensor, labels: Tensor, num_classes: int, generator: torch.Generator) -> None:
        self.images = images
        self.labels = labels
        self.num_classes = num_classes
        self.generator = generator
        self.by_class = [torch.nonzero(labels == c).flatten() for c in range(num_classes)]

    def sample(self, c: int, n: int) -> Tensor:
        """Up to ``n`` random images of class ``c`` (without replacement)."""
        idx = self.by_class[c]
        pick = torch.randperm(len(idx), generator=self.generator)[:n].to(idx.device)
        return self.images[idx[pick]]

    def sample_any(self, n: int) -> tuple[Tensor, Tensor]:
        pick = torch.randperm(len(self.labels), generator=self.generator)[:n].to(self.labels.device)
        return self.images[pick], self.labels[pick]


def check_ipc(ipc: int, labels: Tensor, num_classes: int) -> None:
    """``ipc`` must be >= 1 and at most the number of real images of the smallest class."""
    counts = torch.bincount(labels.cpu(), minlength=num_classes)
    smallest = int(counts.min())
    if ipc < 1 or ipc > smallest:
        c = int(counts.argmin())
        raise ConfigError(
            f"distill.ipc {ipc} must be between 1 and the {smallest} real images of class {c}; "
            f"lower distill.ipc or use more data (data.max_per_domain)"
        )


class Distiller(abc.ABC):
    """Base class: holds the config, a network factory and the image optimizer."""

    name = "base"

    def __init__(self, cfg: DistillConfig, make_net: Callable[[], nn.Module], num_classes: int,
                 device: torch.device) -> None:
        self.cfg = cfg
        self.make_net = make_net
        self.num_classes = num_classes
        self.device = device
        self.optimizer: torch.optim.Optimizer | None = None

    def setup(self, syn: Tensor) -> None:
        """Create the optimizer of ``syn`` (a leaf tensor with requires_grad)."""
        self.optimizer = torch.optim.SGD([syn], lr=self.cfg.lr_img, momentum=self.cfg.momentum_img)

    @abc.abstractmethod
    def step(self, it: int, syn: Tensor, real: RealData, on_network: NetHook | None) -> dict[str, float]:
        """One outer iteration: update ``syn`` in place, call ``on_network`` on each updated net; metrics."""

    def extra_state(self) -> dict[str, Tensor]:
        """Learned tensors besides the images (DD's step sizes), saved with the distilled set."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict() if self.optimizer else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])

    def class_slice(self, c: int) -> slice:
        return slice(c * self.cfg.ipc, (c + 1) * self.cfg.ipc)


def init_synthetic(cfg: DistillConfig, real: RealData, shape: tuple[int, int, int]) -> tuple[Tensor, Tensor]:
    """Images ``(K*ipc, C, H, W)`` from noise (uniform [0, 1]) or random real images, and labels."""
    k = real.num_classes
    if cfg.init == "real":
        images = torch.cat([real.sample(c, cfg.ipc) for c in range(k)]).detach().clone()
    else:
        images = torch.rand((k * cfg.ipc, *shape), generator=real.generator).to(real.images.device)
    labels = torch.arange(k, device=real.images.device).repeat_interleave(cfg.ipc)
    return images, labels


@dataclass
class DistillResult:
    images: Tensor
    labels: Tensor
    extra: dict[str, Tensor]
    seconds: float
    seconds_per_iteration: float
    iterations: int
    history: list[dict[str, float]] = field(default_factory=list)


def run_distillation(
    distiller: Distiller,
    real: RealData,
    *,
    on_network: NetHook | None = None,
    log: Callable[[dict[str, float]], None] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    resume_state: dict[str, Any] | None = None,
    extra_state: Callable[[], dict[str, Any]] | None = None,
    load_extra: Callable[[dict[str, Any]], None] | None = None,
) -> DistillResult:
    """Run ``cfg.iterations`` outer iterations of ``distiller`` on ``real``.

    ``checkpoint(state)`` is called every ``cfg.checkpoint_every`` iterations with everything needed to
    resume (images, optimizer, iteration, RNG, and ``extra_state()`` such as the DOORPING trigger);
    ``resume_state`` is such a state to continue from (``load_extra`` restores the extra part).
    """
    cfg = distiller.cfg
    shape = tuple(real.images.shape[1:])
    images, labels = init_synthetic(cfg, real, shape)  # type: ignore[arg-type]
    syn = images.requires_grad_(True)
    distiller.setup(syn)
    start = 0
    if resume_state is not None:
        with torch.no_grad():
            syn.copy_(resume_state["images"].to(syn.device))
        distiller.load_state_dict(resume_state["distiller"])
        real.generator.set_state(resume_state["generator"])
        torch.set_rng_state(resume_state["torch_rng"])
        start = int(resume_state["iteration"])
        if load_extra is not None:
            load_extra(resume_state.get("extra", {}))
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for it in range(start, cfg.iterations):
        out = distiller.step(it, syn, real, on_network)
        if cfg.clamp:
            with torch.no_grad():
                syn.clamp_(0.0, 1.0)
        if log is not None and ((it + 1) % max(cfg.log_every, 1) == 0 or it + 1 == cfg.iterations):
            row = {"step": it + 1, **{f"distill/{k}": v for k, v in out.items()}}
            history.append(row)
            log(row)
        if checkpoint is not None and cfg.checkpoint_every and (it + 1) % cfg.checkpoint_every == 0:
            # deep copies: on CPU ``.cpu()`` and optimizer states alias the live tensors
            checkpoint(copy.deepcopy({
                "images": syn.detach().cpu(), "distiller": distiller.state_dict(), "iteration": it + 1,
                "generator": real.generator.get_state(), "torch_rng": torch.get_rng_state(),
                "extra": extra_state() if extra_state is not None else {},
            }))
    seconds = time.perf_counter() - t0
    done = cfg.iterations - start
    return DistillResult(
        syn.detach().clone(), labels, {k: v.detach().cpu() for k, v in distiller.extra_state().items()},
        seconds, seconds / max(done, 1), cfg.iterations, history,
    )
