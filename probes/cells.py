"""Probes before and after task fine-tuning: the four cells of Efimov et al. 2022.

One probe run (``triples.csv``) holds the checkpoints before fine-tuning (vanilla,
adjusted) and every fine-tuned checkpoint (each arm × seed), measured on the same
triples. A *cell* is a named group of those checkpoints: ``vanilla``, ``adjusted``,
``vanilla+TASK``, ``adjusted+TASK`` (and ``adjusted-continual+TASK`` when that arm ran).
A cell of several seeds takes, per triple, the mean of its checkpoints' distances, so
cells stay paired triple by triple. Per bitext and layer the table gives each cell's mean
cosine d(w, r), d(w, u) and Δ = d(w, u) − d(w, r); at the primary layer, paired tests
between cells (:func:`xladjust.probes.stats.paired_comparison` and
:func:`~xladjust.probes.stats.measures_change`: a paired bootstrap over sentences with its
p, the minimum detectable effect, effect sizes; the scale-free share of Δ > 0 and ratio
d(w,u)/d(w,r) first) and the Δ and distance histograms of the cells overlaid
on shared bins. Written as ``summary.json`` (kind ``probe-cells``), ``report.md`` and
``plots/``, so ``xladjust compare`` gathers it like any run.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.errors import InputError
from xladjust.io import mark_complete, write_json_atomic, write_text_atomic
from xladjust.probes import plots
from xladjust.probes.report import clean_json
from xladjust.probes.report_md import fmt, measures_rows, pct, pvalue, table
from xladjust.probes.stats import measures_change, paired_comparison, summarize_triples

QUANTITIES = ("related", "unrelated", "delta")
SYMBOLS = {"related": "d(w,r)", "unrelated": "d(w,u)", "delta": "Δ"}

Series = dict[str, dict[int, dict[str, dict[str, np.ndarray]]]]  # bitext -> layer -> cell -> quantity -> values


def read_cells(triples_csv: Path, cells: Mapping[str, Sequence[str]], distance: str = "cosine") -> Series:
    """Per bitext, layer and cell, the per-triple values of each quantity (a cell of several
    checkpoints: their per-triple mean, NaN where all are NaN)."""
    if not triples_csv.is_file():
        raise InputError(f"probe triples {triples_csv} do not exist; run the probe first")
    columns: dict[str, dict[str, list[list[float]]]] = {}
    keys: list[tuple[str, int]] = []
    with open(triples_csv, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = set(reader.fieldnames or [])
        for cell, names in cells.items():
            for name in names:
                if f"{name}.{distance}.delta" not in header:
                    raise InputError(f"{triples_csv} has no checkpoint {name!r} (cell {cell}); "
                                     "rerun the probe with it")
        for row in reader:
            keys.append((row["bitext"], int(row["layer"])))
            for cell, names in cells.items():
                per_q = columns.setdefault(cell, {q: [] for q in QUANTITIES})
                for q in QUANTITIES:
                    per_q[q].append([_float(row[f"{n}.{distance}.{q}"]) for n in names])
    out: Series = {}
    index = np.asarray([f"{b}\t{layer}" for b, layer in keys])
    for bitext_layer in dict.fromkeys(index.tolist()):
        bitext, layer = bitext_layer.split("\t")
        rows = index == bitext_layer
        for cell in cells:
            for q in QUANTITIES:
                values = np.asarray(columns[cell][q], dtype=np.float64)[rows]
                out.setdefault(bitext, {}).setdefault(int(layer), {}).setdefault(cell, {})[q] = _row_mean(values)
    return out


def read_sentences(triples_csv: Path) -> dict[str, dict[int, np.ndarray]]:
    """Per bitext and layer, each triple's sentence index (the unit the bootstrap resamples),
    in the order of :func:`read_cells`; empty for a table without a ``sentence`` column
    (the bootstrap then resamples triples, and the report says so)."""
    out: dict[str, dict[int, list[int]]] = {}
    with open(triples_csv, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if "sentence" not in (reader.fieldnames or []):
            return {}
        for row in reader:
            out.setdefault(row["bitext"], {}).setdefault(int(row["layer"]), []).append(int(row["sentence"]))
    return {b: {layer: np.asarray(ids) for layer, ids in by_layer.items()} for b, by_layer in out.items()}


def _float(text: str) -> float:
    return float(text) if text else float("nan")


def _row_mean(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    counts = finite.sum(axis=1)
    sums = np.where(finite, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def summarize_cells(series: Series, tests: Sequence[tuple[str, str]], *, primary_layer: int | None = None,
                    n_resamples: int = 1000, seed: int = 0,
                    sentences: Mapping[str, Mapping[int, np.ndarray]] | None = None) -> dict[str, Any]:
    """Cell means per bitext and layer, and the paired tests ``(before, after)`` at the
    primary layer (default: the last layer probed): per quantity
    (:func:`~xladjust.probes.stats.paired_comparison`) and per geometry measure
    (``measures``, :func:`~xladjust.probes.stats.measures_change`). ``sentences`` (per
    bitext and layer, each triple's sentence) makes the bootstrap resample sentences."""
    out: dict[str, Any] = {"kind": "probe-cells", "distance": "cosine", "bitexts": {}}
    for bitext, by_layer in series.items():
        layers = sorted(by_layer)
        primary = primary_layer if primary_layer in by_layer else layers[-1]
        clusters = (sentences or {}).get(bitext, {}).get(primary)
        entry: dict[str, Any] = {"primary_layer": primary, "layers": {}, "tests": {}, "measures": {}}
        for layer in layers:
            entry["layers"][str(layer)] = {
                cell: summarize_triples(v["related"], v["unrelated"], n_resamples=0, seed=seed)
                for cell, v in by_layer[layer].items()}
        cells = by_layer[primary]
        for before, after in tests:
            name = f"{after} vs {before}"
            entry["tests"][name] = {
                q: paired_comparison(cells[before][q], cells[after][q], n_resamples, seed, clusters)
                for q in QUANTITIES}
            entry["measures"][name] = measures_change(
                cells[before]["related"], cells[before]["unrelated"], cells[after]["related"],
                cells[after]["unrelated"], clusters=clusters, n_resamples=n_resamples, seed=seed)
        out["bitexts"][bitext] = entry
    return out


def cells_markdown(summary: Mapping[str, Any], plots: Mapping[str, list[str]] | None = None) -> str:
    """The cell tables (and plot links) as Markdown."""
    lines = ["# Probes before and after task fine-tuning", "",
             "Mean cosine distances on the same triples; a cell of several seeds averages its checkpoints "
             "per triple. Δ = d(w,u) − d(w,r) (positive: the related word is closer).", ""]
    if summary.get("trained_weights"):
        lines += [f"Fine-tuning on {summary.get('task', 'the task')} trained these weights: "
                  f"{summary['trained_weights']}.", ""]
    for bitext, entry in summary["bitexts"].items():
        lines += [f"## {bitext}", ""]
        rows = []
        for layer, cells in entry["layers"].items():
            for cell, s in cells.items():
                rows.append([layer, cell, str(s["n"]), fmt(s["mean_related"]), fmt(s["mean_unrelated"]),
                             fmt(s["mean_delta"]), pct(s["share_delta_positive"])])
        lines += table(["layer", "cell", "triples", "d(w,r)", "d(w,u)", "Δ", "Δ > 0"], rows) + [""]
        for name, measures in entry.get("measures", {}).items():
            lines += measures_rows(measures, name, entry["primary_layer"])
        lines += [f"Paired tests at layer {entry['primary_layer']} (after − before; interval and p from one "
                  "bootstrap of the mean change, over sentences when the triples' sentences are known):", ""]
        rows = []
        for name, by_q in entry["tests"].items():
            for q, t in by_q.items():
                rows.append([name, SYMBOLS[q], fmt(t["mean_change"]),
                             f"[{fmt(t['bootstrap_ci_low'])}, {fmt(t['bootstrap_ci_high'])}]",
                             pvalue(t.get("bootstrap_p")), fmt(t.get("mde")), fmt(t["cohens_dz"])])
        lines += table(["cells", "quantity", "mean change", "95% CI", "p", "MDE (80%)", "d_z"], rows)
        lines.append("")
        for png in (plots or {}).get(bitext, []):
            lines.append(f"![{Path(png).stem}](plots/{png})")
        lines.append("")
    return "\n".join(lines) + "\n"


def plot_cells(plot_dir: Path, series: Series, summary: Mapping[str, Any], bins: int = 40) -> dict[str, list[str]]:
    """Per bitext at its primary layer: Δ of every cell overlaid, and d(w,r) / d(w,u) panels."""
    made: dict[str, list[str]] = {}
    for bitext, entry in summary["bitexts"].items():
        layer = entry["primary_layer"]
        cells = series[bitext][layer]
        stats = entry["layers"][str(layer)]
        files = plots.histogram_overlay(
            plot_dir / f"{bitext}.cells-delta", {c: v["delta"] for c, v in cells.items()}, bins=bins,
            labels={c: f"{c}: mean Δ {stats[c]['mean_delta']:.3f}" for c in cells},
            xlabel="Δ = d(w,u) − d(w,r)  (positive: related word closer)",
            title=f"Paired differences before and after fine-tuning, {bitext}, layer {layer}, cosine")
        files += plots.distance_panels(
            plot_dir / f"{bitext}.cells-distances", {c: v["related"] for c, v in cells.items()},
            {c: v["unrelated"] for c, v in cells.items()}, bins=bins, xlabel="cosine distance",
            title=f"Related and unrelated distances before and after fine-tuning, {bitext}, layer {layer}",
            labels={q: {c: f"{c}: mean {stats[c]['mean_' + q]:.3f}" for c in cells} for q in ("related", "unrelated")})
        made[bitext] = [p.name for p in files if p.suffix == ".png"]
    return made


def write_cells(out: Path, triples_csv: Path, cells: Mapping[str, Sequence[str]], tests: Sequence[tuple[str, str]],
                *, primary_layer: int | None = None, n_resamples: int = 1000, seed: int = 0, bins: int = 40,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read, summarize, plot and write the cells into ``out`` (marked complete last)."""
    series = read_cells(triples_csv, cells)
    summary = summarize_cells(series, tests, primary_layer=primary_layer, n_resamples=n_resamples, seed=seed,
                              sentences=read_sentences(triples_csv))
    summary.update(cells={c: list(n) for c, n in cells.items()}, triples=str(triples_csv), **(extra or {}))
    out.mkdir(parents=True, exist_ok=True)
    made = plot_cells(out / "plots", series, summary, bins)

    write_json_atomic(out / "summary.json", clean_json(summary))
    write_text_atomic(out / "report.md", cells_markdown(summary, made))
    mark_complete(out)
    return summary
