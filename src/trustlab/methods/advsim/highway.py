"""AdvSim's adversary in a real, public driving simulator: ``highway-env`` (gymnasium; ``highway-v0``, ``merge-v0``,
``intersection-v0``), against an agent the user brings (``advsim/highway``).

AdvSim ("AdvSim: Generating Safety-Critical Scenarios for Self-Driving Vehicles", arXiv:2101.06549) perturbs an
actor's logged trajectory within a plausible set and re-simulates the world the autonomy stack sees, in closed loop.
Its simulator is not public; here highway-env is the world and the stack is the user's agent (a callable policy on
highway-env's observation, e.g. its LiDAR observation, or a stable-baselines3 checkpoint), beside trustlab's own
LiDAR stack (``advsim/attack``).

How a highway-env scene becomes an AdvSim scenario (:func:`log_scenario`):

1. ``env.reset(seed)`` draws the scene; the ``env.max_actors`` vehicles nearest the ego are kept, the rest removed.
2. **The log**: the scene is simulated for ``env.steps`` x 0.5 s with highway-env's own IDM/MOBIL driver in the ego's
   place (the reference "human" driver, as AdvSim's logs are human drives) and its IDM/MOBIL actors.
3. Every logged trajectory is fitted by the kinematic bicycle model of :mod:`.world` (pure pursuit on the logged
   positions, :func:`fit_controls`), so the scenario is an ordinary :class:`~trustlab.methods.advsim.world.Scenario`
   whose roads are highway-env's lanes (one road per lane, cropped around the scene).

The adversary is then :func:`trustlab.methods.advsim.adversary.search` unchanged: the same perturbation (initial
offset + control offsets at knots through the bicycle model), the same plausibility projection (centre and whole box
on a lane, friction bound, no overlap with the other actors' logs or the reference driver's logged path, in
continuous time), the same objective and optimisers. Only the closed loop differs (:class:`HighwayStack`): the
actors **replay** their (perturbed) trajectories in highway-env (non-reactive, as in AdvSim's log replay), and the
ego is driven by the user's agent through highway-env's action type, physics (16 Hz) and observation. A collision
is highway-env's own crash flag or a negative swept box gap (:func:`~trustlab.methods.advsim.world.path_gap` over
the 16 Hz frames); a near-miss a gap below ``stack.near_miss``.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trustlab.errors import ConfigError
from trustlab.methods.advsim.adversary import AdversaryConfig, Perturbation, check_config, search
from trustlab.methods.advsim.world import Agent, Limits, Road, Scenario, bicycle_rollout, path_gap, wrap_angle

PIN = "highway-env==1.12.1"
INSTALL = f"pip install 'trustlab[advsim-sim]' (or: pip install {PIN})"
ENVS = ("highway-v0", "highway-fast-v0", "merge-v0", "intersection-v0")
OBSERVATIONS = {"lidar": {"type": "LidarObservation"}, "kinematics": {"type": "Kinematics"}}
SB3_ALGOS = ("DQN", "PPO", "A2C", "SAC", "TD3", "DDPG")
DT, FRAMES = 0.5, 8  # policy step (s) and simulation frames per step (16 Hz)
# highway-env's vehicle limits: MAX_SPEED 40 m/s; IDM brakes and accelerates up to 6 m/s^2. kdot_max is raised from
# the embedded world's 0.1 so the fitted logs can follow intersection-v0's turns (radius ~10 m) within two steps.
LIMITS = Limits(v_max=40.0, a_max=6.0, kappa_max=0.2, kdot_max=0.2)


@dataclass
class HighwayEnvSection:
    id: str = "highway-v0"  # highway-env scenario: highway-v0, highway-fast-v0, merge-v0, intersection-v0
    observation: Literal["lidar", "kinematics"] = "lidar"  # what the agent sees (LidarObservation / Kinematics)
    scenarios: int = 6  # scenes drawn (env seeds train.seed * 1000 + 0, 1, ...; a scene whose log fails is skipped)
    max_actors: int = 8  # vehicles kept, nearest the ego at t = 0 (the rest are removed from the scene)
    steps: int = 10  # policy steps of 0.5 s (the horizon)


@dataclass
class HighwayAgentSection:
    # idle: constant speed, keep lane (DiscreteMetaAction IDLE; zeros for continuous actions); random: uniform
    # actions (seeded); "pkg.module:function" or "file.py:function": a callable obs -> action, or an object with
    # predict(obs, deterministic=True) (stable-baselines3 style); "model.zip": a stable-baselines3 checkpoint of
    # class ``algo`` (stable-baselines3 must be installed)
    policy: str = "idle"
    algo: str = "DQN"  # stable-baselines3 class of a .zip checkpoint (checked for every policy)


@dataclass
class HighwayStackSection:
    near_miss: float = 0.5  # m: swept box gap below which the ego had a near-miss
    substeps: int = 4  # continuous-time pieces per 1/16 s frame of the gap check (0: at the frames only)


@dataclass
class SeedSection:
    """``train.seed``: the scene draw (env seeds ``train.seed * 1000 + i``); named ``train`` for the bench's seed key,
    this recipe trains nothing."""

    seed: int = 0


@dataclass
class HighwayConfig:
    env: HighwayEnvSection = field(default_factory=HighwayEnvSection)
    agent: HighwayAgentSection = field(default_factory=HighwayAgentSection)
    stack: HighwayStackSection = field(default_factory=HighwayStackSection)
    adversary: AdversaryConfig = field(default_factory=AdversaryConfig)
    train: SeedSection = field(default_factory=SeedSection)
    # also search with random perturbations at the same budget and seeds (summary ``random``): the baseline the
    # attack is compared with; the unperturbed scene (``base_*``) is the no-perturbation baseline
    baseline: bool = True


# --- highway-env -------------------------------------------------------------------------------------------


def import_highway() -> Any:
    """``highway_env`` (registers its gymnasium ids), or one ConfigError line with the fix."""
    try:
        return importlib.import_module("highway_env")
    except ImportError:
        raise ConfigError(f"advsim/highway needs highway-env, which is not installed: {INSTALL}") from None


def make_env(e: HighwayEnvSection) -> Any:
    import_highway()
    import gymnasium as gym

    if e.id not in gym.registry:
        from trustlab.errors import did_you_mean

        ids = [k for k in gym.registry if k in ENVS or "highway" in str(gym.registry[k].entry_point)]
        raise ConfigError(f"env.id '{e.id}' is not a highway-env scenario{did_you_mean(e.id, ids)}; tried: "
                          f"{', '.join(ENVS)}")
    if e.observation not in OBSERVATIONS:
        raise ConfigError(f"env.observation '{e.observation}' is not one of {', '.join(OBSERVATIONS)}")
    for k in ("scenarios", "max_actors", "steps"):
        if getattr(e, k) < 1:
            raise ConfigError(f"env.{k} must be >= 1, got {getattr(e, k)}")
    cfg = {"observation": dict(OBSERVATIONS[e.observation]), "simulation_frequency": int(FRAMES / DT),
           "policy_frequency": int(1 / DT), "spawn_probability": 0.0, "offroad_terminal": False}
    return gym.make(e.id, config=cfg)


def _state(v: Any) -> list[float]:
    return [float(v.position[0]), float(v.position[1]), float(v.heading), float(v.speed)]


def _simulate(road: Any, frames: int) -> None:
    for _ in range(frames):
        road.act()
        road.step(DT / FRAMES)


def fit_controls(traj: np.ndarray, limits: Limits = LIMITS) -> tuple[np.ndarray, np.ndarray]:
    """(state0 (5,), controls (T, 2)) of the bicycle model that follows the logged ``(T + 1, 4)`` = (x, y, yaw, v):
    per step, the speed that covers the distance to the next logged position and the pure-pursuit curvature through
    the position two steps ahead."""
    s = np.array([*traj[0], 0.0])
    steps = len(traj) - 1
    ctrl = np.zeros((steps, 2))
    for t in range(steps):
        nxt = traj[t + 1, :2] - s[:2]
        dist = float(np.hypot(*nxt))
        v_new = min(max(2 * dist / DT - s[3], 0.0), limits.v_max)
        look = traj[min(t + 2, steps), :2] - s[:2]
        ll = float(np.hypot(*look))
        kap = s[4]
        if ll > 0.5:
            kap = 2 * math.sin(float(wrap_angle(math.atan2(look[1], look[0]) - s[2]))) / ll
        ctrl[t] = ((v_new - s[3]) / DT, (kap - s[4]) / DT)
        s = bicycle_rollout(s, ctrl[t : t + 1], DT, limits)[1]
    return np.array([*traj[0], 0.0]), ctrl


def _lane_grid(lane: Any, lo: np.ndarray, hi: np.ndarray, step: float) -> np.ndarray:
    """Longitudinal positions to sample ``lane`` at: a straight lane's two ends cropped to the box ``[lo, hi]``, a
    curved lane every ``step`` m."""
    from highway_env.road.lane import StraightLane

    length = float(lane.length)
    if isinstance(lane, StraightLane):
        ss = [lane.local_coordinates(np.array([x, y]))[0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])]
        s0, s1 = max(0.0, min(ss)), min(length, max(ss))
        return np.array([s0, s1]) if s1 - s0 > 1e-3 else np.zeros(0)
    return np.linspace(0.0, length, max(2, int(math.ceil(length / step)) + 1))


def lane_roads(network: Any, lo: np.ndarray, hi: np.ndarray, step: float = 2.0) -> list[Road]:
    """highway-env's lanes near the box ``[lo, hi]`` as :class:`Road` s: the parallel lanes of one edge of its road
    network (equal width, side by side) as one multi-lane road, so a lane change stays on the road; any other lane
    as a road of its own."""
    roads = []
    for tos in network.graph.values():
        for lanes in tos.values():
            grid = _lane_grid(lanes[0], lo, hi, step)
            if len(grid) < 2:
                continue
            pts = np.array([[ln.position(float(t), 0.0) for t in grid] for ln in lanes])  # (L, G, 2)
            if not ((pts >= lo) & (pts <= hi)).all(-1).any():
                continue
            width = float(lanes[0].width_at(float(grid[len(grid) // 2])))
            centre = pts.mean(0)
            offs = np.hypot(*(pts - centre[None]).transpose(2, 0, 1))  # (L, G)
            want = np.abs(np.arange(len(lanes)) - (len(lanes) - 1) / 2)[:, None] * width
            if np.allclose(offs, want, atol=0.05):
                roads.append(Road(centre, lanes=len(lanes), lane_width=width))
            else:
                roads += [Road(p, lanes=1, lane_width=float(ln.width_at(float(grid[len(grid) // 2]))))
                          for p, ln in zip(pts, lanes, strict=True)]
    return roads


@dataclass
class HighwayScenario(Scenario):
    env_seed: int = 0
    keep: tuple[int, ...] = ()  # indices into road.vehicles (after reset) of the actors, in order


def _scene(env: Any, seed: int, max_actors: int) -> tuple[Any, Any, list[int]]:
    """Reset with ``seed``; keep the ego and its ``max_actors`` nearest vehicles (indices into road.vehicles)."""
    env.reset(seed=seed)
    u = env.unwrapped
    ego = u.vehicle
    cand = [i for i, v in enumerate(u.road.vehicles) if v is not ego]
    cand.sort(key=lambda i: float(np.hypot(*(u.road.vehicles[i].position - ego.position))))
    keep = sorted(cand[:max_actors])
    return u, ego, keep


def log_scenario(env: Any, seed: int, e: HighwayEnvSection) -> HighwayScenario | None:
    """The scene of ``seed`` logged with highway-env's IDM/MOBIL driver as the ego (None when the log crashes)."""
    from highway_env.vehicle.behavior import IDMVehicle

    u, ego, keep = _scene(env, seed, e.max_actors)
    road = u.road
    actors = [road.vehicles[i] for i in keep]
    ref = IDMVehicle.create_from(ego)
    road.vehicles = [ref, *actors]
    logs = [[_state(v)] for v in road.vehicles]
    for _ in range(e.steps):
        _simulate(road, FRAMES)
        if any(v.crashed for v in road.vehicles):
            return None
        for log, v in zip(logs, road.vehicles, strict=True):
            log.append(_state(v))
    arr = np.asarray(logs)  # (1 + A, T + 1, 4)
    pts = arr[..., :2].reshape(-1, 2)
    lo, hi = pts.min(0) - 40.0, pts.max(0) + 40.0
    roads = lane_roads(road.network, lo, hi)
    agents = []
    for j, (v, traj) in enumerate(zip([ego, *actors], arr, strict=True)):
        s0, ctrl = fit_controls(traj)
        agents.append(Agent("ego" if j == 0 else f"v{keep[j - 1]}", s0, (float(v.LENGTH), float(v.WIDTH), 1.5), ctrl))
    return HighwayScenario(f"{e.id}_{seed}", e.id, DT, e.steps, roads, agents[0], agents[1:], limits=LIMITS,
                           env_seed=seed, keep=tuple(keep))


