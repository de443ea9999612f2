"""The HTML report of one run record: ``<run_dir>/report/index.html`` plus its SVG figures.

It reads the record only (config.yaml, env.json, metrics.jsonl, summary.json, artifacts/, done)
and never the run's stdout. Sections: a header (recipe, run id, done/unfinished, seed, device, git
sha, duration), the resolved config (collapsible), the summary's scalars, each dict of scalars in
the summary as a table and a bar chart (e.g. ``per_domain``), each dict of dicts as a table (e.g.
``leaderboard``), training curves from metrics.jsonl, then every image in artifacts/ embedded and
every JSON/CSV table linked (by relative path; nothing is copied).

The charts are hand-written SVG (:mod:`trustlab.report.svg`, milliseconds each). Besides
``curves.svg`` it writes ``curves-small.svg``, the thumbnail a bench report shows for the run.
:func:`ensure_run_report` renders only when the record (or the report code) changed since the
last render: the inputs' sizes and modification times are kept in ``report/.inputs.json``.

Example::

    from trustlab.report import render_run
    render_run("runs/erm/digits-dg/20250101-120000-s0-ab12")   # -> .../report/index.html
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from trustlab.errors import NotFoundError
from trustlab.report import html as h
from trustlab.report import svg
from trustlab.runs.store import RunRecord

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
_INPUTS = ".inputs.json"  # in report/: what the last render read, see ensure_run_report
_RECORD_FILES = ("config.yaml", "env.json", "metrics.jsonl", "summary.json", "done", "failed")
_FIGURE_SUFFIXES = (".svg", ".png")  # figures render_run writes into report/ (stale ones are removed)
TABLE_SUFFIXES = (".json", ".csv", ".tsv", ".jsonl")
_DURATION_KEYS = ("seconds", "duration_s", "wall_s", "time/total_s", "time_s")


def _read(what: str, read: Any, default: Any, problems: list[str]) -> Any:
    """Call ``read()``; a malformed file becomes a note in the report instead of a crash."""
    try:
        return read()
    except (OSError, ValueError, yaml.YAMLError) as err:
        problems.append(f"{what}: could not be read ({type(err).__name__}: {err})")
        return default


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
    return None


def run_seconds(run: RunRecord, summary: Mapping[str, Any], rows: list[dict[str, Any]]) -> float | None:
    """The run's wall time: a duration in summary.json, else ``done`` time minus env.json's start
    time, else the sum of logged ``time/epoch_s`` (so far, for an unfinished run); ``None`` if unknown."""
    for key in _DURATION_KEYS:
        value = summary.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    if run.done:
        try:
            start = _parse_time(run.env().get("time"))
        except (OSError, ValueError):
            start = None
        end = _parse_time((run.path / "done").read_text(errors="replace"))
        if start and end and (start.tzinfo is None) == (end.tzinfo is None):
            return max((end - start).total_seconds(), 0.0)
    epoch_times = [r["time/epoch_s"] for r in rows if isinstance(r.get("time/epoch_s"), (int, float))]
    return float(sum(epoch_times)) if epoch_times else None


def format_seconds(seconds: float | None) -> str:
    """``None`` -> "unknown"; 75.2 -> "1 min 15 s"; 3.25 -> "3.25 s"."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _percent_keys(mapping: Mapping[str, Any], force: bool = False) -> set[str]:
    """Keys shown as percentages: accuracies (by name, or ``force``) whose value is in [0, 1]."""
    return {str(k) for k, v in mapping.items() if _is_num(v) and 0.0 <= v <= 1.0 and (force or "acc" in str(k).lower())}


def _unique(name: str, used: set[str]) -> str:
    stem, n = name, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return name


def _header(run: RunRecord, config: dict[str, Any], env: dict[str, Any], seconds: float | None) -> list[Any]:
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    seed = env.get("seed", train.get("seed"))
    device = env.get("device") or ("cuda" if env.get("cuda") else None)
    if env.get("gpu"):
        device = f"{device or 'cuda'} ({env['gpu']})"
    done_at = (run.path / "done").read_text(errors="replace").strip() if run.done else ""
    facts: dict[str, Any] = {
        "recipe": config.get("recipe", run.recipe),
        "run id": run.path.name,
        "status": h.status_badge(run.done),
        "seed": seed,
        "device": device or "unknown",
        "git sha": env.get("git_sha") or "unknown",
        "duration": format_seconds(seconds),
        "started": env.get("time") or "unknown",
        "finished": done_at or "not finished (no done marker)",
        "torch": env.get("torch"),
        "command": " ".join(map(str, env["argv"])) if isinstance(env.get("argv"), list) else env.get("argv"),
    }
    return [
        h.heading(f"{facts['recipe']} / {run.path.name}", level=1),
        h.kv_table({k: v for k, v in facts.items() if v is not None}),
    ]


