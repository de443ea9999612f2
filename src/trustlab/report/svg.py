"""Small SVG charts for reports, written by hand (no matplotlib): milliseconds each.

A bench report shows hundreds of runs; drawing each run's training curves and summary bars with
matplotlib cost about 0.3 CPU-s per figure (5 min for the quick suite), so the charts every report
draws per run or per claim are plain SVG text: line panels (:func:`training_curves`, same input
and grouping as :func:`trustlab.report.figures.training_curves`) and bar charts with error bars and
a reference line (:func:`bar_chart`). The browser renders the text, so labels stay sharp at any
zoom. Every label is escaped; files are written atomically; each function returns the path it
wrote, or ``None`` when there is nothing to draw.

Example::

    from trustlab.report import svg
    svg.bar_chart({"erm": 0.81, "okd": 0.86}, "acc.svg", "target accuracy", "accuracy")
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustlab.report.html import write_atomic

# matplotlib's tab10, so SVG and PNG figures in one report use the same colours
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
FONT = "DejaVu Sans,Helvetica,Arial,sans-serif"
_CHAR_W = 0.6  # average glyph width as a fraction of the font size (for layout only)
_GROUP_TITLES = {"loss": "losses", "accuracy": "accuracies", "lr": "learning rate"}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _n(v: float) -> str:
    """A coordinate: two decimals, no trailing zeros."""
    return f"{v:.2f}".rstrip("0").rstrip(".")


def text_width(text: str, size: float) -> float:
    """Approximate rendered width of ``text`` in px (layout only; the browser draws the glyphs)."""
    return len(text) * size * _CHAR_W


def _text(x: float, y: float, s: Any, size: float = 10, anchor: str = "start", bold: bool = False,
          rotate: float | None = None, fill: str = "#1d232b", baseline: str | None = None) -> str:
    attrs = f'x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if bold:
        attrs += ' font-weight="bold"'
    if fill != "#1d232b":
        attrs += f' fill="{fill}"'
    if baseline:
        attrs += f' dominant-baseline="{baseline}"'
    if rotate is not None:
        attrs += f' transform="rotate({_n(rotate)} {_n(x)} {_n(y)})"'
    return f"<text {attrs}>{_e(s)}</text>"


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = "#1d232b", width: float = 1,
          dash: str | None = None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}" '
            f'stroke-width="{_n(width)}"{d}/>')


def document(width: float, height: float, parts: Sequence[str]) -> str:
    """A standalone SVG document (``width``/``height`` set, so an ``<img>`` gets a natural size)."""
    w, h = math.ceil(width), math.ceil(height)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'font-family="{FONT}">\n<rect width="{w}" height="{h}" fill="#ffffff"/>\n'
            + "\n".join(parts) + "\n</svg>\n")


def write_svg(out: str | Path, text: str) -> Path:
    """Write an SVG document atomically; return its path."""
    return write_atomic(out, text)


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """About ``n`` round tick values (1, 2, 2.5, 5 x 10^k steps; whole-number steps of 1, 2, 5 x 10^k
    for ``integer`` data such as epochs) within [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * mag for m in steps if m * mag >= 0.8 * raw)  # 0.8: rather one tick more than one less
    if integer:
        step = max(step, 1.0)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def tick_label(v: float, step: float) -> str:
    """A tick value with as many decimals as its step needs ("0.25", "1e-04" for tiny or huge)."""
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.0e}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and abs(round(step * 10**decimals) - step * 10**decimals) > 1e-6:
        decimals += 1  # 2.5 x 10^k steps need one more digit
    return f"{v:.{decimals}f}"


def _value_label(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.4g}"


class _Axis:
    """A linear (or log10) mapping from data values to pixels, with its ticks."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float, log: bool = False, n: int = 5,
                 pad: float = 0.05, include_zero: bool = False, integer: bool = False) -> None:
        self.log = log
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        if include_zero:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi == lo:
            span = abs(lo) * 0.1 or 0.5
            lo, hi = lo - span, hi + span
        span = hi - lo
        self.lo, self.hi = lo - pad * span, hi + pad * span
        if include_zero and lo >= 0:
            self.lo = 0.0
        if include_zero and hi <= 0:
            self.hi = 0.0
        self.p0, self.p1 = p0, p1
        if log:
            self.ticks = [float(k) for k in range(math.ceil(self.lo), math.floor(self.hi) + 1)]
            if len(self.ticks) < 2:
                self.ticks = nice_ticks(self.lo, self.hi, n)
            self.labels = [f"{10 ** t:.0e}" for t in self.ticks]
        else:
            self.ticks = [t for t in nice_ticks(self.lo, self.hi, n, integer) if self.lo <= t <= self.hi]
            step = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else abs(self.hi - self.lo)
            self.labels = [tick_label(t, step) for t in self.ticks]

    def __call__(self, v: float) -> float:
        if self.log:
            v = math.log10(v) if v > 0 else self.lo
        return self.p0 + (v - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)

    def at_tick(self, t: float) -> float:
        return self.p0 + (t - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)


def _segments(xs: Sequence[float], ys: Sequence[float]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive finite points (a nan breaks the line, as in matplotlib)."""
    out: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if math.isfinite(x) and math.isfinite(y):
            out[-1].append((x, y))
        elif out[-1]:
            out.append([])
    return [s for s in out if s]