def prepare_scene(stack: HighwayStack, seed: int, e: HighwayEnvSection, acfg: AdversaryConfig
                  ) -> HighwayScenario | None:
    """The logged scene of env seed ``seed`` with its adversary marked, or None (the log crashed, no actors, or the
    logged scene is not plausible under ``acfg``)."""
    sc = log_scenario(stack.env, seed, e)
    if sc is None or not sc.actors:
        return None
    sc.actors[int(np.argmin(stack.rollout(sc).actor_gaps))].adversarial = True
    pert = Perturbation(sc, acfg)
    return sc if pert.ok(pert.anchor) else None


def draw_scenarios(stack: HighwayStack, e: HighwayEnvSection, seed: int, acfg: AdversaryConfig) -> tuple[list, int]:
    """``e.scenarios`` scenes whose log has no crash and whose logged (anchor) scene is plausible; (scenes, skipped).
    The adversary of each is the actor that comes nearest the agent in its unperturbed drive (AdvSim attacks the
    actor nearest the SDV; here the SDV is the agent under test, not the reference driver of the log)."""
    out, skipped = [], 0
    for i in range(e.scenarios * 5):
        if len(out) == e.scenarios:
            break
        sc = prepare_scene(stack, seed * 1000 + i, e, acfg)
        if sc is None:
            skipped += 1
        else:
            out.append(sc)
    if len(out) < e.scenarios:
        raise ConfigError(f"env.id {e.id}: only {len(out)} of {e.scenarios} scenes drawn in {e.scenarios * 5} seeds "
                          "have a crash-free, plausible log; lower env.scenarios or env.steps")
    return out, skipped


