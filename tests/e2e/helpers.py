"""Run the CLI as a user types it (a subprocess with the venv's python)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--set", "data.max_per_domain=128", "--set", "train.epochs=1", "--quiet"]


def cli(*args: str, runs: Path | None = None, check: bool = False, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    if runs is not None:
        env["TRUSTLAB_RUNS"] = str(runs)
    proc = subprocess.run(
        [sys.executable, "-m", "trustlab.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=runs.parent if runs else None,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"trustlab {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def run_dir(stdout: str) -> Path:
    line = [ln for ln in stdout.splitlines() if ln.startswith("run record: ")][-1]
    return Path(line.split(": ", 1)[1])
