"""``report.md``: the probe run as tables and plots, checkpoints side by side."""

from __future__ import annotations

import math
from typing import Any

from xladjust.formatting import number
from xladjust.probes.registry import PROBES, ProbeResult
from xladjust.probes.report_doc import Figure, figure_markdown, table
from xladjust.probes.stats import MEASURES


def fmt(x: Any, digits: int = 3) -> str:
    return number(x, f".{digits}f")


def pct(x: Any) -> str:
    return number(x, ".1%", ints=False)


def pvalue(x: Any) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.3g}" if x >= 1e-4 else f"{x:.1e}"


def _result(run: Any, ckpt: Any, input_name: str, probe: str) -> ProbeResult | None:
    return ckpt.results.get(input_name, {}).get(probe)


def _layer_stats(result: ProbeResult | None, layer: int, distance: str = "cosine") -> dict[str, Any]:
    if result is None or str(layer) not in result.metrics["by_layer"]:
        return {}
    return result.metrics["by_layer"][str(layer)][distance]


DISTANCE_ROWS = (
    ("mean d(w,r)", "mean_related", fmt), ("median d(w,r)", "median_related", fmt),
    ("mean d(w,u)", "mean_unrelated", fmt), ("median d(w,u)", "median_unrelated", fmt),
    ("**mean Δ**", "mean_delta", fmt), ("median Δ", "median_delta", fmt),
    ("share Δ > 0", "share_delta_positive", pct), ("d(w,u) / d(w,r)", "ratio", fmt),
)


def _distance_rows(run: Any, bitext: str, layer: int, distance: str) -> list[list[str]]:
    stats = [_layer_stats(_result(run, c, bitext, "distances"), layer, distance) for c in run.checkpoints]
    rows = [[f"{distance}: {label}"] + [f(s.get(key)) if s else "–" for s in stats]
            for label, key, f in DISTANCE_ROWS]
    rows.insert(6, [f"{distance}: 95% CI of mean Δ"] + [
        f"[{fmt(s.get('mean_delta_ci_low'))}, {fmt(s.get('mean_delta_ci_high'))}]" if s else "–" for s in stats])
    return rows


def _retrieval_rows(run: Any, bitext: Any, layer: int) -> list[list[str]]:
    src, tgt = bitext.src_lang or "src", bitext.tgt_lang or "tgt"
    rows = []
    for method, label in (("cosine", "cosine"), ("csls", "CSLS")):
        for direction, arrow in (("src_to_tgt", f"{src}→{tgt}"), ("tgt_to_src", f"{tgt}→{src}"), ("mean", "mean")):
            row = [f"P@1 {label} {arrow}"]
            for c in run.checkpoints:
                r = _result(run, c, bitext.name, "word-retrieval")
                scores = r.metrics["by_layer"].get(str(layer)) if r else None
                row.append(pct(scores[method][direction]) if scores else "–")
            rows.append(row)
    return rows


def _comparison_rows(run: Any, bitext: str) -> list[str]:
    lines: list[str] = []
    for key, by_bitext in run.comparisons.items():
        comp = by_bitext.get(bitext)
        if not comp:
            continue
        other, _, ref = key.partition("-vs-")
        lines += _retrieval_test_rows(comp.get("word_retrieval"), other, ref)
        if "by_layer" not in comp:
            continue
        layer = comp["primary_layer"]
        first = comp["by_layer"][str(layer)]["cosine"]["delta"]
        unit = "sentences" if first.get("unit") == "sentence" else "triples"
        lines += measures_rows(comp.get("measures"), f"{other} − {ref}", layer)
        lines += [f"**Paired change {other} − {ref}** at layer {layer} (same {first['n']} triples; interval and p "
                  f"from one bootstrap over {unit}, the p of the mean change shown):", ""]
        rows = []
        for dist in ("cosine", "euclidean"):
            for q, label in (("delta", "Δ"), ("related", "d(w,r)"), ("unrelated", "d(w,u)")):
                c = comp["by_layer"][str(layer)][dist][q]
                rows.append([f"{dist} {label}", fmt(c["mean_change"]),
                             f"[{fmt(c['bootstrap_ci_low'])}, {fmt(c['bootstrap_ci_high'])}]",
                             pvalue(c.get("bootstrap_p")), fmt(c.get("mde")), fmt(c["median_change"]),
                             pct(c["share_increased"]), fmt(c["cohens_dz"])])
        lines += table(["quantity", "mean change", "95% CI", "p", "MDE (80%)", "median change", "share increased",
                        "Cohen's d_z"], rows)
    return lines


