"""The scenario world: roads with lanes, the SDV and actors as 3D boxes, a kinematic bicycle model.

Coordinates are metres in a flat world frame (x east, y north, z up), yaw in radians from +x.

* :class:`Road`: a centreline polyline (straight or curved) with ``lanes`` lanes of ``lane_width``; the
  centreline is the middle of the road, lane ``i`` (0 = rightmost in the driving direction) is centred at
  lateral offset ``(i - (lanes - 1) / 2) * lane_width`` (positive = left). ``project`` maps points to
  Frenet (s, d), ``pose`` maps (s, d) back to (x, y, yaw).
* :func:`bicycle_rollout`: the kinematic bicycle model in curvature form (AdvSim's parameterisation):
  state (x, y, yaw, v, kappa), control per step (acceleration a, curvature rate kdot), with the limits of
  :class:`Limits` applied at every step (speed in [0, v_max], |kappa| <= kappa_max, |a| <= a_max,
  |kdot| <= kdot_max).
* Box geometry: boxes are rows ``(x, y, yaw, length, width)``; :func:`box_gap` is the separating-axis gap
  between two oriented rectangles (> 0: separated by at least that much; < 0: overlapping, minus the
  smallest penetration depth), a cheap lower bound of their distance used for collisions and near-misses.
* Continuous time: :func:`swept_gap` / :func:`path_gap` give the smallest box gap over the motion between two
  steps (linear motion, yaw held per sub-step piece, exact minimum within a piece), so boxes that pass
  through each other between two 0.5 s steps count; :func:`interp_states` inserts poses between steps;
  :func:`lateral_accel` is ``v^2 |kappa|`` per step (the friction bound of the plausibility check);
  :meth:`Scenario.box_on_road` checks every corner of a box against the roads.
* :class:`Scenario`: roads, the SDV (initial state and logged "human" controls) and actors (initial state,
  box size and logged controls), loaded from / saved to the JSON format of :func:`load_scenario`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trustlab.errors import DataError

FORMAT = "trustlab-advsim-scenario/1"


@dataclass(frozen=True)
class Limits:
    """Kinematic bicycle-model limits (per actor class; trucks share the car limits here)."""

    v_max: float = 20.0  # m/s
    a_max: float = 4.0  # m/s^2 (|acceleration|, braking included)
    kappa_max: float = 0.2  # 1/m (turn radius >= 5 m)
    kdot_max: float = 0.1  # 1/(m s)


# --- roads -------------------------------------------------------------------------------------------


class Road:
    """A road: centreline polyline ``(N, 2)``, ``lanes`` lanes of ``lane_width`` metres."""

    def __init__(self, centerline: Any, lanes: int = 2, lane_width: float = 3.5, speed_limit: float = 12.0) -> None:
        c = np.asarray(centerline, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != 2 or len(c) < 2:
            raise DataError("road centerline must be a list of at least 2 [x, y] points")
        seg = np.diff(c, axis=0)
        length = np.hypot(seg[:, 0], seg[:, 1])
        if np.any(length <= 1e-9):
            raise DataError("road centerline has repeated points; remove duplicates")
        if lanes < 1 or lane_width <= 0:
            raise DataError(f"road needs lanes >= 1 and lane_width > 0, got lanes={lanes} lane_width={lane_width}")
        self.centerline = c
        self.lanes = int(lanes)
        self.lane_width = float(lane_width)
        self.speed_limit = float(speed_limit)
        self._seg = seg
        self._len = length
        self._s0 = np.concatenate([[0.0], np.cumsum(length)])
        self._dir = seg / length[:, None]
        self.length = float(self._s0[-1])

    @property
    def half_width(self) -> float:
        return self.lanes * self.lane_width / 2

    def lane_offset(self, lane: int) -> float:
        return (lane - (self.lanes - 1) / 2) * self.lane_width

    def project(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frenet (s, d) of points ``(..., 2)``: arc length of the nearest centreline point, signed offset
        (positive = left of the driving direction). Points beyond the ends extend the end segments."""
        p = np.asarray(xy, dtype=np.float64)
        shape = p.shape[:-1]
        p = p.reshape(-1, 2)
        rel = p[:, None, :] - self.centerline[None, :-1, :]  # (P, S, 2)
        t = np.einsum("psk,sk->ps", rel, self._dir)
        n = len(self._len)
        lo = np.zeros(n)
        hi = self._len.copy()
        lo[0], hi[-1] = -np.inf, np.inf  # extrapolate past the ends
        tc = np.clip(t, lo, hi)
        foot = self.centerline[None, :-1, :] + tc[..., None] * self._dir[None]
        dist2 = ((p[:, None, :] - foot) ** 2).sum(-1)
        k = np.argmin(dist2, axis=1)
        rows = np.arange(len(p))
        s = self._s0[k] + tc[rows, k]
        cross = self._dir[k, 0] * rel[rows, k, 1] - self._dir[k, 1] * rel[rows, k, 0]
        return s.reshape(shape), cross.reshape(shape)

    def pose(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        """(..., 3) world (x, y, yaw) of Frenet coordinates (arrays of the same shape)."""
        s = np.asarray(s, dtype=np.float64)
        d = np.asarray(d, dtype=np.float64)
        k = np.clip(np.searchsorted(self._s0, s, side="right") - 1, 0, len(self._len) - 1)
        ds = s - self._s0[k]
        u = self._dir[k]
        base = self.centerline[k] + ds[..., None] * u
        nrm = np.stack([-u[..., 1], u[..., 0]], axis=-1)
        xy = base + d[..., None] * nrm
        yaw = np.arctan2(u[..., 1], u[..., 0])
        return np.concatenate([xy, yaw[..., None]], axis=-1)

    def to_json(self) -> dict[str, Any]:
        return {"centerline": np.round(self.centerline, 3).tolist(), "lanes": self.lanes,
                "lane_width": self.lane_width, "speed_limit": self.speed_limit}


def straight_road(length: float = 160.0, lanes: int = 2, lane_width: float = 3.5, start=(-40.0, 0.0),
                  heading: float = 0.0, speed_limit: float = 12.0) -> Road:
    u = np.array([math.cos(heading), math.sin(heading)])
    pts = np.asarray(start) + np.linspace(0, length, 33)[:, None] * u
    return Road(pts, lanes, lane_width, speed_limit)


def curved_road(radius: float, length: float = 160.0, lanes: int = 2, lane_width: float = 3.5,
                speed_limit: float = 12.0, straight_before: float = 40.0) -> Road:
    """A straight lead-in of ``straight_before`` m ending at the origin (heading +x), then an arc of signed
    ``radius`` (positive = turning left)."""
    pts = [np.array([-straight_before + i * straight_before / 8, 0.0]) for i in range(8)]
    n = 48
    arc = length - straight_before
    for i in range(n + 1):
        th = (arc * i / n) / radius
        pts.append(np.array([radius * math.sin(th), radius * (1 - math.cos(th))]))
    return Road(np.stack(pts), lanes, lane_width, speed_limit)


# --- kinematics ----------------------------------------------------------------------------------------


def bicycle_rollout(state0: np.ndarray, controls: np.ndarray, dt: float, limits: Limits = Limits()) -> np.ndarray:
    """States ``(..., T + 1, 5)`` = (x, y, yaw, v, kappa) from ``state0 (..., 5)`` and ``controls (..., T, 2)``
    = (a, kdot) per step; controls, speed and curvature are clipped to ``limits`` (the bicycle-limit part of
    the projection onto plausible trajectories)."""
    s = np.array(state0, dtype=np.float64)
    u = np.asarray(controls, dtype=np.float64)
    steps = u.shape[-2]
    out = np.empty(s.shape[:-1] + (steps + 1, 5))
    out[..., 0, :] = s
    x, y, yaw, v, kap = (s[..., i].copy() for i in range(5))
    for t in range(steps):
        a = np.clip(u[..., t, 0], -limits.a_max, limits.a_max)
        kd = np.clip(u[..., t, 1], -limits.kdot_max, limits.kdot_max)
        v_new = np.clip(v + a * dt, 0.0, limits.v_max)
        kap = np.clip(kap + kd * dt, -limits.kappa_max, limits.kappa_max)
        dist = 0.5 * (v + v_new) * dt
        yaw_mid = yaw + 0.5 * kap * dist
        x = x + dist * np.cos(yaw_mid)
        y = y + dist * np.sin(yaw_mid)
        yaw = yaw + kap * dist
        v = v_new
        out[..., t + 1, :] = np.stack([x, y, yaw, v, kap], axis=-1)
    return out


def follow_controls(road: Road, state0: np.ndarray, steps: int, dt: float, target_d: Any, target_v: Any,
                    limits: Limits = Limits(), gain: float = 0.6, horizon: float = 1.2) -> np.ndarray:
    """Logged controls ``(steps, 2)`` of a driver that tracks lateral offset ``target_d`` (a number or a
    per-step array) of ``road`` at speed ``target_v`` (number or per-step): pure pursuit on the curvature,
    a proportional speed controller; used to generate the embedded scenarios' logs."""
    td = np.broadcast_to(np.asarray(target_d, dtype=np.float64), (steps,))
    tv = np.broadcast_to(np.asarray(target_v, dtype=np.float64), (steps,))
    s = np.array(state0, dtype=np.float64)
    ctrl = np.zeros((steps, 2))
    for t in range(steps):
        a = np.clip(gain * 2.0 * (tv[t] - s[3]), -limits.a_max, limits.a_max)
        look = max(4.0, s[3] * horizon + 3.0)
        s_now, _ = road.project(s[None, :2])
        goal = road.pose(s_now + look, np.array([td[t]]))[0]
        dx, dy = goal[0] - s[0], goal[1] - s[1]
        alpha = math.atan2(dy, dx) - s[2]
        alpha = (alpha + math.pi) % (2 * math.pi) - math.pi
        kap_des = np.clip(2 * math.sin(alpha) / math.hypot(dx, dy), -limits.kappa_max, limits.kappa_max)
        kd = np.clip((kap_des - s[4]) / dt, -limits.kdot_max * 3, limits.kdot_max * 3)
        kd = np.clip(kd, -limits.kdot_max, limits.kdot_max)
        ctrl[t] = (a, kd)
        s = bicycle_rollout(s, ctrl[t : t + 1], dt, limits)[1]
    return ctrl


# --- box geometry --------------------------------------------------------------------------------------


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners ``(..., 4, 2)`` of boxes ``(..., 5)`` = (x, y, yaw, length, width), counter-clockwise."""
    b = np.asarray(boxes, dtype=np.float64)
    c, s = np.cos(b[..., 2]), np.sin(b[..., 2])
    hl, hw = b[..., 3] / 2, b[..., 4] / 2
    lx = np.stack([hl, -hl, -hl, hl], axis=-1)
    ly = np.stack([hw, hw, -hw, -hw], axis=-1)
    x = b[..., 0, None] + lx * c[..., None] - ly * s[..., None]
    y = b[..., 1, None] + lx * s[..., None] + ly * c[..., None]
    return np.stack([x, y], axis=-1)


def box_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Separating-axis gap between oriented rectangles ``a`` and ``b`` (broadcast ``(..., 5)``): the largest
    separation of their projections over the 4 edge normals; < 0 means they overlap."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    ca, cb = box_corners(a), box_corners(b)
    axes = []
    for box in (a, b):
        c, s = np.cos(box[..., 2]), np.sin(box[..., 2])
        axes += [np.stack([c, s], -1), np.stack([-s, c], -1)]
    best = np.full(a.shape[:-1], -np.inf)
    for ax in axes:
        pa = np.einsum("...kj,...j->...k", ca, ax)
        pb = np.einsum("...kj,...j->...k", cb, ax)
        gap = np.maximum(pb.min(-1) - pa.max(-1), pa.min(-1) - pb.max(-1))
        best = np.maximum(best, gap)
    return best


def wrap_angle(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


# --- continuous time -----------------------------------------------------------------------------------


def interp_states(states: np.ndarray, substeps: int) -> np.ndarray:
    """``(..., T * substeps + 1, 5)``: ``states (..., T + 1, 5)`` with ``substeps - 1`` linearly interpolated
    states inserted between consecutive steps (position, speed and curvature linearly, yaw along the shorter
    way); ``substeps <= 1`` returns ``states``."""
    st = np.asarray(states, dtype=np.float64)
    if substeps <= 1 or st.shape[-2] < 2:
        return st
    f = (np.arange(substeps) / substeps)[:, None]  # (S, 1)
    a, b = st[..., :-1, None, :], st[..., 1:, None, :]  # (..., T, 1, 5)
    d = b - a
    d[..., 2] = wrap_angle(d[..., 2])
    mid = (a + f * d).reshape(st.shape[:-2] + (-1, 5))
    return np.concatenate([mid, st[..., -1:, :]], axis=-2)


def _radius(yaw: np.ndarray, length: np.ndarray, width: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Half-extent of boxes (yaw, length, width) projected on unit axes ``n (..., 2)``."""
    return (length / 2 * np.abs(np.cos(yaw) * n[..., 0] + np.sin(yaw) * n[..., 1])
            + width / 2 * np.abs(-np.sin(yaw) * n[..., 0] + np.cos(yaw) * n[..., 1]))


def swept_gap(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray, substeps: int = 4) -> np.ndarray:
    """The smallest separating-axis gap between boxes ``a`` and ``b`` (broadcast ``(..., 5)``) while each moves
    from its box ``*0`` to ``*1`` over one step, in continuous time.

    The step is cut into ``substeps`` pieces; within a piece each box translates linearly with its yaw held at
    the piece's middle (positions interpolated linearly, yaw along the shorter way). With the axes fixed, the
    SAT gap along axis ``n`` is ``|r(t) . n| - R_n`` for the linear relative position ``r(t)``, so the gap is
    the upper envelope of 8 lines in ``t``; its minimum over the piece is exact (taken at an end or at a
    crossing of two lines). The result is also capped by :func:`box_gap` at the two ends (the true yaws), so it
    never exceeds the step-time check. ``substeps <= 0``: only the ends (the step-time check)."""
    a0, a1, b0, b1 = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (a0, a1, b0, b1)))
    best = np.minimum(box_gap(a0, b0), box_gap(a1, b1))
    if substeps <= 0:
        return best
    da = a1 - a0
    db = b1 - b0
    da[..., 2] = wrap_angle(da[..., 2])
    db[..., 2] = wrap_angle(db[..., 2])
    iu = np.triu_indices(8, 1)
    for k in range(substeps):
        f0, f1 = k / substeps, (k + 1) / substeps
        fm = 0.5 * (f0 + f1)
        ya = a0[..., 2] + fm * da[..., 2]
        yb = b0[..., 2] + fm * db[..., 2]
        r0 = (b0[..., :2] + f0 * db[..., :2]) - (a0[..., :2] + f0 * da[..., :2])
        r1 = (b0[..., :2] + f1 * db[..., :2]) - (a0[..., :2] + f1 * da[..., :2])
        axes = np.stack([np.stack([np.cos(y), np.sin(y)], -1) for y in (ya, yb)]
                        + [np.stack([-np.sin(y), np.cos(y)], -1) for y in (ya, yb)], -2)  # (..., 4, 2)
        rad = (_radius(ya[..., None], a0[..., 3, None], a0[..., 4, None], axes)
               + _radius(yb[..., None], b0[..., 3, None], b0[..., 4, None], axes))  # (..., 4)
        p0 = np.einsum("...j,...kj->...k", r0, axes)
        p1 = np.einsum("...j,...kj->...k", r1, axes)
        c = np.concatenate([p0 - rad, -p0 - rad], -1)  # (..., 8) intercepts at t = 0
        m = np.concatenate([p1 - p0, p0 - p1], -1)  # (..., 8) slopes over the piece (t in [0, 1])
        dm = m[..., iu[0]] - m[..., iu[1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            tc = np.where(np.abs(dm) > 1e-12, (c[..., iu[1]] - c[..., iu[0]]) / dm, 0.0)
        cand = np.concatenate([np.zeros(c.shape[:-1] + (1,)), np.ones(c.shape[:-1] + (1,)),
                               np.clip(tc, 0.0, 1.0)], -1)  # (..., 30)
        env = (c[..., None, :] + m[..., None, :] * cand[..., :, None]).max(-1)  # (..., 30)
        best = np.minimum(best, env.min(-1))
    return best


def path_gap(a: np.ndarray, b: np.ndarray, substeps: int = 4) -> np.ndarray:
    """Per-step continuous-time gaps ``(..., T)`` between box paths ``a`` and ``b`` (broadcast ``(..., T + 1, 5)``):
    entry ``t`` is the smallest :func:`swept_gap` over the motion from step ``t`` to ``t + 1``."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return swept_gap(a[..., :-1, :], a[..., 1:, :], b[..., :-1, :], b[..., 1:, :], substeps)


def lateral_accel(states: np.ndarray) -> np.ndarray:
    """``(..., T + 1)`` lateral accelerations ``v^2 |kappa|`` of bicycle-model states ``(..., T + 1, 5)``: at
    t = 0 from the initial state, at step ``t + 1`` the largest over step ``t`` (the model holds the new curvature
    over the step while the speed moves between its two ends)."""
    st = np.asarray(states, dtype=np.float64)
    v, k = st[..., 3], np.abs(st[..., 4])
    first = v[..., :1] ** 2 * k[..., :1]
    rest = np.maximum(v[..., :-1], v[..., 1:]) ** 2 * k[..., 1:]
    return np.concatenate([first, rest], -1)


# --- scenarios -----------------------------------------------------------------------------------------


@dataclass
class Agent:
    """An SDV or actor: initial state (x, y, yaw, v, kappa), box (length, width, height), logged controls."""

    id: str
    state0: np.ndarray
    size: tuple[float, float, float]
    controls: np.ndarray  # (steps, 2): logged (a, kdot)
    kind: str = "car"
    adversarial: bool = False

    def box(self, states: np.ndarray) -> np.ndarray:
        """Boxes ``(..., 5)`` of ``states (..., 5)``."""
        st = np.asarray(states)
        ones = np.ones(st.shape[:-1])
        return np.stack([st[..., 0], st[..., 1], st[..., 2], ones * self.size[0], ones * self.size[1]], -1)


@dataclass
class Scenario:
    """One initial traffic scenario: see :func:`load_scenario` for the JSON format."""

    name: str
    kind: str
    dt: float
    steps: int
    roads: list[Road]
    sdv: Agent
    actors: list[Agent]
    route: int = 0  # index of the road the SDV drives along
    limits: Limits = field(default_factory=Limits)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def adversary(self) -> int:
        """Index of the actor to perturb: the one marked ``adversarial``, else the one closest to the SDV log."""
        for i, a in enumerate(self.actors):
            if a.adversarial:
                return i
        log = self.sdv_log()
        gaps = [float(box_gap(a.box(self.actor_log(i)), self.sdv.box(log)).min()) for i, a in enumerate(self.actors)]
        return int(np.argmin(gaps))

    def sdv_log(self) -> np.ndarray:
        if "sdv" not in self._cache:
            self._cache["sdv"] = bicycle_rollout(self.sdv.state0, self.sdv.controls, self.dt, self.limits)
        return self._cache["sdv"]

    def actor_log(self, i: int) -> np.ndarray:
        key = f"a{i}"
        if key not in self._cache:
            a = self.actors[i]
            self._cache[key] = bicycle_rollout(a.state0, a.controls, self.dt, self.limits)
        return self._cache[key]

    def actor_logs(self) -> np.ndarray:
        """(A, T + 1, 5) logged actor states."""
        if not self.actors:
            return np.zeros((0, self.steps + 1, 5))
        return np.stack([self.actor_log(i) for i in range(len(self.actors))])

    def on_road(self, xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """True where points lie on some road (|d| <= half width - margin, s within the road)."""
        ok = np.zeros(np.asarray(xy).shape[:-1], dtype=bool)
        for r in self.roads:
            s, d = r.project(xy)
            ok |= (np.abs(d) <= r.half_width - margin) & (s >= 0) & (s <= r.length)
        return ok

    def box_on_road(self, boxes: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
        """True where every corner of boxes ``(..., 5)`` lies on some road, or at most ``tolerance`` m beyond
        its edge (each corner may lie on a different road: junctions)."""
        return self.on_road(box_corners(boxes), margin=-tolerance).all(-1)

    def to_json(self) -> dict[str, Any]:
        def agent(a: Agent) -> dict[str, Any]:
            x, y, yaw, v, kap = (round(float(t), 4) for t in a.state0)
            d = {"id": a.id, "kind": a.kind, "x": x, "y": y, "yaw": yaw, "v": v, "kappa": kap,
                 "length": a.size[0], "width": a.size[1], "height": a.size[2],
                 "controls": np.round(a.controls, 5).tolist()}
            if a.adversarial:
                d["adversarial"] = True
            return d

        return {"format": FORMAT, "name": self.name, "kind": self.kind, "dt": self.dt, "steps": self.steps,
                "route": self.route, "roads": [r.to_json() for r in self.roads], "sdv": agent(self.sdv),
                "actors": [agent(a) for a in self.actors]}


REQUIRED = ("dt", "steps", "roads", "sdv", "actors")
AGENT_REQUIRED = ("x", "y", "yaw", "v", "length", "width")


def _agent(d: Any, where: str, steps: int, default_id: str) -> Agent:
    if not isinstance(d, dict):
        raise DataError(f"{where} must be an object with {', '.join(AGENT_REQUIRED)}")
    missing = [k for k in AGENT_REQUIRED if k not in d]
    if missing:
        raise DataError(f"{where} is missing field(s) {', '.join(missing)}; see the scenario format in "
                        "trustlab/methods/advsim/README.md")
    try:
        st = np.array([float(d["x"]), float(d["y"]), float(d["yaw"]), float(d["v"]), float(d.get("kappa", 0.0))])
        size = (float(d["length"]), float(d["width"]), float(d.get("height", 1.6)))
        ctrl = np.asarray(d.get("controls", np.zeros((steps, 2))), dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: a field is not a number ({e})") from e
    if not np.all(np.isfinite(st)) or min(size) <= 0:
        raise DataError(f"{where}: state must be finite and length/width/height > 0")
    if ctrl.shape != (steps, 2):
        raise DataError(f"{where}.controls must be {steps} rows of [a, kdot] (one per step), got shape "
                        f"{list(ctrl.shape)}; omit it for constant speed and curvature")
    return Agent(str(d.get("id", default_id)), st, size, ctrl, str(d.get("kind", "car")),
                 bool(d.get("adversarial", False)))


def scenario_from_dict(d: Any, source: str = "scenario") -> Scenario:
    """Validate and build a :class:`Scenario` from its JSON dict (see :func:`load_scenario`)."""
    if not isinstance(d, dict):
        raise DataError(f"{source}: a scenario file holds one JSON object")
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise DataError(f"{source} is missing field(s) {', '.join(missing)}; a scenario needs "
                        f"{', '.join(REQUIRED)} (format in trustlab/methods/advsim/README.md)")
    try:
        dt, steps = float(d["dt"]), int(d["steps"])
    except (TypeError, ValueError) as e:
        raise DataError(f"{source}: dt and steps must be numbers ({e})") from e
    if dt <= 0 or steps < 1:
        raise DataError(f"{source}: need dt > 0 and steps >= 1, got dt={dt} steps={steps}")
    if not isinstance(d["roads"], list) or not d["roads"]:
        raise DataError(f"{source}: 'roads' must be a non-empty list of {{centerline, lanes, lane_width}}")
    roads = []
    for i, r in enumerate(d["roads"]):
        if not isinstance(r, dict) or "centerline" not in r:
            raise DataError(f"{source}: roads[{i}] is missing field 'centerline' (a list of [x, y] points)")
        try:
            roads.append(Road(r["centerline"], int(r.get("lanes", 2)), float(r.get("lane_width", 3.5)),
                              float(r.get("speed_limit", 12.0))))
        except DataError as e:
            raise DataError(f"{source}: roads[{i}]: {e}") from None
    sdv = _agent(d["sdv"], f"{source}: sdv", steps, "sdv")
    if not isinstance(d["actors"], list):
        raise DataError(f"{source}: 'actors' must be a list")
    actors = [_agent(a, f"{source}: actors[{i}]", steps, f"a{i}") for i, a in enumerate(d["actors"])]
    route = int(d.get("route", 0))
    if not 0 <= route < len(roads):
        raise DataError(f"{source}: route {route} is not a road index (0..{len(roads) - 1})")
    sc = Scenario(str(d.get("name", Path(source).stem)), str(d.get("kind", "custom")), dt, steps, roads, sdv,
                  actors, route)
    check_initial_overlaps(sc, source)
    return sc


def check_initial_overlaps(sc: Scenario, source: str) -> None:
    """Actors (and the SDV) may not overlap at t = 0: a scenario that starts in a collision is malformed."""
    agents = [sc.sdv, *sc.actors]
    boxes = np.stack([a.box(a.state0) for a in agents])
    gap = box_gap(boxes[:, None], boxes[None, :])
    np.fill_diagonal(gap, np.inf)
    i, j = np.unravel_index(np.argmin(gap), gap.shape)
    if gap[i, j] < 0:
        raise DataError(f"{source}: '{agents[i].id}' and '{agents[j].id}' overlap at t=0 (by "
                        f"{-gap[i, j]:.2f} m); move one of them apart")


def load_scenario(path: str | Path) -> Scenario:
    """Read one scenario JSON file.

    Format (``"format": "trustlab-advsim-scenario/1"``, keys beyond these are ignored)::

        {"name": "cut-in_00", "kind": "cut-in", "dt": 0.5, "steps": 10, "route": 0,
         "roads": [{"centerline": [[x, y], ...], "lanes": 2, "lane_width": 3.5, "speed_limit": 12}],
         "sdv":    {"x": 0, "y": -1.75, "yaw": 0, "v": 8, "kappa": 0, "length": 4.5, "width": 2.0,
                    "height": 1.6, "controls": [[a, kdot], ... steps rows]},
         "actors": [{"id": "a0", "kind": "car", "x": 20, "y": 1.75, "yaw": 0, "v": 6, "length": 4.5,
                     "width": 2.0, "height": 1.6, "controls": [[0, 0], ...], "adversarial": true}]}

    Required: dt, steps, roads (each with centerline), sdv and every actor with x, y, yaw, v, length, width.
    ``controls`` default to zeros (constant speed and curvature), ``kappa`` to 0, ``height`` to 1.6.
    """
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"scenario file '{p}' does not exist") from None
    except (OSError, ValueError) as e:
        raise DataError(f"scenario file '{p}' is not readable JSON ({e}); fix or remove it") from None
    return scenario_from_dict(d, str(p))


def save_scenario(sc: Scenario, path: str | Path) -> Path:
    from trustlab.data.cache import write_json_atomic

    write_json_atomic(path, sc.to_json())
    return Path(path)


def load_scenario_dir(root: str | Path) -> list[Scenario]:
    """Every ``*.json`` scenario in ``root`` (sorted by name); an empty folder is an error."""
    r = Path(root).expanduser()
    if not r.is_dir():
        raise DataError(f"scenario folder '{r}' does not exist; set data.root to a folder of scenario .json files")
    files = sorted(r.glob("*.json"))
    if not files:
        raise DataError(f"scenario folder '{r}' has no *.json scenario files (empty scenario set); "
                        "write some (format in trustlab/methods/advsim/README.md) or use the embedded set")
    return [load_scenario(f) for f in files]
