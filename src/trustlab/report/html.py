"""A small, self-contained HTML writer for reports (no template engine, no external assets).

Each function returns one HTML fragment as a :class:`Markup` string; :func:`page` joins fragments
into a complete document with inline CSS. Every piece of text is escaped with :func:`html.escape`
unless it is already :class:`Markup` (a fragment built here), so run names, statements or notes
containing ``<script>`` show as text. Images and links are relative paths.

Example::

    from trustlab.report import html as h
    doc = h.page("run", [h.heading("Summary"), h.table([{"method": "okd", "acc": 0.8612}], percent=["acc"])])
    h.write_page("report/index.html", doc)
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1150px;
padding:1.2em 1.6em 3em;color:#1d232b;line-height:1.45}
h1{font-size:1.6em;margin:.2em 0 .4em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #dde2e8;
padding-bottom:.2em}h3{font-size:1.05em;margin-top:1.3em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.9em}
th,td{border:1px solid #dde2e8;padding:.28em .6em;text-align:left;vertical-align:top}
th{background:#f3f5f8;font-weight:600}tr:nth-child(even) td{background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:.08em .55em;border-radius:.8em;font-size:.8em;font-weight:700;
letter-spacing:.03em;color:#fff}.pass{background:#1f883d}.fail{background:#cf222e}.error{background:#9a6700}
.unfinished{background:#6e7781}.inconclusive{background:#8250df}.invalid{background:#6e7781}
.done{background:#1f883d}.reason{font-size:.85em;color:#57606a}
img{max-width:100%;border:1px solid #eef0f3;margin:.3em 0}figure{margin:.6em 0}
figcaption{font-size:.85em;color:#57606a}.grid{display:flex;flex-wrap:wrap;gap:.8em}
.grid figure{flex:0 1 auto;max-width:100%}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em}details{margin:.6em 0}
summary{cursor:pointer;font-weight:600}.muted{color:#6e7781}
"""


class Markup(str):
    """A string that is already HTML; the writers here insert it without escaping."""


def esc(text: Any) -> Markup:
    """Escape any value as HTML text (``Markup`` passes through unchanged)."""
    if isinstance(text, Markup):
        return text
    return Markup(html.escape(str(text), quote=True))


def fmt(value: Any, percent: bool = False) -> str:
    """Format a cell value: floats to 4 significant digits (no exponent below 1e15), NaN as "nan".

    ``percent`` shows a fraction as a percentage (0.93121 -> "93.12%"). Integers and strings are
    shown as they are, ``None`` as an empty cell, lists and dicts as compact JSON.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and not percent:
        return str(value)
    if isinstance(value, (int, float)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if percent:
            return f"{_sig4(100.0 * v)}%"
        return _sig4(v)
    if isinstance(value, (list, tuple, dict)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 200 else text[:197] + "..."
    return str(value)


def _sig4(v: float) -> str:
    if v == 0 or 1e-4 <= abs(v) < 1e4:
        return f"{v:.4g}"
    if 1e4 <= abs(v) < 1e15:  # 12345.6 -> "12350", readable in a table, still 4 significant digits
        return f"{float(f'{v:.4g}'):.0f}"
    return f"{v:.4g}"


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def slug(text: Any) -> str:
    """A file-name and anchor-safe form of ``text`` ("val/mnist acc" -> "val-mnist-acc")."""
    out = re.sub(r"[^A-Za-z0-9_.]+", "-", str(text)).strip("-.")
    return out or "x"


def heading(text: Any, level: int = 2, anchor: str | None = None) -> Markup:
    """``<h{level}>`` with an optional ``id`` to link to."""
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return Markup(f"<h{level}{ident}>{esc(text)}</h{level}>")


def paragraph(text: Any, muted: bool = False) -> Markup:
    """A paragraph of (escaped) text; ``muted`` greys it out."""
    cls = ' class="muted"' if muted else ""
    return Markup(f"<p{cls}>{esc(text)}</p>")


def link(href: str | Path, text: Any) -> Markup:
    """A relative link."""
    return Markup(f'<a href="{esc(Path(href).as_posix())}">{esc(text)}</a>')


def badge(passed: bool | None, text: str | None = None) -> Markup:
    """A coloured PASS (green) / FAIL (red) badge; ``passed=None`` draws an amber ERROR badge."""
    cls = "error" if passed is None else ("pass" if passed else "fail")
    label = text or ("ERROR" if passed is None else ("PASS" if passed else "FAIL"))
    return Markup(f'<span class="badge {cls}">{esc(label)}</span>')


VERDICT_CLASSES = {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive", "INVALID": "invalid"}


def verdict_badge(verdict: str) -> Markup:
    """PASS (green), FAIL (red), INCONCLUSIVE (purple), INVALID (grey: the regime cannot test the
    claim) or ERROR (amber) for a claim's verdict."""
    cls = VERDICT_CLASSES.get(verdict, "error")
    return Markup(f'<span class="badge {cls}">{esc(verdict)}</span>')


