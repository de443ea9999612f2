"""A rejected run leaves no folder; a run that fails mid-way says so; `trustlab runs` tells done, failed and
killed apart and `--clean-failed` removes the failed ones; MLflow's store follows --runs-dir."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from trustlab.cli import main
from trustlab.errors import ConfigError, DataError, NotFoundError, TrainingDivergedError
from trustlab.experiment import TrainConfig
from trustlab.recipes import Recipe, register_recipe, run_recipe
from trustlab.registry import RECIPES


@dataclass
class _Cfg:
    train: TrainConfig = field(default_factory=TrainConfig)
    fail: str = "none"  # none | config | data | notfound | diverged | crash | corrupt


def _run(cfg: _Cfg, ctx) -> dict:
    early = {"config": ConfigError("test.fail: bad value; use none"), "data": DataError("data.root: missing"),
             "notfound": NotFoundError("model.weights: no such file")}
    if cfg.fail in early:  # rejected before anything was written
        raise early[cfg.fail]
    ctx.record.log({"epoch": 1, "train/loss": 1.0})
    if cfg.fail == "diverged":
        raise TrainingDivergedError("loss became nan at epoch 1; lower train.lr")
    if cfg.fail == "corrupt":
        raise DataError("data.root/img3.png: cannot be decoded; remove or replace it")
    if cfg.fail == "crash":
        raise RuntimeError("boom\nsecond line")
    return {"acc": 0.5}


NAME = "test/lifecycle"


@pytest.fixture(autouse=True)
def _recipe():
    """Registered only while a test of this module runs (the generated contract tests never see it)."""
    register_recipe(Recipe(NAME, "a test recipe", _Cfg, _run))
    yield
    RECIPES.remove(NAME)


@pytest.mark.parametrize("fail, exc", [("config", ConfigError), ("data", DataError), ("notfound", NotFoundError)])
def test_a_rejected_run_leaves_no_folder(tmp_path: Path, fail: str, exc: type) -> None:
    with pytest.raises(exc):
        run_recipe(NAME, overrides={"fail": fail}, runs_root=tmp_path)
    assert not list(tmp_path.rglob("config.yaml")), "a run rejected before it wrote anything left a folder"


@pytest.mark.parametrize("fail, exc, line", [
    ("diverged", TrainingDivergedError, "loss became nan at epoch 1; lower train.lr"),
    ("corrupt", DataError, "data.root/img3.png: cannot be decoded; remove or replace it"),
    ("crash", RuntimeError, "RuntimeError: boom second line"),
])
def test_an_error_after_the_run_started_marks_it_failed(tmp_path: Path, fail: str, exc: type, line: str) -> None:
    with pytest.raises(exc):
        run_recipe(NAME, overrides={"fail": fail}, runs_root=tmp_path)
    (cfg,) = tmp_path.rglob("config.yaml")
    from trustlab.runs.store import RunRecord

    rec = RunRecord.open(cfg.parent)
    assert rec.status == "failed" and rec.error() == line and not rec.done


def test_runs_lists_done_failed_killed_and_cleans_the_failed(tmp_path: Path, capsys) -> None:
    from trustlab.runs.store import RunRecord

    done = run_recipe(NAME, runs_root=tmp_path)
    with pytest.raises(TrainingDivergedError):
        run_recipe(NAME, overrides={"fail": "diverged"}, runs_root=tmp_path)
    killed = RunRecord.create(NAME, {"fail": "none"}, root=tmp_path)  # started, then killed from outside
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    status = {line.split()[0]: line.split()[1] for line in out}
    assert status[str(done.path)] == "done" and status[str(killed.path)] == "killed"
    failed_line = next(line for line in out if " failed " in line)
    assert "loss became nan at epoch 1" in failed_line
    assert main(["runs", "--runs-dir", str(tmp_path), "--clean-failed"]) == 0
    assert "1 failed run(s) removed; 2 kept" in capsys.readouterr().out
    left = {str(p.parent) for p in tmp_path.rglob("config.yaml")}
    assert left == {str(done.path), str(killed.path)}


def test_mlflow_store_follows_runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trustlab.runs.loggers import mlflow_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tmp_path / "data" / "erm" / "digits-dg" / "20260101-s0-abcd"
    assert mlflow_uri(run, "erm/digits-dg") == (tmp_path / "data" / "mlruns").resolve().as_uri()
    assert mlflow_uri(tmp_path / "r" / "ood" / "x", "ood") == (tmp_path / "r" / "mlruns").resolve().as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///x.db")
    assert mlflow_uri(run, "erm/digits-dg") == "sqlite:///x.db"


@pytest.mark.parametrize("argv", [
    ["erm/folder", "--set", "data.root={missing}"],  # a folder that does not exist
    ["ood/folder", "--set", "data.root={missing}"],
    ["pmtiqa/distort", "--set", "data.name=csv", "--set", "data.root={missing}", "--set", "data.meta={missing}/m.csv"],
    ["erm/digits-dg", "--set", "train.epochs=0"],  # a config value out of range
    ["erm/digits-dg", "--set", "model.weights={missing}/w.pt"],  # a checkpoint that is not there
])
def test_real_recipes_rejected_from_the_cli_leave_no_run_folder(argv: list[str], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Through the CLI and a real recipe: one `error:` line, exit 2, nothing under --runs-dir (issue 24 item 7)."""
    runs = tmp_path / "runs"
    args = [a.replace("{missing}", str(tmp_path / "nope")) for a in argv]
    assert main(["run", *args, "--runs-dir", str(runs), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert not runs.exists() or not any(runs.iterdir()), sorted(p.name for p in runs.iterdir())
