"""DD: dataset distillation by unrolled meta-gradients. Wang, Zhu, Torralba & Efros, "Dataset
Distillation", 2018 (https://arxiv.org/abs/1811.10959); the attack paper's DD victim.

One iteration: a freshly initialised network with weights w0; ``dd_steps`` unrolled SGD steps on the
whole synthetic set, ``w_{t+1} = w_t - lr_t * grad CE(f(syn; w_t), labels)`` (kept differentiable, one
learnable step size per step, initialised to ``dd_lr_net`` and stored as log), then the CE loss of
``f(.; w_T)`` on ``batch_real`` random real images is back-propagated to the synthetic images and the
step sizes (Adam, ``lr_img``, 0.01 by default). The attack hook sees the network at ``w_T`` (DOORPING
in DD updates the trigger after each unrolled forward).

Deviation: the reference evaluates DD images with their learned step schedule; here every distilled
set is evaluated the same way (fresh models trained by ``train``), so DD's CTA is a lower bound.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from trustlab.methods.doorping.distill.base import DISTILLERS, Distiller, NetHook, RealData


@DISTILLERS.register("dd", help="unrolled meta-gradient distillation (Wang et al. 2018)")
class DD(Distiller):
    name = "dd"

    def setup(self, syn: Tensor) -> None:
        steps = max(int(self.cfg.dd_steps), 1)
        self.log_lr = torch.full((steps,), math.log(self.cfg.dd_lr_net), device=syn.device, requires_grad=True)
        self.optimizer = torch.optim.Adam([syn, self.log_lr], lr=self.cfg.lr_img)

    def extra_state(self) -> dict[str, Tensor]:
        return {"step_sizes": self.log_lr.detach().exp()}

    def state_dict(self) -> dict[str, object]:
        return {**super().state_dict(), "log_lr": self.log_lr.detach().cpu()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.log_lr.copy_(state["log_lr"])  # type: ignore[arg-type]

    def step(self, it: int, syn: Tensor, real: RealData, on_network: NetHook | None) -> dict[str, float]:
        net = self.make_net().to(self.device)
        net.train()
        names = [n for n, p in net.named_parameters() if p.requires_grad]
        weights = {n: p.detach().requires_grad_(True) for n, p in net.named_parameters() if p.requires_grad}
        labels = torch.arange(self.num_classes, device=self.device).repeat_interleave(self.cfg.ipc)
        for t in range(len(self.log_lr)):
            loss = F.cross_entropy(functional_call(net, weights, (syn,)), labels)
            grads = torch.autograd.grad(loss, [weights[n] for n in names], create_graph=True,
                                        allow_unused=True)
            lr = self.log_lr[t].exp()
            weights = {n: (w - lr * g if g is not None else w) for (n, w), g in zip(weights.items(), grads)}
        xr, yr = real.sample_any(self.cfg.batch_real)
        outer = F.cross_entropy(functional_call(net, weights, (xr,)), yr)
        self.optimizer.zero_grad()  # type: ignore[union-attr]
        outer.backward()
        self.optimizer.step()  # type: ignore[union-attr]
        if on_network is not None:
            with torch.no_grad():
                net.load_state_dict({n: w.detach() for n, w in weights.items()}, strict=False)
            on_network(net)
        return {"outer_loss": float(outer.detach()), "step_size": float(self.log_lr.detach().exp().mean())}
