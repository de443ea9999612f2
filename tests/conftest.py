"""Shared fixtures: every test gets its own data cache and runs folder unless it asks otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One shared, persistent data cache for the test session (building Digits-DG once is enough);
# CI sets TRUSTLAB_DATA to a folder in the checkout.
os.environ.setdefault("TRUSTLAB_DATA", str(Path(__file__).resolve().parents[1] / ".cache" / "trustlab"))


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "runs"
    monkeypatch.setenv("TRUSTLAB_RUNS", str(d))
    return d
