"""Writing a probe run: ``summary.json``, ``triples.csv``, ``plots/`` and ``report.md``.

The run directory is built under a temporary name, renamed into place and marked complete
last, so an interrupted run never looks finished.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xladjust.formatting import number
from xladjust.io import atomic_dir, mark_complete, write_json_atomic, write_text_atomic
from xladjust.probes import plots
from xladjust.probes.distances import Distance
from xladjust.probes.paired import delta_change
from xladjust.probes.registry import ProbeResult
from xladjust.probes.report_doc import Figure
from xladjust.probes.report_md import fmt, pct, pvalue, render_report

if TYPE_CHECKING:  # the run writes its report: no import of the run at run time
    from xladjust.probes.run import ProbeRun

SUMMARY_FILE = "summary.json"

TRIPLES_FILE = "triples.csv"
REPORT_FILE = "report.md"
PLOTS_DIR = "plots"


def clean_json(obj: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars become Python ones."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _result_json(result: ProbeResult) -> dict[str, Any]:
    return {"primary_metric": result.primary_metric, "primary": result.primary, "metrics": result.metrics}


def summary_dict(run: ProbeRun) -> dict[str, Any]:
    inputs = run.inputs
    return clean_json({
        "signature": run.signature,
        "inputs": {
            "bitexts": [
                {"name": b.name, "path": str(b.path), "src_lang": b.src_lang, "tgt_lang": b.tgt_lang,
                 "counts": b.counts, "sha256": b.sha256, "files": b.files}
                for b in inputs.bitexts
            ],
            "tatoeba": [
                {"name": s.name, "lang": s.tgt_lang, "n": len(s.src),
                 "files": {str(s.src_path): s.sha256[str(s.src_path)], str(s.tgt_path): s.sha256[str(s.tgt_path)]}}
                for s in inputs.sentence_sets
            ],
        },
        "checkpoints": {
            c.name: {
                "spec": c.spec, "path": c.path, "num_layers": c.num_layers, "layers": list(c.layers),
                "sentence_layers": list(c.sentence_layers), "tokenizer_sha256": c.tokenizer_sha256,
                "invalid_words": c.invalid_words, "timing": c.timing,
                "results": {inp: {p: _result_json(r) for p, r in res.items()} for inp, res in c.results.items()},
            }
            for c in run.checkpoints
        },
        "comparisons": run.comparisons,
        "notes": run.notes,
        "timing": run.timing,
    })


def write_triples_csv(path: Path, run: ProbeRun) -> int:
    """One row per triple and layer: the words, then each checkpoint's distances side by
    side. Returns the number of rows."""
    columns = ["bitext", "triple", "layer", "sentence", "src_index", "src_word", "related_index",
               "related_word", "unrelated_sentence", "unrelated_index", "unrelated_word"]
    keys = [f"{d.value}.{q}" for d in Distance for q in ("related", "unrelated", "delta")]
    columns += [f"{c.name}.{key}" for c in run.checkpoints for key in keys]
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for bitext in run.inputs.bitexts:
            found = [(c, c.results.get(bitext.name, {}).get("distances")) for c in run.checkpoints]
            if not any(r is not None for _, r in found):
                continue
            layers = sorted({layer for _, r in found if r is not None for layer in r.metrics["layers"]})
            t, pairs = bitext.triples, bitext.pairs
            for layer in layers:
                values = []
                for _, result in found:
                    if result is None or layer not in result.metrics["layers"]:
                        values.append(None)
                    else:
                        k = result.metrics["layers"].index(layer)
                        values.append([result.per_item[key][k] for key in keys])
                for n in range(len(t)):
                    s, u_s = int(t.sentence[n]), int(t.unrelated_sentence[n])
                    i, j, u = int(t.src[n]), int(t.related[n]), int(t.unrelated[n])
                    row: list[Any] = [bitext.name, n, layer, s, i, pairs[s].src[i], j, pairs[s].tgt[j], u_s, u,
                                      pairs[u_s].tgt[u]]
                    for v in values:
                        row += [""] * len(keys) if v is None else [number(arr[n], ".6g", missing="", ints=False) for arr in v]
                    writer.writerow(row)
                    rows += 1
    return rows


def _figures(files: list[Path], caption: str) -> list[Figure]:
    """The report's figure for one plot written as PNG, SVG and PDF under ``plots/``."""
    png = next(p for p in files if p.suffix == ".png")
    svg, pdf = (next((p for p in files if p.suffix == s), None) for s in (".svg", ".pdf"))
    return [Figure(f"{PLOTS_DIR}/{png.name}", caption, f"{PLOTS_DIR}/{svg.name}" if svg else None,
                   f"{PLOTS_DIR}/{pdf.name}" if pdf else None)]