# --- the agent ---------------------------------------------------------------------------------------------


def _load_callable(spec: str) -> Any:
    mod, _, attr = spec.rpartition(":")
    try:
        if mod.endswith(".py"):
            import importlib.util

            path = Path(mod).expanduser()
            if not path.is_file():
                raise ConfigError(f"agent.policy: file '{path}' does not exist")
            sp = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(sp)
            sp.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(mod)
        return getattr(module, attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"agent.policy '{spec}' cannot be loaded ({e}); give 'pkg.module:function' or "
                          "'file.py:function'") from None


def _sb3(path: str, algo: str) -> Any:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"agent.policy: stable-baselines3 checkpoint '{p}' does not exist")
    try:
        sb3 = importlib.import_module("stable_baselines3")
    except ImportError:
        raise ConfigError("agent.policy is a stable-baselines3 checkpoint but stable-baselines3 is not installed: "
                          "pip install stable-baselines3") from None
    return getattr(sb3, algo).load(str(p), device="cpu")


def make_agent(a: HighwayAgentSection, env: Any, seed: int) -> Any:
    """obs -> action for ``a.policy`` (see :class:`HighwayAgentSection`)."""
    if a.algo not in SB3_ALGOS:
        raise ConfigError(f"agent.algo '{a.algo}' is not one of {', '.join(SB3_ALGOS)}")
    u = env.unwrapped
    if a.policy == "idle":
        idx = getattr(u.action_type, "actions_indexes", {}).get("IDLE")
        act = idx if idx is not None else np.zeros(env.action_space.shape, np.float32)
        return lambda obs: act
    if a.policy == "random":
        space = env.action_space
        space.seed(seed)
        return lambda obs: space.sample()
    if a.policy.endswith(".zip"):
        obj = _sb3(a.policy, a.algo)
    elif ":" in a.policy:
        obj = _load_callable(a.policy)
    else:
        raise ConfigError(f"agent.policy '{a.policy}' is not idle, random, 'module:function', 'file.py:function' or "
                          "a stable-baselines3 .zip")
    if hasattr(obj, "predict"):
        return lambda obs: obj.predict(obs, deterministic=True)[0]
    if not callable(obj):
        raise ConfigError(f"agent.policy '{a.policy}' is neither callable nor has predict(obs, deterministic=True)")
    return obj