def measures_rows(measures: dict[str, Any] | None, name: str, layer: Any) -> list[str]:
    """The change of each geometry measure (scale-free ones first, marked primary) as a
    Markdown table with its interval, the bootstrap p of the same change and the MDE."""
    if not measures:
        return []

    unit = "sentences" if measures.get("unit") == "sentence" else "triples"
    rows = []
    for key in MEASURES:
        m = measures[key]
        role = "primary" if key in measures.get("primary", ()) else "secondary"
        rows.append([MEASURES[key], role, fmt(m["before"]), fmt(m["after"]), fmt(m["change"]),
                     f"[{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]", pvalue(m["p"]), fmt(m["mde"])])
    return [f"**Geometry measures, {name}** at layer {layer}, cosine ({measures['n']} triples in "
            f"{measures['n_units']} {unit}; interval and two-sided p from one bootstrap over {unit}, "
            "MDE: the change detectable with 80% power at α = 0.05):", ""] + table(
        ["measure", "role", "before", "after", "change", "95% CI", "p", "MDE (80%)"], rows) + [""]


def _retrieval_test_rows(comp: dict[str, Any] | None, other: str, ref: str) -> list[str]:
    if not comp:
        return []
    rows = []
    for method, label in (("cosine", "cosine"), ("csls", "CSLS")):
        for direction in ("src_to_tgt", "tgt_to_src", "mean"):
            c = comp[method][direction]
            b = c.get("bootstrap") or {}
            name = "both directions" if direction == "mean" else direction.replace("_to_", "→")
            rows.append([f"P@1 {label} {name}", str(c["n"]), pct(c["p_at_1_before"]), pct(c["p_at_1_after"]),
                         f"{100 * c['change']:+.1f}", _points_interval(b), pvalue(b.get("bootstrap_p")),
                         _points(b.get("mde")), str(c["gained"]), str(c["lost"])])
    return [f"**Word retrieval, {other} − {ref}** at layer {comp['layer']} (same queries; interval, p and MDE in "
            "points from one paired bootstrap of the change over sentences, the unit the queries share; the "
            "exact McNemar test, which takes queries as independent, is in `summary.json`):", ""] + table(
        ["quantity", "queries", ref, other, "change (points)", "95% CI", "p", "MDE (80%)", "gained", "lost"], rows)


def _points(x: Any) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}"


def _points_interval(b: dict[str, Any]) -> str:
    low, high = b.get("bootstrap_ci_low"), b.get("bootstrap_ci_high")
    if low is None or high is None or low != low:
        return "–"
    return f"[{100 * low:+.1f}, {100 * high:+.1f}]"


def _per_layer_rows(run: Any, bitext: str) -> tuple[list[str], list[list[str]]]:
    header = ["layer"]
    columns = []
    for c in run.checkpoints:
        dist = _result(run, c, bitext, "distances")
        ret = _result(run, c, bitext, "word-retrieval")
        if dist is not None:
            header.append(f"{c.name} mean Δ")
            columns.append(lambda layer, r=dist: fmt(_layer_stats(r, layer).get("mean_delta")))
        if ret is not None:
            header.append(f"{c.name} P@1 CSLS")
            columns.append(lambda layer, r=ret: pct(r.metrics["by_layer"][str(layer)]["csls"]["mean"])
                           if str(layer) in r.metrics["by_layer"] else "–")
    layers = sorted({x for c in run.checkpoints for x in c.layers})
    return header, [[str(layer)] + [col(layer) for col in columns] for layer in layers]


