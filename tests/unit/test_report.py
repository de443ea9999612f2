"""Reports: render_run / render_bench from fake run records and a fake claims.json."""

from __future__ import annotations

import html
import json
import math
import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from trustlab.errors import NotFoundError
from trustlab.report import (
    bench_report,
    figures,
    markdown,
    render_bench,
    render_run,
    render_runs_index,
    run_report,
    svg,
)
from trustlab.report import html as h
from trustlab.runs.store import RunRecord

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"


def assert_svg(path: Path) -> ET.Element:
    """A standalone SVG document with a size (an <img> needs one to show it)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg" and int(root.get("width")) > 0 and int(root.get("height")) > 0
    return root


def img_sources(page: Path) -> list[Path]:
    """Every <img src> on a page, resolved against the page's folder."""
    text = page.read_text(encoding="utf-8")
    return [page.parent / html.unescape(src) for src in re.findall(r'<img src="([^"]+)"', text)]


def assert_images_exist(page: Path) -> list[Path]:
    sources = img_sources(page)
    for src in sources:
        assert src.is_file(), f"{page} references missing image {src}"
        if src.suffix == ".svg":
            assert_svg(src)
        else:
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
    assert "curves.svg" in names and "summary-per_domain.svg" in names and "confusion.png" in names
    assert "svhn&lt;b&gt;" in (page.parent / "summary-per_domain.svg").read_text()  # escaped in the SVG too
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
    assert any(p.name == "claim-okd-beats-kd-values.svg" for p in sources)
    assert sum(p.name == "curves-small.svg" for p in sources) == 2  # one curve thumbnail per existing run
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


