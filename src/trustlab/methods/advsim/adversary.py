"""The adversary: plausible perturbations of one actor's trajectory, the adversarial objective, and black-box
search at an equal query budget (Bayesian optimisation with optuna, CMA-ES with ``cma``, random search).

Perturbation (AdvSim's ``tau_adv = Proj[BICYCLE(s0 + d_s0, u + delta_u)]``): a vector ``z`` in ``[0, 1]^D``
maps linearly onto the bounds of :class:`AdversaryConfig`: an initial-state offset (along the actor's heading
``lon``, across it ``lat``, ``yaw``, ``speed``) and, at ``knots`` evenly spaced knots (linearly interpolated
over the steps), an acceleration and a curvature-rate offset added to the logged controls; the result is
rolled out through the kinematic bicycle model with its limits (:func:`trustlab.methods.advsim.world.bicycle_rollout`).

Projection onto the plausible set: a trajectory is plausible when the actor's centre stays on a road
(``road_margin`` m inside its edge), its whole box stays on a road (every corner at most ``box_tolerance`` m
beyond the edge, at the steps and ``substeps`` interpolated poses between them), its lateral acceleration
``v^2 |kappa|`` stays within the friction bound ``lat_accel_max`` and its box never overlaps another actor's
logged box nor the SDV's *logged* box, in continuous time (:func:`~trustlab.methods.advsim.world.path_gap`:
the boxes' motion between the steps, not only the steps). An implausible perturbation is pulled back along
the segment to the anchor (the zero perturbation clipped into the bounds) by bisection to the farthest
plausible point.

Objective (maximised, the notes' ``L_adv = l_IL + sum l_col + sum c_other``)::

    w_col * [SDV collides] + w_gap * (-clip(min SAT gap, -1, 5)) + w_il * mean |SDV - log| + w_other * max decel / 6
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from trustlab.errors import ConfigError
from trustlab.methods.advsim.world import Scenario, bicycle_rollout, interp_states, lateral_accel, path_gap


@dataclass
class AdversaryConfig:
    optimizer: Literal["bo", "cma", "random"] = "bo"
    sampler: Literal["tpe", "gp"] = "tpe"  # bo only; gp: optuna's GPSampler, slower per query
    budget: int = 16  # closed-loop queries per scenario
    startup: int | None = None  # bo: random start-up queries before the model guides (None: min(8, budget // 2))
    seed: int = 0
    lon: list[float] = field(default_factory=lambda: [-4.0, 4.0])  # m, initial offset along heading
    lat: list[float] = field(default_factory=lambda: [-1.5, 1.5])  # m, across heading
    yaw: list[float] = field(default_factory=lambda: [-0.2, 0.2])  # rad
    speed: list[float] = field(default_factory=lambda: [-3.0, 3.0])  # m/s
    accel: list[float] = field(default_factory=lambda: [-3.0, 3.0])  # m/s^2 added per knot
    kdot: list[float] = field(default_factory=lambda: [-0.06, 0.06])  # 1/(m s) added per knot
    knots: int = 3
    road_margin: float = 0.5  # m: the actor's centre stays this far inside the road edge
    box_tolerance: float | None = 0.0  # m a box corner may hang over the road edge; None: centre check only
    lat_accel_max: float | None = 7.85  # m/s^2: friction bound on v^2 |kappa| (0.8 g); None: no bound
    substeps: int = 4  # overlap checks in continuous time (world.path_gap pieces per step); 0: at the steps only
    w_col: float = 10.0
    w_gap: float = 1.0
    w_il: float = 0.5
    w_other: float = 0.5


OPTIMIZERS = ("bo", "cma", "random")
BOUND_KEYS = ("lon", "lat", "yaw", "speed")


def check_config(cfg: AdversaryConfig) -> None:
    if cfg.optimizer not in OPTIMIZERS:
        from trustlab.errors import did_you_mean

        raise ConfigError(f"adversary.optimizer '{cfg.optimizer}' is not one of {', '.join(OPTIMIZERS)}"
                          f"{did_you_mean(cfg.optimizer, OPTIMIZERS)}")
    if cfg.sampler not in ("tpe", "gp"):
        raise ConfigError(f"adversary.sampler '{cfg.sampler}' is not one of tpe, gp")
    if cfg.budget < 1 or cfg.knots < 1:
        raise ConfigError(f"adversary.budget and adversary.knots must be >= 1 (got {cfg.budget}, {cfg.knots})")
    if cfg.startup is not None and cfg.startup < 1:
        raise ConfigError(f"adversary.startup must be >= 1 (or null: min(8, budget // 2)), got {cfg.startup}")
    if cfg.substeps < 0:
        raise ConfigError(f"adversary.substeps must be >= 0 (0: overlaps checked at the steps only), got "
                          f"{cfg.substeps}")
    if cfg.lat_accel_max is not None and cfg.lat_accel_max <= 0:
        raise ConfigError(f"adversary.lat_accel_max must be > 0 m/s^2 (or null: no friction bound), got "
                          f"{cfg.lat_accel_max}")
    for key in (*BOUND_KEYS, "accel", "kdot"):
        b = getattr(cfg, key)
        if len(b) != 2 or not b[0] <= b[1]:
            raise ConfigError(f"adversary.{key} must be [low, high] with low <= high, got {b}")


def bounds(cfg: AdversaryConfig) -> tuple[np.ndarray, np.ndarray]:
    lo = [cfg.lon[0], cfg.lat[0], cfg.yaw[0], cfg.speed[0]] + [cfg.accel[0], cfg.kdot[0]] * cfg.knots
    hi = [cfg.lon[1], cfg.lat[1], cfg.yaw[1], cfg.speed[1]] + [cfg.accel[1], cfg.kdot[1]] * cfg.knots
    return np.asarray(lo, float), np.asarray(hi, float)


def perturbed_states(sc: Scenario, k: int, delta: np.ndarray, knots: int) -> np.ndarray:
    """(T+1, 5) states of actor ``k`` under ``delta`` = (lon, lat, yaw, speed, (a, kdot) x knots)."""
    a = sc.actors[k]
    s0 = a.state0.copy()
    c, s = np.cos(s0[2]), np.sin(s0[2])
    s0[0] += delta[0] * c - delta[1] * s
    s0[1] += delta[0] * s + delta[1] * c
    s0[2] += delta[2]
    s0[3] = max(0.0, s0[3] + delta[3])
    kn = delta[4:].reshape(knots, 2)
    if knots == 1:
        du = np.repeat(kn, sc.steps, axis=0)
    else:
        pos = np.linspace(0, knots - 1, sc.steps)
        du = np.stack([np.interp(pos, np.arange(knots), kn[:, j]) for j in range(2)], -1)
    return bicycle_rollout(s0, a.controls + du, sc.dt, sc.limits)


def violations(sc: Scenario, k: int, states: np.ndarray, road_margin: float, box_tolerance: float | None = None,
               lat_accel_max: float | None = None, substeps: int = 0) -> list[str]:
    """Why a trajectory of actor ``k`` is implausible ([] = plausible). The defaults are the checks before
    issue 28 (centre on the road, overlaps at the steps only); :class:`Perturbation` passes its config's."""
    why = []
    if not sc.on_road(states[:, :2], margin=road_margin).all():
        why.append("off road")
    box = sc.actors[k].box(states)
    if box_tolerance is not None and "off road" not in why:
        if not sc.box_on_road(sc.actors[k].box(interp_states(states, substeps)), box_tolerance).all():
            why.append("box off road")
    if lat_accel_max is not None and (lateral_accel(states) > lat_accel_max).any():
        why.append("lateral acceleration above the friction bound")
    others = [i for i in range(len(sc.actors)) if i != k]
    if others:
        ob = np.stack([sc.actors[i].box(sc.actor_log(i)) for i in others])  # (O, T+1, 5)
        if (path_gap(box[None], ob, substeps) < 0).any():
            why.append("collides with another actor")
    if (path_gap(box, sc.sdv.box(sc.sdv_log()), substeps) < 0).any():
        why.append("collides with the logged SDV path")
    return why


