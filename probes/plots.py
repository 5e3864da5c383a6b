"""Probe plots, each written as PNG, SVG and PDF.

matplotlib is imported here only, and only its object-oriented API with the Agg canvas
is used (no pyplot, no global backend change), so plotting works headless and does not
disturb a caller's own matplotlib state. Histograms that overlay checkpoints share one set
of bins (:func:`xladjust.probes.stats.histogram_counts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.extras import import_extra
from xladjust.probes.stats import histogram_counts, shared_bins

FORMATS = ("png", "svg", "pdf")  # raster for the page, vector for print and papers


def _figure(ncols: int = 1, width: float = 7.0, height: float = 4.2) -> tuple[Any, list[Any]]:
    import_extra("matplotlib", "probes", "plots")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


# The SVG writer names clip paths and glyphs with a hash salted by a random UUID unless
# this rcParam is set; a fixed salt and no dates make identical figures byte-identical files.
SVG_HASH_SALT = "xladjust"
_NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}


def save_figure(fig: Any, stem: Path) -> list[Path]:
    """Write ``stem.png``, ``stem.svg`` and ``stem.pdf``, byte-identical for identical
    figures; return their paths. Every plot of the project is saved here."""
    import matplotlib

    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        for fmt in FORMATS:
            path = stem.with_name(f"{stem.name}.{fmt}")
            fig.savefig(path, format=fmt, dpi=120, metadata=_NO_DATE.get(fmt))
            paths.append(path)
    return paths


def _step_histograms(ax: Any, series: Mapping[str, Any], bins: int | np.ndarray, labels: Mapping[str, str]) -> None:
    edges, counts = histogram_counts(series, bins)
    for name, c in counts.items():
        ax.stairs(c, edges, label=labels.get(name, name), linewidth=1.6)
    ax.set_ylabel("triples")
    ax.legend(fontsize=8)


def histogram_overlay(
    stem: Path,
    series: Mapping[str, Any],
    *,
    title: str,
    xlabel: str,
    bins: int = 40,
    labels: Mapping[str, str] | None = None,
    zero_line: bool = True,
) -> list[Path]:
    """Histograms of several series on shared bins, one outline each."""
    fig, (ax,) = _figure()
    _step_histograms(ax, series, bins, labels or {})
    if zero_line:
        ax.axvline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, stem)


def distance_panels(
    stem: Path,
    related: Mapping[str, Any],
    unrelated: Mapping[str, Any],
    *,
    title: str,
    xlabel: str,
    bins: int = 40,
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Path]:
    """d(w, r) and d(w, u) side by side, every checkpoint overlaid; both panels share bins.
    ``labels`` maps ``"related"``/``"unrelated"`` to legend labels per series."""
    edges = shared_bins([*related.values(), *unrelated.values()], bins)
    fig, (left, right) = _figure(ncols=2, width=5.5)
    labels = labels or {}
    panels = ((left, related, "related", "d(w, r)"), (right, unrelated, "unrelated", "d(w, u)"))
    for ax, series, kind, symbol in panels:
        _step_histograms(ax, series, edges, labels.get(kind, {}))
        ax.set_xlabel(f"{xlabel} {symbol} ({kind})")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, stem)


def layer_curves(
    stem: Path,
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    chance: float | None = None,
) -> list[Path]:
    """One line per named curve over layers (``{name: (layers, values)}``)."""
    return line_plot(stem, curves, title=title, xlabel="layer (0 = embeddings)", ylabel=ylabel, chance=chance)


def step_curves(
    stem: Path,
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    *,
    title: str,
    ylabel: str = "training loss",
    right: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    right_label: str = "",
) -> list[Path]:
    """One line per run over optimizer steps (``{name: (steps, values)}``): loss curves;
    ``right`` curves (a regularizer, on another scale) get their own axis, on the right."""
    many = max((len(xs) for xs, _ in [*curves.values(), *(right or {}).values()]), default=0) > 30
    return line_plot(stem, curves, title=title, xlabel="optimizer step", ylabel=ylabel, markers=not many,
                     right=right, right_label=right_label)


def line_plot(
    stem: Path,
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    chance: float | None = None,
    markers: bool = True,
    right: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    right_label: str = "",
) -> list[Path]:
    """One line per named curve over integer x values; ``right`` curves are drawn dashed
    on a second y axis labelled ``right_label``, and one legend names every line."""
    fig, (ax,) = _figure()
    for name, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), marker="o" if markers else None, markersize=3, label=name)
    if right:
        other = ax.twinx()
        colors = iter(f"C{k}" for k in range(len(curves), len(curves) + len(right)))
        for name, (xs, ys) in right.items():
            other.plot(list(xs), list(ys), marker="s" if markers else None, markersize=3, linestyle="--",
                       color=next(colors), label=f"{name} (right axis)")
        other.set_ylabel(right_label)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label=f"chance ({chance:.3g})")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    handles = [h for a in fig.axes for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, ncols=2)
    return save_figure(fig, stem)


def band_plot(
    stem: Path,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
) -> list[Path]:
    """One line per named curve ``(xs, centre, low, high)``, with a shaded band from low to high."""
    fig, (ax,) = _figure(width=6.0, height=4.0)
    for name, (xs, centre, low, high) in curves.items():
        (line,) = ax.plot(list(xs), list(centre), marker="o", markersize=3, label=name)
        ax.fill_between(list(xs), list(low), list(high), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, stem)
