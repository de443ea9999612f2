"""The HTML reports in a real headless browser (Debian's Chromium driven by playwright; nothing downloaded).

Every image loads, no console errors, the overview table has one row per claim, the links from the bench
report to run reports resolve, from a ``file://`` path and when served over HTTP. Skips (with the reason)
where no Chromium is installed: `.ci/run` installs it from the distribution's packages.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustlab.recipes import run_recipe
from trustlab.report import render_bench

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: `apt-get install chromium` (.ci/run does)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    rec = run_recipe("erm/digits-dg", overrides={"train.epochs": 2, "train.max_steps_per_epoch": 3,
                                                 "data.max_per_domain": 32}, runs_root=root / "runs", quiet=True)
    suite = root / "reports" / "smoke"
    suite.mkdir(parents=True)
    claims = [
        {"id": "demo/pass", "statement": "holds", "suite": "smoke", "passed": True, "margin": 0.2, "unit": "acc",
         "values": {"a": [0.5, 0.6, 0.7]}, "seeds": [0, 1, 2], "runs": [str(rec.path)], "verdict": "PASS",
         "interval": [0.1, 0.3], "diffs": [0.1, 0.2, 0.3], "table": [{"row": 1}], "notes": "", "seconds": 1.0},
        {"id": "demo/inconclusive", "statement": "unclear", "suite": "smoke", "passed": False, "margin": 0.01,
         "unit": "acc", "values": {"b": [0.1, -0.05, 0.0]}, "seeds": [0, 1, 2], "runs": [], "verdict": "INCONCLUSIVE",
         "interval": [-0.1, 0.12], "diffs": [0.1, -0.05, 0.0], "table": [], "notes": "", "seconds": 1.0},
        {"id": "demo/invalid", "statement": "untestable", "suite": "smoke", "passed": False, "margin": 0.05,
         "unit": "acc", "values": {"c": [0.1, 0.1, 0.1]}, "seeds": [0, 1, 2], "runs": [str(rec.path)],
         "verdict": "INVALID", "interval": [-0.2, 0.3], "diffs": [0.1, 0.0, 0.05], "table": [], "notes": "",
         "seconds": 1.0, "reason": "above-chance: acc 0.1 < 0.2",
         "gates": [{"name": "above-chance", "ok": False, "detail": "acc 0.1 < 0.2"}]},
        {"id": "demo/error", "statement": "broke", "suite": "smoke", "passed": False, "margin": float("nan"),
         "unit": "", "values": {}, "seeds": [], "runs": [], "notes": "error: boom", "seconds": 0.0},
    ]
    (suite / "claims.json").write_text(json.dumps({"suite": "smoke", "created": "now", "env": {}, "seconds": 2.0,
                                                   "claims": claims}))
    render_bench(suite)
    return suite


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (make install adds it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(bench_dir: Path) -> Iterator[str]:
    root = bench_dir.parents[1]  # serves reports/ and runs/ so the relative links resolve
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _check_page(browser, url: str) -> tuple[object, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto(url, wait_until="load")
    broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.getAttribute('src'))")
    n_images = page.evaluate("document.images.length")
    assert n_images > 0 and broken == [], f"{url}: images that did not load: {broken}"
    return page, errors


@pytest.mark.parametrize("how", ["file", "http"])
def test_bench_and_run_reports_render(how: str, bench_dir: Path, browser, server: str) -> None:
    url = (bench_dir / "index.html").as_uri() if how == "file" else f"{server}/reports/smoke/index.html"
    page, errors = _check_page(browser, url)
    # the overview table: one row per claim, each with its verdict badge
    rows = page.locator("table").nth(1).locator("tbody tr")
    assert rows.count() == 4
    badges = page.locator("table").nth(1).locator(".badge").all_inner_texts()
    assert badges == ["PASS", "INCONCLUSIVE", "INVALID", "ERROR"]
    assert rows.nth(2).locator(".reason").inner_text() == "above-chance: acc 0.1 < 0.2"  # shown beside the badge
    grey = page.locator("table").nth(1).locator(".badge.invalid").evaluate("b => getComputedStyle(b).backgroundColor")
    assert grey == "rgb(110, 119, 129)"  # #6e7781
    assert page.locator("img[src='forest.png']").count() == 1
    # two claims read the run: both show its one curve thumbnail (an SVG in the run's report folder)
    thumbs = page.locator("img[src$='report/curves-small.svg']")
    assert thumbs.count() == 2 and len(set(thumbs.evaluate_all("xs => xs.map(x => x.src)"))) == 1
    # the link to the run's own report resolves and that page loads its figures too
    link = page.locator("a", has_text="report").first
    href = link.get_attribute("href")
    assert href and href.endswith("index.html")
    link.click()
    page.wait_for_load_state("load")
    assert "erm/digits-dg" in page.content()
    run_broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length")
    assert run_broken == 0
    assert errors == [], errors
    page.close()
