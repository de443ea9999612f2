"""TensorBoard and MLflow loggers: they receive the same metric stream as metrics.jsonl (read back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import cli
from trustlab.recipes import run_recipe
from trustlab.runs.loggers import ENV

TINY = {"train.epochs": 2, "train.max_steps_per_epoch": 2, "data.max_per_domain": 32}


def _jsonl(run: Path, key: str) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(int(r.get("step", r.get("epoch", 0))), float(r[key])) for r in rows if key in r]


@pytest.mark.usefixtures("one_thread")
def test_tensorboard_events_equal_metrics_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    monkeypatch.setenv(ENV, "tensorboard")
    rec = run_recipe("erm/digits-dg", overrides=TINY, runs_root=tmp_path, quiet=True)
    acc = ea.EventAccumulator(str(rec.path / "tensorboard"))
    acc.Reload()
    for key in ("val/acc", "train/loss"):
        written = [(e.step, e.value) for e in acc.Scalars(key)]
        expected = _jsonl(rec.path, key)
        assert expected and [s for s, _ in written] == [s for s, _ in expected]
        assert [v for _, v in written] == pytest.approx([v for _, v in expected], rel=1e-6)


@pytest.mark.usefixtures("one_thread")
def test_mlflow_run_holds_params_and_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv(ENV, "mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # as the logger sets it for file stores
    rec = run_recipe("erm/digits-dg", overrides=TINY, runs_root=tmp_path / "runs", quiet=True)
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    exp = client.get_experiment_by_name("erm/digits-dg")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.params["train.epochs"] == "2" and run.data.tags["trustlab.run_dir"] == str(rec.path)
    history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "val/acc"))
    expected = sorted(_jsonl(rec.path, "val/acc"))
    assert [s for s, _ in history] == [s for s, _ in expected] and len(expected) == 2
    assert [v for _, v in history] == pytest.approx([v for _, v in expected], rel=1e-9)
    assert run.info.status == "FINISHED"


def test_no_logger_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    rec = run_recipe("erm/digits-dg", overrides={**TINY, "train.epochs": 1}, runs_root=tmp_path, quiet=True)
    assert not (rec.path / "tensorboard").exists() and not (tmp_path / "mlruns").exists()


def test_bad_logger_input_is_one_line(tmp_path: Path) -> None:
    unknown = cli("run", "erm/digits-dg", "--log", "tensorbord", runs=tmp_path / "runs")
    assert unknown.returncode == 2 and "unknown logger 'tensorbord'" in unknown.stderr
    assert "did you mean 'tensorboard'" in unknown.stderr and len(unknown.stderr.strip().splitlines()) == 1
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    import os

    env_uri = (blocked / "mlruns").as_uri()
    os.environ["MLFLOW_TRACKING_URI"] = env_uri
    try:
        bad = cli("run", "erm/digits-dg", "--log", "mlflow", runs=tmp_path / "runs")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    if not pytest.importorskip("importlib.util").find_spec("mlflow"):
        pytest.skip("mlflow not installed")
    assert bad.returncode == 2 and "cannot be written" in bad.stderr and "MLFLOW_TRACKING_URI" in bad.stderr
    assert not (tmp_path / "runs").exists()  # nothing was started