# --- the closed loop ---------------------------------------------------------------------------------------


def _replay_class() -> type:
    from highway_env.vehicle.kinematics import Vehicle

    class ReplayVehicle(Vehicle):
        """Follows a fixed (T + 1, 5) bicycle trajectory at 0.5 s steps (linear between steps, constant velocity
        after the last); non-reactive, as AdvSim replays logged actors."""

        def __init__(self, road: Any, traj: np.ndarray, length: float, width: float) -> None:
            super().__init__(road, np.array(traj[0, :2], float), float(traj[0, 2]), float(traj[0, 3]))
            self.traj, self.t = traj, 0.0
            self.LENGTH, self.WIDTH = length, width
            self.diagonal = float(np.hypot(length, width))

        def act(self, action: Any = None) -> None:
            """No action: a replayed actor follows its trajectory and ignores highway-env's IDM/MOBIL driver."""

        def step(self, dt: float) -> None:
            self.t += dt
            f = self.t / DT
            k = min(int(f), len(self.traj) - 2)
            a, b = self.traj[k], self.traj[k + 1]
            w = f - k
            self.position = a[:2] + w * (b[:2] - a[:2])
            self.heading = float(a[2] + min(w, 1.0) * wrap_angle(b[2] - a[2]))
            self.speed = float(a[3] + min(w, 1.0) * (b[3] - a[3]))
            self.on_state_update()

    return ReplayVehicle


