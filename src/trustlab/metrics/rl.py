"""Reinforcement-learning metrics: learning curves from episode logs and the area under them.

Pure functions on arrays (no environment, no torch). A learning curve is the mean true episode return
of the episodes that *ended* in each window of environment steps; its normalised area (the mean of the
curve over the grid, i.e. trapezoid area / span) is the sample-efficiency score that the PeerPL claims
compare ("area under the learning curve", AUC, in units of return).

    >>> grid = step_grid(1000, 4)            # [250, 500, 750, 1000]
    >>> curve = learning_curve([100, 300, 900], [10.0, 20.0, 40.0], grid)
    >>> curve.tolist()
    [10.0, 20.0, 20.0, 40.0]
    >>> area_under_curve(grid, curve)        # (15+20+30)*250 / 750
    21.666666666666668
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def step_grid(total_steps: int, points: int) -> np.ndarray:
    """``points`` evenly spaced step counts ending at ``total_steps`` (the right edges of the windows)."""
    if total_steps < 1 or points < 1:
        raise ValueError(f"need total_steps >= 1 and points >= 1, got {total_steps}, {points}")
    return np.linspace(total_steps / points, total_steps, points)


def learning_curve(end_steps: Sequence[float], returns: Sequence[float], grid: Sequence[float]) -> np.ndarray:
    """Mean return of the episodes ending in each window ``(grid[i-1], grid[i]]`` (the first window starts
    at 0). A window where no episode ended carries the previous value forward; windows before the first
    finished episode get the first episode's return (an agent that has not finished an episode yet is
    scored by the first one it finishes, not by zero). NaN everywhere when no episode finished."""
    steps = np.asarray(end_steps, dtype=float)
    rets = np.asarray(returns, dtype=float)
    grid = np.asarray(grid, dtype=float)
    if steps.shape != rets.shape:
        raise ValueError(f"end_steps and returns differ in length: {steps.shape} vs {rets.shape}")
    out = np.full(len(grid), np.nan)
    if len(steps) == 0:
        return out
    order = np.argsort(steps, kind="stable")
    steps, rets = steps[order], rets[order]
    lo = -np.inf
    prev = float(rets[0])
    for i, hi in enumerate(grid):
        inside = (steps > lo) & (steps <= hi)
        if inside.any():
            prev = float(rets[inside].mean())
        out[i] = prev
        lo = hi
    return out


def area_under_curve(grid: Sequence[float], curve: Sequence[float]) -> float:
    """Trapezoid area of ``curve`` over ``grid`` divided by the span: the curve's mean height (return).
    A single point returns that point."""
    x = np.asarray(grid, dtype=float)
    y = np.asarray(curve, dtype=float)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("grid and curve must be non-empty and of equal length")
    if len(x) == 1:
        return float(y[0])
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def mean_band(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over seeds (rows) of equally long curves (the seed band of a figure)."""
    arr = np.asarray(curves, dtype=float)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError("curves must be a non-empty list of equally long sequences")
    std = arr.std(axis=0, ddof=1) if arr.shape[0] > 1 else np.zeros(arr.shape[1])
    return arr.mean(axis=0), std
