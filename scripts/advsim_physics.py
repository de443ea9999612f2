"""Issue 28 item 1 measured: what the continuous-time and box / friction plausibility checks change.

1. Random perturbations (``--per-scenario`` draws of z ~ U[0, 1]^D per scenario of the embedded set, seed
   ``--seed``), projected onto the old plausible set (centre on the road, overlaps at the 0.5 s steps): how
   many of those the new checks reject, by reason (box off road, friction bound, overlaps between steps); the
   box overhang and lateral acceleration of the old-plausible ones.
2. Closed loop (``--rollouts`` of the old-plausible perturbations, first ones per scenario, perception
   ``--perception``): collisions / near-misses with the check at the steps vs in continuous time, on the same
   rollouts (the planner does not read the check, so the trajectories are the same up to a collision); then
   the same draws projected with the new checks and scored in continuous time (before/after as a whole).

    .venv/bin/python scripts/advsim_physics.py --per-scenario 12 --rollouts 6 --perception lidar

3. ``--roof``: the SDV's own body, which the caster leaves out (the sensor is ``LidarConfig.height`` = 1.8 m above
   the ground, 0.2 m above the 1.6 m roof): per logged step of every scenario, a sweep with the SDV's box added
   vs without it: the share of rays its roof would block, the object returns lost, and the actors that would
   drop below the detector's ``min_points`` while visible without the roof.

    .venv/bin/python scripts/advsim_physics.py --roof
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from trustlab.methods.advsim.adversary import AdversaryConfig, Perturbation, perturbed_states, violations
from trustlab.methods.advsim.scenarios import load_set
from trustlab.methods.advsim.stack import Stack, StackConfig
from trustlab.methods.advsim.world import box_corners, lateral_accel, path_gap


def overhang(sc, boxes: np.ndarray) -> float:
    """Largest distance (m) a box corner lies beyond the nearest road's edge (0: the whole box on a road)."""
    c = box_corners(boxes).reshape(-1, 2)
    out = np.full(len(c), np.inf)
    for r in sc.roads:
        s, d = r.project(c)
        beyond = np.abs(d) - r.half_width
        out = np.minimum(out, np.where((s >= 0) & (s <= r.length), np.maximum(beyond, 0.0), np.inf))
    return float(out.max())