@dataclass
class HighwayRollout:
    min_gap: float
    collision: bool
    near_miss: bool
    il_error: float
    max_decel: float
    progress: float
    crashed: bool  # highway-env's own flag
    steps: int  # policy steps driven (fewer after a crash)
    actor_gaps: np.ndarray  # (A,) the smallest swept gap of each actor to the ego (m)

    @property
    def failure(self) -> bool:
        return self.collision or self.near_miss


class HighwayStack:
    """The user's agent driving highway-env in closed loop against replayed (perturbed) actors."""

    def __init__(self, env: Any, agent: Any, s: HighwayStackSection) -> None:
        if s.substeps < 0 or s.near_miss < 0:
            raise ConfigError(f"stack.substeps and stack.near_miss must be >= 0, got {s.substeps}, {s.near_miss}")
        self.env, self.agent, self.cfg = env, agent, s
        self.replay = _replay_class()

    def rollout(self, sc: HighwayScenario, actors: np.ndarray | None = None) -> HighwayRollout:
        acts = sc.actor_logs() if actors is None else actors
        u, ego, keep = _scene(self.env, sc.env_seed, len(sc.keep))
        if tuple(keep) != sc.keep:
            raise ConfigError(f"scene {sc.name}: highway-env drew other vehicles for seed {sc.env_seed} than logged")
        road = u.road
        reps = [self.replay(road, acts[j], *sc.actors[j].size[:2]) for j in range(len(keep))]
        road.vehicles = [ego, *reps]
        obs = u.observation_type.observe()
        frames = [[_state(v) for v in road.vehicles]]
        steps = 0
        for _ in range(sc.steps):
            u.action_type.act(self.agent(obs))
            for _ in range(FRAMES):
                _simulate(road, 1)
                frames.append([_state(v) for v in road.vehicles])
                if ego.crashed:
                    break
            steps += 1
            if ego.crashed:
                break
            obs = u.observation_type.observe()
        return self._score(sc, np.asarray(frames), ego.crashed, steps)

    def _score(self, sc: HighwayScenario, fr: np.ndarray, crashed: bool, steps: int) -> HighwayRollout:
        size = np.array([[a.size[0], a.size[1]] for a in (sc.sdv, *sc.actors)])  # (1 + A, 2)
        boxes = np.concatenate([fr[..., :3], np.broadcast_to(size[None], fr.shape[:2] + (2,))], -1)  # (F, 1 + A, 5)
        gaps = path_gap(boxes[:, :1].transpose(1, 0, 2), boxes[:, 1:].transpose(1, 0, 2), self.cfg.substeps)
        actor_gaps = gaps.min(-1) if gaps.shape[-1] else np.full(len(sc.actors), np.inf)
        min_gap = float(actor_gaps.min()) if actor_gaps.size else float("inf")
        ego = fr[::FRAMES, 0]  # the ego at the policy steps
        log = sc.sdv_log()[: len(ego)]
        dv = np.diff(ego[:, 3])
        return HighwayRollout(
            min_gap=min_gap, collision=bool(crashed or min_gap < 0), near_miss=bool(min_gap < self.cfg.near_miss),
            il_error=float(np.mean(np.hypot(*(ego[:, :2] - log[:, :2]).T))),
            max_decel=float(max(0.0, -dv.min() / DT)) if len(dv) else 0.0,
            progress=float(np.hypot(*np.diff(fr[:, 0, :2], axis=0).T).sum()), crashed=bool(crashed), steps=steps,
            actor_gaps=actor_gaps)


