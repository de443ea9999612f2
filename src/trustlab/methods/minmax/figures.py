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

from trustlab.report.figures import new_figure, save_png


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
    fig = new_figure(4.6 * panels, 3.3)
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


def _tile(img: torch.Tensor, signed_scale: float | None) -> np.ndarray:
    """One image (C, H, W) as (H, W, 3) in [0, 1]; a perturbation (``signed_scale``) maps 0 to grey."""
    if signed_scale is not None:
        img = 0.5 + 0.5 * img / max(signed_scale, 1e-8)
    a = _to_hwc(img.clamp(0, 1))
    return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a


def example_grid(
    rows: Mapping[str, torch.Tensor],
    out: str | Path,
    title: str = "adversarial examples",
    captions: Mapping[str, Sequence[str]] | None = None,
) -> Path | None:
    """One row per entry of ``rows`` ((n, C, H, W) in [0, 1], or perturbations in [-1, 1] shown
    rescaled around grey), n columns; optional per-image captions (e.g. predicted classes).

    The images are tiled into one array and drawn with a single ``imshow`` (one subplot per image cost
    seconds per figure on a busy CPU)."""
    rows = {k: v for k, v in rows.items() if len(v)}
    if not rows:
        return None
    n = max(len(v) for v in rows.values())
    first = next(iter(rows.values()))
    h, w = first.shape[-2:]
    pad, cap = 2, (12 if captions else 0)  # pixels between tiles; room for a caption under each row
    cell_h, cell_w = h + pad + cap, w + pad
    canvas = np.ones((len(rows) * cell_h, n * cell_w, 3))
    for r, imgs in enumerate(rows.values()):
        scale = float(imgs.abs().max()) if float(imgs.min()) < 0 else None
        for c in range(min(n, len(imgs))):
            canvas[r * cell_h : r * cell_h + h, c * cell_w : c * cell_w + w] = _tile(imgs[c], scale)
    fig = new_figure(0.75 * n + 1.4, 0.8 * len(rows) * cell_h / max(h, 1) + 0.5)
    ax = fig.subplots()
    ax.imshow(canvas, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * cell_h + h / 2 for r in range(len(rows))], list(rows), fontsize=8)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    for r, label in enumerate(rows):
        for c, text in enumerate((captions or {}).get(label, [])[:n]):
            ax.text(c * cell_w + w / 2, r * cell_h + h + 1, text, fontsize=5.5, ha="center", va="top")
    ax.set_title(title, fontsize=10)
    return save_png(fig, out)