def _bitext_section(run: Any, bitext: Any, made: dict[str, list[Figure]]) -> list[str]:
    counts = bitext.counts
    names = [c.name for c in run.checkpoints]
    first = next((r for c in run.checkpoints if (r := _result(run, c, bitext.name, "distances") or
                                                _result(run, c, bitext.name, "word-retrieval"))), None)
    layer = first.metrics["primary_layer"] if first else run.checkpoints[0].layers[-1]
    lines = [
        f"## Bitext {bitext.name}", "",
        f"`{bitext.path}`: {counts['pairs']} sentence pairs, {counts['links']} links, "
        f"{counts['one_to_one']} 1-to-1, {counts['punctuation_dropped']} dropped as punctuation, "
        f"**{counts['usable']} usable links**, **{counts['triples']} triples**.", "",
        f"### Distances and word retrieval at layer {layer}", "",
    ]
    rows: list[list[str]] = []
    if any(_result(run, c, bitext.name, "distances") for c in run.checkpoints):
        rows += _distance_rows(run, bitext.name, layer, "cosine") + _distance_rows(run, bitext.name, layer, "euclidean")
    if any(_result(run, c, bitext.name, "word-retrieval") for c in run.checkpoints):
        rows += _retrieval_rows(run, bitext, layer)
    lines += table(["", *names], rows)
    lines += _comparison_rows(run, bitext.name)
    if len({x for c in run.checkpoints for x in c.layers}) > 1:
        header, rows = _per_layer_rows(run, bitext.name)
        lines += ["### Per layer (cosine)", ""] + table(header, rows)
    for figure in made.get(bitext.name, []):
        lines += [figure_markdown(figure)]
    return lines


def _tatoeba_section(run: Any, made: dict[str, list[Figure]]) -> list[str]:
    sets = run.inputs.sentence_sets
    if not sets:
        return []
    lines = ["## Sentence retrieval (Tatoeba)", "",
             "Mean-pooled sentence vectors, nearest neighbour by cosine; accuracy in both directions "
             f"(chance {pct(1 / len(sets[0].src))} for {len(sets[0].src)} sentences). *Best*: the layer is "
             "chosen on a seeded random half of the pairs and its accuracy reported on the other half "
             "(every query still searches all pairs); the direction columns are that layer on all pairs.", ""]
    header = ["language", "n"]
    for c in run.checkpoints:
        header += [f"{c.name} best, held-out half (layer)", f"{c.name} en→xx", f"{c.name} xx→en", f"{c.name} last layer"]
    rows = []
    for s in sets:
        row = [s.tgt_lang, str(len(s.src))]
        for c in run.checkpoints:
            r = _result(run, c, s.name, "sentence-retrieval")
            if r is None:
                row += ["–"] * 4
                continue
            m = r.metrics
            best = m["by_layer"][str(m["best_layer"])]
            row += [f"{pct(m['best_accuracy'])} ({m['best_layer']})", pct(best["src_to_tgt"]),
                    pct(best["tgt_to_src"]), pct(m["last_layer_accuracy"])]
        rows.append(row)
    lines += table(header, rows)
    layers = sorted({x for c in run.checkpoints for x in c.sentence_layers})
    if len(layers) > 1:
        header = ["layer"] + [f"{c.name} {s.tgt_lang}" for c in run.checkpoints for s in sets]
        rows = []
        for layer in layers:
            row = [str(layer)]
            for c in run.checkpoints:
                for s in sets:
                    r = _result(run, c, s.name, "sentence-retrieval")
                    by = r.metrics["by_layer"].get(str(layer)) if r else None
                    row.append(pct(by["mean"]) if by else "–")
            rows.append(row)
        lines += ["Accuracy per layer (mean of both directions):", ""] + table(header, rows)
    for figure in made.get("tatoeba", []):
        lines += [figure_markdown(figure)]
    return lines