def make_plots(plot_dir: Path, run: ProbeRun) -> dict[str, list[Figure]]:
    """Every plot of the run; returns ``{topic: [figures]}`` for the report, each figure
    with a caption that says what is plotted."""
    bins = run.config.bins
    made: dict[str, list[Figure]] = {}
    ckpts = run.checkpoints
    for bitext in run.inputs.bitexts:
        found = {c.name: c.results.get(bitext.name, {}).get("distances") for c in ckpts}
        found = {k: v for k, v in found.items() if v is not None}
        if not found:
            continue
        first = next(iter(found.values()))
        layer = first.metrics["primary_layer"]
        names = [n for n, r in found.items() if layer in r.metrics["layers"]]
        arr = {q: {n: found[n].per_item[f"cosine.{q}"][found[n].metrics["layers"].index(layer)] for n in names}
               for q in ("related", "unrelated", "delta")}
        stats = {n: found[n].metrics["by_layer"][str(layer)]["cosine"] for n in names}
        figures: list[Figure] = []
        where = f"{bitext.name}, layer {layer}, cosine distance, {len(bitext.triples)} triples"
        ckpt_list = ", ".join(names)
        labels = {n: f"{n}: mean {stats[n]['mean_delta']:.3f}, Δ>0 {pct(stats[n]['share_delta_positive'])}" for n in names}
        figures += _figures(plots.histogram_overlay(
            plot_dir / f"{bitext.name}.delta", arr["delta"], bins=bins, labels=labels,
            xlabel="Δ = d(w,u) − d(w,r)  (positive: related word closer)",
            title=f"Paired differences Δ, {where}\n" + "; ".join(
                f"{n}: mean Δ {stats[n]['mean_delta']:.3f} [95% CI {stats[n]['mean_delta_ci_low']:.3f}, "
                f"{stats[n]['mean_delta_ci_high']:.3f}]" for n in names),
        ), f"{bitext.name}: histogram of the paired difference Δ = d(w,u) − d(w,r) per triple ({where}; "
           f"one outline per checkpoint: {ckpt_list}). Right of 0: the related word is closer than the unrelated one.")
        figures += _figures(plots.distance_panels(
            plot_dir / f"{bitext.name}.distances", arr["related"], arr["unrelated"], bins=bins,
            xlabel="cosine distance", title=f"Related and unrelated distances, {where}",
            labels={q: {n: f"{n}: mean {stats[n]['mean_' + q]:.3f}, median {stats[n]['median_' + q]:.3f}"
                        for n in names} for q in ("related", "unrelated")},
        ), f"{bitext.name}: histograms of the distance to the related word d(w,r) (left) and to the unrelated "
           f"word d(w,u) (right), {where}; one outline per checkpoint: {ckpt_list}.")
        for other in names[1:]:
            change = delta_change(found[names[0]], found[other], layer)
            test = run.comparisons.get(f"{other}-vs-{names[0]}", {}).get(bitext.name, {})
            cmp = test.get("by_layer", {}).get(str(layer), {}).get("cosine", {}).get("delta", {})
            figures += _figures(plots.histogram_overlay(
                plot_dir / f"{bitext.name}.delta-change.{other}-vs-{names[0]}",
                {f"{other} − {names[0]}": change}, bins=bins,
                xlabel=f"per-triple change of Δ ({other} − {names[0]})",
                title=(f"Change of Δ per triple, {where}\nmean {fmt(cmp.get('mean_change'))}, "
                       f"95% CI [{fmt(cmp.get('bootstrap_ci_low'))}, {fmt(cmp.get('bootstrap_ci_high'))}], "
                       f"p {pvalue(cmp.get('bootstrap_p'))}, median {fmt(cmp.get('median_change'))}, "
                       f"d_z {fmt(cmp.get('cohens_dz'))}"),
            ), f"{bitext.name}: histogram of the per-triple change of Δ from {names[0]} to {other} ({where}). "
               f"Right of 0: {other} puts the related word relatively closer.")
        if len(first.metrics["layers"]) > 1:
            curves = {n: (r.metrics["layers"], [r.metrics["by_layer"][str(x)]["cosine"]["mean_delta"]
                                                 for x in r.metrics["layers"]]) for n, r in found.items()}
            figures += _figures(plots.layer_curves(
                plot_dir / f"{bitext.name}.delta-by-layer", curves, title=f"Mean cosine Δ per layer, {bitext.name}",
                ylabel="mean Δ"), f"{bitext.name}: mean cosine Δ = d(w,u) − d(w,r) over the triples at each layer, "
                                  f"one line per checkpoint ({ckpt_list}).")
        made[bitext.name] = figures
    found = [(c.name, sset.tgt_lang, result.metrics) for sset in run.inputs.sentence_sets for c in ckpts
             if (result := c.results.get(sset.name, {}).get("sentence-retrieval")) is not None]
    if found:
        files = plots.layer_curves(plot_dir / "tatoeba-by-layer", tatoeba_curves(found),
                                   chance=found[-1][2]["chance"],
                                   title="Tatoeba sentence retrieval accuracy per layer (mean of both directions)",
                                   ylabel="accuracy (P@1)")
        made["tatoeba"] = _figures(files, "Tatoeba sentence retrieval: accuracy (P@1, mean of both directions, all "
                                          "pairs) of mean-pooled sentence vectors at each layer, one line per "
                                          "checkpoint and language; the legend gives each line's value at the layer "
                                          "chosen on a held-out half of the pairs (the table reports that layer on "
                                          "the other half); dotted: chance.")
    return made


