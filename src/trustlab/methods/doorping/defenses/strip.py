"""STRIP: Gao et al., "STRIP: A Defence Against Trojan Attacks on Deep Neural Networks", ACSAC 2019
(https://arxiv.org/abs/1902.06531).

At test time every input x is superimposed (``0.5 x + 0.5 x'``) on ``num_blends`` clean images x' (the
defender's distilled set) and the mean prediction entropy is its score: a trigger dominates the blends,
so trojaned inputs have low entropy. The threshold is the ``frr`` quantile of the entropies of clean
calibration inputs (the first half of the test images); inputs below it are rejected.
Reported on the other half: ``auroc`` (triggered non-target vs clean), ``frr`` and ``far`` (share of
triggered inputs accepted), ``detected`` (auroc >= 0.75), and CTA/ASR before and after rejection on
that half (a rejected input counts as neither correct nor attacked).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trustlab.methods.doorping.config import StripConfig
from trustlab.methods.doorping.defenses.base import DefenseContext, register_defense

DETECTED_AUROC = 0.75


@torch.no_grad()
def strip_entropy(model: nn.Module, x: Tensor, pool: Tensor, num_blends: int, generator: torch.Generator,
                  batch: int = 64) -> Tensor:
    """Mean prediction entropy over ``num_blends`` blends of each image (N,) with random pool images."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        idx = torch.randint(len(pool), (len(xb), num_blends), generator=generator)
        blends = 0.5 * xb.unsqueeze(1) + 0.5 * pool[idx]
        probs = torch.softmax(model(blends.flatten(0, 1).to(device)), dim=1).cpu()
        ent = -(probs * probs.clamp_min(1e-12).log()).sum(1).view(len(xb), num_blends)
        out.append(ent.mean(1))
    return torch.cat(out)


@register_defense("strip", "strip", "STRIP: reject test inputs whose blends keep a low prediction entropy "
                  "(ACSAC 2019)")
def strip(ctx: DefenseContext, cfg: StripConfig) -> dict[str, float]:
    gen = torch.Generator().manual_seed(ctx.seed)
    n = min(cfg.test_images, len(ctx.y_test) // 2)
    calib, x_eval, y_eval = ctx.x_test[:n], ctx.x_test[n : 2 * n], ctx.y_test[n : 2 * n]
    pool = ctx.syn_x.cpu()
    threshold = float(torch.quantile(strip_entropy(ctx.model, calib, pool, cfg.num_blends, gen), cfg.frr))
    stamped = ctx.trigger.stamp_stored(x_eval)  # as an image file would carry it (clipped, 8-bit)
    h_clean = strip_entropy(ctx.model, x_eval, pool, cfg.num_blends, gen)
    h_trig = strip_entropy(ctx.model, stamped, pool, cfg.num_blends, gen)
    nontarget = y_eval != ctx.trigger.target
    scores = torch.cat([-h_clean, -h_trig[nontarget]]).numpy()
    truth = [0] * len(h_clean) + [1] * int(nontarget.sum())
    from sklearn.metrics import roc_auc_score  # lazy: scikit-learn costs seconds to import

    auroc = float(roc_auc_score(truth, scores))
    acc_clean, acc_trig = h_clean > threshold, h_trig > threshold
    from trustlab.tasks.classification import predict_labels

    pred_clean, pred_trig = predict_labels(ctx.model, x_eval), predict_labels(ctx.model, stamped)
    hit = acc_trig & (pred_trig == ctx.trigger.target)
    hit_before = pred_trig == ctx.trigger.target
    return {
        # STRIP is scored on its evaluation half, so "before" is re-measured on the same images; the ASR
        # counts non-target images only (the package's headline ASR)
        "cta_before": float((pred_clean == y_eval).float().mean()),
        "asr_before": float(hit_before[nontarget].float().mean()),
        "detected": float(auroc >= DETECTED_AUROC),
        "auroc": auroc,
        "threshold": threshold,
        "frr": float((~acc_clean).float().mean()),
        "far": float(acc_trig[nontarget].float().mean()),
        "cta_after": float((acc_clean & (pred_clean == y_eval)).float().mean()),
        "asr_after": float(hit[nontarget].float().mean()),
    }
