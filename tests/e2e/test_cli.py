"""The CLI end to end: list, run, runs, report, and the bad-input paths (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import TINY, cli, run_dir


def test_list_shows_registries(tmp_path: Path) -> None:
    out = cli("list", check=True).stdout
    for word in (
        "erm/digits-dg",
        "erm/folder",
        "digits-dg",
        "folder",
        "small_cnn",
        "resnet18",
        "mobilenet_v3_small",
        "erm/heldout-below-indomain",
        "erm/beats-chance",
    ):
        assert word in out
    models = cli("list", "models", "--input-size", "32", check=True).stdout
    assert "MACs" in models and "small_cnn" in models


def test_run_report_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = cli("run", "erm/digits-dg", "--set", "data.target=usps", *TINY, runs=runs, check=True)
    rd = run_dir(proc.stdout)
    for name in (
        "config.yaml",
        "env.json",
        "metrics.jsonl",
        "summary.json",
        "done",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
    ):
        assert (rd / name).exists(), name
    summary = json.loads((rd / "summary.json").read_text())
    assert summary["targets"] == ["usps"] and set(summary["per_domain"]) == {"mnist", "usps", "syn", "mnistm"}
    assert 0.0 <= summary["heldout_acc"] <= 1.0
    html = cli("report", str(rd), check=True).stdout.strip()
    assert Path(html).is_file() and "usps" in Path(html).read_text()
    listing = cli("runs", runs=runs, check=True).stdout
    assert str(rd.name) in listing and "heldout_acc=" in listing
    # a run's own config.yaml re-runs it (the recipe comes from the file) and gives the same result
    again = run_dir(cli("run", "--config", str(rd / "config.yaml"), runs=runs, check=True).stdout)
    assert again != rd and json.loads((again / "summary.json").read_text())["heldout_acc"] == summary["heldout_acc"]
    wrong = cli("run", "ood/ad", "--config", str(rd / "config.yaml"), runs=runs)
    assert wrong.returncode == 2 and "is the config of recipe 'erm/digits-dg', not 'ood/ad'" in wrong.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "erm/digit-dg"], "did you mean 'erm/digits-dg'"),
        (["run", "erm/digits-dg", "--set", "train.epoch=3"], "unknown config key 'train.epoch'"),
        (["run", "erm/digits-dg", "--set", "data.target=mnist-m"], "did you mean 'mnistm'"),
        (["run", "erm/digits-dg", "--set", "model.name=resnet81"], "did you mean 'resnet18'"),
        (["run", "erm/folder"], "needs data.root"),
        (["report", "/nonexistent/run"], "neither a run record"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: list[str], words: str
) -> None:
    from trustlab.cli import main

    monkeypatch.setenv("TRUSTLAB_RUNS", str(tmp_path / "runs"))
    assert main(args) == 2
    # a first use may print a "trustlab: building ..." progress line before; the error itself is one line
    lines = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln and not ln.startswith("trustlab: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines


def test_malformed_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epochs: 3\n")
    proc = cli("run", "erm/digits-dg", "--config", str(bad), runs=tmp_path / "runs")
    assert proc.returncode == 2 and "not valid YAML" in proc.stderr


def test_resume_without_checkpoint(tmp_path: Path) -> None:
    rd = tmp_path / "runs" / "erm/digits-dg" / "x"
    rd.mkdir(parents=True)
    (rd / "config.yaml").write_text("recipe: erm/digits-dg\n")
    proc = cli("run", "--resume", str(rd), runs=tmp_path / "runs")
    assert proc.returncode == 2 and "checkpoints/last.pt' does not exist" in proc.stderr


def test_bench_smoke_erm_writes_report(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    proc = cli(
        "bench",
        "--suite",
        "smoke",
        "--only",
        "erm/",
        "--out",
        str(out),
        "--quiet",
        runs=tmp_path / "runs",
        check=True,
        timeout=600,
    )
    assert Path(proc.stdout.strip()).is_file()
    record = json.loads((out / "smoke" / "claims.json").read_text())
    assert record["jobs"] == 1 and record["threads_per_run"] >= 1
    claims = json.loads((out / "smoke" / "claims.json").read_text())
    ids = {c["id"] for c in claims["claims"]}
    assert ids == {"erm/heldout-below-indomain", "erm/beats-chance"}
    for c in claims["claims"]:
        assert set(c) >= {"id", "statement", "values", "margin", "passed", "verdict", "interval", "diffs"}
        assert c["values"] and all(len(v) == len(c["seeds"]) for v in c["values"].values())
        # one seed cannot decide a claim under the paired rule, whatever its margin; smoke's two-epoch
        # models may also fail a validity gate (INVALID, with the failed precondition as its reason)
        assert len(c["seeds"]) == 1 and c["verdict"] in ("INCONCLUSIVE", "INVALID") and c["passed"] is False
        assert (c["verdict"] == "INVALID") == bool(c["reason"]) and c["gates"]
        assert c["margin"] == pytest.approx(c["diffs"][0])
    html = (out / "smoke" / "index.html").read_text()
    badges = html.count(">INCONCLUSIVE<") + html.count(">INVALID<")
    assert badges >= 2 and ">PASS<" not in html  # one badge per claim, none passes
    assert (out / "smoke" / "forest.png").is_file() and 'src="forest.png"' in html


def test_augmented_training_runs_and_is_recorded(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = cli("run", "erm/digits-dg", "--set", "data.augment=crop", *TINY, runs=runs, check=True)
    rd = run_dir(proc.stdout)
    plain = run_dir(cli("run", "erm/digits-dg", *TINY, runs=runs, check=True).stdout)

    def first_loss(run: Path) -> float:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return next(r["train/loss"] for r in rows if "train/loss" in r)

    # same seed and data: only the crops differ, so the training losses differ
    assert first_loss(rd) != first_loss(plain)
    bad = cli("run", "erm/digits-dg", "--set", "data.augment=rotate", *TINY, runs=runs)
    assert bad.returncode == 2 and "data.augment" in bad.stderr


def test_bench_rejects_zero_jobs_before_writing_anything(tmp_path: Path) -> None:
    proc = cli("bench", "--suite", "smoke", "--jobs", "0", "--out", str(tmp_path / "reports"), runs=tmp_path / "runs")
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --jobs must be at least 1, got 0"
    assert not (tmp_path / "reports").exists()


def test_python_dash_m_trustlab_is_the_cli() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "trustlab", "list", "claims"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "okd/okd-beats-kd" in out.stdout, out.stderr[-500:]
    bad = subprocess.run([sys.executable, "-m", "trustlab", "run", "no/such-recipe"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")
