"""Bench launchers: Ray (a local 2-CPU cluster) and SLURM via submitit (its local executor) give the same
claims.json values as `--jobs 2`; bad launcher input is one line and writes nothing."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.e2e.helpers import cli

SMOKE = ["bench", "--suite", "smoke", "--only", "erm/beats-chance", "--quiet"]


def _values(out: Path) -> dict[str, dict[str, list[float]]]:
    doc = json.loads((out / "smoke" / "claims.json").read_text())
    return {c["id"]: c["values"] for c in doc["claims"]}


@pytest.fixture(scope="module")
def local_values(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("local") / "reports"
    cli(*SMOKE, "--jobs", "2", "--out", str(out), check=True, timeout=900)
    return _values(out)


def test_ray_local_cluster_matches_jobs_2(tmp_path: Path, local_values: dict) -> None:
    pytest.importorskip("ray", reason="Ray not installed (pip install 'trustlab[ray]')")
    out = tmp_path / "reports"
    cli(*SMOKE, "--launcher", "ray", "--jobs", "2", "--out", str(out), check=True, timeout=900)
    assert _values(out) == local_values
    assert json.loads((out / "smoke" / "claims.json").read_text())["launcher"] == "ray"


def test_submitit_local_executor_matches_jobs_2(tmp_path: Path, local_values: dict) -> None:
    pytest.importorskip("submitit", reason="submitit not installed (pip install 'trustlab[slurm]')")
    out = tmp_path / "reports"
    cli(*SMOKE, "--launcher", "slurm", "--slurm-cluster", "local", "--jobs", "2", "--out", str(out), check=True,
        timeout=900)
    assert _values(out) == local_values
    # --resume collects the finished runs from the run cache: nothing is submitted again
    again = cli(*SMOKE, "--launcher", "slurm", "--slurm-cluster", "local", "--resume", "--out", str(out),
                check=True, timeout=900)
    assert again.returncode == 0 and _values(out) == local_values


def test_unreachable_ray_address_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    proc = cli(*SMOKE, "--launcher", "ray", "--ray-address", "ray://127.0.0.1:1", "--out", str(tmp_path / "r"),
               timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot reach the Ray cluster at 'ray://127.0.0.1:1'")


def test_rejected_slurm_partition_is_one_line(tmp_path: Path) -> None:
    """A fake `sbatch` that rejects the partition as SLURM does: submitit's error comes back as one line."""
    pytest.importorskip("submitit")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sbatch = bindir / "sbatch"
    sbatch.write_text("#!/bin/sh\necho 'sbatch: error: invalid partition specified: nope' >&2\nexit 1\n")
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    env_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bindir}{os.pathsep}{env_path}"
    try:
        proc = cli(*SMOKE, "--launcher", "slurm", "--slurm-cluster", "slurm", "--slurm-partition", "nope",
                   "--out", str(tmp_path / "r"), timeout=600)
    finally:
        os.environ["PATH"] = env_path
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: SLURM did not accept the job") and "invalid partition specified" in last