def tatoeba_curves(found: list[tuple[str, str, dict[str, Any]]]) -> dict[str, tuple[list[int], list[float]]]:
    """``{legend label: (layers, accuracy per layer)}`` of sentence-retrieval results
    ``(checkpoint, language, metrics)``: the line is the accuracy on all pairs, and the
    label's figure is that line's own value at the chosen layer, so legend and line agree."""
    curves = {}
    for name, lang, m in found:
        values = [m["by_layer"][str(x)]["mean"] for x in m["layers"]]
        best = m["best_layer"]
        curves[f"{name} {lang} ({pct(values[m['layers'].index(best)])} at chosen layer {best})"] = (
            list(m["layers"]), values)
    return curves


def write_run(run: ProbeRun) -> Path:
    """Write the run directory atomically; mark it complete last."""
    out = run.config.out
    start = time.perf_counter()
    with atomic_dir(out) as tmp:
        write_triples_csv(tmp / TRIPLES_FILE, run)
        made = make_plots(tmp / PLOTS_DIR, run)
        run.timing["write_tables_and_plots"] = time.perf_counter() - start
        write_json_atomic(tmp / SUMMARY_FILE, summary_dict(run))
        write_text_atomic(tmp / REPORT_FILE, render_report(run, made))
        mark_complete(tmp)
    return out

