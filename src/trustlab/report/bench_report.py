"""The HTML report of a bench suite: ``<suite_dir>/index.html`` plus PNGs, from ``claims.json``.

``claims.json`` is what ``trustlab bench`` writes (see :mod:`trustlab.bench.claims`)::

    {"suite": str, "created": str, "env": {...}, "jobs": int, "threads_per_run": int, "seconds": float,
     "claims": [ClaimResult.to_dict(), ...]}

The page shows the environment and total time, a forest plot of every claim's margin and 90%
interval against zero (grouped by method area, the id before "/"), an overview (one row per claim:
PASS / FAIL / INCONCLUSIVE / INVALID / ERROR badge, with the failed precondition next to INVALID,
margin with unit and interval, mean ± std of each measured value over seeds, seconds), then one
section per claim: statement, validity gates, per-seed values, the claim's own table rows, a bar
chart of mean ± std, and for each run folder it read that still exists a small training-curve
figure and a link to that run's own report. A claim that fails, errored or could not be tested is
shown as such, never hidden; NaN shows as "nan"; missing run folders are listed. Older claims.json
files (no verdict, interval, gates or reason) render too.

Speed: each run folder's report is rendered once per bench (runs shared between claims are not
drawn again) and only when its record changed since the last render
(:func:`trustlab.report.run_report.ensure_run_report`); the per-run and per-claim charts are SVG
written by hand (:mod:`trustlab.report.svg`); only the forest plot uses matplotlib. The quick
suite's report (45 claims, 270 runs) renders in seconds (``benchmarks/report_render.py``).

Example::

    from trustlab.report import render_bench
    render_bench("reports/quick")   # -> reports/quick/index.html
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from trustlab.errors import NotFoundError, TrustlabError
from trustlab.report import figures, svg
from trustlab.report import html as h
from trustlab.report.run_report import RunReport, code_version, ensure_run_report, format_seconds

# the CPU and the kernel set torch / oneDNN chose are in the header: float kernels follow the instruction set,
# and a margin near zero can change verdict between machines (scripts/isa_verdicts.py)
ENV_KEYS = ("machine", "platform", "cpu_model", "cpu_simd", "cpu_capability", "onednn_max_cpu_isa", "torch",
            "python", "cpu_count", "torch_threads", "gpu", "device", "git_sha")


def _floats(values: Any) -> list[float]:
    """A claim's per-seed values as floats (``None`` or junk -> nan; one number -> [number])."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(float("nan"))
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value; nan for none or any nan)."""
    if not values:
        return float("nan"), float("nan")
    if any(math.isnan(v) for v in values):
        return float("nan"), float("nan")
    return float(statistics.fmean(values)), float(statistics.stdev(values)) if len(values) > 1 else 0.0


def is_error(claim: Mapping[str, Any]) -> bool:
    """A claim whose check raised: bench records it with notes starting "error:"."""
    return str(claim.get("notes") or "").lstrip().lower().startswith("error:")


VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "INVALID")  # as in trustlab.bench.claims, plus ERROR here


def verdict(claim: Mapping[str, Any]) -> str:
    """PASS / FAIL / INCONCLUSIVE / INVALID, or ERROR for a claim whose check raised (older files:
    from ``passed``)."""
    if is_error(claim):
        return "ERROR"
    v = str(claim.get("verdict") or "")
    return v if v in VERDICTS else ("PASS" if claim.get("passed") else "FAIL")


EFFECT_FAIL = "FAIL by the effect of interest"  # the note bench.claims.decide_with_effect writes


def reason(claim: Mapping[str, Any]) -> str:
    """Why an INVALID claim could not be tested (its failed preconditions, one line); for a FAIL decided by the
    effect of interest (an interval that straddles zero but lies below the paper's scaled effect), that rule's
    note; else ""."""
    if verdict(claim) == "FAIL":
        notes = " ".join(str(claim.get("notes") or "").split())
        at = notes.find(EFFECT_FAIL)
        return notes[at + len("FAIL "):].split(";")[0] if at >= 0 else ""
    if verdict(claim) != "INVALID":
        return ""
    text = " ".join(str(claim.get("reason") or "").split())
    if text:
        return text
    failed = [g for g in _gates(claim) if not g["ok"]]  # a file with gates but no reason
    return "; ".join(f"{g['name']}: {g['detail']}" for g in failed) or "no reason recorded"


def _gates(claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The claim's validity gates as {name, ok, detail} (missing or malformed entries skipped)."""
    gates = claim.get("gates")
    if not isinstance(gates, list):
        return []
    return [{"name": str(g.get("name", "?")), "ok": bool(g.get("ok")), "detail": str(g.get("detail") or "")}
            for g in gates if isinstance(g, dict)]


_WORDS = {"PASS": "passed", "FAIL": "failed", "INCONCLUSIVE": "inconclusive", "INVALID": "invalid",
          "ERROR": "errored"}


def claim_badge(claim: Mapping[str, Any]) -> h.Markup:
    """PASS / FAIL / INCONCLUSIVE / INVALID / ERROR badge for one claim result."""
    return h.verdict_badge(verdict(claim))


def _badge_with_reason(claim: Mapping[str, Any]) -> h.Markup:
    why = reason(claim)
    badge = claim_badge(claim)
    return h.Markup(f'{badge} <span class="reason">{h.esc(why)}</span>') if why else badge


def group_of(claim_id: str) -> str:
    """A claim's method area: its id before the first "/" ("" for an id without one)."""
    return claim_id.split("/", 1)[0] if "/" in claim_id else ""


def by_group(claims: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claims grouped by method area, areas in order of first appearance, claims in file order."""
    order: dict[str, int] = {}
    for c in claims:
        order.setdefault(group_of(str(c.get("id", "?"))), len(order))
    return sorted(claims, key=lambda c: order[group_of(str(c.get("id", "?")))])  # stable


def _interval(claim: Mapping[str, Any]) -> tuple[float, float]:
    iv = _floats(claim.get("interval") or [])
    return (iv[0], iv[1]) if len(iv) == 2 else (float("nan"), float("nan"))


def _interval_text(claim: Mapping[str, Any]) -> str:
    lo, hi = _interval(claim)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a (fewer than 2 seeds)"
    return f"[{h.fmt(lo)}, {h.fmt(hi)}]"


def _forest(claims: list[dict[str, Any]], suite_dir: Path, suite: str) -> list[Any]:
    rows = []
    for c in claims:
        m = _floats(c.get("margin"))[0] if c.get("margin") is not None else float("nan")
        lo, hi = _interval(c)
        rows.append((str(c.get("id", "?")), m, lo, hi, verdict(c)))
    title = f"{suite}: margins and 90% intervals"
    png, key_file = suite_dir / "forest.png", suite_dir / ".forest.key"
    key = hashlib.sha1(repr((rows, title, code_version())).encode()).hexdigest()
    fresh = png.is_file() and key_file.is_file() and key_file.read_text(encoding="utf-8").strip() == key
    if not fresh:  # the one matplotlib figure: drawn again only when a row, the title or the code changed
        if figures.forest_plot(rows, png, title=title) is None:
            return []
        h.write_atomic(key_file, key + "\n")
    caption = ("Dot: mean margin over seeds; line: its 90% interval; right of 0: the claim holds. Each row is "
               "scaled to its own unit (numbers at the right are raw); an arrow marks an interval that "
               "continues past the plotted range.")
    return [h.image(png.name, alt="every claim's margin and interval against zero (forest plot)", caption=caption)]


def _margin(claim: Mapping[str, Any]) -> str:
    margin = claim.get("margin")
    text = h.fmt(margin) if margin is not None else "nan"
    if isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0:
        text = "+" + text
    unit = str(claim.get("unit") or "")
    return f"{text} {unit}".strip()


def _measured(values: Mapping[str, Any]) -> h.Markup:
    lines = []
    for name, raw in values.items():
        vals = _floats(raw)
        m, s = mean_std(vals)
        lines.append(f'{h.esc(name)}: {h.fmt(m)} ± {h.fmt(s)} <span class="muted">(n={len(vals)})</span>')
    return h.Markup("<br>".join(lines))


def _anchor(claim_id: str) -> str:
    return f"claim-{h.slug(claim_id)}"


def _load(suite_dir: Path) -> dict[str, Any]:
    path = suite_dir / "claims.json"
    if not path.is_file():
        raise NotFoundError(f"'{path}' not found; run `trustlab bench --suite <name>` to create it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise TrustlabError(f"'{path}' is not valid JSON ({err}); re-run `trustlab bench`") from err
    if not isinstance(data, dict):
        raise TrustlabError(f"'{path}' must hold a JSON object with a 'claims' list")
    return data


def _resolve_run(run: str, suite_dir: Path) -> Path | None:
    """A run folder listed by a claim, as written or relative to the suite folder; None if gone."""
    candidates = [Path(run)] if Path(run).is_absolute() else [Path(run), suite_dir / run]
    return next((p for p in candidates if (p / "config.yaml").is_file()), None)


def _overview(claims: list[dict[str, Any]]) -> h.Markup:
    rows = []
    for c in claims:
        cid = str(c.get("id", "?"))
        rows.append(
            {
                "claim": h.link(f"#{_anchor(cid)}", cid),
                "statement": c.get("statement", ""),
                "result": _badge_with_reason(c),
                "margin": _margin(c),
                "90% interval": _interval_text(c),
                "measured (mean ± std over seeds)": _measured(c.get("values") or {}),
                "seconds": c.get("seconds"),
            }
        )
    return h.table(rows)


def _per_seed_rows(values: Mapping[str, Any], seeds: Sequence[Any]) -> list[dict[str, Any]]:
    columns = {name: _floats(raw) for name, raw in values.items()}
    n = max((len(v) for v in columns.values()), default=0)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        seed = seeds[i] if i < len(seeds) else f"#{i}"
        rows.append({"seed": seed, **{k: v[i] for k, v in columns.items() if i < len(v)}})
    stats = {k: mean_std(v) for k, v in columns.items()}
    rows.append({"seed": "mean", **{k: m for k, (m, _) in stats.items()}})
    rows.append({"seed": "std", **{k: s for k, (_, s) in stats.items()}})
    return rows


class RunReports:
    """Each run folder's report, rendered at most once per bench report (claims share runs) and only
    when stale (:func:`ensure_run_report`); errors are remembered per folder too."""

    def __init__(self) -> None:
        self._done: dict[Path, RunReport | str] = {}

    def get(self, path: Path) -> RunReport | str:
        """The folder's :class:`RunReport`, or the error (one line) that rendering it raised."""
        key = path.resolve()
        if key not in self._done:
            try:
                self._done[key] = ensure_run_report(path)
            except (OSError, ValueError, TrustlabError, yaml.YAMLError) as err:
                self._done[key] = f"{type(err).__name__}: {err}"
        return self._done[key]


def _run_gallery(claim: Mapping[str, Any], suite_dir: Path, reports: RunReports) -> list[Any]:
    runs = [str(r) for r in (claim.get("runs") or [])]
    if not runs:
        return []
    figures_html: list[Any] = []
    missing: list[str] = []
    broken: list[str] = []
    for run in runs:
        path = _resolve_run(run, suite_dir)
        if path is None:
            missing.append(run)
            continue
        report = reports.get(path)
        if isinstance(report, str):
            broken.append(f"{run}: {report}")
            continue
        name = report.title
        link = h.link(os.path.relpath(report.index, suite_dir), f"{name} report")
        if report.thumbnail is not None:
            src = os.path.relpath(report.thumbnail, suite_dir)
            figures_html.append(h.image(src, alt=f"training curves of {name}", caption=link))  # ~530 px wide
        else:
            empty = h.paragraph("no training curves", muted=True)
            figures_html.append(h.Markup(f"<figure>{empty}<figcaption>{link}</figcaption></figure>"))
    body: list[Any] = [h.heading(f"Runs ({len(runs)})", level=4)]
    if figures_html:
        body.append(h.grid(figures_html))
    if missing:
        body.append(h.paragraph(f"{len(missing)} run folder(s) not found: " + ", ".join(missing), muted=True))
    if broken:
        body.append(h.bullet_list(broken))
    return body


def _gate_table(claim: Mapping[str, Any]) -> list[Any]:
    gates = _gates(claim)
    if not gates:
        return []
    rows = [{"precondition": g["name"], "holds": h.badge(g["ok"], "yes" if g["ok"] else "no"), "measured": g["detail"]}
            for g in gates]
    return [h.heading("Validity gates", level=4), h.table(rows)]


def _claim_section(claim: dict[str, Any], suite_dir: Path, used: set[str], reports: RunReports) -> list[Any]:
    cid = str(claim.get("id", "?"))
    prefix = f"claim-{h.slug(cid)}"
    while prefix in used:  # two claims with the same id must not overwrite each other's PNGs
        prefix += "-x"
    used.add(prefix)
    values = claim.get("values") or {}
    seeds = list(claim.get("seeds") or [])
    body: list[Any] = [
        h.Markup(f'<h2 id="{h.esc(_anchor(cid))}">{h.esc(cid)} {claim_badge(claim)}</h2>'),
        h.paragraph(claim.get("statement", "")),
        h.kv_table(
            {
                "result": claim_badge(claim),
                **({"why invalid": reason(claim)} if reason(claim) else {}),
                "margin": _margin(claim),
                "90% interval of the margin": _interval_text(claim),
                "per-seed margins": ", ".join(h.fmt(d) for d in _floats(claim.get("diffs") or [])) or "n/a",
                "suite": claim.get("suite"),
                "seeds": ", ".join(map(str, seeds)) or "none",
                "seconds": claim.get("seconds"),
            }
        ),
    ]
    body += _gate_table(claim)
    if claim.get("notes"):
        body += [h.heading("Notes", level=4), h.preformatted(claim["notes"])]
    if values:
        body += [h.heading("Per-seed values", level=4), h.table(_per_seed_rows(values, seeds))]
        stats = {str(k): mean_std(_floats(v)) for k, v in values.items()}
        chart = svg.bar_chart(
            {k: m for k, (m, _) in stats.items()},
            suite_dir / f"{prefix}-values.svg",
            title=cid,
            ylabel="mean over seeds (± std)",
            errors={k: s for k, (_, s) in stats.items()},
        )
        if chart is not None:
            body.append(h.image(chart.name, alt=f"{cid}: mean ± std of measured values"))
    elif not is_error(claim):
        body.append(h.paragraph("No measured values.", muted=True))
    # figures a claim's check wrote beside the report: <suite_dir>/<group>-<name>*.png (e.g. seed bands)
    own = sorted(suite_dir.glob(f"{cid.replace('/', '-')}*.png"))
    if own:
        body += [h.heading("Figures", level=4),
                 h.grid([h.image(png.name, alt=f"{cid}: {png.stem}", width=480) for png in own])]
    table = claim.get("table") or []
    if table:
        rows = [r if isinstance(r, dict) else {"value": r} for r in table]
        body += [h.heading("Table", level=4), h.table(rows)]
    return body + _run_gallery(claim, suite_dir, reports)


def render_bench(suite_dir: str | Path) -> Path:
    """Write ``<suite_dir>/index.html`` (and PNGs beside it) from ``<suite_dir>/claims.json``.

    Returns the page's path. Raises :class:`trustlab.errors.NotFoundError` when claims.json is
    missing and :class:`trustlab.errors.TrustlabError` when it is not a JSON object.
    """
    suite_dir = Path(suite_dir)
    data = _load(suite_dir)
    claims = by_group([c for c in (data.get("claims") or []) if isinstance(c, dict)])
    env = data.get("env") if isinstance(data.get("env"), dict) else {}
    suite = str(data.get("suite") or suite_dir.name)
    counts = {v: sum(verdict(c) == v for c in claims) for v in (*VERDICTS, "ERROR")}
    seconds = data.get("seconds")

    body: list[Any] = [
        h.heading(f"trustlab bench: {suite}", level=1),
        h.Markup(
            "<p>" + " ".join(h.verdict_badge(v).replace(f">{v}<", f">{n} {_WORDS[v]}<")
                             for v, n in counts.items() if n or v in ("PASS", "FAIL"))
            + f" of {len(claims)} claim(s) &middot; total time "
            f"{h.esc(format_seconds(seconds if isinstance(seconds, (int, float)) else None))}"
            f" &middot; created {h.esc(data.get('created') or 'unknown')}</p>"
        ),
        h.kv_table({**{k: env[k] for k in ENV_KEYS if k in env},
                    **{k: data[k] for k in ("jobs", "threads_per_run") if k in data}} or {"env": "not recorded"}),
        h.heading("Claims"),
    ]
    if not claims:
        body.append(h.paragraph("This suite has no claims.", muted=True))
    else:
        body += _forest(claims, suite_dir, suite)
        body.append(_overview(claims))
    used: set[str] = set()
    reports = RunReports()
    for claim in claims:
        body += _claim_section(claim, suite_dir, used, reports)
    _remove_old_figures(suite_dir, used)
    return h.write_page(suite_dir / "index.html", h.page(f"trustlab bench: {suite}", body))


def _remove_old_figures(suite_dir: Path, used: set[str]) -> None:
    """Delete the figures earlier versions of this report wrote per claim (``claim-<id>-values.png``,
    one ``claim-<id>-run<i>.png`` per run per claim) and value charts of claims no longer listed."""
    for path in suite_dir.glob("claim-*"):
        stem = path.name.rsplit(".", 1)[0]
        ours = stem.endswith("-values") or stem.rsplit("-run", 1)[-1].isdigit()
        if ours and path.suffix in (".png", ".svg") and not (path.suffix == ".svg" and stem[:-7] in used):
            path.unlink(missing_ok=True)
