"""Reports: render_run / render_bench from fake run records and a fake claims.json."""

from __future__ import annotations

import html
import json
import math
import re
import time
from pathlib import Path

import pytest

from trustlab.errors import NotFoundError
from trustlab.report import figures, render_bench, render_run, render_runs_index
from trustlab.report import html as h
from trustlab.runs.store import RunRecord

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def img_sources(page: Path) -> list[Path]:
    """Every <img src> on a page, resolved against the page's folder."""
    text = page.read_text(encoding="utf-8")
    return [page.parent / html.unescape(src) for src in re.findall(r'<img src="([^"]+)"', text)]


def assert_images_exist(page: Path) -> list[Path]:
    sources = img_sources(page)
    for src in sources:
        assert src.is_file(), f"{page} references missing image {src}"
        assert src.read_bytes()[:8] == PNG_MAGIC
    return sources


def make_run(
    root: Path,
    recipe: str = "erm/digits-dg",
    seed: int = 0,
    epochs: int = 3,
    done: bool = True,
    summary: dict | None = None,
) -> RunRecord:
    env = {"seed": seed, "device": "cpu", "git_sha": "abc1234", "torch": "2.x", "time": "2025-01-01T12:00:00+0000"}
    run = RunRecord.create(recipe, {"train": {"seed": seed, "epochs": epochs}}, root=root, run_id=f"s{seed}", env=env)
    for e in range(epochs):
        for step in range(2):
            run.log({"epoch": e, "step": 2 * e + step, "train/loss": 2.0 / (e + step + 1), "lr": 0.1 * 0.5**e})
        run.log({"epoch": e, "val/acc": 0.5 + 0.1 * e, "val/mnist/acc": 0.6 + 0.1 * e, "time/epoch_s": 1.5})
    if summary is not None:
        run.write_summary(summary)
    if done:
        run.mark_done()
    return run


SUMMARY = {
    "val/acc": 0.9312,
    "best_epoch": 2,
    "per_domain": {"mnist": 0.93, "svhn<b>": 0.41, "syn": 0.75},
    "leaderboard": {"msp": {"auroc": 0.9012, "fpr95": 0.35}, "energy": {"auroc": 0.9234, "fpr95": 0.3}},
}


def test_render_run_writes_numbers_tables_and_images(tmp_path: Path) -> None:
    run = make_run(tmp_path, summary=SUMMARY)
    (run.artifact("plots/confusion.png")).write_bytes(PNG_MAGIC + b"fake")
    run.artifact("table.csv").write_text("a,b\n1,2\n")
    page = render_run(run.path)
    assert page == run.path / "report" / "index.html"
    text = page.read_text()
    assert "erm/digits-dg" in text and ">done<" in text and "abc1234" in text
    assert "93.12%" in text  # accuracy key shown as a percentage
    assert "0.41" in text and "svhn&lt;b&gt;" in text and "svhn<b>" not in text  # escaped key
    assert "0.9234" in text and "fpr95" in text and "energy" in text  # leaderboard table
    assert "<details>" in text and "epochs: 3" in text  # resolved config, collapsible
    sources = assert_images_exist(page)
    names = {p.name for p in sources}
    assert "curves.png" in names and "summary-per_domain.png" in names and "confusion.png" in names
    assert 'href="../artifacts/table.csv"' in text


def test_render_run_unfinished_without_metrics_or_summary(tmp_path: Path) -> None:
    run = RunRecord.create("kd/x", {"train": {"seed": 3}}, root=tmp_path, run_id="r1", env={"seed": 3})
    page = render_run(run.path)
    text = page.read_text()
    assert ">unfinished<" in text and ">done<" not in text
    assert "no metrics.jsonl" in text
    assert "summary.json is missing" in text
    assert img_sources(page) == []


def test_render_run_survives_corrupt_summary_and_rejects_non_runs(tmp_path: Path) -> None:
    run = make_run(tmp_path, summary=None)
    (run.path / "summary.json").write_text("{not json")
    text = render_run(run.path).read_text()
    assert "summary.json: could not be read" in text
    with pytest.raises(NotFoundError):
        render_run(tmp_path / "nope")


def test_duration_from_summary_done_marker_or_epoch_times(tmp_path: Path) -> None:
    unfinished = make_run(tmp_path, seed=0, epochs=2, done=False)
    assert "<td>3 s</td>" in render_run(unfinished.path).read_text()  # 2 epochs x 1.5 s, so far
    timed = make_run(tmp_path, seed=1, summary={"seconds": 95.3})
    assert "<td>1 min 35 s</td>" in render_run(timed.path).read_text()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(time.time() - 600))
    run = RunRecord.create("erm/x", {}, root=tmp_path, run_id="t", env={"time": started})
    run.mark_done()  # done time - env.json start time
    assert re.search(r"<td>(9 min 5\d|10 min 0\d) s</td>", render_run(run.path).read_text())


def test_render_runs_index_links_each_report(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, seed=s, summary={"val/acc": 0.5 + s / 10}).path for s in (0, 1)]
    page = render_runs_index([*runs, tmp_path / "gone"], tmp_path / "index")
    text = page.read_text()
    assert text.count("report/index.html") == 2 and "60%" in text and "missing" in text


def claim(cid: str, passed: bool, values: dict, runs: list[str], **kw: object) -> dict:
    base = {
        "id": cid,
        "statement": f"{cid} holds",
        "suite": "smoke",
        "passed": passed,
        "margin": 0.031,
        "unit": "pp",
        "values": values,
        "seeds": [0, 1, 2],
        "table": [],
        "runs": runs,
        "notes": "",
        "seconds": 4.2,
    }
    return {**base, **kw}