class Perturbation:
    """z in [0, 1]^D -> plausible actor trajectory (the projection), for one scenario."""

    def __init__(self, sc: Scenario, cfg: AdversaryConfig) -> None:
        self.sc, self.cfg = sc, cfg
        self.k = sc.adversary
        self.lo, self.hi = bounds(cfg)
        self.anchor = np.clip(0.0, self.lo, self.hi)
        self.dim = len(self.lo)

    def delta(self, z: np.ndarray) -> np.ndarray:
        return self.lo + np.clip(z, 0, 1) * (self.hi - self.lo)

    def anchor_z(self) -> np.ndarray:
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        return (self.anchor - self.lo) / span

    def ok(self, delta: np.ndarray) -> bool:
        st = perturbed_states(self.sc, self.k, delta, self.cfg.knots)
        return not self.violations(st)

    def violations(self, states: np.ndarray) -> list[str]:
        c = self.cfg
        return violations(self.sc, self.k, states, c.road_margin, c.box_tolerance, c.lat_accel_max, c.substeps)

    def check_feasible(self, probes: int = 24) -> None:
        """Raise ConfigError when the anchor and ``probes`` random perturbations are all implausible."""
        if self.ok(self.anchor):
            return
        rng = np.random.default_rng(0)
        reasons: dict[str, int] = {}
        for _ in range(probes):
            d = self.delta(rng.random(self.dim))
            why = self.violations(perturbed_states(self.sc, self.k, d, self.cfg.knots))
            if not why:
                return
            for w in why:
                reasons[w] = reasons.get(w, 0) + 1
        for w in self.violations(perturbed_states(self.sc, self.k, self.anchor, self.cfg.knots)):
            reasons[w] = reasons.get(w, 0) + 1
        text = ", ".join(f"{w} ({n}/{probes + 1})" for w, n in sorted(reasons.items(), key=lambda x: -x[1]))
        raise ConfigError(f"the adversary bounds make every trajectory of actor '{self.sc.actors[self.k].id}' in "
                          f"scenario '{self.sc.name}' implausible: {text}; use bounds that include 0 "
                          "(adversary.lon/lat/yaw/speed/accel/kdot = [low, high] with low <= 0 <= high)")

    def project(self, z: np.ndarray, iters: int = 6) -> tuple[np.ndarray, np.ndarray, float]:
        """(plausible delta, its states, alpha): the farthest plausible point towards ``delta(z)`` from the anchor."""
        d = self.delta(z)
        if self.ok(d):
            return d, perturbed_states(self.sc, self.k, d, self.cfg.knots), 1.0
        lo, hi = 0.0, 1.0
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            if self.ok(self.anchor + mid * (d - self.anchor)):
                lo = mid
            else:
                hi = mid
        best = self.anchor + lo * (d - self.anchor)
        return best, perturbed_states(self.sc, self.k, best, self.cfg.knots), lo

    def actors(self, states: np.ndarray) -> np.ndarray:
        acts = self.sc.actor_logs().copy()
        acts[self.k] = states
        return acts