def _counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[object]:
    calls: list[object] = []
    real = getattr(module, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_bench_renders_each_run_once_and_only_when_it_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r0, r1, r2 = (make_run(tmp_path / "runs", seed=s, summary=SUMMARY) for s in (0, 1, 2))
    suite = tmp_path / "reports" / "quick"
    claims = [claim("okd/a", True, {"v": [1.0, 2.0, 3.0]}, [str(r0.path), str(r1.path)]),
              claim("okd/b", True, {"v": [1.0, 2.0, 3.0]}, [str(r1.path), str(r2.path)]),
              claim("gmoe/c", True, {}, [os.path.relpath(r0.path, suite)])]  # same folder, relative to the suite
    write_claims(suite, claims)
    for legacy in ("claim-okd-a-run0.png", "claim-okd-a-values.png"):  # what the old report wrote per claim
        (suite / legacy).write_bytes(PNG_MAGIC)
    renders = _counting(monkeypatch, run_report, "render_run")
    forests = _counting(monkeypatch, figures, "forest_plot")
    page = render_bench(suite)
    assert sorted(Path(p).name for p in renders) == ["s0", "s1", "s2"]  # r0 and r1 are read by two claims each
    assert len(forests) == 1
    sources = assert_images_exist(page)
    thumbs = [p.resolve() for p in sources if p.name == "curves-small.svg"]
    assert len(thumbs) == 5 and len(set(thumbs)) == 3  # every claim links the run's one thumbnail
    assert not (suite / "claim-okd-a-run0.png").exists() and not (suite / "claim-okd-a-values.png").exists()

    renders.clear(), forests.clear()
    assert render_bench(suite).read_text() == page.read_text()
    assert renders == [] and forests == []  # nothing changed: no run report and no forest plot drawn again

    time.sleep(0.01)
    r2.write_summary({**SUMMARY, "per_domain": {"mnist": 0.5}})  # a run changed
    claims[0]["margin"] = 0.5  # and a claim
    write_claims(suite, claims)
    render_bench(suite)
    assert [Path(p).name for p in renders] == ["s2"] and len(forests) == 1
    assert "0.5" in (r2.path / "report" / "index.html").read_text()


def test_render_run_removes_figures_of_an_earlier_render(tmp_path: Path) -> None:
    run = make_run(tmp_path, summary=SUMMARY)
    (run.path / "report").mkdir()
    (run.path / "report" / "curves.png").write_bytes(PNG_MAGIC)  # the matplotlib chart of an older version
    render_run(run.path)
    assert (run.path / "report" / "summary-per_domain.svg").is_file()
    run.write_summary({"val/acc": 0.5})
    render_run(run.path)
    left = sorted(p.name for p in (run.path / "report").iterdir() if not p.name.startswith("."))
    assert left == ["curves-small.svg", "curves.svg", "index.html"]


INVALID = claim("gmoe/beats-cnn", False, {"gmoe": [0.1, 0.1, 0.1]}, [], verdict="INVALID",
                interval=[-0.01, 0.03], reason="above-chance: gmoe held-out acc 0.098 < 0.2 | chance 0.1",
                gates=[{"name": "above-chance", "ok": False, "detail": "gmoe held-out acc 0.098 < 0.2"},
                       {"name": "differs", "ok": True, "detail": "arms differ on some seed"}])


def test_invalid_claims_show_badge_reason_and_gates(tmp_path: Path) -> None:
    gated_only = claim("gmoe/no-reason", False, {}, [], verdict="INVALID",
                       gates=[{"name": "control-works", "ok": False, "detail": "ASR 0.3 < 0.8"}])
    old = claim("okd/old-file", True, {"v": [1.0, 2.0, 3.0]}, [])  # no verdict, interval, gates or reason
    write_claims(tmp_path / "s", [old, INVALID, gated_only])
    text = render_bench(tmp_path / "s").read_text()
    assert text.count('class="badge invalid"') >= 1 + 4  # counts line, 2 overview rows, 2 section headings, ...
    assert ">2 invalid<" in text and ">1 passed<" in text
    overview = text[text.index("<table><thead><tr><th>claim</th>"):]
    overview = overview[: overview.index("</table>")]
    assert "above-chance: gmoe held-out acc 0.098 &lt; 0.2 | chance 0.1" in overview  # reason next to the badge
    assert "control-works: ASR 0.3 &lt; 0.8" in overview  # no reason recorded: the failed gates
    section = text[text.index('id="claim-gmoe-beats-cnn"'):]
    assert "why invalid" in section and "Validity gates" in section and "arms differ on some seed" in section
    assert ".invalid{background:#6e7781}" in text
    assert bench_report.verdict({"verdict": "INVALID"}) == "INVALID" and bench_report.reason(old) == ""
    md = markdown.table({"suite": "quick", "claims": [old, INVALID]})
    assert "| INVALID: above-chance: gmoe held-out acc 0.098 < 0.2 \\| chance 0.1 |" in md
    assert "| PASS |" in md


def test_forest_plot_groups_by_area_clips_with_arrows_and_keeps_labels_clear() -> None:
    rows = [("okd/tight", 0.02, 0.01, 0.03, "PASS"),
            ("okd/wide", 0.01, -1.0, 1.0, "INCONCLUSIVE"),  # 100x its margin: clipped both ways
            ("gmoe/gated", 0.01, -0.01, 0.03, "INVALID"),
            ("gmoe/open", 0.5, 0.2, math.inf, "PASS"),  # clipped at the top only
            ("okd/late", -0.2, -0.3, -0.1, "FAIL"),  # grouped with okd although listed after gmoe
            ("gmoe/broke", math.nan, math.nan, math.nan, "ERROR")]
    assert figures.forest_scale(0.01, -1.0, 1.0) == pytest.approx(0.04)
    assert figures.forest_scale(0.02, 0.01, 0.03) == pytest.approx(0.03)
    assert figures.forest_groups([r[0] for r in rows]) == [("okd", [0, 1, 4]), ("gmoe", [2, 3, 5])]
    fig = figures.forest_figure(rows, "quick: margins and 90% intervals")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    labels = [(t.get_text().strip(), t.get_fontweight()) for t in ax.get_yticklabels()]
    assert [t for t, _ in labels] == ["okd", "tight", "wide", "late", "gmoe", "gated", "open", "broke"]
    assert {t for t, w in labels if w == "bold"} == {"okd", "gmoe"}
    arrows = [ln for ln in ax.lines if ln.get_marker() in ("<", ">")]
    assert sorted(ln.get_marker() for ln in arrows) == ["<", ">", ">"]
    assert any(ln.get_color() == figures.VERDICT_COLOURS["INVALID"] for ln in ax.lines)
    axes_box = ax.get_window_extent(renderer)
    (legend,) = fig.legends
    assert "INVALID" in [t.get_text() for t in legend.get_texts()]
    assert not legend.get_window_extent(renderer).overlaps(axes_box)  # the legend covers no row
    page = fig.bbox
    for artist in (legend, ax.xaxis.label, *ax.texts, *ax.get_yticklabels()):
        box = artist.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, artist


def test_svg_charts_escape_break_on_nan_and_tick_nicely(tmp_path: Path) -> None:
    out = svg.bar_chart({"a<b>": 0.5, "neg": -0.2, "gone": math.nan}, tmp_path / "b.svg", "t & u", "acc",
                        errors={"a<b>": 0.1}, ref_line=0.15, ref_label="mean")
    root = assert_svg(out)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "a<b>" in texts and "t & u" in texts and "nan" in texts and "-0.2" in texts
    assert len(list(root.iter(f"{SVG}rect"))) == 1 + 2  # background + two finite bars
    assert svg.bar_chart({}, tmp_path / "e.svg", "t", "y") is None
    rows = [{"epoch": e, "train/loss": (math.nan if e == 3 else 1 / e), "lr": 10.0 ** -e} for e in range(1, 7)]
    root = assert_svg(svg.training_curves(rows, tmp_path / "c.svg", title="x"))
    assert len(list(root.iter(f"{SVG}polyline"))) == 2 + 1  # the loss line breaks at the nan; lr is one line
    assert "1e-03" in [t.text for t in root.iter(f"{SVG}text")]  # lr spans 5 decades: log axis
    assert svg.training_curves([{"epoch": 0, "time/epoch_s": 1.0}], tmp_path / "n.svg") is None
    assert svg.nice_ticks(1, 12, 6, integer=True) == [2, 4, 6, 8, 10, 12]
    assert svg.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_markdown_redecide_applies_todays_rule_to_stored_margins(tmp_path: Path, capsys) -> None:
    """--redecide: a claims.json from before the effect-of-interest rule gets today's verdict from its own per-seed
    margins; a gate-failed INVALID stays INVALID; an unregistered claim is left alone."""
    tie = {"id": "okd/okd-beats-kd", "verdict": "INCONCLUSIVE", "passed": False, "margin": -0.003,
           "diffs": [0.008, 0.006, -0.006, 0.003, -0.025], "interval": [-0.0155, 0.0097], "seeds": [0, 1, 2, 3, 4]}
    gated = {**tie, "verdict": "INVALID", "reason": "above-chance: x"}
    gone = {**tie, "id": "okd/no-such-claim"}
    doc = markdown.redecide({"suite": "quick", "claims": [tie, gated, gone]})
    assert [c["verdict"] for c in doc["claims"]] == ["FAIL", "INVALID", "INCONCLUSIVE"]
    assert "FAIL by the effect of interest" in doc["claims"][0]["notes"] and tie["verdict"] == "INCONCLUSIVE"
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"suite": "quick", "claims": [tie]}))
    assert markdown.main([str(path), "--redecide"]) == 0
    out = capsys.readouterr().out
    assert "re-decided under the current rule" in out and "| FAIL: by the effect of interest" in out
