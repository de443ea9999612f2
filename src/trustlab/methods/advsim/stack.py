"""The autonomy stack under attack: LiDAR detector -> tracker / constant-velocity prediction -> sampling planner,
run in closed loop against (possibly perturbed) non-reactive actor trajectories.

* Detector (:mod:`trustlab.methods.advsim.detector`): a small CenterNet-style CNN on the BEV grid of one sweep.
  :func:`load_detector` gives the shipped weights (``weights/bev_detector.pt``,
  :mod:`trustlab.methods.advsim.shipped`) when the requested settings are the ones they were trained with
  (``detector.shipped``), else trains them (:func:`~trustlab.methods.advsim.detector.train_detector`) and caches
  them under ``$TRUSTLAB_DATA/advsim-detector/``. One stderr line says which.
* Prediction: detections are matched to the previous step's tracks (greedy nearest neighbour within
  ``match_dist``); a track's velocity is the smoothed displacement; a new track starts at rest. Every object is
  predicted at constant velocity over the planning horizon. The ``gt`` stack skips perception: it gets every
  actor's true box and velocity (occluded ones included), the same prediction and planner.
* Planner (:func:`plan`): candidate trajectories in the route's Frenet frame, every (lateral target = a lane
  centre or the current offset) x (constant acceleration) pair, scored by
  ``collision + buffer + comfort - progress + speeding + off-road`` costs (:class:`PlannerConfig`); the
  cheapest is executed for one step (perfect tracking), then everything is re-run on a new sweep.
* Collision / near-miss: the SAT gap between the SDV's and every actor's box in continuous time, over each step's
  motion (:func:`~trustlab.methods.advsim.world.swept_gap`, ``StackConfig.substeps`` pieces per step; 0 = at
  the steps only, the check before issue 28, which missed overlaps between two 0.5 s steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from trustlab.methods.advsim.detector import DETECTOR_VERSION, DetectorConfig, build_detector, decode, train_detector
from trustlab.methods.advsim.lidar import BEVConfig, Lidar, LidarConfig, bev
from trustlab.methods.advsim.world import Scenario, box_gap, swept_gap

# --- the detector's weights ----------------------------------------------------------------------------


def load_detector(cfg: DetectorConfig, lidar_cfg: LidarConfig, bcfg: BEVConfig) -> tuple[Any, dict[str, float]]:
    """The trained detector and its held-out precision / recall: the shipped weights when they were trained with
    these settings (and ``cfg.shipped``), else trained and cached on first use. ``net.source`` says which."""
    import fcntl
    import hashlib
    import json
    from dataclasses import asdict

    from trustlab.data.cache import dataset_dir, load_or_build
    from trustlab.data.shipped import announce

    why = "detector.shipped=false"
    if cfg.shipped:
        from trustlab.methods.advsim.shipped import load_if_matching

        net, meta, why = load_if_matching(cfg, lidar_cfg, bcfg)
        if net is not None:
            announce("advsim detector", why)
            net.source = why
            return net, meta
    det = {k: v for k, v in asdict(cfg).items() if k != "shipped"}  # the cache key of the settings before it existed
    key = hashlib.sha1(json.dumps([det, asdict(lidar_cfg), asdict(bcfg)], sort_keys=True).encode())
    version = f"v1-{key.hexdigest()[:10]}"
    lock = dataset_dir("advsim-detector", version).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:  # two bench workers: one trains, the other waits and reads the cache
        fcntl.flock(fh, fcntl.LOCK_EX)
        parts = load_or_build("advsim-detector", version, lambda: {"weights": train_detector(cfg, lidar_cfg, bcfg)},
                              seed=cfg.seed, generator_version=DETECTOR_VERSION)
    w = parts["weights"]
    net = build_detector(bcfg.channels, cfg.width)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in w.items() if not k.startswith("meta/")})
    net.eval()
    meta = {k.split("/", 1)[1]: float(np.ravel(v)[0]) for k, v in w.items() if k.startswith("meta/")}
    net.source = f"trained on this machine (cache; {why})"
    announce("advsim detector", net.source)
    return net, meta


# --- prediction ----------------------------------------------------------------------------------------


@dataclass
class Tracker:
    """Greedy nearest-neighbour tracks -> velocity estimates (new tracks start at rest)."""

    dt: float
    match_dist: float = 3.0
    smooth: float = 0.7
    tracks: np.ndarray = field(default_factory=lambda: np.zeros((0, 7)))  # x, y, yaw, l, w, vx, vy

    def update(self, dets: np.ndarray) -> np.ndarray:
        new = np.zeros((len(dets), 7))
        new[:, :5] = dets[:, :5]
        if len(self.tracks) and len(dets):
            pred = self.tracks[:, :2] + self.tracks[:, 5:7] * self.dt
            d = np.hypot(dets[:, None, 0] - pred[None, :, 0], dets[:, None, 1] - pred[None, :, 1])
            used: set[int] = set()
            for i in np.argsort(d.min(1)):
                j = int(np.argmin(np.where(np.isin(np.arange(len(pred)), list(used)), np.inf, d[i])))
                if d[i, j] <= self.match_dist and j not in used:
                    used.add(j)
                    v = (dets[i, :2] - self.tracks[j, :2]) / self.dt
                    new[i, 5:7] = self.smooth * v + (1 - self.smooth) * self.tracks[j, 5:7]
        self.tracks = new
        return new


def predict(objects: np.ndarray, horizon: int, dt: float) -> np.ndarray:
    """Constant-velocity boxes (N, horizon, 5) for objects (N, 7) = (x, y, yaw, l, w, vx, vy)."""
    t = (np.arange(1, horizon + 1) * dt)[None, :, None]
    xy = objects[:, None, :2] + objects[:, None, 5:7] * t
    sp = np.hypot(objects[:, 5], objects[:, 6])
    yaw = np.where(sp > 1.0, np.arctan2(objects[:, 6], objects[:, 5]), objects[:, 2])
    rest = np.broadcast_to(np.stack([yaw, objects[:, 3], objects[:, 4]], -1)[:, None], (len(objects), horizon, 3))
    return np.concatenate([xy, rest], -1)


# --- planner -------------------------------------------------------------------------------------------


@dataclass
class PlannerConfig:
    """Sampling planner: candidates and cost weights (the part adversarial training fine-tunes)."""

    horizon: int = 6  # steps of the scenario dt
    accels: tuple[float, ...] = (-6.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0)
    lane_change_time: float = 3.0
    w_collision: float = 100.0
    margin: float = 1.0  # m: the buffer kept to predicted objects
    w_buffer: float = 20.0
    w_comfort: float = 0.3
    w_lateral: float = 0.3
    w_progress: float = 1.0
    w_speed: float = 5.0
    target_speed: float = 11.0


def plan(state: np.ndarray, road: Any, objects: np.ndarray, dt: float, cfg: PlannerConfig,
         size: tuple[float, float, float]) -> tuple[np.ndarray, dict[str, float]]:
    """The chosen trajectory (horizon + 1, 3) of poses from ``state`` and its cost terms."""
    H = cfg.horizon
    s0, d0 = road.project(state[None, :2])
    s0, d0 = float(s0[0]), float(d0[0])
    lat = sorted({round(road.lane_offset(i), 3) for i in range(road.lanes)} | {round(d0, 3)})
    acc = np.asarray(cfg.accels)
    A, L = len(acc), len(lat)
    t = np.arange(H + 1) * dt
    v = np.maximum(state[3] + acc[:, None] * t[None], 0.0)  # (A, H+1)
    ds = np.concatenate([np.zeros((A, 1)), np.cumsum(0.5 * (v[:, 1:] + v[:, :-1]) * dt, 1)], 1)
    dlat = d0 + (np.asarray(lat)[:, None] - d0) * _smooth(t / cfg.lane_change_time)[None]  # (L, H+1)
    S = np.broadcast_to(s0 + ds[:, None], (A, L, H + 1))
    D = np.broadcast_to(dlat[None], (A, L, H + 1))
    P = road.pose(S, D)  # (A, L, H+1, 3)
    dx = np.diff(P[..., 0], axis=-1)
    dy = np.diff(P[..., 1], axis=-1)
    moving = np.hypot(dx, dy) > 1e-3
    heading = np.where(moving, np.arctan2(dy, dx), P[..., :-1, 2])
    yaw = np.concatenate([np.full(P.shape[:2] + (1,), state[2]), heading], -1)
    P = P.copy()
    P[..., 2] = yaw
    boxes = np.concatenate([P, np.broadcast_to(np.array(size[:2]), P.shape[:-1] + (2,))], -1)[..., 1:, :]
    cost = np.zeros((A, L))
    col = np.zeros((A, L))
    if len(objects):
        pred = predict(objects, H, dt)  # (N, H, 5)
        gap = box_gap(boxes[:, :, None], pred[None, None])  # (A, L, N, H)
        hit = gap < 0
        early = np.where(hit, (H - np.arange(H)) / H, 0.0)  # earlier collisions cost more
        col = early.max(axis=(2, 3))
        buf = np.clip(cfg.margin - gap, 0, None) ** 2
        cost += cfg.w_collision * col + cfg.w_buffer * buf.max(axis=(2, 3))
    cost += cfg.w_comfort * acc[:, None] ** 2 + cfg.w_lateral * np.abs(np.asarray(lat) - d0)[None]
    cost -= cfg.w_progress * ds[:, -1][:, None] / (H * dt)
    cost += cfg.w_speed * np.clip(v.max(1) - cfg.target_speed, 0, None)[:, None] ** 2
    off = np.abs(np.asarray(lat)) > road.half_width - size[1] / 2
    cost += 1e4 * off[None]
    a, lidx = np.unravel_index(np.argmin(cost), cost.shape)
    return P[a, lidx], {"cost": float(cost[a, lidx]), "accel": float(acc[a]), "collision_cost": float(col[a, lidx]),
                        "v1": float(v[a, 1])}


def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


# --- closed loop ---------------------------------------------------------------------------------------


@dataclass
class StackConfig:
    perception: str = "lidar"  # lidar | gt
    near_miss: float = 0.5  # m: SAT gap below which a step is a near-miss
    # collision / near-miss in continuous time: pieces per step of world.swept_gap (0: at the steps only)
    substeps: int = 4
    lidar: LidarConfig = field(default_factory=LidarConfig)
    bev: BEVConfig = field(default_factory=BEVConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)


@dataclass
class Rollout:
    sdv: np.ndarray  # (T+1, 5)
    actors: np.ndarray  # (A, T+1, 5)
    plans: list[np.ndarray]
    detections: list[np.ndarray]
    min_gap: float  # min SAT gap SDV vs any actor over the rollout, in continuous time (m)
    collision: bool
    collision_step: int
    near_miss: bool
    il_error: float  # mean distance to the logged SDV positions (m)
    max_decel: float
    progress: float  # metres driven
    sweeps: list[Any]

    @property
    def failure(self) -> bool:
        return self.collision or self.near_miss


class Stack:
    """The stack with its trained detector; :meth:`rollout` drives one scenario in closed loop."""

    def __init__(self, cfg: StackConfig, net: Any = None) -> None:
        self.cfg = cfg
        self.lidar = Lidar(cfg.lidar)
        self.net = net
        self.det_meta: dict[str, float] = {}
        if cfg.perception == "lidar" and net is None:
            self.net, self.det_meta = load_detector(cfg.detector, cfg.lidar, cfg.bev)
        # which detector weights: shipped file / trained here (None: the gt stack has no detector)
        self.det_source = getattr(self.net, "source", "given") if self.net is not None else None
        # remove-and-recast: sweeps of the logged actors, per (step, sensor position), of the last scenario
        self.reuse_sweeps = True
        self._sweeps: dict[tuple[int, bytes], Any] = {}
        self._sweeps_for: int | None = None
        self.sweep_stats = {"full": 0, "update": 0}

    def sweep(self, sc: Scenario, t: int, origin: np.ndarray, boxes3: np.ndarray) -> Any:
        """The sweep at step ``t`` from ``origin``: when a sweep of the logged scene from the same position is
        cached and only one actor differs from its log, remove-and-recast that actor; else a full cast (the
        result is the same either way, tested)."""
        if not self.reuse_sweeps:
            self.sweep_stats["full"] += 1
            return self.lidar.cast(origin, boxes3)
        if self._sweeps_for != id(sc):
            self._sweeps.clear()
            self._sweeps_for = id(sc)
        logs = sc.actor_logs()[:, t]
        logged = np.array([[*c[:3], *a.size] for c, a in zip(logs, sc.actors)]).reshape(-1, 6)
        key = (t, np.asarray(origin, np.float64).tobytes())
        diff = np.flatnonzero(np.any(boxes3 != logged, axis=1))
        base = self._sweeps.get(key)
        if len(diff) == 1 and base is not None:
            self.sweep_stats["update"] += 1
            return self.lidar.update_actor(base, int(diff[0]), boxes3[diff[0]])
        self.sweep_stats["full"] += 1
        sw = self.lidar.cast(origin, boxes3)
        if len(diff) == 0:
            self._sweeps[key] = sw
        return sw

    def detect(self, pose: np.ndarray, boxes3: np.ndarray, sc: Scenario | None = None,
               t: int = 0) -> tuple[np.ndarray, Any]:
        sw = self.lidar.cast(pose[:2], boxes3) if sc is None else self.sweep(sc, t, pose[:2], boxes3)
        pts, hit = sw.points()
        x = torch.from_numpy(bev(pts, hit, pose, self.cfg.bev))[None]
        with torch.no_grad():
            out = self.net(x)[0].numpy()
        return decode(out, pose, self.cfg.bev, self.cfg.detector.threshold), sw

    def rollout(self, sc: Scenario, actors: np.ndarray | None = None, keep_sweeps: bool = False,
                planner: PlannerConfig | None = None) -> Rollout:
        """Closed loop over ``sc.steps`` with actor trajectories ``actors (A, T+1, 5)`` (default: the logs)."""
        pcfg = planner or self.cfg.planner
        acts = sc.actor_logs() if actors is None else actors
        sizes = [a.size for a in sc.actors]
        road = sc.roads[sc.route]
        state = sc.sdv.state0.copy()
        traj = [state.copy()]
        tracker = Tracker(sc.dt)
        plans, dets_all, sweeps = [], [], []
        min_gap, col_step, decel = np.inf, -1, 0.0
        for t in range(sc.steps):
            cur = acts[:, t]
            if self.cfg.perception == "gt":
                objs = np.zeros((len(cur), 7))
                objs[:, :3] = cur[:, :3]
                objs[:, 3:5] = [s[:2] for s in sizes] if len(sizes) else np.zeros((0, 2))
                objs[:, 5] = cur[:, 3] * np.cos(cur[:, 2])
                objs[:, 6] = cur[:, 3] * np.sin(cur[:, 2])
                dets = objs[:, :6]
            else:
                b3 = np.array([[c[0], c[1], c[2], s[0], s[1], s[2]] for c, s in zip(cur, sizes)]).reshape(-1, 6)
                dets, sw = self.detect(state[:3], b3, sc, t)
                objs = tracker.update(dets)
                if keep_sweeps:
                    sweeps.append(sw)
            path, info = plan(state, road, objs, sc.dt, pcfg, sc.sdv.size)
            plans.append(path)
            dets_all.append(dets)
            nxt = np.array([path[1, 0], path[1, 1], path[1, 2], info["v1"], 0.0])
            decel = max(decel, -info["accel"])
            state = nxt
            traj.append(state.copy())
            if len(acts):  # continuous time: the boxes' motion from step t to t + 1, not only its end
                ab = np.stack([a.box(acts[i, t : t + 2]) for i, a in enumerate(sc.actors)])  # (A, 2, 5)
                sb = sc.sdv.box(np.stack([traj[-2], state]))
                g = float(swept_gap(sb[0], sb[1], ab[:, 0], ab[:, 1], self.cfg.substeps).min())
                min_gap = min(min_gap, g)
                if g < 0 and col_step < 0:
                    col_step = t + 1
                    break
        sdv = np.stack(traj)
        log = sc.sdv_log()[: len(sdv)]
        il = float(np.hypot(*(sdv[:, :2] - log[:, :2]).T).mean())
        prog = float(np.hypot(*np.diff(sdv[:, :2], axis=0).T).sum())
        return Rollout(sdv, acts, plans, dets_all, float(min_gap), col_step >= 0, col_step,
                       bool(min_gap < self.cfg.near_miss), il, decel, prog, sweeps)


# --- trustlab data build|show advsim-detector ----------------------------------------------------------


def _det_lines(cfg: object) -> list[str]:
    d = DetectorConfig()
    _, meta = load_detector(d, LidarConfig(), BEVConfig())
    return [f"advsim-detector: BEV CNN trained on {d.samples} simulated sweeps for {d.steps} Adam steps; held-out "
            f"precision {meta['val_precision']:.3f} recall {meta['val_recall']:.3f} (centre within 1 m, score > "
            f"{d.threshold})"]


def _det_show(cfg: object, out_dir: Any) -> list[Any]:
    """Detections of the default detector on the first scenario of each kind (BEV with the sweep)."""
    from pathlib import Path

    from trustlab.methods.advsim.figures import attack_figure
    from trustlab.methods.advsim.scenarios import load_set

    stack = Stack(StackConfig())
    out = []
    seen: set[str] = set()
    for sc in load_set(getattr(cfg, "root", None)):
        if sc.kind in seen or len(seen) >= 2:
            continue
        seen.add(sc.kind)
        r = stack.rollout(sc)
        out.append(attack_figure(sc, stack, r, r, Path(out_dir) / f"advsim-detector_{sc.name}.png",
                                 title=f"{sc.name}: detector output in closed loop (both panels the original)"))
    return out


def _register() -> None:
    from trustlab.data.base import DatasetEntry
    from trustlab.registry import DATASETS

    DATASETS.add("advsim-detector", DatasetEntry(_det_lines, _det_show, "AdvSim: the BEV LiDAR detector trained on "
                                                 "simulated sweeps (cached weights, held-out precision/recall)",
                                                 build_seconds=120.0))


_register()
