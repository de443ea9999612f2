"""The doorping recipes through the CLI, and a distilled set used by another recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import cli, run_dir

TINY = ["--set", "threads=1", "--set", "data.max_per_domain=200", "--set", "eval.test_limit=100",
        "--set", "model.width=0.0625", "--set", "eval.num_models=2", "--set", "train.epochs=2",
        "--set", "distill.iterations=2",
        "--set", "distill.batch_real=8", "--set", "attack.trigger_steps=2", "--quiet"]


def test_backdoor_run_then_erm_trains_on_the_distilled_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny kernels on a shared 2-core machine: one thread is faster
    runs = tmp_path / "runs"
    proc = cli("run", "backdoor/doorping-dm", *TINY, runs=runs, check=True)
    rd = run_dir(proc.stdout)
    summary = json.loads((rd / "summary.json").read_text())
    assert summary["attack"] == "doorping" and summary["method"] == "dm" and summary["ipc"] == 10
    assert len(summary["per_model"]) == 2 and summary["cta_std"] >= 0.0
    assert {"cta", "asr", "asr_reference", "asr_unclipped", "asr_clean_real", "cpu_seconds"} <= set(summary)
    lo, hi = summary["trigger_range"]
    assert 0.0 <= lo <= hi <= 1.0 and len(summary["synthetic_range"]) == 2  # bounded by default
    assert (rd / "artifacts" / "distilled.pt").is_file() and (rd / "done").is_file()
    erm = cli("run", "erm/digits-dg", "--set", "data.name=distilled", "--set", f"data.root={rd}",
              "--set", "data.target=real,triggered", "--set", "data.image_size=32", "--set", "train.epochs=1",
              "--set", "model.width=0.125", "--quiet", runs=runs, check=True)
    s = json.loads((run_dir(erm.stdout) / "summary.json").read_text())
    assert s["sources"] == ["distilled"] and set(s["per_domain"]) == {"distilled", "real", "triggered"}
    assert s["train_size"] == 100
