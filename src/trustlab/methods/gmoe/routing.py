"""Expert specialisation: which patch tokens each expert receives, and how much that depends on attributes.

For every patch token (the class token has no patch, so it is left out) of images from every domain we record
the top-1 expert (before capacity) chosen in each MoE layer, and label the token with:

* ``brightness``: mean luminance of its patch, 4 quantile bins;
* ``ink``: luminance standard deviation inside the patch (stroke edges vs flat background), 4 quantile bins;
* ``colour``: mean over pixels of the std across RGB channels (grey vs coloured), 4 quantile bins;
* ``position``: the patch index; ``class`` and ``domain`` of its image.

Statistic: mutual information I(expert; attribute) in nats (``sklearn.metrics.mutual_info_score``) against a
permutation control (the attribute shuffled over tokens, ``n_perm`` times: mean and max). Quantile bins are
computed over all tokens so every attribute has about the same entropy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from trustlab.data.base import DGData
from trustlab.models.moe import MoEFFN

VISUAL = ("brightness", "ink", "colour")
ATTRIBUTES = (*VISUAL, "position", "class", "domain")


def _patch_attributes(x: torch.Tensor, patch: int) -> dict[str, np.ndarray]:
    """(B, 3, H, W) in [0, 1] -> per patch token (B * P,) raw attribute values."""
    b = x.shape[0]
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    lp = nn.functional.unfold(luma, patch, stride=patch)  # (B, patch^2, P)
    cp = nn.functional.unfold(x.std(1, keepdim=True), patch, stride=patch)
    p = lp.shape[-1]
    return {
        "brightness": lp.mean(1).reshape(-1).numpy(),
        "ink": lp.std(1).reshape(-1).numpy(),
        "colour": cp.mean(1).reshape(-1).numpy(),
        "position": np.tile(np.arange(p), b),
    }


def _quantile_bins(v: np.ndarray, bins: int = 4) -> np.ndarray:
    edges = np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, v, side="right")


@torch.no_grad()
def collect_routing(model: nn.Module, data: DGData, per_domain: int = 200, split: str = "test",
                    batch_size: int = 200) -> dict[str, Any]:
    """Top-1 expert per patch token per MoE layer, and the tokens' attributes (numpy arrays, same length)."""
    layers = [m for m in model.modules() if isinstance(m, MoEFFN)]
    patch = model.vit.patch_embed.proj.kernel_size[0]
    device = next(model.parameters()).device
    model.eval()
    for m in layers:
        m.record_routing = True
    choices: list[list[np.ndarray]] = [[] for _ in layers]
    attrs: dict[str, list[np.ndarray]] = {a: [] for a in ATTRIBUTES}
    try:
        for di, dom in enumerate(data.domains):
            ds = data.get(dom, split)
            n = min(per_domain, len(ds))
            for s in range(0, n, batch_size):
                items = [ds[i] for i in range(s, min(n, s + batch_size))]
                x = torch.stack([it[0] for it in items])
                y = torch.as_tensor([int(it[1]) for it in items])
                model(x.to(device))
                for li, m in enumerate(layers):
                    c = m.last_choice.view(len(x), -1)[:, 1:]  # drop the class token
                    choices[li].append(c.reshape(-1).cpu().numpy())
                raw = _patch_attributes(x, patch)
                p = raw["position"].size // len(x)
                for k, v in raw.items():
                    attrs[k].append(v)
                attrs["class"].append(np.repeat(y.numpy(), p))
                attrs["domain"].append(np.full(len(x) * p, di))
    finally:
        for m in layers:
            m.record_routing = False
            m.last_choice = None
    out = {a: np.concatenate(v) for a, v in attrs.items()}
    for a in VISUAL:
        out[a] = _quantile_bins(out[a])
    out["experts"] = [np.concatenate(c) for c in choices]
    out["num_experts"] = [m.num_experts for m in layers]
    out["domains"] = list(data.domains)
    return out


def specialisation(routing: dict[str, Any], n_perm: int = 20, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per attribute: MI (nats, mean over MoE layers), the permutation control's mean and max, and their ratio."""
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for a in ATTRIBUTES:
        labels = routing[a]
        mi, perm = [], []
        for experts in routing["experts"]:
            mi.append(mutual_info_score(experts, labels))
            perm.append([mutual_info_score(experts, rng.permutation(labels)) for _ in range(n_perm)])
        p = np.asarray(perm)  # (layers, n_perm)
        m = float(np.mean(mi))
        out[a] = {"mi": m, "perm_mean": float(p.mean(0).mean()), "perm_max": float(p.mean(0).max()),
                  "ratio": m / max(float(p.mean()), 1e-12)}
    return out


def routing_figure(routing: dict[str, Any], out: Any, title: str = "") -> Any:
    """Per expert (rows) of the last MoE layer: share of its tokens per class, domain and attribute bin."""
    from trustlab.report.figures import new_figure, save_png

    experts, e = routing["experts"][-1], routing["num_experts"][-1]
    panels = [("class", [str(i) for i in range(int(routing["class"].max()) + 1)]),
              ("domain", routing["domains"]), ("brightness", ["dark", "", "", "bright"]),
              ("ink", ["flat", "", "", "edges"]), ("colour", ["grey", "", "", "colour"])]
    fig = new_figure(3.0 * len(panels), 0.45 * e + 1.6)
    axes = fig.subplots(1, len(panels))
    for ax, (attr, names) in zip(axes, panels):
        k = len(names)
        table = np.zeros((e, k))
        np.add.at(table, (experts, routing[attr]), 1)
        share = table / np.maximum(table.sum(1, keepdims=True), 1)
        # divide by the attribute's overall share: 1 = no preference
        base = table.sum(0) / max(table.sum(), 1)
        lift = share / np.maximum(base, 1e-9)
        im = ax.imshow(lift, cmap="RdBu_r", vmin=0, vmax=2, aspect="auto")
        ax.set_xticks(range(k), names, rotation=45 if attr == "domain" else 0, fontsize=7)
        ax.set_yticks(range(e), [f"E{i} ({int(table[i].sum())})" for i in range(e)], fontsize=7)
        ax.set_title(attr, fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label="share / overall share")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_png(fig, out)