def _summary_sections(summary: dict[str, Any], out: Path, used: set[str]) -> list[Any]:
    body: list[Any] = [h.heading("Summary")]
    if not summary:
        return body + [h.paragraph("summary.json is missing or empty (the run may not have finished).", muted=True)]
    scalars = {k: v for k, v in summary.items() if _is_scalar(v)}
    if scalars:
        body.append(h.kv_table(scalars, percent=_percent_keys(scalars)))
    for key, value in summary.items():
        if _is_scalar(value):
            continue
        body.append(h.heading(key, level=3, anchor=f"summary-{h.slug(key)}"))
        if isinstance(value, dict) and value and all(_is_scalar(v) for v in value.values()):
            percent = _percent_keys(value, force="acc" in key.lower())
            body.append(h.kv_table(value, percent=percent, header=(key, "value")))
            numbers = {str(k): float(v) for k, v in value.items() if _is_num(v)}
            if numbers:
                name = _unique(f"summary-{h.slug(key)}.svg", used)
                ref = _mean_or_none(numbers.values())
                if svg.bar_chart(numbers, out / name, key, "value", ref_line=ref, ref_label="mean"):
                    body.append(h.image(name, alt=f"{key} bar chart"))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            first = "name" if not any("name" in v for v in value.values()) else "key"
            rows = [{first: k, **v} for k, v in value.items()]
            percent = {c for row in value.values() for c in _percent_keys(row)}
            body.append(h.table(rows, percent=percent))
        else:
            body.append(h.preformatted(json.dumps(value, indent=2, default=str)))
    return body


def _mean_or_none(values: Iterable[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if len(finite) > 1 else None


def _artifact_sections(run: RunRecord, out: Path) -> list[Any]:
    root = run.path / "artifacts"
    files = (
        sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        if root.is_dir()
        else []
    )
    body: list[Any] = [h.heading("Artifacts")]
    if not files:
        return body + [h.paragraph("No artifacts.", muted=True)]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    tables = [p for p in files if p.suffix.lower() in TABLE_SUFFIXES]
    others = [p for p in files if p not in images and p not in tables]
    if images:
        body.append(
            h.grid(h.image(os.path.relpath(p, out), alt=p.name, caption=str(p.relative_to(root))) for p in images)
        )
    for title, group in (("Tables", tables), ("Other files", others)):
        if group:
            body.append(h.heading(title, level=3))
            body.append(
                h.bullet_list(
                    h.Markup(
                        f"{h.link(os.path.relpath(p, out), p.relative_to(root))} "
                        f'<span class="muted">({_size(p)})</span>'
                    )
                    for p in group
                )
            )
    return body


def _size(path: Path) -> str:
    n = float(path.stat().st_size)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: a tenth of the pure-Python parse time
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}


@functools.cache
def code_version() -> str:
    """Sizes and times of the report code: a render by other code is stale."""
    here = Path(__file__).parent
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(here.glob("*.py"))]
    return hashlib.sha1(repr(stats).encode()).hexdigest()[:16]


def _fingerprint(run_dir: Path) -> str:
    """What a render reads, by size and modification time: the record's files, artifacts/, the code."""
    parts: list[Any] = [code_version()]
    for name in _RECORD_FILES:
        try:
            st = (run_dir / name).stat()
            parts.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            parts.append((name, None))
    root = run_dir / "artifacts"
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            try:
                st = p.stat()
            except OSError:
                continue
            parts.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    return hashlib.sha1(repr(parts).encode()).hexdigest()


@dataclass(frozen=True)
class RunReport:
    """A rendered run report: its page, the run's title, and its curve thumbnail (None: no curves)."""

    index: Path
    title: str
    thumbnail: Path | None


