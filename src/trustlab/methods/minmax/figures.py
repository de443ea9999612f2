"""PNG figures of the min-max attacks: domain weights over iterations and adversarial example grids.

Drawn with matplotlib's object-oriented API and written atomically by
:func:`trustlab.report.figures.save_png` (no pyplot state, no window).

    weights_over_iterations(res.w_history.numpy(), res.domains, "w.png", loss_history=...)
    example_grid({"clean": x[:8], "min-max": x_adv[:8]}, "examples.png")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trustlab.report.figures import DPI, save_png


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def weights_over_iterations(
    w_history: np.ndarray,
    domains: Sequence[str],
    out: str | Path,
    title: str = "domain weights w over APGDA iterations",
    loss_history: np.ndarray | None = None,
) -> Path | None:
    """Line per domain of the batch-mean weight (steps+1, K); a second panel with the mean loss F_k."""
    w = np.asarray(w_history, dtype=float)
    if w.ndim != 2 or not w.size:
        return None
    panels = 2 if loss_history is not None else 1
    fig = _figure(4.6 * panels, 3.3)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    its = np.arange(len(w))
    for k, name in enumerate(domains):
        axes[0].plot(its, w[:, k], linewidth=1.6, label=str(name), color=f"C{k % 10}")
    axes[0].axhline(1.0 / w.shape[1], color="0.5", linestyle=":", linewidth=1, label="1/K")
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("mean weight w_k")
    axes[0].set_title(title, fontsize=10)
    axes[0].legend(fontsize=7, frameon=False)
    if loss_history is not None:
        f = np.asarray(loss_history, dtype=float)
        for k, name in enumerate(domains):
            axes[1].plot(np.arange(len(f)), f[:, k], linewidth=1.4, label=str(name), color=f"C{k % 10}")
        axes[1].set_xlabel("iteration")
        axes[1].set_ylabel("mean attack loss F_k")
        axes[1].set_title("attack loss per domain", fontsize=10)
    for ax in axes:
        ax.grid(True, alpha=0.3, linewidth=0.6)
    return save_png(fig, out)


def _to_hwc(img: torch.Tensor) -> np.ndarray:
    a = img.detach().cpu().float().numpy()
    return a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))


def example_grid(
    rows: Mapping[str, torch.Tensor],
    out: str | Path,
    title: str = "adversarial examples",
    captions: Mapping[str, Sequence[str]] | None = None,
) -> Path | None:
    """One row per entry of ``rows`` ((n, C, H, W) in [0, 1], or perturbations in [-1, 1] shown
    rescaled around grey), n columns; optional per-image captions (e.g. predicted classes)."""
    rows = {k: v for k, v in rows.items() if len(v)}
    if not rows:
        return None
    n = max(len(v) for v in rows.values())
    fig = _figure(1.05 * n + 1.0, 1.15 * len(rows) + 0.4)
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (label, imgs) in enumerate(rows.items()):
        signed = float(imgs.min()) < 0
        for c in range(n):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(imgs):
                ax.axis("off")
                continue
            img = imgs[c]
            if signed:  # a perturbation: 0 -> grey, scaled by the largest magnitude in the row
                img = 0.5 + 0.5 * img / max(float(imgs.abs().max()), 1e-8)
            a = _to_hwc(img.clamp(0, 1))
            ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if captions and label in captions and c < len(captions[label]):
                ax.set_xlabel(captions[label][c], fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_png(fig, out)