def write_claims(suite_dir: Path, claims: list[dict]) -> None:
    suite_dir.mkdir(parents=True, exist_ok=True)
    env = {"machine": "x86_64", "torch": "2.9.0", "cpu_count": 2, "git_sha": "deadbeef"}
    doc = {"suite": "smoke", "created": "2025-01-01T00:00:00", "env": env, "jobs": 2, "threads_per_run": 1,
           "seconds": 75.0, "claims": claims}
    (suite_dir / "claims.json").write_text(json.dumps(doc))  # json writes NaN as NaN, as bench does


def test_render_bench_overview_sections_and_runs(tmp_path: Path) -> None:
    runs = [str(make_run(tmp_path / "runs", seed=s, summary=SUMMARY).path) for s in (0, 1)]
    claims = [
        claim(
            "okd-beats-kd",
            True,
            {"okd": [0.8, 0.82, 0.84], "kd": [0.7, 0.71, 0.72]},
            [*runs, "runs/missing/x"],
            table=[{"method": "okd", "target_acc": 0.82}, {"method": "kd", "target_acc": 0.71}],
        ),
        claim(
            "xss",
            False,
            {"v": [float("nan"), 0.5, 0.6]},
            [],
            statement="a <script>alert(1)</script> claim",
            margin=-0.2,
        ),
        claim("broken", False, {}, [], notes="error: ValueError: boom", margin=float("nan")),
    ]
    suite = tmp_path / "reports" / "smoke"
    write_claims(suite, claims)
    page = render_bench(suite)
    text = page.read_text()
    assert page == suite / "index.html"
    assert ">PASS<" in text and ">FAIL<" in text and ">ERROR<" in text
    assert "1 passed" in text and "1 failed" in text and "1 errored" in text
    assert "+0.031 pp" in text and "-0.2 pp" in text
    assert "okd: 0.82 ± 0.02" in text and "kd: 0.71 ± 0.01" in text  # mean ± std over seeds
    assert "nan" in text and "error: ValueError: boom" in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "deadbeef" in text and "2.9.0" in text and "1 min 15 s" in text
    assert "threads_per_run" in text and "jobs" in text  # thread count moves float results: shown
    assert "target_acc" in text and "0.71" in text
    assert "1 run folder(s) not found: runs/missing/x" in text
    sources = assert_images_exist(page)
    assert any(p.name == "claim-okd-beats-kd-values.png" for p in sources)
    assert sum("-run" in p.name for p in sources) == 2  # one curve figure per existing run
    for run in runs:  # each run's own report was rendered and is linked
        report = Path(run) / "report" / "index.html"
        assert report.is_file()
        assert_images_exist(report)
    assert text.count("report/index.html") == 2


def test_render_bench_empty_and_missing(tmp_path: Path) -> None:
    write_claims(tmp_path / "empty", [])
    text = render_bench(tmp_path / "empty").read_text()
    assert "no claims" in text and "0 passed" in text
    with pytest.raises(NotFoundError):
        render_bench(tmp_path / "none")


def test_html_helpers_format_and_escape() -> None:
    assert h.fmt(0.123456) == "0.1235" and h.fmt(float("nan")) == "nan" and h.fmt(12345.6) == "12350"
    assert h.fmt(0.93121, percent=True) == "93.12%" and h.fmt(7) == "7" and h.fmt(None) == ""
    t = h.table([{"a": 1, "b": "<i>"}, {"c": 0.5, "a": 2}], percent=["c"])
    assert t.index("<th>a</th>") < t.index("<th>b</th>") < t.index("<th>c</th>")
    assert "&lt;i&gt;" in t and "50%" in t and t.count("<tr>") == 3
    assert h.badge(True) != h.badge(False) and "ERROR" in h.badge(None)


def test_figures_write_pngs_and_skip_empty(tmp_path: Path) -> None:
    rows = [{"step": i, "train/loss": 1 / (i + 1), "train/acc": i / 10} for i in range(10)]
    assert figures.training_curves(rows, tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    assert figures.training_curves([{"epoch": 0, "time/epoch_s": 1.0}], tmp_path / "n.png") is None
    x, series = figures.curve_series([{"epoch": 0, "train/loss": 1.0}, {"epoch": 0, "train/loss": 3.0}])
    assert x == "epoch" and series["loss"]["train/loss"] == ([0.0], [2.0])  # averaged per epoch
    assert figures.grouped_bar_chart(
        {"mnist": {"erm": 0.9, "okd": 0.95}, "svhn": {"erm": 0.4}}, tmp_path / "g.png", "per domain"
    ).is_file()
    assert figures.bar_chart({}, tmp_path / "b.png", "t", "y") is None
    assert figures.histogram({"id": [1.0, 2.0, 2.5], "ood": [0.0, 0.5]}, tmp_path / "h.png", "scores").is_file()
    fpr, tpr = figures.roc_points([0.9, 0.8, 0.4], [0.5, 0.1])
    assert float(fpr[-1]) == 1.0 and float(tpr[-1]) == 1.0
    auc = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1))
    assert math.isclose(auc, 5 / 6)  # 5 of 6 (pos, neg) pairs ranked correctly
    assert figures.roc_curve({"msp": (fpr, tpr)}, tmp_path / "r.png").is_file()
