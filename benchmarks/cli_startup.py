"""CLI start-up: `trustlab --help` and `trustlab list` (catalog) vs the same with every plugin imported.

    .venv/bin/python benchmarks/cli_startup.py [--reps 5]

Each command runs as a fresh process (as a user types it), alternating with a bare `python -c pass`
and with `trustlab run --help` (which imports every method package, as `--help` did before the
catalog), so machine noise hits all of them; medians are printed with the ratios. Goal: `--help` and
`list` under 1.5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    reps = ap.parse_args().reps
    py = sys.executable
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "trustlab --help": [py, "-m", "trustlab.cli", "--help"],
        "trustlab list": [py, "-m", "trustlab.cli", "list"],
        "trustlab run --help (imports all)": [py, "-m", "trustlab.cli", "run", "--help"],
    }
    timed(commands["trustlab list"])  # the first call may build and cache the catalog
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(reps):
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    full = statistics.median(times["trustlab run --help (imports all)"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<36} median {med:6.3f} s  (min {min(ts):.3f}, {reps} runs)  {med / full:5.2f} x full import")


if __name__ == "__main__":
    main()
