"""Matplotlib figures for reports, written as PNG files.

Every function renders with matplotlib's object-oriented API on an Agg canvas (no display, no
``pyplot`` global state, so it is safe in threads and never opens a window), saves the figure to
memory and writes the PNG atomically with :func:`trustlab.runs.atomic.write_bytes`. Each returns the
path it wrote, or ``None`` when there was nothing to draw (the caller then leaves the image out).

Example::

    from trustlab.report import figures
    figures.bar_chart({"erm": 0.81, "okd": 0.86}, "acc.png", "target accuracy", "accuracy")
"""

from __future__ import annotations

import io as _bytes_io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trustlab.runs import atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110
_X_KEYS = ("epoch", "step")
_SKIP_PREFIXES = ("time/",)  # wall-clock timings are not training curves


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure (inches) on its own Agg canvas, constrained layout: draw on it, then :func:`save_png`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported on first use: SVG-only reports skip it
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def style(ax: Any) -> None:
    """The house style of an axes: light grid, no top/right spines."""
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def save_png(fig: Figure, out: str | Path) -> Path:
    """Render ``fig`` to PNG bytes, write them atomically to ``out`` and release the figure."""
    buf = _bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    fig.clear()  # drop artists now: figures made in a loop would otherwise pile up until GC
    return atomic.write_bytes(Path(out), buf.getvalue())


def save_image(image: Any, out: str | Path) -> Path:
    """Write a PIL image as PNG, atomically."""
    buf = _bytes_io.BytesIO()
    image.save(buf, format="PNG")
    return atomic.write_bytes(Path(out), buf.getvalue())


def image_grid(images: Sequence[np.ndarray] | np.ndarray, out: str | Path, cols: int, *, rows: int | None = None,
               scale: int = 1, border: int = 0, title: str = "", title_height: int = 14,
               tile_shape: tuple[int, int] = (32, 32)) -> Path:
    """Images (N, H, W) grey or (N, H, W, 3) RGB, uint8, on a white grid of ``cols`` columns and ``rows`` rows (as
    many as the images need when None; images beyond ``cols * rows`` are left out), each with ``border`` pixels of
    white around it, the whole enlarged ``scale`` times (nearest neighbour), under a ``title`` line when given;
    written as PNG atomically. ``tile_shape`` (H, W) sizes the cells when there are no images.

        image_grid(x_uint8, "samples.png", cols=8, scale=2, border=1)
    """
    from PIL import Image, ImageDraw

    images = list(images)
    h, w = images[0].shape[:2] if images else tile_shape
    grey = bool(images) and images[0].ndim == 2
    rows = rows if rows is not None else (len(images) + cols - 1) // cols
    cell_h, cell_w = (h + 2 * border) * scale, (w + 2 * border) * scale
    top = title_height if title else 0
    white = 255 if grey else (255, 255, 255)
    canvas = Image.new("L" if grey else "RGB", (cols * cell_w, rows * cell_h + top), white)
    if title:
        ImageDraw.Draw(canvas).text((2, 1), title, fill=0 if grey else (0, 0, 0))
    for k, im in enumerate(images[: cols * rows]):
        tile = Image.fromarray(im).resize((w * scale, h * scale), Image.NEAREST)
        r, c = divmod(k, cols)
        canvas.paste(tile, (c * cell_w + border * scale, top + r * cell_h + border * scale))
    return save_image(canvas, out)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    return _is_number(v) and math.isfinite(v)


def metric_group(key: str) -> str | None:
    """Which subplot a metrics.jsonl key belongs to: ``loss``, ``accuracy``, ``lr`` or ``None``."""
    if key in _X_KEYS or key.startswith(_SKIP_PREFIXES):
        return None
    last = key.rsplit("/", 1)[-1].lower()
    if last == "lr" or last.startswith("lr_") or last == "learning_rate":
        return "lr"
    if "loss" in last:
        return "loss"
    if last == "acc" or last.startswith("acc") or last.endswith("_acc") or "accuracy" in last:
        return "accuracy"
    return None