# --- the recipe's run --------------------------------------------------------------------------------------


def _rate(xs: list[bool]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def _summarise(res: list, budget: int) -> dict[str, Any]:
    clean = [r for r in res if not r.base_failure]  # scenes the agent drives through unperturbed without a failure
    return {"found_rate": _rate([r.found for r in res]), "collision_rate": _rate([r.found_collision for r in res]),
            "n_clean": len(clean), "clean_collision_rate": _rate([r.found_collision for r in clean]),
            "mean_worst_gap": float(np.mean([r.worst_gap for r in res])),
            "mean_queries_to_failure": float(np.mean([r.first_failure or budget + 1 for r in res])),
            "seconds": float(sum(r.seconds for r in res))}


def run_highway(cfg: HighwayConfig, ctx: Any) -> dict[str, Any]:
    """Attack ``env.scenarios`` highway-env scenes against the agent with ``adversary.optimizer`` (and, with
    ``baseline``, random search at the same budget and seeds)."""
    check_config(cfg.adversary)
    env = make_env(cfg.env)
    agent = make_agent(cfg.agent, env, cfg.train.seed)
    stack = HighwayStack(env, agent, cfg.stack)
    t0 = time.perf_counter()
    scs, skipped = draw_scenarios(stack, cfg.env, cfg.train.seed, cfg.adversary)
    arms = [cfg.adversary.optimizer] + (["random"] if cfg.baseline else [])
    out: dict[str, list] = {}
    for arm in arms:
        acfg = replace(cfg.adversary, optimizer=arm)
        out[arm] = [search(sc, stack, acfg, seed=cfg.adversary.seed * 1000 + i) for i, sc in enumerate(scs)]
        if not ctx.quiet:
            s = _summarise(out[arm], acfg.budget)
            print(f"{arm}: found {s['found_rate']:.2f} collision {s['collision_rate']:.2f} "
                  f"worst gap {s['mean_worst_gap']:.2f} m", flush=True)
    first = out[arms[0]]
    rows = [{"scenario": sc.name, "env_seed": sc.env_seed, "adversary": sc.actors[sc.adversary].id,
             "base_failure": r.base_failure,
             **{arm: {"found": out[arm][i].found, "collision": out[arm][i].found_collision,
                      "worst_gap": out[arm][i].worst_gap, "first_failure": out[arm][i].first_failure,
                      "best_delta": out[arm][i].best_delta} for arm in arms}}
            for i, (sc, r) in enumerate(zip(scs, first, strict=True))]
    ctx.record.artifact("results.json").write_text(json.dumps(rows, indent=1))
    base = [stack.rollout(sc) for sc in scs]
    summary: dict[str, Any] = {
        "env": cfg.env.id, "observation": cfg.env.observation, "agent": cfg.agent.policy,
        "optimizer": arms[0], "budget": cfg.adversary.budget, "n_scenarios": len(scs), "skipped_scenes": skipped,
        "base_failure_rate": _rate([b.failure for b in base]),
        "base_collision_rate": _rate([b.collision for b in base]),
        **_summarise(first, cfg.adversary.budget), "scenarios": [sc.name for sc in scs],
        "total_seconds": time.perf_counter() - t0,
    }
    if cfg.baseline:
        summary["random"] = _summarise(out["random"], cfg.adversary.budget)
    env.close()
    return summary
