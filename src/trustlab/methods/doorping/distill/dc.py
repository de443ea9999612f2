"""DC (gradient matching) and DSA (DC + differentiable siamese augmentation).

- DC: Zhao, Mopuri & Bilen, "Dataset Condensation with Gradient Matching", ICLR 2021
  (https://arxiv.org/abs/2006.05929).
- DSA: Zhao & Bilen, "Dataset Condensation with Differentiable Siamese Augmentation", ICML 2021
  (https://arxiv.org/abs/2102.08259).

One iteration: a freshly initialised network; ``outer_loop`` rounds of (1) for every class c, the
gradient of the CE loss on ``batch_real`` real images of c and on the ``ipc`` synthetic images of c,
matched with DC's layer-wise distance (sum over output neurons of 1 - cos; 1-D parameters, i.e. biases
and norm scales, are skipped as in DC), one SGD step on the synthetic images; (2) except after the
last round, ``inner_loop`` epochs of SGD (``lr_net``) on the synthetic set, then the attack hook.
DSA augments the real and synthetic batch of a class with the same random transformation.

Defaults (reference): ipc 10 -> outer 10 / inner 50, lr_img 0.1 on normalised images (0.025 here in
[0, 1] pixels), momentum 0.5, batch_real 256, noise init, 1000 iterations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.distill.base import DISTILLERS, Distiller, NetHook, RealData


def match_distance(g_syn: list[Tensor], g_real: list[Tensor]) -> Tensor:
    """DC's gradient distance: per layer, sum over output rows of (1 - cosine); 1-D tensors are skipped."""
    total = g_syn[0].new_zeros(())
    for gs, gr in zip(g_syn, g_real):
        if gs.dim() == 1:
            continue
        gs, gr = gs.flatten(1), gr.flatten(1)
        cos = (gs * gr).sum(-1) / (gs.norm(dim=-1) * gr.norm(dim=-1) + 1e-6)
        total = total + (1 - cos).sum()
    return total


@DISTILLERS.register("dc", help="gradient matching (Zhao et al. ICLR 2021)")
class DC(Distiller):
    """Gradient matching; ``augment`` turns it into DSA."""

    name = "dc"

    def __init__(self, *args, augment: SiameseAugment | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.augment = augment
        # inner-loop training augments every image independently (DSA's non-siamese mode)
        self.train_augment = SiameseAugment("_".join(augment.ops), siamese=False) if augment else None

    def step(self, it: int, syn: Tensor, real: RealData, on_network: NetHook | None) -> dict[str, float]:
        cfg = self.cfg
        net = self.make_net().to(self.device)
        net.train()
        params = [p for p in net.parameters() if p.requires_grad]
        opt_net = torch.optim.SGD(params, lr=cfg.lr_net)
        labels = torch.arange(self.num_classes, device=self.device).repeat_interleave(cfg.ipc)
        total = 0.0
        outer = int(cfg.outer_loop or 1)
        for ol in range(outer):
            loss = syn.new_zeros(())
            for c in range(self.num_classes):
                xr = real.sample(c, cfg.batch_real)
                xs = syn[self.class_slice(c)]
                if self.augment is not None:
                    seed = int(torch.randint(2**31 - 1, (1,), generator=real.generator))
                    xr, xs = self.augment(xr, seed), self.augment(xs, seed)
                yr = torch.full((len(xr),), c, device=self.device)
                g_real = torch.autograd.grad(F.cross_entropy(net(xr), yr), params)
                g_real = [g.detach() for g in g_real]
                ys = torch.full((len(xs),), c, device=self.device)
                g_syn = torch.autograd.grad(F.cross_entropy(net(xs), ys), params, create_graph=True)
                loss = loss + match_distance(list(g_syn), g_real)
            self.optimizer.zero_grad()  # type: ignore[union-attr]
            loss.backward()
            self.optimizer.step()  # type: ignore[union-attr]
            if cfg.clamp:
                with torch.no_grad():
                    syn.clamp_(0.0, 1.0)
            total += float(loss.detach())
            if ol == outer - 1:
                break
            x_train = syn.detach()
            for _ in range(int(cfg.inner_loop or 1)):
                x = x_train
                if self.train_augment is not None:
                    x = self.train_augment(x, int(torch.randint(2**31 - 1, (1,), generator=real.generator)))
                opt_net.zero_grad()
                F.cross_entropy(net(x), labels).backward()
                opt_net.step()
            if on_network is not None:
                on_network(net)
        return {"match_loss": total / (outer * self.num_classes)}


@DISTILLERS.register("dsa", help="DC with differentiable siamese augmentation (Zhao & Bilen ICML 2021)")
class DSA(DC):
    name = "dsa"
