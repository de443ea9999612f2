"""The embedded scenario set ``advsim-scenarios``: generated initial traffic scenarios saved as JSON files.

Six kinds, ``per_kind`` each (default 8, 48 files), on straight or curved 2-3 lane roads; the SDV starts in
a lane at 7-9 m/s and its log (the "human" trajectory) follows the lane at that speed:

* ``following``: a slower lead car in the SDV's lane (the adversary), background cars in the next lane;
* ``cut-in``: a car in the next lane ahead changes into the SDV's lane with a safe gap (the adversary);
* ``merge``: a faster car beside / behind the SDV in the next lane passes and merges ahead (the adversary);
* ``intersection``: a crossing road ahead; a car on it crosses before or after the SDV (the adversary);
* ``parked``: parked cars in the kerb lane; the nearest one ahead may pull out (the adversary);
* ``occluding-truck``: a slow truck in the next lane hides a car beside it (the adversary).

Every log is checked: no actor overlaps another, nor the SDV's log (gap >= 1 m); scenarios are drawn again
until they pass. Built offline in about a second, cached with a manifest and checksums under
``$TRUSTLAB_DATA/advsim-scenarios/v1/``. Split: index % 4 == 3 is ``test`` (held out), the rest ``train``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from trustlab.errors import DataError
from trustlab.methods.advsim.world import (
    Agent,
    Road,
    Scenario,
    box_gap,
    curved_road,
    follow_controls,
    load_scenario,
    straight_road,
)

NAME, VERSION, GENERATOR = "advsim-scenarios", "v1", "1.0"
KINDS = ("following", "cut-in", "merge", "intersection", "parked", "occluding-truck")
CAR = (4.5, 2.0, 1.6)
TRUCK = (10.0, 2.5, 3.5)
DT, STEPS = 0.5, 10


def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _agent_on(road: Road, s: float, d: float, v: float, steps: int, target_d, target_v, size, aid: str,
              kind: str = "car", adversarial: bool = False) -> Agent:
    x, y, yaw = road.pose(np.array(s), np.array(d))
    st = np.array([x, y, yaw, v, 0.0])
    ctrl = follow_controls(road, st, steps, DT, target_d, target_v) if v > 0 or np.any(np.asarray(target_v) > 0) \
        else np.zeros((steps, 2))
    return Agent(aid, st, size, ctrl, kind, adversarial)


def _lane_change(d0: float, d1: float, t0: float, dur: float, steps: int) -> np.ndarray:
    t = np.arange(steps) * DT
    return d0 + (d1 - d0) * _smooth((t - t0) / dur)


def _one(kind: str, rng: np.random.Generator, idx: int) -> Scenario:
    lanes = 3 if kind == "parked" else 2
    if rng.random() < 0.5 or kind == "intersection":
        road = straight_road(lanes=lanes)
    else:
        road = curved_road(radius=float(rng.choice([-1, 1]) * rng.uniform(60, 140)), lanes=lanes)
    roads = [road]
    ego_lane = 1 if kind == "parked" else 0
    d_ego = road.lane_offset(ego_lane)
    other = road.lane_offset(ego_lane + 1) if ego_lane + 1 < lanes else road.lane_offset(ego_lane - 1)
    s_ego = 40.0
    v_ego = float(rng.uniform(7, 9))
    steps = STEPS
    sdv = _agent_on(road, s_ego, d_ego, v_ego, steps, d_ego, v_ego, CAR, "sdv")
    actors: list[Agent] = []
    n_bg = int(rng.integers(0, 3))
    if kind == "following":
        gap = rng.uniform(14, 24)
        v = rng.uniform(4, 7)
        actors.append(_agent_on(road, s_ego + gap, d_ego, v, steps, d_ego, v, CAR, "lead", adversarial=True))
    elif kind == "cut-in":
        ds = rng.uniform(8, 16)
        v = rng.uniform(v_ego - 1, v_ego + 1)
        td = _lane_change(other, d_ego, rng.uniform(0.5, 2.0), 2.5, steps)
        actors.append(_agent_on(road, s_ego + ds, other, v, steps, td, v, CAR, "cutter", adversarial=True))
    elif kind == "merge":
        ds = rng.uniform(-9, -2)
        v = rng.uniform(v_ego + 2.5, v_ego + 4)
        td = _lane_change(other, d_ego, rng.uniform(2.0, 3.0), 2.5, steps)
        actors.append(_agent_on(road, s_ego + ds, other, v, steps, td, v, CAR, "merger", adversarial=True))
    elif kind == "intersection":
        sx = s_ego + rng.uniform(22, 32)  # crossing point along the route
        cx, cy, _ = road.pose(np.array(sx), np.array(0.0))
        cross = straight_road(length=120, lanes=2, start=(cx, cy - 60), heading=math.pi / 2)
        roads.append(cross)
        t_ego = (sx - s_ego) / v_ego
        v = rng.uniform(6, 9)
        before = rng.random() < 0.5
        t_cross = t_ego - rng.uniform(1.6, 2.6) if before else t_ego + rng.uniform(1.6, 2.6)
        s_start = 60 - v * t_cross
        lane_d = cross.lane_offset(0)
        actors.append(_agent_on(cross, s_start, lane_d, v, steps, lane_d, v, CAR, "crosser", adversarial=True))
        n_bg = min(n_bg, 1)
    elif kind == "parked":
        kerb = road.lane_offset(0)
        first = rng.uniform(10, 18)
        for j in range(int(rng.integers(2, 4))):
            s = s_ego + first + j * rng.uniform(7, 10)
            actors.append(_agent_on(road, s, kerb + rng.uniform(-0.3, 0.3), 0.0, steps, kerb, 0.0, CAR, f"parked{j}",
                                    adversarial=(j == 0)))
        n_bg = 0
    elif kind == "occluding-truck":
        ds = rng.uniform(6, 14)
        vt = rng.uniform(3, 6)
        actors.append(_agent_on(road, s_ego + ds, other, vt, steps, other, vt, TRUCK, "truck", kind="truck"))
        actors.append(_agent_on(road, s_ego + ds + rng.uniform(9, 13), other, vt, steps, other, vt, CAR, "hidden",
                                adversarial=True))
        n_bg = 0
    for j in range(n_bg):  # background traffic in the other lane, well away from the scenario's actors
        s = s_ego + float(rng.choice([-1, 1])) * rng.uniform(25, 40)
        v = rng.uniform(6, 9)
        actors.append(_agent_on(road, s, other, v, steps, other, v, CAR, f"bg{j}"))
    return Scenario(f"{kind}_{idx:02d}", kind, DT, steps, roads, sdv, actors, route=0)


def log_gaps(sc: Scenario) -> tuple[float, float]:
    """(min gap actor vs SDV log, min gap actor vs actor) over the logs."""
    sdv = sc.sdv.box(sc.sdv_log())
    logs = [a.box(sc.actor_log(i)) for i, a in enumerate(sc.actors)]
    g_sdv = min((float(box_gap(b, sdv).min()) for b in logs), default=np.inf)
    g_aa = np.inf
    for i in range(len(logs)):
        for j in range(i + 1, len(logs)):
            g_aa = min(g_aa, float(box_gap(logs[i], logs[j]).min()))
    return g_sdv, g_aa


def generate(seed: int = 0, per_kind: int = 8, kinds: tuple[str, ...] = KINDS) -> list[Scenario]:
    """``per_kind`` scenarios of each kind whose logs are collision-free (actor-SDV log gap >= 1 m)."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in kinds:
        made = 0
        for _ in range(per_kind * 50):
            sc = _one(kind, rng, made)
            g_sdv, g_aa = log_gaps(sc)
            if g_sdv >= 1.0 and g_aa >= 0.5 and _on_road_logs(sc):
                out.append(sc)
                made += 1
                if made == per_kind:
                    break
        if made < per_kind:
            raise DataError(f"could not generate {per_kind} valid '{kind}' scenarios; lower per_kind")
    return out


