"""PeerPL figures: one run's learning curve, and curves of several methods with seed bands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trustlab.metrics.rl import mean_band
from trustlab.report.figures import new_figure, save_png, style


def save_curve(grid: Sequence[float], curve: Sequence[float], out: str | Path, title: str,
               episodes: Any = None, xlabel: str = "environment steps") -> Path | None:
    """The run's learning curve (true return per step window) over its raw episode returns."""
    if not len(grid) or np.isnan(np.asarray(curve, dtype=float)).all():
        return None
    fig = new_figure(5.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    if episodes is not None and episodes.steps:
        ax.scatter(episodes.steps, episodes.returns, s=4, alpha=0.3, color="grey", label="episodes")
    ax.plot(grid, curve, marker="o", ms=3, label="windowed mean")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("true return")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    style(ax)
    return save_png(fig, out)


def save_bands(grid: Sequence[float], curves: Mapping[str, Sequence[Sequence[float]]], out: str | Path,
               title: str, ylabel: str = "true return", xlabel: str = "environment steps") -> Path | None:
    """Mean curve of each method with a +-1 std band over seeds (one row per seed)."""
    fig = new_figure(5.5, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    for name, rows in curves.items():
        rows = [r for r in rows if len(r) == len(grid)]
        if not rows:
            continue
        m, s = mean_band(rows)
        ax.plot(grid, m, label=f"{name} (n={len(rows)})")
        ax.fill_between(grid, m - s, m + s, alpha=0.2)
        drawn = True
    if not drawn:
        return None
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    style(ax)
    return save_png(fig, out)