GAP_FLOOR, GAP_CEIL = -1.0, 5.0  # m: the objective's clip of the min gap (also the worst-gap metric's)


def objective(r: Any, cfg: AdversaryConfig) -> float:
    return float(cfg.w_col * r.collision + cfg.w_gap * -np.clip(r.min_gap, GAP_FLOOR, GAP_CEIL) + cfg.w_il * r.il_error
                 + cfg.w_other * r.max_decel / 6.0)


@dataclass
class SearchResult:
    scenario: str
    kind: str
    values: list[float]
    failures: list[bool]
    collisions: list[bool]
    gaps: list[float]  # per query: the SDV's smallest gap to any actor over the rollout (m; < 0 = collision)
    best_value: float
    best_delta: list[float]
    best_failure_delta: list[float] | None
    first_failure: int  # 1-based query index of the first failure, 0 = none
    seconds: float
    base_failure: bool  # the unperturbed scenario already fails

    @property
    def found(self) -> bool:
        return any(self.failures)

    @property
    def found_collision(self) -> bool:
        return any(self.collisions)

    @property
    def worst_gap(self) -> float:
        """The smallest SDV gap over the whole search, clipped to [``GAP_FLOOR``, ``GAP_CEIL``] m: a collision
        of any depth counts as ``GAP_FLOOR`` (the rollout stops at the first contact, so depth is not comparable),
        a search that never came within ``GAP_CEIL`` m counts as that (the objective's own clip)."""
        return float(np.clip(min(self.gaps), GAP_FLOOR, GAP_CEIL)) if self.gaps else float("nan")


def search(sc: Scenario, stack: Any, cfg: AdversaryConfig, seed: int) -> SearchResult:
    """Maximise the objective over ``cfg.budget`` closed-loop queries with ``cfg.optimizer``."""
    pert = Perturbation(sc, cfg)
    pert.check_feasible()
    base = stack.rollout(sc)
    values, fails, cols, gaps, deltas = [], [], [], [], []
    t0 = time.perf_counter()

    def query(z: np.ndarray) -> float:
        d, st, _ = pert.project(np.asarray(z, float))
        r = stack.rollout(sc, pert.actors(st))
        v = objective(r, cfg)
        values.append(v)
        fails.append(r.failure)
        cols.append(r.collision)
        gaps.append(float(r.min_gap))
        deltas.append(d)
        return v

    rng = np.random.default_rng(seed)
    if cfg.optimizer == "random":
        for _ in range(cfg.budget):
            query(rng.random(pert.dim))
    elif cfg.optimizer == "cma":
        import cma

        pop = max(4, min(8, cfg.budget // 3))
        es = cma.CMAEvolutionStrategy(pert.anchor_z(), 0.3, {"bounds": [0, 1], "seed": seed + 1, "popsize": pop,
                                                             "verbose": -9})
        while len(values) < cfg.budget:
            xs = es.ask()[: cfg.budget - len(values)]
            fs = [-query(x) for x in xs]
            if len(xs) == pop:
                es.tell(xs, fs)
    else:
        import optuna
        from optuna.distributions import FloatDistribution

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        startup = max(2, min(8, cfg.budget // 2)) if cfg.startup is None else cfg.startup
        sampler = (optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup) if cfg.sampler == "gp" else
                   optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        dists = {f"z{i}": FloatDistribution(0.0, 1.0) for i in range(pert.dim)}
        for _ in range(cfg.budget):
            trial = study.ask(dists)
            study.tell(trial, query(np.array([trial.params[f"z{i}"] for i in range(pert.dim)])))
    best = int(np.argmax(values))
    first = next((i + 1 for i, f in enumerate(fails) if f), 0)
    fail_idx = [i for i, f in enumerate(fails) if f]
    bfd = deltas[max(fail_idx, key=lambda i: values[i])].tolist() if fail_idx else None
    return SearchResult(sc.name, sc.kind, values, fails, cols, gaps, values[best], deltas[best].tolist(), bfd, first,
                        time.perf_counter() - t0, base.failure)