def _on_road_logs(sc: Scenario) -> bool:
    return all(bool(sc.on_road(sc.actor_log(i)[:, :2]).all()) for i in range(len(sc.actors)))


def split_of(i: int) -> str:
    return "test" if i % 4 == 3 else "train"


def build_dir(directory: Path, seed: int = 0) -> list[str]:
    from trustlab.data.cache import write_json_atomic, write_manifest

    files = []
    for i, sc in enumerate(generate(seed)):
        fname = f"{i:03d}_{sc.name}.json"
        d = sc.to_json()
        d["split"] = split_of(i)
        write_json_atomic(directory / fname, d)
        files.append(fname)
    write_manifest(directory, files, name=NAME, version=VERSION, generator_version=GENERATOR, seed=seed)
    return files


def embedded_dir(seed: int = 0) -> Path:
    """The cached folder of the embedded scenario files (built on first use, verified by its manifest)."""
    import sys

    from trustlab.data.cache import dataset_dir, verify

    directory = dataset_dir(NAME, VERSION)
    problem = verify(directory, generator_version=GENERATOR, seed=seed)
    if problem is not None:
        print(f"trustlab: building {NAME} {VERSION} into {directory} ({problem})", file=sys.stderr)
        build_dir(directory, seed)
    return directory


def load_embedded(split: str = "all") -> list[Scenario]:
    """The embedded scenarios of ``split`` (all | train | test)."""
    directory = embedded_dir()
    manifest = json.loads((directory / "manifest.json").read_text())
    out = []
    for i, fname in enumerate(sorted(manifest["files"])):
        if split in ("all", split_of(i)):
            out.append(load_scenario(directory / fname))
    return out


