"""Launch overhead of the bench's launchers, side by side in one run (issue 19, "Figures").

    .venv/bin/python benchmarks/launcher_overhead.py [--tasks 40] [--jobs 2] [--bench-only erm]
                                                     [--bench-suite quick] [--skip-bench]

Part 1, overhead per run: each launcher (the local spawned pool, a local Ray cluster with ``jobs`` CPUs,
submitit's local executor standing in for SLURM) runs ``--tasks`` empty tasks, ``jobs`` at a time. Printed:
start-up seconds (pool / cluster / executor creation up to the first result) and seconds per task after
that (wall time of the remaining tasks / their number x jobs, i.e. the cost a run pays beyond its own work).

Part 2, a real bench: ``trustlab bench --suite SUITE --only METHOD --jobs N`` in a fresh folder, once with the
local pool and once with ``--launcher ray``; printed: wall time of each and the ratio ray/local (issue goal:
within 10%), and whether the two claims.json files hold the same margins.

Needs the optional extras (``pip install 'trustlab[ray]' 'trustlab[slurm]'``); a launcher that is not
installed is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trustlab.bench.launchers import LauncherConfig, make_launcher


def noop(i: int) -> int:
    return i


def per_task(name: str, tasks: int, jobs: int, out: Path, **extra: object) -> tuple[float, float]:
    cfg = LauncherConfig(jobs=jobs, threads=1, **extra)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    launcher = make_launcher(name, cfg, out)
    try:
        launcher.submit(noop, -1).result()  # the pool / cluster is up and one worker has imported trustlab
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        futures = [launcher.submit(noop, i) for i in range(tasks)]
        assert [f.result() for f in futures] == list(range(tasks))
        seconds = (time.perf_counter() - t1) / tasks * jobs
    finally:
        launcher.shutdown()
    return startup, seconds


def bench(args: argparse.Namespace, launcher: str, root: Path) -> tuple[float, dict]:
    out = root / launcher
    cmd = [str(Path(sys.executable).parent / "trustlab"), "bench", "--suite", args.bench_suite, "--only",
           args.bench_only, "--jobs", str(args.jobs), "--out", str(out), "--launcher", launcher]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    claims = json.loads((out / args.bench_suite / "claims.json").read_text())
    rows = claims["claims"] if isinstance(claims, dict) and "claims" in claims else claims
    return wall, {r["id"]: r.get("margin") for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bench-only", default="erm")
    ap.add_argument("--bench-suite", default="quick")
    ap.add_argument("--skip-bench", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"part 1: {args.tasks} empty tasks, {args.jobs} at a time")
        print(f"{'launcher':<16}{'start-up s':>12}{'s per task':>12}")
        for name, extra in (("local", {}), ("ray", {}), ("slurm", {"slurm_cluster": "local"})):
            try:
                startup, seconds = per_task(name, args.tasks, args.jobs, root / name, **extra)
            except Exception as exc:  # noqa: BLE001  (an optional launcher that is not installed)
                print(f"{name:<16} skipped: {str(exc).splitlines()[0]}")
                continue
            label = "slurm (local)" if name == "slurm" else name
            print(f"{label:<16}{startup:>12.2f}{seconds:>12.3f}")
        if args.skip_bench:
            return
        print(f"part 2: trustlab bench --suite {args.bench_suite} --only {args.bench_only} --jobs {args.jobs}")
        local_wall, local_m = bench(args, "local", root)
        ray_wall, ray_m = bench(args, "ray", root)
        same = local_m == ray_m
        print(f"local pool {local_wall:.1f} s, ray {ray_wall:.1f} s, ratio ray/local {ray_wall / local_wall:.3f}; "
              f"claims.json margins {'identical' if same else 'DIFFER: ' + json.dumps([local_m, ray_m])}")


if __name__ == "__main__":
    main()