def status_badge(done: bool) -> Markup:
    """``done`` (green) or ``unfinished`` (grey) for a run record."""
    return Markup(f'<span class="badge {"done" if done else "unfinished"}">{"done" if done else "unfinished"}</span>')


def preformatted(text: Any) -> Markup:
    """``<pre>`` block of escaped text (configs, error notes)."""
    return Markup(f"<pre>{esc(text)}</pre>")


def details(summary: Any, body: Any, open_: bool = False) -> Markup:
    """A collapsible ``<details>`` section; ``body`` is escaped text or a Markup fragment."""
    attr = " open" if open_ else ""
    return Markup(f"<details{attr}><summary>{esc(summary)}</summary>{esc(body)}</details>")


def image(src: str | Path, alt: str = "", caption: Any = None, width: int | None = None) -> Markup:
    """A figure with a relative image path and an optional caption (text, or Markup such as a link)."""
    w = f' width="{int(width)}"' if width else ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Markup(f'<figure><img src="{esc(Path(src).as_posix())}" alt="{esc(alt)}"{w}>{cap}</figure>')


def grid(fragments: Iterable[Any]) -> Markup:
    """Lay fragments (usually images) side by side, wrapping."""
    return Markup('<div class="grid">' + "".join(esc(f) for f in fragments) + "</div>")


def bullet_list(items: Iterable[Any]) -> Markup:
    """``<ul>`` of escaped text or Markup items."""
    return Markup("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def _cell(value: Any, percent: bool) -> str:
    if isinstance(value, Markup):
        return f"<td>{value}</td>"
    if _is_num(value):
        return f'<td class="num">{esc(fmt(value, percent))}</td>'
    return f"<td>{esc(fmt(value))}</td>"


def _wants_percent(column: str, percent: bool | Collection[str]) -> bool:
    return percent if isinstance(percent, bool) else column in percent


def table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    percent: bool | Collection[str] = False,
) -> Markup:
    """A table from a list of dicts.

    Columns are ``columns`` if given, else every key in order of first appearance over all rows, so
    the order is the same for every row; a missing key is an empty cell. ``percent`` (True, or a
    set of column names) shows those numbers as percentages. Markup values are inserted as HTML.
    """
    if not rows:
        return paragraph("(no rows)", muted=True)
    cols: list[str] = list(columns) if columns is not None else []
    if columns is None:
        for row in rows:
            cols += [k for k in row if k not in cols]
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(_cell(row.get(c), _wants_percent(c, percent)) for c in cols) + "</tr>" for row in rows
    )
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def kv_table(
    mapping: Mapping[str, Any],
    percent: bool | Collection[str] = False,
    header: tuple[str, str] | None = None,
) -> Markup:
    """A two-column key/value table; ``percent`` (True, or a set of keys) shows those as percentages."""
    if not mapping:
        return paragraph("(empty)", muted=True)
    head = f"<thead><tr><th>{esc(header[0])}</th><th>{esc(header[1])}</th></tr></thead>" if header else ""
    body = "".join(f"<tr><th>{esc(k)}</th>{_cell(v, _wants_percent(str(k), percent))}</tr>" for k, v in mapping.items())
    return Markup(f"<table>{head}<tbody>{body}</tbody></table>")


def page(title: str, body: Iterable[Any]) -> str:
    """A complete HTML document: ``<title>``, inline CSS, then the fragments in order."""
    content = "\n".join(esc(part) for part in body)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{content}\n</body></html>\n"
    )


def write_atomic(path: str | Path, text: str) -> Path:
    """Write text atomically (temp file + rename) without fsync: a report is rebuilt from the run
    records at any time, and a bench report writes hundreds of files (an fsync each took 10 ms)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_page(path: str | Path, document: str) -> Path:
    """Write a document atomically (temp file + rename)."""
    return write_atomic(path, document)