def _read_inputs(out: Path) -> dict[str, Any]:
    try:
        data = json.loads((out / _INPUTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def ensure_run_report(run_dir: str | Path) -> RunReport:
    """The run's report, rendered with :func:`render_run` only when it is missing or stale (the
    record's files, its artifacts or the report code changed since the last render)."""
    path = Path(run_dir)
    out = path / "report"
    seen = _read_inputs(out)
    if seen.get("fingerprint") != _fingerprint(path) or not (out / "index.html").is_file():
        render_run(path)
        seen = _read_inputs(out)
    thumb = seen.get("thumbnail")
    thumbnail = out / thumb if isinstance(thumb, str) and (out / thumb).is_file() else None
    return RunReport(out / "index.html", str(seen.get("title") or path.name), thumbnail)


def render_run(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report/index.html`` (and its SVG figures) from the run record; return its path.

    Works on unfinished runs (marked "unfinished") and on records without metrics.jsonl or
    summary.json. Raises :class:`trustlab.errors.NotFoundError` if ``run_dir`` is not a run record.
    Figures left in ``report/`` by an earlier render that this one did not write are removed.
    """
    path = Path(run_dir)
    if not (path / "config.yaml").is_file():
        raise NotFoundError(f"'{path}' is not a run record (no config.yaml); `trustlab runs` lists them")
    out = path / "report"
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(path)  # before reading: a change during the render re-renders next time
    problems: list[str] = []
    config = _read("config.yaml", lambda: _load_yaml(path / "config.yaml"), {}, problems)
    config = config if isinstance(config, dict) else {}
    run = RunRecord(path=path, recipe=str(config.get("recipe", path.parent.name)), writer=False)
    env = _read("env.json", run.env, {}, problems)
    summary = _read("summary.json", run.summary, {}, problems)
    rows = _read("metrics.jsonl", run.metrics, [], problems)
    config = config if isinstance(config, dict) else {}
    env = env if isinstance(env, dict) else {}
    summary = summary if isinstance(summary, dict) else {}
    used: set[str] = set()

    body: list[Any] = _header(run, config, env, run_seconds(run, summary, rows))
    if problems:
        body.append(h.bullet_list(problems))
    dumped = yaml.dump(config, Dumper=_Dumper, sort_keys=False)
    body.append(h.details("Resolved config (config.yaml)", h.preformatted(dumped)))
    body.append(h.details("Environment (env.json)", h.kv_table({k: h.fmt(v) for k, v in env.items()})))
    body += _summary_sections(summary, out, used)

    title = f"{config.get('recipe', run.recipe)} / {run.path.name}"
    body.append(h.heading("Training curves"))
    curves = svg.training_curves(rows, out / _unique("curves.svg", used)) if rows else None
    thumbnail = None
    if curves is not None:
        body.append(h.image(curves.name, alt="training curves"))
        body.append(h.paragraph(f"{len(rows)} rows in metrics.jsonl.", muted=True))
        thumbnail = svg.training_curves(rows, out / _unique("curves-small.svg", used), title=title, small=True)
    else:
        note = "no metrics.jsonl" if not rows else "metrics.jsonl has no loss, accuracy or lr values"
        body.append(h.paragraph(f"No training curves ({note}).", muted=True))

    body += _artifact_sections(run, out)
    page = h.write_page(out / "index.html", h.page(title, body))
    for old in out.iterdir():  # figures of an earlier render (other summary keys, the old PNG charts)
        if old.suffix.lower() in _FIGURE_SUFFIXES and old.name not in used and old.is_file():
            old.unlink(missing_ok=True)
    h.write_atomic(out / _INPUTS, json.dumps({"fingerprint": fingerprint, "title": title,
                                              "thumbnail": thumbnail.name if thumbnail else None}))
    return page


def render_runs_index(run_dirs: Iterable[str | Path], out_dir: str | Path) -> Path:
    """Render every run's report (where stale) and write ``<out_dir>/index.html``: one row per run, linked.

    Columns: recipe, run id, status, seed, duration, then the summary's top-level numbers. Folders
    that are not run records are listed as missing rather than failing the whole index.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    percent: set[str] = set()
    for run_dir in run_dirs:
        path = Path(run_dir)
        if not (path / "config.yaml").is_file():
            rows.append({"run id": str(path), "status": h.badge(False, "missing")})
            continue
        report = ensure_run_report(path).index  # rendered again only when the record changed
        run = RunRecord.open(path, writer=False)
        summary, env = run.summary(), run.env()
        numbers = {k: v for k, v in summary.items() if _is_num(v) and k not in _DURATION_KEYS}
        percent |= _percent_keys(numbers)
        rows.append(
            {
                "recipe": run.recipe,
                "run id": h.link(os.path.relpath(report, out), path.name),
                "status": h.status_badge(run.done),
                "seed": env.get("seed"),
                "duration": format_seconds(run_seconds(run, summary, run.metrics())),
                **numbers,
            }
        )
    body = [h.heading("Runs", level=1), h.table(rows, percent=percent)]
    return h.write_page(out / "index.html", h.page("trustlab runs", body))
