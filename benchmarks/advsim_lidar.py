"""AdvSim LiDAR simulator: rays per second of a full sweep, and remove-and-recast of one moved actor vs a full
re-cast of the same scene, measured side by side (alternating) in one process.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/advsim_lidar.py [--reps 20] [--actors 12]

Scenes: the SDV at the origin and ``--actors`` cars/trucks at random poses within 40 m (seeded). Two sensor
configurations: the stack's default (24 beams x 720 azimuths = 17,280 rays) and a dense one (64 x 2048 =
131,072 rays). For the update, one actor is moved by up to 3 m and 0.3 rad; the updated sweep is checked to
equal the full re-cast ray for ray. Goal: >= 1M rays/s on 2 cores (numpy runs these on one thread).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from trustlab.methods.advsim.lidar import Lidar, LidarConfig


def scene(rng: np.random.Generator, n: int) -> np.ndarray:
    boxes = []
    while len(boxes) < n:
        r, a = rng.uniform(6, 40), rng.uniform(-np.pi, np.pi)
        truck = rng.random() < 0.2
        b = [r * np.cos(a), r * np.sin(a), rng.uniform(-np.pi, np.pi), 10.0 if truck else 4.5,
             2.5 if truck else 2.0, 3.5 if truck else 1.6]
        if all(np.hypot(b[0] - o[0], b[1] - o[1]) > 7 for o in boxes):
            boxes.append(b)
    return np.array(boxes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--actors", type=int, default=12)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    origin = np.zeros(2)
    print(f"{'sensor':<22} {'rays':>8} {'full ms':>8} {'Mrays/s':>8} {'update ms':>10} {'update/full':>12} equal")
    for name, cfg in [("default 24x720", LidarConfig()), ("dense 64x2048", LidarConfig(beams=64, azimuths=2048,
                                                                                       elev_min=-25.0,
                                                                                       elev_max=3.0))]:
        lidar = Lidar(cfg)
        full_t, upd_t, equal = [], [], True
        for _ in range(args.reps):
            boxes = scene(rng, args.actors)
            k = int(rng.integers(len(boxes)))
            new = boxes[k].copy()
            new[:3] += rng.uniform(-1, 1, 3) * [3.0, 3.0, 0.3]
            moved = boxes.copy()
            moved[k] = new
            base = lidar.cast(origin, boxes)
            t = time.perf_counter()
            ref = lidar.cast(origin, moved)
            full_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            upd = lidar.update_actor(base, k, new)
            upd_t.append(time.perf_counter() - t)
            equal &= bool(np.array_equal(ref.range, upd.range) and np.array_equal(ref.hit, upd.hit))
        f, u = statistics.median(full_t), statistics.median(upd_t)
        print(f"{name:<22} {cfg.rays:>8} {f * 1e3:>8.2f} {cfg.rays / f / 1e6:>8.2f} {u * 1e3:>10.2f} {u / f:>12.2f} "
              f"{equal}")


if __name__ == "__main__":
    main()