def line_panels(
    x_name: str,
    series: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    title: str | None = None,
    small: bool = False,
) -> str | None:
    """One panel per group of ``series[group][key] = (xs, ys)`` (from ``figures.curve_series``)."""
    groups = [(g, c) for g, c in series.items() if c]
    if not groups:
        return None
    fs = 8 if small else 10
    pw, ph = (128, 96) if small else (360, 220)  # plot area of one panel (small: 3 panels in ~530 px)
    top = (22 if title else 6) + fs + 8  # figure title, panel title
    parts: list[str] = []
    if title:
        parts.append(_text(6, 16, title, size=fs + 2, bold=True))
    x = 0.0
    legend_rows = max((len(c) for _, c in groups if len(c) > 1 or not small), default=0)
    bottom = 2 * fs + 16
    height = top + ph + bottom + legend_rows * (fs + 5) + 6
    for group, curves in groups:
        ys_all = [y for _, ys in curves.values() for y in ys if math.isfinite(y)]
        xs_all = [v for xs, _ in curves.values() for v in xs if math.isfinite(v)]
        log = (group == "lr" and bool(ys_all) and min(ys_all) > 0 and max(ys_all) / min(ys_all) > 50)
        y_lo, y_hi = (min(ys_all), max(ys_all)) if ys_all else (0.0, 1.0)
        x_lo, x_hi = (min(xs_all), max(xs_all)) if xs_all else (0.0, 1.0)
        # left margin from the widest y tick label
        probe = _Axis(y_lo, y_hi, 0, 1, log=log)
        left = max((text_width(s, fs - 1) for s in probe.labels), default=10) + 12
        x0, x1 = x + left, x + left + pw
        y0, y1 = top + ph, top
        ax_x = _Axis(x_lo, x_hi, x0, x1, n=6, pad=0.03, integer=all(float(v).is_integer() for v in xs_all))
        ax_y = _Axis(y_lo, y_hi, y0, y1, log=log)
        parts.append(_text((x0 + x1) / 2, top - 6, _GROUP_TITLES.get(group, group), size=fs + 1, anchor="middle"))
        for t, s in zip(ax_y.ticks, ax_y.labels, strict=True):
            py = ax_y.at_tick(t)
            parts.append(_line(x0, py, x1, py, stroke="#e3e6ea", width=0.7))
            parts.append(_text(x0 - 4, py, s, size=fs - 1, anchor="end", baseline="middle"))
        for t, s in zip(ax_x.ticks, ax_x.labels, strict=True):
            px = ax_x.at_tick(t)
            parts.append(_line(px, y1, px, y0, stroke="#e3e6ea", width=0.7))
            parts.append(_text(px, y0 + fs + 3, s, size=fs - 1, anchor="middle"))
        parts.append(_line(x0, y0, x1, y0, stroke="#57606a"))
        parts.append(_line(x0, y0, x0, y1, stroke="#57606a"))
        parts.append(_text((x0 + x1) / 2, y0 + 2 * fs + 8, x_name, size=fs, anchor="middle"))
        for i, (xs, ys) in enumerate(curves.values()):
            colour = PALETTE[i % len(PALETTE)]
            for seg in _segments(xs, ys):
                pts = " ".join(f"{_n(ax_x(a))},{_n(ax_y(b))}" for a, b in seg)
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
                if len(xs) <= 30:
                    parts += [f'<circle cx="{_n(ax_x(a))}" cy="{_n(ax_y(b))}" r="2.2" fill="{colour}"/>'
                              for a, b in seg]
        if len(curves) > 1 or not small:
            ly = y0 + bottom + 2
            max_chars = int((pw - 24) / (fs * _CHAR_W))
            for i, key in enumerate(curves):
                colour = PALETTE[i % len(PALETTE)]
                label = key if len(key) <= max_chars else key[: max_chars - 1] + "…"
                parts.append(_line(x0 + 2, ly + i * (fs + 5), x0 + 18, ly + i * (fs + 5), stroke=colour, width=2))
                parts.append(_text(x0 + 22, ly + i * (fs + 5), label, size=fs - 1, baseline="middle"))
        x = x1 + (8 if small else 14)
    return document(max(x, 200 if small else 300), height, parts)


def training_curves(
    rows: Sequence[Mapping[str, Any]],
    out: str | Path,
    title: str | None = None,
    small: bool = False,
) -> Path | None:
    """SVG twin of :func:`trustlab.report.figures.training_curves`: losses, accuracies and learning
    rate panels from metrics.jsonl rows; ``None`` when no row holds a plottable metric."""
    from trustlab.report.figures import curve_series  # numpy only; matplotlib is imported lazily there

    x_name, series = curve_series(rows)
    doc = line_panels(x_name, series, title=title, small=small)
    return write_svg(out, doc) if doc else None


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")


