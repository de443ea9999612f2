"""Issue 28 item 3: choose the attack's search (TPE, GP, CMA-ES vs random) and metric on *validation* scenarios.

Validation scenarios are generated with the embedded set's generator but other seeds (``--gen-seed``, default
2000; the embedded set is seed 0, the detector's training sweeps seeds 1000+), so no claim scenario is used to
choose. Per optimiser and seed, over the scenarios: found rate (collision or near-miss), collision rate, mean
worst-case gap (the smallest SDV gap over the search, clipped to [-1, 5] m) and queries to the first failure
(budget + 1 when none). The unperturbed rollout of each scenario is reported beside them.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python scripts/advsim_search_validation.py --per-kind 2 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from trustlab.methods.advsim.adversary import AdversaryConfig, search
from trustlab.methods.advsim.scenarios import generate
from trustlab.methods.advsim.stack import Stack, StackConfig

VARIANTS = {"random": {"optimizer": "random"}, "tpe": {"optimizer": "bo", "sampler": "tpe"},
            "gp": {"optimizer": "bo", "sampler": "gp"}, "cma": {"optimizer": "cma"},
            "tpe4": {"optimizer": "bo", "sampler": "tpe", "startup": 4},
            "gp4": {"optimizer": "bo", "sampler": "gp", "startup": 4}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen-seed", type=int, default=2000)
    ap.add_argument("--per-kind", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--perception", default="lidar", choices=["lidar", "gt"])
    ap.add_argument("--out", default=None, help="write every scenario's numbers here (JSON)")
    a = ap.parse_args()
    scs = generate(a.gen_seed, per_kind=a.per_kind)
    stack = Stack(StackConfig(perception=a.perception))
    base = [stack.rollout(sc) for sc in scs]
    print(f"{len(scs)} validation scenarios (generator seed {a.gen_seed}); unperturbed failures "
          f"{sum(r.failure for r in base)}, min gaps {np.round([r.min_gap for r in base], 2).tolist()}")
    rows = []
    for v in a.variants:
        for s in a.seeds:
            cfg = AdversaryConfig(budget=a.budget, seed=s, **VARIANTS[v])
            t0 = time.process_time()
            res = [search(sc, stack, cfg, seed=s * 1000 + i) for i, sc in enumerate(scs)]
            cpu = time.process_time() - t0
            row = {"variant": v, "seed": s, "cpu_s": cpu,
                   "found_rate": float(np.mean([r.found for r in res])),
                   "collision_rate": float(np.mean([r.found_collision for r in res])),
                   "worst_gap": float(np.mean([r.worst_gap for r in res])),
                   "first_failure": float(np.mean([r.first_failure or a.budget + 1 for r in res])),
                   "per_scenario": [{"scenario": r.scenario, "found": r.found, "worst_gap": r.worst_gap,
                                     "first": r.first_failure, "gaps": r.gaps} for r in res]}
            rows.append(row)
            if a.out:  # after every run: a killed job keeps what it finished
                with open(a.out, "w") as fh:
                    json.dump(rows, fh, indent=1)
            print(f"{v:7s} seed {s}: found {row['found_rate']:.3f} collision {row['collision_rate']:.3f} "
                  f"worst gap {row['worst_gap']:+.3f} m first failure {row['first_failure']:.1f} ({cpu:.0f} CPU-s)",
                  flush=True)


if __name__ == "__main__":
    main()