def load_set(root: str | None, split: str = "all", kinds: list[str] | None = None) -> list[Scenario]:
    """The embedded set (``root`` None) or every scenario file in ``root``; filtered by ``kinds``."""
    from trustlab.methods.advsim.world import load_scenario_dir

    if split not in ("all", "train", "test"):
        raise DataError(f"data.split '{split}' is not one of all, train, test")
    if root is None:
        scs = load_embedded(split)
    else:
        scs = load_scenario_dir(root)
        if split != "all":
            scs = [s for i, s in enumerate(scs) if split_of(i) == split]
    if kinds:
        scs = [s for s in scs if s.kind in kinds]
    if not scs:
        raise DataError(f"the scenario set is empty (root={root or 'embedded'}, split={split}, kinds={kinds}); "
                        "pick another split/kinds or add scenario files")
    return scs


# --- trustlab data build|show advsim-scenarios -------------------------------------------------------


def _lines(cfg: object) -> list[str]:
    root = getattr(cfg, "root", None)
    scs = load_set(root)
    kinds: dict[str, int] = {}
    for s in scs:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    src = root or str(embedded_dir())
    lines = [f"{NAME}: {len(scs)} scenarios in {src} (dt {scs[0].dt} s x {scs[0].steps} steps)",
             "kinds: " + "  ".join(f"{k}={v}" for k, v in kinds.items())]
    if root is None:
        lines.append(f"split: train={sum(split_of(i) == 'train' for i in range(len(scs)))} "
                     f"test={sum(split_of(i) == 'test' for i in range(len(scs)))} (index % 4 == 3 is test)")
    for s in scs[:: max(1, len(scs) // 6)][:6]:
        g_sdv, _ = log_gaps(s)
        lines.append(f"  {s.name:<20} actors={len(s.actors)} adversary={s.actors[s.adversary].id} "
                     f"min log gap to SDV {g_sdv:.1f} m")
    return lines


def _show(cfg: object, out_dir: Path) -> list[Path]:
    """One PNG of bird's-eye views: the first scenario of each kind with its logs and one LiDAR sweep."""
    from trustlab.methods.advsim.figures import scenario_grid

    scs = load_set(getattr(cfg, "root", None))
    picks, seen = [], set()
    for s in scs:
        if s.kind not in seen:
            seen.add(s.kind)
            picks.append(s)
    out = Path(out_dir) / f"{NAME}.png"
    scenario_grid(picks, out)
    return [out]


def _register() -> None:
    from trustlab.data.base import DatasetEntry
    from trustlab.registry import DATASETS

    DATASETS.add(NAME, DatasetEntry(_lines, _show, "AdvSim: 48 JSON traffic scenarios (6 kinds) for the LiDAR "
                                    "autonomy stack; data.root=<folder of scenario .json> for your own",
                                    build_seconds=5.0))


_register()