def bar_svg(
    values: Mapping[str, Any],
    title: str,
    ylabel: str,
    errors: Mapping[str, Any] | None = None,
    ref_line: float | None = None,
    ref_label: str = "reference",
) -> str | None:
    """One bar per key with its value above (or below) the bar end; optional ± error bars and a
    dashed reference line. A non-finite value draws no bar and is labelled "nan"."""
    names = [str(k) for k in values]
    if not names:
        return None
    ys = [_num(v) for v in values.values()]
    errs = []
    for k in values:
        e = _num((errors or {}).get(k))
        errs.append(e if math.isfinite(e) and e > 0 else 0.0)
    fs = 10
    slot = max(44.0, max(text_width(_value_label(y), fs - 1) for y in ys) + 10)
    rotate = len(names) > 4 or any(text_width(n, fs - 1) > slot for n in names)
    label_h = max(text_width(n, fs - 1) for n in names) * (0.5 if rotate else 0) + fs + 8
    ends = [y + s * e for y, e in zip(ys, errs, strict=True) if math.isfinite(y) for s in (-1, 1)]
    if ref_line is not None and math.isfinite(ref_line):
        ends.append(ref_line)
    lo, hi = (min(ends), max(ends)) if ends else (0.0, 1.0)
    probe = _Axis(lo, hi, 0, 1, include_zero=True, pad=0.14)
    left = max((text_width(s, fs - 1) for s in probe.labels), default=10) + (30 if ylabel else 12)
    top = 36
    pw, ph = slot * len(names), 200.0
    width = max(left + pw + 20, text_width(title, fs + 2) + 20, 280)
    height = top + ph + label_h + 6
    x0, y0, y1 = left + (width - (left + pw + 20)) / 2, top + ph, top  # centred under a longer title
    ax = _Axis(lo, hi, y0, y1, include_zero=True, pad=0.14)
    parts = [_text(width / 2, 18, title, size=fs + 2, anchor="middle", bold=True)]
    for t, s in zip(ax.ticks, ax.labels, strict=True):
        py = ax.at_tick(t)
        parts.append(_line(x0, py, x0 + pw, py, stroke="#e3e6ea", width=0.7))
        parts.append(_text(x0 - 4, py, s, size=fs - 1, anchor="end", baseline="middle"))
    if ylabel:
        parts.append(_text(x0 - left + 12, (y0 + y1) / 2, ylabel, size=fs, anchor="middle", rotate=-90,
                           baseline="middle"))
    zero = ax(0.0)
    for i, (name, y, e) in enumerate(zip(names, ys, errs, strict=True)):
        cx = x0 + slot * (i + 0.5)
        if math.isfinite(y):
            top_px, bot_px = sorted((ax(y), zero))
            parts.append(f'<rect x="{_n(cx - slot * 0.36)}" y="{_n(top_px)}" width="{_n(slot * 0.72)}" '
                         f'height="{_n(max(bot_px - top_px, 0.5))}" fill="{PALETTE[i % len(PALETTE)]}" '
                         f'fill-opacity="0.9"/>')
            if e > 0:
                a, b = ax(y - e), ax(y + e)
                parts += [_line(cx, a, cx, b, width=1.2), _line(cx - 4, a, cx + 4, a, width=1.2),
                          _line(cx - 4, b, cx + 4, b, width=1.2)]
            below = y < 0
            end = ax(y - e) if below else ax(y + e)
            parts.append(_text(cx, end + (fs + 2 if below else -3), _value_label(y), size=fs - 1, anchor="middle"))
        else:
            parts.append(_text(cx, zero - 3, "nan", size=fs - 1, anchor="middle", fill="#6e7781"))
        if rotate:
            parts.append(_text(cx + 3, y0 + fs + 2, name, size=fs - 1, anchor="end", rotate=-30))
        else:
            parts.append(_text(cx, y0 + fs + 3, name, size=fs - 1, anchor="middle"))
    parts.append(_line(x0, zero, x0 + pw, zero, stroke="#57606a"))
    parts.append(_line(x0, y0, x0, y1, stroke="#57606a"))
    if ref_line is not None and math.isfinite(ref_line):
        py = ax(ref_line)
        parts.append(_line(x0, py, x0 + pw, py, stroke="#4d4d4d", dash="5 3"))
        parts.append(_text(x0 + pw, top - 4, f"- - {ref_label} {ref_line:.4g}", size=fs - 1, anchor="end"))
    return document(width, height, parts)


def bar_chart(
    values: Mapping[str, Any],
    out: str | Path,
    title: str,
    ylabel: str,
    errors: Mapping[str, Any] | None = None,
    ref_line: float | None = None,
    ref_label: str = "reference",
) -> Path | None:
    """SVG twin of :func:`trustlab.report.figures.bar_chart`; ``None`` for no values."""
    doc = bar_svg(values, title, ylabel, errors=errors, ref_line=ref_line, ref_label=ref_label)
    return write_svg(out, doc) if doc else None
