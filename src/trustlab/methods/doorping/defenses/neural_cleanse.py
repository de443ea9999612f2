"""Neural Cleanse: Wang et al., "Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural
Networks", IEEE S&P 2019 (https://people.cs.uchicago.edu/~ravenben/publications/pdf/backdoor-sp19.pdf).

Detection: for every class t, search the smallest trigger (mask m (1, H, W), pattern p (C, H, W), both
through a sigmoid) that sends the defender's clean images (the distilled set) to t:
``min CE(f((1-m) x + m p), t) + lam * |m|_1`` (Adam). The anomaly index of class t is
``(median(L1) - L1_t) / (1.4826 * MAD)``; a class with index > ``threshold`` (2) is flagged.
Mitigation: unlearning, i.e. fine-tune the model on the distilled set with the reversed trigger of the
flagged class stamped on ``unlearn_fraction`` of the images, keeping their true labels.
Simplification: ``lam`` is fixed instead of NC's schedule. Reported: ``detected`` (flagged class ==
attack target), ``flagged_class`` (-1 for none), ``anomaly_index_target``, ``l1_target``, ``l1_median``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.methods.doorping.config import NeuralCleanseConfig
from trustlab.methods.doorping.defenses.base import DefenseContext, register_defense


def reverse_trigger(model: nn.Module, x: Tensor, target: int, steps: int, lr: float, lam: float,
                    generator: torch.Generator, batch: int = 32) -> tuple[Tensor, Tensor]:
    """The smallest (mask (1, H, W), pattern (C, H, W)) that sends ``x`` to ``target``."""
    _, c, h, w = x.shape
    device = next(model.parameters()).device
    m_raw = (torch.randn(1, h, w, generator=generator) * 0.1 - 2.0).to(device).requires_grad_(True)
    p_raw = (torch.randn(c, h, w, generator=generator) * 0.1).to(device).requires_grad_(True)
    opt = torch.optim.Adam([m_raw, p_raw], lr=lr, betas=(0.5, 0.9))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    y = torch.full((min(batch, len(x)),), target, device=device)
    try:
        for _ in range(int(steps)):
            idx = torch.randperm(len(x), generator=generator)[:batch]
            xb = x[idx].to(device)
            m, pat = torch.sigmoid(m_raw), torch.sigmoid(p_raw)
            loss = F.cross_entropy(model((1 - m) * xb + m * pat), y[: len(xb)]) + lam * m.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return torch.sigmoid(m_raw).detach().cpu(), torch.sigmoid(p_raw).detach().cpu()


def anomaly_indices(l1: Tensor) -> Tensor:
    """NC's anomaly index per class: (median - L1) / (1.4826 * MAD); only small norms are suspicious."""
    med = l1.median()
    mad = 1.4826 * (l1 - med).abs().median()
    return (med - l1) / (mad + 1e-12)


@register_defense("neural-cleanse", "neural_cleanse", "Neural Cleanse: reverse-engineer a trigger per class, "
                  "flag by anomaly index, unlearn (S&P 2019)")
def neural_cleanse(ctx: DefenseContext, cfg: NeuralCleanseConfig) -> dict[str, float]:
    gen = torch.Generator().manual_seed(ctx.seed)
    k = int(ctx.syn_y.max()) + 1
    reversed_ = [reverse_trigger(ctx.model, ctx.syn_x, t, cfg.steps, cfg.lr, cfg.lam, gen) for t in range(k)]
    l1 = torch.stack([m.sum() for m, _ in reversed_])
    index = anomaly_indices(l1)
    flagged = int(index.argmax()) if float(index.max()) > cfg.threshold else -1
    out = {
        "detected": float(flagged == ctx.trigger.target),
        "flagged_class": float(flagged),
        "anomaly_index_target": float(index[ctx.trigger.target]),
        "anomaly_index_max": float(index.max()),
        "l1_target": float(l1[ctx.trigger.target]),
        "l1_median": float(l1.median()),
    }
    if flagged < 0:
        return {**out, **ctx.measure(ctx.model)}
    mask, pattern = reversed_[flagged]
    x, y = ctx.syn_x.clone(), ctx.syn_y.clone()
    n = max(1, int(round(cfg.unlearn_fraction * len(x))))
    idx = torch.randperm(len(x), generator=gen)[:n]
    x[idx] = (1 - mask) * x[idx] + mask * pattern  # true labels kept: the model unlearns the trigger
    model = ctx.finetune(ctx.copy_model(), x, y, cfg.unlearn_epochs)
    return {**out, **ctx.measure(model)}
