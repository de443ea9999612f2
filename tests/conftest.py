"""Shared fixtures: every test gets its own data cache and runs folder unless it asks otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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