def roof(scs: list) -> None:
    """Item 3 of the docstring: what the SDV's own roof would occlude (it is not modelled in the caster)."""
    from trustlab.methods.advsim.detector import DetectorConfig
    from trustlab.methods.advsim.lidar import GROUND, Lidar

    lidar, min_pts = Lidar(), DetectorConfig().min_points
    rays = blocked = obj = obj_lost = seen = dropped = 0
    ground = ground_lost = 0
    for sc in scs:
        logs, sdv = sc.actor_logs(), sc.sdv_log()
        for t in range(sc.steps + 1):
            pose = sdv[t]
            b3 = np.array([[*logs[i, t, :3], *a.size] for i, a in enumerate(sc.actors)]).reshape(-1, 6)
            ego = np.array([[pose[0], pose[1], pose[2], *sc.sdv.size]])
            a_ = lidar.cast(pose[:2], b3)
            b_ = lidar.cast(pose[:2], np.concatenate([b3, ego]))
            k = len(b3)
            mask = b_.hit == k
            rays += mask.size
            blocked += int(mask.sum())
            obj += int((a_.hit >= 0).sum())
            obj_lost += int(((a_.hit >= 0) & mask).sum())
            ground += int((a_.hit == GROUND).sum())
            ground_lost += int(((a_.hit == GROUND) & mask).sum())
            for i in range(k):
                n_a, n_b = int((a_.hit == i).sum()), int((b_.hit == i).sum())
                if n_a >= min_pts:
                    seen += 1
                    dropped += n_b < min_pts
    print(f"SDV roof ({len(scs)} scenarios, every logged step): it blocks {blocked / rays:.1%} of the rays; "
          f"object returns lost {obj_lost} of {obj} ({obj_lost / max(obj, 1):.1%}), ground returns lost "
          f"{ground_lost} of {ground} ({ground_lost / max(ground, 1):.1%}); actors with >= {min_pts} points that "
          f"would fall below: {dropped} of {seen}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-scenario", type=int, default=12)
    ap.add_argument("--rollouts", type=int, default=6, help="closed-loop rollouts per scenario (0: none)")
    ap.add_argument("--perception", default="lidar", choices=["lidar", "gt"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--roof", action="store_true", help="only measure what the SDV's own roof would occlude")
    a = ap.parse_args()
    if a.roof:
        roof(load_set(None, "all", None))
        return
    cfg = AdversaryConfig()
    old = AdversaryConfig(box_tolerance=None, lat_accel_max=None, substeps=0)  # the checks before issue 28
    scs = load_set(None, "all", None)
    rng = np.random.default_rng(a.seed)
    n = old_ok = raw_ok = 0
    new_why: dict[str, int] = {}
    new_rej = 0
    hang, lat = [], []
    plausible: list[tuple[object, Perturbation, np.ndarray]] = []
    for sc in scs:
        p = Perturbation(sc, cfg)
        p_old = Perturbation(sc, old)
        kept = 0
        for _ in range(a.per_scenario):
            z = rng.random(p.dim)
            n += 1
            raw_ok += not violations(sc, p.k, perturbed_states(sc, p.k, p.delta(z), cfg.knots), cfg.road_margin)
            _, st, _ = p_old.project(z)  # the old projection: plausible under the old checks
            assert not violations(sc, p.k, st, cfg.road_margin)
            old_ok += 1
            hang.append(overhang(sc, sc.actors[p.k].box(st)))
            lat.append(float(lateral_accel(st).max()))
            why = p.violations(st)
            if why:
                new_rej += 1
                for w in why:
                    new_why[w] = new_why.get(w, 0) + 1
            if kept < a.rollouts:
                plausible.append((sc, p, st, p.project(z)[1]))
                kept += 1
    hang_a, lat_a = np.array(hang), np.array(lat)
    print(f"random perturbations: {n} drawn ({a.per_scenario} x {len(scs)} scenarios, seed {a.seed}), {raw_ok} "
          f"plausible before projection (old check); after the old projection the new checks reject {new_rej} "
          f"of {old_ok} ({new_rej / max(old_ok, 1):.1%})")
    for w, k in sorted(new_why.items(), key=lambda x: -x[1]):
        print(f"  {w}: {k}")
    print(f"  box over the road edge in {np.mean(hang_a > 0):.0%} of the old-plausible (median of those "
          f"{np.median(hang_a[hang_a > 0]) if (hang_a > 0).any() else 0:.2f} m, max {hang_a.max():.2f} m); "
          f"lateral acceleration > {cfg.lat_accel_max} m/s^2 in {np.mean(lat_a > cfg.lat_accel_max):.1%} "
          f"(max {lat_a.max():.1f} m/s^2)")
    if not plausible:
        return
    stack = Stack(StackConfig(perception=a.perception, substeps=0))
    t0 = time.process_time()
    old_col = new_col = old_nm = new_nm = 0
    extra = []
    new_proj_col = new_proj_fail = 0
    for sc, p, st, st_new in plausible:
        r = stack.rollout(sc, p.actors(st))  # steps-only check: runs until its own collision
        sb = sc.sdv.box(r.sdv)
        ab = np.stack([ac.box(r.actors[i, : len(r.sdv)]) for i, ac in enumerate(sc.actors)])
        g = float(path_gap(sb[None], ab, cfg.substeps).min())
        old_col += r.collision
        old_nm += r.failure
        new_col += g < 0
        new_nm += g < stack.cfg.near_miss
        if g < 0 and not r.collision:
            extra.append((sc.name, -g, r.min_gap))
        stack.cfg.substeps = cfg.substeps  # after: the new projection of the same z, the continuous check
        r2 = stack.rollout(sc, p.actors(st_new))
        stack.cfg.substeps = 0
        new_proj_col += r2.collision
        new_proj_fail += r2.failure
    m = len(plausible)
    print(f"closed loop ({a.perception}): {m} rollouts of old-plausible random perturbations, "
          f"{time.process_time() - t0:.0f} CPU-s")
    print(f"  collisions: at the steps {old_col} ({old_col / m:.3f}), continuous {new_col} ({new_col / m:.3f}); "
          f"failures (collision or near-miss < {stack.cfg.near_miss} m): {old_nm} -> {new_nm}")
    print(f"  after (new projection of the same draws + continuous check): collisions {new_proj_col} "
          f"({new_proj_col / m:.3f}), failures {new_proj_fail} ({new_proj_fail / m:.3f})")
    for name, depth, g0 in extra:
        print(f"  found between steps: {name} overlap {depth:.2f} m (step-time min gap {g0:+.2f} m)")


if __name__ == "__main__":
    main()
