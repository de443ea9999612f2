"""Shared fixtures: every test gets its own data cache and runs folder unless it asks otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Under pytest-xdist (`make test` runs `-n 2`) the workers share the cores: each gets cpus // workers torch
# threads, and so do the CLI subprocesses it starts (OMP_NUM_THREADS is read when torch is imported).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

import torch  # noqa: E402  (after OMP_NUM_THREADS)

if _WORKERS > 1:
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# One shared, persistent data cache for the test session (building Digits-DG once is enough);
# CI sets TRUSTLAB_DATA to a folder in the checkout.
os.environ.setdefault("TRUSTLAB_DATA", str(Path(__file__).resolve().parents[1] / ".cache" / "trustlab"))


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "runs"
    monkeypatch.setenv("TRUSTLAB_RUNS", str(d))
    return d


@pytest.fixture
def one_thread():
    """torch on one thread for the test (restored after): small kernels on a shared 2-core machine run
    several times faster without OpenMP oversubscription. Use with ``pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