def curve_series(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[str, dict[str, dict[str, tuple[list[float], list[float]]]]]:
    """Group metrics.jsonl rows into plottable series.

    Returns ``(x_name, series)`` where ``series[group][key] = (xs, ys)`` as two lists. The x axis is
    ``epoch`` when any row has one (values logged several times in one epoch are averaged to one
    point per epoch), else ``step``, else the row index.
    """
    x_name = next((k for k in _X_KEYS if any(k in r for r in rows)), "row")
    points: dict[str, dict[str, dict[float, list[float]]]] = {}
    for i, row in enumerate(rows):
        x = row.get(x_name, i if x_name == "row" else None)
        if not _is_number(x):
            continue
        for key, value in row.items():
            group = metric_group(key)
            if group is None or not _is_number(value):
                continue
            points.setdefault(group, {}).setdefault(key, {}).setdefault(float(x), []).append(float(value))
    series: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for group in ("loss", "accuracy", "lr"):
        for key, by_x in points.get(group, {}).items():
            xs = sorted(by_x)
            ys = [float(np.mean(by_x[x])) for x in xs]
            series.setdefault(group, {})[key] = (xs, ys)
    return x_name, series


_GROUP_TITLES = {"loss": "losses", "accuracy": "accuracies", "lr": "learning rate"}


def training_curves(
    rows: Sequence[Mapping[str, Any]],
    out: str | Path,
    title: str | None = None,
    small: bool = False,
) -> Path | None:
    """One subplot per metric group (losses, accuracies, learning rate) from metrics.jsonl rows.

    ``rows`` are dicts with ``epoch`` and/or ``step`` and keys such as ``train/loss``, ``val/acc``,
    ``val/<domain>/acc`` and ``lr``. Returns ``None`` when no row holds a plottable metric.
    ``small`` draws a thumbnail-sized figure (used in bench reports).
    """
    x_name, series = curve_series(rows)
    if not series:
        return None
    n = len(series)
    width, height = (3.2 * n, 2.4) if small else (4.6 * n, 3.4)
    fig = new_figure(max(width, 4.0), height)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (group, curves) in zip(axes, series.items(), strict=True):
        for key, (xs, ys) in curves.items():
            marker = "o" if len(xs) <= 30 else None
            ax.plot(xs, ys, marker=marker, markersize=3, linewidth=1.4, label=key)
        ax.set_title(_GROUP_TITLES[group], fontsize=9 if small else 11)
        ax.set_xlabel(x_name, fontsize=8 if small else 10)
        if group == "lr" and all(y > 0 for _, ys in curves.values() for y in ys):
            spread = [y for _, ys in curves.values() for y in ys]
            if max(spread) / min(spread) > 50:
                ax.set_yscale("log")
        if len(curves) > 1 or not small:
            ax.legend(fontsize=6 if small else 8, frameon=False)
        ax.tick_params(labelsize=7 if small else 9)
        style(ax)
    if title:
        fig.suptitle(title, fontsize=10 if small else 12)
    return save_png(fig, out)


def _error(e: Any) -> float:
    """An error-bar half-length: missing, negative or non-finite -> 0 (no bar drawn)."""
    return float(e) if _finite(e) and e > 0 else 0.0


def _error_bars(ax: Any, xs: Sequence[float], ys: Sequence[float], errs: Sequence[float], capsize: int) -> None:
    """Black error bars only where there is an error to show (a zero error would still draw caps)."""
    keep = [i for i, (y, e) in enumerate(zip(ys, errs, strict=True)) if e > 0 and math.isfinite(y)]
    if keep:
        ax.errorbar(
            [xs[i] for i in keep],
            [ys[i] for i in keep],
            yerr=[errs[i] for i in keep],
            fmt="none",
            ecolor="black",
            elinewidth=1.2,
            capsize=capsize,
        )


def _label(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.4g}"


def bar_chart(
    values: Mapping[str, float],
    out: str | Path,
    title: str,
    ylabel: str,
    errors: Mapping[str, float] | None = None,
    ref_line: float | None = None,
    ref_label: str = "reference",
) -> Path | None:
    """One bar per key, labelled with its value; optional error bars and a dashed reference line.

    Non-finite values draw no bar but keep their label ("nan"). Returns ``None`` for no values.
    """
    names = list(values)
    if not names:
        return None
    ys = [float(values[k]) if _is_number(values[k]) else float("nan") for k in names]
    errs = [_error((errors or {}).get(k)) for k in names]
    fig = new_figure(max(4.0, 0.75 * len(names) + 2.0), 3.4)
    ax = fig.add_subplot()
    xs = np.arange(len(names))
    ax.bar(xs, [y if math.isfinite(y) else 0.0 for y in ys], color=[f"C{i % 10}" for i in range(len(names))], alpha=0.9)
    _error_bars(ax, xs, ys, errs, capsize=4)
    for x, y, e in zip(xs, ys, errs, strict=True):
        # label outside the bar end (above positive bars, below negative ones), past the error bar
        below = math.isfinite(y) and y < 0
        end = (y - e if below else y + e) if math.isfinite(y) else 0.0
        ax.annotate(
            _label(y),
            (x, end),
            xytext=(0, -2 if below else 2),
            textcoords="offset points",
            ha="center",
            va="top" if below else "bottom",
            fontsize=8,
        )
    if ref_line is not None and math.isfinite(ref_line):
        ax.axhline(ref_line, color="0.3", linestyle="--", linewidth=1, label=f"{ref_label} {ref_line:.4g}")
        ax.legend(fontsize=8, frameon=False)
    ax.set_xticks(xs, names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.12)
    style(ax)
    ax.grid(False, axis="x")
    return save_png(fig, out)


def grouped_bar_chart(
    groups: Mapping[str, Mapping[str, float]],
    out: str | Path,
    title: str,
    errors: Mapping[str, Mapping[str, float]] | None = None,
    ylabel: str = "",
) -> Path | None:
    """Bars grouped on the x axis (e.g. one group per domain), one coloured bar per series.

    ``groups[group][series] = value``; ``errors`` has the same shape. A series missing from a group
    leaves a gap. Returns ``None`` when there are no values.
    """
    group_names = list(groups)
    series_names: list[str] = []
    for inner in groups.values():
        series_names += [s for s in inner if s not in series_names]
    if not group_names or not series_names:
        return None
    width = 0.8 / len(series_names)
    fig = new_figure(max(4.5, 0.5 * len(group_names) * len(series_names) + 2.5), 3.6)
    ax = fig.add_subplot()
    xs = np.arange(len(group_names))
    for j, series in enumerate(series_names):
        ys = [groups[g].get(series, float("nan")) for g in group_names]
        ys = [float(y) if _finite(y) else np.nan for y in ys]
        at = xs - 0.4 + width * (j + 0.5)
        ax.bar(at, ys, width, label=series, color=f"C{j % 10}")
        if errors:
            _error_bars(ax, at, ys, [_error((errors.get(g) or {}).get(series)) for g in group_names], capsize=3)
    ax.set_xticks(
        xs, group_names, rotation=30 if len(group_names) > 5 else 0, ha="right" if len(group_names) > 5 else "center"
    )
    ax.set_title(title)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.margins(y=0.15)
    style(ax)
    ax.grid(False, axis="x")
    return save_png(fig, out)


def histogram(
    arrays: Mapping[str, Iterable[float]],
    out: str | Path,
    title: str,
    xlabel: str = "score",
    bins: int = 50,
) -> Path | None:
    """Overlaid density histograms on shared bins, e.g. detector scores of ID vs OOD samples.

    Non-finite entries are dropped. Returns ``None`` when every array is empty.
    """
    clean = {k: np.asarray(list(v) if not hasattr(v, "shape") else v, dtype=float).ravel() for k, v in arrays.items()}
    clean = {k: a[np.isfinite(a)] for k, a in clean.items()}
    clean = {k: a for k, a in clean.items() if a.size}
    if not clean:
        return None
    lo = min(float(a.min()) for a in clean.values())
    hi = max(float(a.max()) for a in clean.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    fig = new_figure(5.0, 3.4)
    ax = fig.add_subplot()
    for i, (name, a) in enumerate(clean.items()):
        ax.hist(a, bins=edges, density=True, alpha=0.45, color=f"C{i % 10}", label=f"{name} (n={a.size})")
        ax.hist(a, bins=edges, density=True, histtype="step", color=f"C{i % 10}", linewidth=1.2)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8, frameon=False)
    style(ax)
    return save_png(fig, out)


def roc_points(positive: Iterable[float], negative: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` of the rule "score >= t means positive" over every threshold t.

    Higher scores mean more positive (e.g. more in-distribution). Ties are handled as one step.
    """
    pos = np.asarray(list(positive), dtype=float)
    neg = np.asarray(list(negative), dtype=float)
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.nonzero(np.diff(scores))[0], scores.size - 1] if scores.size else np.array([], int)
    tps = np.cumsum(labels)[last_of_tie]
    fps = np.cumsum(1 - labels)[last_of_tie]
    tpr = np.r_[0.0, tps / max(pos.size, 1)]
    fpr = np.r_[0.0, fps / max(neg.size, 1)]
    return fpr, tpr


def roc_curve(
    curves: Mapping[str, tuple[Iterable[float], Iterable[float]]],
    out: str | Path,
    title: str = "ROC",
) -> Path | None:
    """ROC curves, one per entry ``name: (fpr, tpr)``, with the area under each in the legend.

    Use :func:`roc_points` to get ``(fpr, tpr)`` from positive and negative scores.
    """
    if not curves:
        return None
    fig = new_figure(4.4, 4.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    for i, (name, (fpr, tpr)) in enumerate(curves.items()):
        f = np.asarray(list(fpr), dtype=float)
        t = np.asarray(list(tpr), dtype=float)
        auc = float(np.trapezoid(t, f)) if f.size > 1 else float("nan")
        ax.plot(f, t, color=f"C{i % 10}", linewidth=1.5, label=f"{name} (AUC {_label(auc)})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    style(ax)
    return save_png(fig, out)


VERDICT_COLOURS = {"PASS": "#1f883d", "FAIL": "#cf222e", "INCONCLUSIVE": "#8250df", "INVALID": "#6e7781",
                   "ERROR": "#9a6700"}
_ARROW_AT = 1.07  # where a clipped interval's arrow head is drawn (the plotted range is +-1)
FOREST_CLIP = 4.0  # a row's scale is at most this many |margin|s: a huge interval is clipped, its dot stays visible


def forest_scale(margin: float, low: float, high: float) -> float:
    """The scale a forest-plot row is divided by: the largest finite ``|value|`` of margin and interval
    ends, but at most ``FOREST_CLIP * |margin|`` (an interval far wider than its margin would otherwise
    squash the dot onto zero; its ends are then clipped at +-1 and drawn with an arrow)."""
    finite = [abs(v) for v in (margin, low, high) if math.isfinite(v)]
    scale = max(finite) if finite and max(finite) > 0 else 1.0
    if math.isfinite(margin) and margin != 0:
        scale = min(scale, FOREST_CLIP * abs(margin))
    return scale


def forest_groups(labels: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Row indices grouped by method area (the label before the first "/"), areas in order of first
    appearance."""
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label.split("/", 1)[0] if "/" in label else "", []).append(i)
    return list(groups.items())


def _num_text(v: float) -> str:
    return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:+.3g}")


def forest_plot(rows: Sequence[tuple[str, float, float, float, str]], out: str | Path, title: str) -> Path | None:
    """The forest plot of :func:`forest_figure` as a PNG; ``None`` when there are no rows."""
    fig = forest_figure(rows, title)
    return None if fig is None else save_png(fig, out)


def forest_figure(rows: Sequence[tuple[str, float, float, float, str]], title: str) -> Figure | None:
    """Every claim's margin (dot) and interval (line) against zero, coloured by verdict, grouped by
    method area (claim id before "/": a bold label row and a separator per area).

    ``rows``: (label, margin, low, high, verdict). Claims measure in different units, so each row is
    divided by its own :func:`forest_scale` (the x axis is "margin / row scale"; the raw margin and
    interval are printed at the right). An interval end past +-1 (or infinite) is clipped there and
    drawn as an arrow head. Non-finite margins are drawn as a grey cross at 0.
    """
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    if not rows:
        return None
    groups = forest_groups([r[0] for r in rows])
    n_lines = len(rows) + sum(1 for g, _ in groups if g)
    fig = new_figure(9.0, 0.3 * n_lines + 1.7)
    ax = fig.add_subplot()
    right = blended_transform_factory(ax.transAxes, ax.transData)
    ticks: list[float] = []
    tick_labels: list[str] = []
    bold: list[bool] = []
    y = n_lines - 1
    for g, (group, members) in enumerate(groups):
        if g:
            ax.axhline(y + 0.5, color="0.75", linewidth=0.8)
        if group:
            ticks.append(y)
            tick_labels.append(group)
            bold.append(True)
            y -= 1
        for i in members:
            label, m, lo, hi, verdict = rows[i]
            scale = forest_scale(m, lo, hi)
            colour = VERDICT_COLOURS.get(verdict, "0.5")
            if not (math.isnan(lo) or math.isnan(hi)):
                # a clipped end runs a little past +-1 into an arrow head, clear of a dot sitting at +-1
                a = -_ARROW_AT if lo / scale < -1.0 else lo / scale
                b = _ARROW_AT if hi / scale > 1.0 else hi / scale
                ax.plot([a, b], [y, y], color=colour, linewidth=2.2, solid_capstyle="butt")
                if a == -_ARROW_AT:
                    ax.plot([a], [y], marker="<", color=colour, markersize=7)
                if b == _ARROW_AT:
                    ax.plot([b], [y], marker=">", color=colour, markersize=7)
            if math.isfinite(m):
                ax.plot([m / scale], [y], "o", color=colour, markersize=6)
            else:
                ax.plot([0], [y], "x", color="0.5", markersize=7)
            raw = _num_text(m) + (f" [{_num_text(lo)}, {_num_text(hi)}]" if not math.isnan(lo + hi) else "")
            ax.text(1.02, y, raw, transform=right, fontsize=7, va="center", ha="left", color="0.25")
            ticks.append(y)
            tick_labels.append(("  " + label.split("/", 1)[1]) if group else label)
            bold.append(False)
            y -= 1
    ax.axvline(0, color="0.2", linewidth=1)
    ax.set_xlim(-1.15, 1.15)
    ax.set_xticks([-1.0, -0.5, 0.0, 0.5, 1.0])
    ax.set_ylim(-0.7, n_lines - 0.3)
    ax.set_yticks(ticks, tick_labels, fontsize=8)
    for tick, is_group in zip(ax.get_yticklabels(), bold, strict=True):
        if is_group:
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("margin / row scale (right of 0: the claim holds)", fontsize=9)
    handles = [Line2D([], [], color=c, marker="o", linewidth=2.2, label=v) for v, c in VERDICT_COLOURS.items()]
    handles.append(Line2D([], [], color="0.3", marker=">", linestyle="none", label="interval continues"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    style(ax)
    ax.grid(False, axis="y")
    return fig
