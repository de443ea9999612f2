"""Bench launchers: Ray (a local 2-CPU cluster) and SLURM via submitit (its local executor) train the same
runs to the same numbers as the local `--jobs 2` pool; `--resume` collects finished runs; bad launcher
input is one line and writes nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.e2e.helpers import cli
from trustlab.bench.launchers import LauncherConfig
from trustlab.bench.runner import BenchContext

RUNS = [("erm/digits-dg", {"train.epochs": 1, "train.max_steps_per_epoch": 3, "data.max_per_domain": 32,
                           "train.seed": seed, "data.target": "usps"}) for seed in (0, 1)]


def _heldout(ctx: BenchContext) -> list[float]:
    try:
        return [rec.summary()["heldout_acc"] for rec in ctx.run_many(RUNS)]
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def local_values(tmp_path_factory: pytest.TempPathFactory) -> list[float]:
    return _heldout(BenchContext("smoke", tmp_path_factory.mktemp("local"), jobs=2))


def test_ray_local_cluster_matches_jobs_2(tmp_path: Path, local_values: list[float]) -> None:
    pytest.importorskip("ray", reason="Ray not installed (pip install 'trustlab[ray]')")
    ctx = BenchContext("smoke", tmp_path, jobs=2, launcher="ray", launcher_cfg=LauncherConfig())
    assert _heldout(ctx) == local_values


def test_submitit_local_executor_matches_jobs_2_and_resumes(tmp_path: Path, local_values: list[float]) -> None:
    pytest.importorskip("submitit", reason="submitit not installed (pip install 'trustlab[slurm]')")
    cfg = LauncherConfig(slurm_cluster="local")
    first = BenchContext("smoke", tmp_path, jobs=2, launcher="slurm", launcher_cfg=cfg, reuse=True)
    assert _heldout(first) == local_values
    paths = [r.path for r in first.records()]
    # --resume (reuse): the finished runs are collected from the run cache, nothing is submitted again
    again = BenchContext("smoke", tmp_path, jobs=2, launcher="slurm", launcher_cfg=cfg, reuse=True)
    assert _heldout(again) == local_values and [r.path for r in again.records()] == paths
    assert again._pool is None  # no launcher was even started


def test_unreachable_ray_address_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    proc = cli("bench", "--suite", "smoke", "--only", "erm/", "--launcher", "ray", "--ray-address",
               "ray://127.0.0.1:1", "--out", str(tmp_path / "r"), timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: cannot reach the Ray cluster at 'ray://127.0.0.1:1'")
    assert not (tmp_path / "r").exists()


def test_rejected_slurm_partition_is_one_line(tmp_path: Path) -> None:
    """Fake `srun`/`sbatch` that reject the partition as SLURM does: submitit's error comes back as one line."""
    pytest.importorskip("submitit")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in (("sbatch", "echo 'sbatch: error: invalid partition specified: nope' >&2\nexit 1"),
                       ("srun", "exit 0")):
        tool = bindir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    env_path = os.environ["PATH"]
    os.environ["PATH"] = f"{bindir}{os.pathsep}{env_path}"
    try:
        proc = cli("bench", "--suite", "smoke", "--only", "erm/beats-chance", "--launcher", "slurm",
                   "--slurm-cluster", "slurm", "--slurm-partition", "nope", "--out", str(tmp_path / "r"),
                   runs=tmp_path / "runs", timeout=600)
    finally:
        os.environ["PATH"] = env_path
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: SLURM did not accept the job") and "invalid partition specified" in last


def test_slurm_without_sbatch_is_an_error_not_a_local_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """submitit's AutoExecutor falls back to local jobs where no SLURM is found: the launcher refuses instead."""
    pytest.importorskip("submitit")
    import shutil

    from trustlab.bench.launchers import LauncherError, make_launcher

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "sbatch" else "/bin/true")
    for cluster in (None, "slurm"):
        with pytest.raises(LauncherError, match="no `sbatch` on PATH"):
            make_launcher("slurm", LauncherConfig(slurm_cluster=cluster), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written
    make_launcher("slurm", LauncherConfig(slurm_cluster="local"), tmp_path)  # on purpose: allowed