def _overview(run: Any) -> list[str]:
    """One row per bitext and checkpoint: the headline figures at the primary layer."""
    rows = []
    for bitext in run.inputs.bitexts:
        tatoeba = f"tatoeba-{bitext.tgt_lang}"
        for c in run.checkpoints:
            dist = _result(run, c, bitext.name, "distances")
            words = _result(run, c, bitext.name, "word-retrieval")
            sent = _result(run, c, tatoeba, "sentence-retrieval")
            layer = (dist or words).metrics["primary_layer"] if (dist or words) else None
            d = _layer_stats(dist, layer) if layer is not None else {}
            rows.append([
                bitext.name, c.name, str(layer),
                f"{pct(d.get('share_delta_positive'))} [{pct(d.get('share_delta_positive_ci_low'))}, "
                f"{pct(d.get('share_delta_positive_ci_high'))}]" if d else "–",
                f"{fmt(d.get('ratio'))} [{fmt(d.get('ratio_ci_low'))}, {fmt(d.get('ratio_ci_high'))}]" if d else "–",
                fmt(d.get("mean_related")), fmt(d.get("mean_unrelated")),
                f"{fmt(d.get('mean_delta'))} [{fmt(d.get('mean_delta_ci_low'))}, {fmt(d.get('mean_delta_ci_high'))}]"
                if d else "–",
                pct(words.metrics["p_at_1_cosine"]) if words else "–",
                pct(words.metrics["p_at_1_csls"]) if words else "–",
                f"{pct(sent.metrics['best_accuracy'])} ({sent.metrics['best_layer']})" if sent else "–",
            ])
    if not rows:
        return []
    header = ["bitext", "checkpoint", "layer", "share Δ > 0 [95% CI]", "d(w,u)/d(w,r) [95% CI]", "mean d(w,r)",
              "mean d(w,u)", "mean Δ [95% CI]", "P@1 cosine", "P@1 CSLS", "Tatoeba best (layer)"]
    return ["## Overview", "", "Cosine distance; retrieval P@1 is the mean of both directions. Primary geometry "
            "measures are the scale-free share of triples with Δ > 0 and the ratio of mean distances "
            "d(w,u)/d(w,r); the absolute Δ is secondary (it shrinks when the whole space contracts). Intervals "
            "resample sentences, not triples.", ""] + table(header, rows)


def render_report(run: Any, made: dict[str, list[Figure]]) -> str:
    cfg = run.config
    lines = [
        "# Probe report", "",
        f"{len(run.checkpoints)} checkpoint(s); seed {cfg.seed}; unrelated words drawn from the "
        f"{cfg.unrelated.value.replace('-', ' ')}; {'bf16 autocast' if cfg.bf16 else 'fp32'}; "
        f"word vectors: {cfg.pooling.value} of subwords. Distances: cosine (1 − cos) and Euclidean; "
        "Δ = d(w,u) − d(w,r), positive when the related word is closer. "
        f"Probes: {', '.join(f'{p} ({PROBES.entry(p).summary})' for p in cfg.selected_probes())}.", "",
        "## Checkpoints", "",
    ]
    rows = [[c.name, f"`{c.spec}`", str(c.num_layers), ", ".join(map(str, c.layers)), c.tokenizer_sha256[:12]]
            for c in run.checkpoints]
    lines += table(["name", "spec", "layers in model", "word layers probed", "tokenizer"], rows)
    if run.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in run.notes] + [""]
    lines += _overview(run)
    for bitext in run.inputs.bitexts:
        lines += _bitext_section(run, bitext, made)
    lines += _tatoeba_section(run, made)
    lines += ["## Timing", ""]
    rows = [[c.name, fmt(c.timing.get("load"), 1), fmt(c.timing.get("forward"), 1),
             fmt(c.timing.get("embedding_outside_forward"), 1), fmt(c.timing.get("probes"), 1)]
            for c in run.checkpoints]
    lines += table(["checkpoint", "load s", "forward passes s", "tokenize + pool s", "probes s"], rows)
    lines += ["Signature (config, seed, versions, input hashes) in `summary.json`; per-triple distances "
              "in `triples.csv`.", ""]
    return "\n".join(lines)
