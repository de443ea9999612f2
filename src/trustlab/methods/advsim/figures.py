"""Bird's-eye-view figures: roads, boxes, LiDAR points, detections, logged / executed / planned SDV paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trustlab.methods.advsim.world import Scenario, box_corners

SDV_C, ACT_C, ADV_C, DET_C = "#1f77b4", "#555555", "#d62728", "#2ca02c"


def _road(ax: Any, sc: Scenario) -> None:
    for r in sc.roads:
        s = np.linspace(0, r.length, 120)
        for d, style in [(-r.half_width, "-"), (r.half_width, "-")] + [
                (r.lane_offset(i) + r.lane_width / 2, "--") for i in range(r.lanes - 1)]:
            p = r.pose(s, np.full_like(s, d))
            ax.plot(p[:, 0], p[:, 1], style, color="#999999", linewidth=0.6 if style == "--" else 1.0)


def _box(ax: Any, box: np.ndarray, color: str, fill: bool = True, style: str = "-", label: str | None = None) -> None:
    from matplotlib.patches import Polygon

    c = box_corners(box[:5])
    ax.add_patch(Polygon(c, closed=True, facecolor=color if fill else "none", edgecolor=color, alpha=0.35 if fill
                         else 1.0, linestyle=style, linewidth=1.0, label=label))
    front = (c[0] + c[3]) / 2  # heading tick
    ax.plot([box[0], front[0]], [box[1], front[1]], color=color, linewidth=0.8)


def bev_panel(ax: Any, sc: Scenario, t: int, sdv: np.ndarray, actors: np.ndarray, *, points: np.ndarray | None = None,
              hits: np.ndarray | None = None, plan: np.ndarray | None = None, dets: np.ndarray | None = None,
              title: str = "", adv: int | None = None, view: float = 38.0) -> None:
    """One BEV frame at step ``t``: the SDV's executed path up to ``t`` and its log, every actor's box and its
    (perturbed) path, optionally the LiDAR points, the planned path and the detections."""
    _road(ax, sc)
    log = sc.sdv_log()
    ax.plot(log[:, 0], log[:, 1], ":", color=SDV_C, linewidth=1.0, label="SDV log")
    ax.plot(sdv[: t + 1, 0], sdv[: t + 1, 1], "-", color=SDV_C, linewidth=1.5, label="SDV driven")
    if points is not None and len(points):
        obj = hits >= 0 if hits is not None else np.ones(len(points), bool)
        ax.scatter(points[~obj, 0], points[~obj, 1], s=0.3, c="#bbbbbb", linewidths=0)
        ax.scatter(points[obj, 0], points[obj, 1], s=1.5, c="#000000", linewidths=0, label="LiDAR (objects)")
    for i, a in enumerate(sc.actors):
        col = ADV_C if i == adv else ACT_C
        ax.plot(actors[i, :, 0], actors[i, :, 1], "-", color=col, linewidth=0.6, alpha=0.6)
        _box(ax, a.box(actors[i, min(t, actors.shape[1] - 1)]), col, label="adversary" if i == adv else None)
    _box(ax, sc.sdv.box(sdv[min(t, len(sdv) - 1)]), SDV_C, label="SDV")
    if plan is not None:
        ax.plot(plan[:, 0], plan[:, 1], "-", color="#ff7f0e", linewidth=1.5, label="plan")
    if dets is not None:
        for k, d in enumerate(dets):
            _box(ax, d[:5], DET_C, fill=False, style="--", label="detection" if k == 0 else None)
    c = sdv[min(t, len(sdv) - 1)]
    ax.set_xlim(c[0] - view * 0.45, c[0] + view * 1.05)
    ax.set_ylim(c[1] - view * 0.75, c[1] + view * 0.75)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)


def scenario_grid(scs: list[Scenario], out: Path) -> Path:
    """One panel per scenario at t = 0 with a LiDAR sweep from the SDV and every logged path."""
    from trustlab.methods.advsim.lidar import Lidar
    from trustlab.report.figures import new_figure, save_png

    lidar = Lidar()
    cols = min(3, len(scs))
    rows = -(-len(scs) // cols)
    fig = new_figure(4.2 * cols, 3.4 * rows)
    for i, sc in enumerate(scs):
        ax = fig.add_subplot(rows, cols, i + 1)
        acts = sc.actor_logs()
        b3 = np.array([[*acts[j, 0, :3], *a.size] for j, a in enumerate(sc.actors)]).reshape(-1, 6)
        pts, hit = lidar.cast(sc.sdv.state0[:2], b3).points()
        bev_panel(ax, sc, 0, sc.sdv_log(), acts, points=pts, hits=hit, title=f"{sc.name} ({sc.kind})",
                  adv=sc.adversary, view=45)
        if i == 0:
            ax.legend(fontsize=5, loc="lower left")
    fig.suptitle("advsim scenarios at t=0: LiDAR sweep (black = object returns), logs (lines), adversary in red",
                 fontsize=9)
    return save_png(fig, out)


def _key_step(r: Any) -> int:
    return max(0, (r.collision_step if r.collision else len(r.plans)) - 1)


def attack_figure(sc: Scenario, stack: Any, base: Any, adv: Any, out: Path, title: str = "") -> Path:
    """Before / after the attack at the step closest to failure: points, boxes, detections, planned path."""
    from trustlab.report.figures import new_figure, save_png

    fig = new_figure(10, 4.2)
    for j, (name, r) in enumerate([("original", base), ("adversarial", adv)]):
        ax = fig.add_subplot(1, 2, j + 1)
        t = _key_step(r)
        pts = hits = None
        if stack.cfg.perception == "lidar":
            b3 = np.array([[*r.actors[i, t, :3], *a.size] for i, a in enumerate(sc.actors)]).reshape(-1, 6)
            pts, hits = stack.lidar.cast(r.sdv[t, :2], b3).points()
        state = "COLLISION" if r.collision else ("near-miss" if r.near_miss else "safe")
        bev_panel(ax, sc, t, r.sdv, r.actors, points=pts, hits=hits, plan=r.plans[t] if r.plans else None,
                  dets=r.detections[t] if r.detections else None, adv=sc.adversary,
                  title=f"{name}: t={t * sc.dt:.1f}s, {state}, min gap {r.min_gap:.2f} m")
        if j == 0:
            ax.legend(fontsize=5, loc="lower left")
    fig.suptitle(title or f"{sc.name}: before / after the attack ({stack.cfg.perception} stack)", fontsize=9)
    return save_png(fig, out)


def frame_strip(sc: Scenario, stack: Any, r: Any, out: Path, frames: int = 5) -> Path:
    """A strip of closed-loop frames of one rollout (sweep, detections, plan at each chosen step)."""
    from trustlab.report.figures import new_figure, save_png

    n = len(r.plans)
    steps = sorted(set(np.linspace(0, n - 1, min(frames, n)).round().astype(int).tolist()))
    fig = new_figure(3.2 * len(steps), 3.4)
    for j, t in enumerate(steps):
        ax = fig.add_subplot(1, len(steps), j + 1)
        pts = hits = None
        if stack.cfg.perception == "lidar":
            b3 = np.array([[*r.actors[i, t, :3], *a.size] for i, a in enumerate(sc.actors)]).reshape(-1, 6)
            pts, hits = stack.lidar.cast(r.sdv[t, :2], b3).points()
        bev_panel(ax, sc, t, r.sdv, r.actors, points=pts, hits=hits, plan=r.plans[t], dets=r.detections[t],
                  adv=sc.adversary, title=f"t={t * sc.dt:.1f}s", view=30)
    fig.suptitle(f"{sc.name}: closed-loop rollout (orange = plan, green dashed = detections)", fontsize=9)
    return save_png(fig, out)
