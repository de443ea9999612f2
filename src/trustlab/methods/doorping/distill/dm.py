"""DM: distribution matching. Zhao & Bilen, "Dataset Condensation with Distribution Matching", WACV 2023
(https://arxiv.org/abs/2110.04181).

One iteration: a freshly initialised network (never trained) embeds ``batch_real`` real images and the
``ipc`` synthetic images of every class (:func:`embed`: the convolutional features, as DM's
``net.embed``; for ``small_cnn`` with a hidden layer that is the flattened conv map, not the hidden
units; other models: their penultimate features);
the loss is ``sum_c || mean(emb_real_c) - mean(emb_syn_c) ||^2``; one SGD step on the images. Real and
synthetic images of a class get the same DSA transformation (DM's default). The attack hook sees the
iteration's embedding network (DM has no inner training; DOORPING's "after each network update" maps
to "after each new network").

Defaults (reference DM): lr_img 1.0 on normalised images (0.25 here in [0, 1] pixels), momentum 0.5,
batch_real 256, init from real images, DSA on, 20000 iterations (1000 by default here).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.distill.base import DISTILLERS, Distiller, NetHook, RealData


def embed(net: nn.Module, x: Tensor) -> Tensor:
    """DM's embedding of images ``x`` (N, C, H, W) in [0, 1]: the flattened output of the conv body for
    ``small_cnn`` (the reference's ``ConvNet.embed``: features before any hidden Linear), else the
    model's penultimate features."""
    body = getattr(net, "body", None)
    if isinstance(body, nn.Module) and hasattr(net, "normalize"):
        return body(net.normalize(x)).flatten(1)
    return net(x, return_features=True)[1]


@DISTILLERS.register("dm", help="distribution matching (Zhao & Bilen WACV 2023)")
class DM(Distiller):
    name = "dm"

    def __init__(self, *args, augment: SiameseAugment | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.augment = augment

    def step(self, it: int, syn: Tensor, real: RealData, on_network: NetHook | None) -> dict[str, float]:
        cfg = self.cfg
        net = self.make_net().to(self.device)
        net.train()
        for p in net.parameters():
            p.requires_grad_(False)
        reals, syns = [], []
        for c in range(self.num_classes):
            xr, xs = real.sample(c, cfg.batch_real), syn[self.class_slice(c)]
            if self.augment is not None:
                seed = int(torch.randint(2**31 - 1, (1,), generator=real.generator))
                xr, xs = self.augment(xr, seed), self.augment(xs, seed)
            reals.append(xr)
            syns.append(xs)
        # instance norm works per image, so one batched forward equals per-class forwards
        with torch.no_grad():
            f_real = embed(net, torch.cat(reals))
        f_syn = embed(net, torch.cat(syns))
        loss = syn.new_zeros(())
        start_r = 0
        for c in range(self.num_classes):
            n = len(reals[c])
            mu_real = f_real[start_r : start_r + n].mean(0)
            mu_syn = f_syn[self.class_slice(c)].mean(0)
            loss = loss + ((mu_real - mu_syn) ** 2).sum()
            start_r += n
        self.optimizer.zero_grad()  # type: ignore[union-attr]
        loss.backward()
        self.optimizer.step()  # type: ignore[union-attr]
        if on_network is not None:
            for p in net.parameters():
                p.requires_grad_(True)
            on_network(net)
        return {"match_loss": float(loss.detach()) / self.num_classes}
