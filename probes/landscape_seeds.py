"""Several seeds along the interpolation line: the spread over seeds and paired tests.

Each seed fine-tunes its own monolingual (α = 0) and bilingual (α = 1) endpoint and
evaluates the line between them on the same test rows (``per_example.json`` of each
interpolation run). Per language and α this gives the mean of the metric over seeds and
its spread (std, min, max), and a test of **metric(α) − metric(α₀)**, α₀ the start of the
line (the monolingual model):

- the unit of independence is the seed *and* the test row: every seed is scored on every
  row at every α, so the test is the hierarchical bootstrap of
  :func:`xladjust.tasks.significance.compare_seeds` (seeds drawn with replacement, test
  rows drawn with replacement, crossed), paired twice: the same seed pairs α with α₀, and
  the same draws of seeds and rows serve every α of a language (one bootstrap seed);
- estimate: the mean over seeds of the per-seed difference; 95% percentile interval;
  p = 2·min(share ≤ 0, share ≥ 0); Holm's correction across the α points of each language
  (:func:`xladjust.stats.holm`); beside it the exact sign-flip p over seeds, whose floor
  with n seeds is 2/2ⁿ;
- the minimum detectable effect at 80% power of the end point (α = 1 against α₀), from the
  hierarchical standard error and from the per-seed spread alone (t on n − 1 df).

The comparisons are declared here (:data:`COMPARISONS`), before any result is seen:
**flat source** is judged by the source language's range of the seed-mean curve and by its
tests (flat within the test's resolution when no α differs from α₀ after Holm; the
minimum detectable effect says how large a change could have gone unseen); Wu et al.'s
claim, **target rises**, is that each target language's metric rises toward the
bilingual end: metric(1) − metric(α₀) > 0 with Holm-adjusted p < 0.05.

The functions above :func:`run_landscape_summary` take arrays and return values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.errors import InputError
from xladjust.io import (
    atomic_dir,
    mark_complete,
    read_json_object,
    sha256_file,
    write_json_atomic,
    write_text_atomic,
)
from xladjust.outputs import claim_output, judge_existing, summary_kind
from xladjust.probes.landscape_run import PER_EXAMPLE_FILE
from xladjust.probes.plots import band_plot
from xladjust.signature import make_signature
from xladjust.stats import holm, seed_warnings
from xladjust.tasks.metrics import SumMetric
from xladjust.tasks.significance import compare_seeds, format_p

log = logging.getLogger(__name__)

KIND = "landscape-summary"
LEVEL = 0.05  # family-wise error rate of each language's α points (Holm)
COMPARISONS = {
    "flat_source": "the source language's metric does not move along the line: judged by the range of its "
                   "seed-mean curve and by the paired tests of metric(α) − metric(α0) (flat within the tests' "
                   "resolution when no α differs after Holm; the minimum detectable effect bounds what could "
                   "have gone unseen)",
    "target_rises": "Wu et al. 2022: each target language's metric rises toward the bilingual end: "
                    "metric(1) − metric(α0) > 0 with Holm-adjusted p < 0.05",
}

SeedStats = Mapping[int, np.ndarray]  # seed -> per-example statistics (alphas, n, k) of one language


def seed_curves(stats: SeedStats, metric: SumMetric) -> np.ndarray:
    """The metric of each seed at each α, ``(seeds, alphas)``, seeds in sorted order."""
    return np.stack([np.asarray(metric(np.asarray(stats[s]).sum(axis=1), np.asarray(stats[s]).shape[1]),
                                dtype=np.float64) for s in sorted(stats)])


def spread_over_seeds(curves: np.ndarray, alphas: Sequence[float]) -> list[dict[str, float]]:
    """Per α: the mean over seeds, its sample std (0 with one seed), min and max."""
    out = []
    for i, alpha in enumerate(alphas):
        v = curves[:, i]
        out.append({"alpha": float(alpha), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
                    "min": float(v.min()), "max": float(v.max())})
    return out


def paired_along_line(stats: SeedStats, alphas: Sequence[float], metric: SumMetric, *, n_resamples: int = 10000,
                      seed: int = 0) -> list[dict[str, Any]]:
    """For each α after the first: metric(α) − metric(α₀) tested by the hierarchical
    bootstrap over seeds and test rows (the same draws at every α), with Holm's correction
    across these α points (``p_holm``)."""
    seeds = sorted(stats)
    curves = seed_curves(stats, metric)
    start = {s: float(curves[j, 0]) for j, s in enumerate(seeds)}
    rows = []
    for i in range(1, len(alphas)):
        c = compare_seeds(start, {s: float(curves[j, i]) for j, s in enumerate(seeds)},
                          {s: np.asarray(stats[s][0]) for s in seeds}, {s: np.asarray(stats[s][i]) for s in seeds},
                          metric, n_resamples=n_resamples, seed=seed)
        rows.append({"alpha": float(alphas[i]), "estimate": c.mean_difference, "ci_low": c.hier_ci_low,
                     "ci_high": c.hier_ci_high, "p": c.hier_p, "se": c.hier_se, "mde": c.mde, "seed_mde": c.seed_mde,
                     "sign_flip_p": c.sign_flip_p, "per_seed_difference": c.per_seed_difference})
    for row, adjusted in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = adjusted
    return rows


def summarize_line(per_seed: Mapping[int, Mapping[str, np.ndarray]], alphas: Sequence[float], metric: SumMetric,
                   source_lang: str, *, n_resamples: int = 10000, seed: int = 0) -> dict[str, Any]:
    """The summary of every language: spread over seeds, paired tests along the line,
    the end point's minimum detectable effect, and the declared comparisons' readings.
    ``per_seed``: seed -> language -> statistics ``(alphas, n, k)``."""
    seeds = sorted(per_seed)
    langs = list(per_seed[seeds[0]])
    languages = {}
    for lang in langs:
        stats = {s: per_seed[s][lang] for s in seeds}
        curves = seed_curves(stats, metric)
        by_alpha = spread_over_seeds(curves, alphas)
        means = [r["mean"] for r in by_alpha]
        tests = paired_along_line(stats, alphas, metric, n_resamples=n_resamples, seed=seed)
        languages[lang] = {"by_alpha": by_alpha, "per_seed": {str(s): curves[j].tolist() for j, s in enumerate(seeds)},
                           "range_of_mean": float(max(means) - min(means)), "tests": tests,
                           "end": _end_point(tests, alphas)}
    return {"alphas": [float(a) for a in alphas], "seeds": seeds, "source_lang": source_lang,
            "targets": [lang for lang in langs if lang != source_lang], "languages": languages,
            "comparisons": {name: {"declared": text, "reading": _reading(name, languages, source_lang)}
                            for name, text in COMPARISONS.items()},
            "test": {"method": "hierarchical bootstrap over seeds and test rows, paired across α",
                     "n_resamples": n_resamples, "seed": seed, "interval": 0.95,
                     "correction": "Holm across the α points of each language", "level": LEVEL},
            "warnings": seed_warnings(len(seeds))}


def _end_point(tests: list[dict[str, Any]], alphas: Sequence[float]) -> dict[str, Any]:
    if not tests:
        return {}
    end = tests[-1]
    return {"alpha": end["alpha"], "from": float(alphas[0]), "estimate": end["estimate"], "se": end["se"],
            "mde": end["mde"], "seed_mde": end["seed_mde"], "p_holm": end["p_holm"]}


def _reading(name: str, languages: Mapping[str, Any], source_lang: str) -> str:
    """What the results say about one declared comparison, in one line."""
    if name == "flat_source":
        if source_lang not in languages:
            return f"not tested: the source language {source_lang!r} is not among the test languages"
        entry = languages[source_lang]
        moved = [t["alpha"] for t in entry["tests"] if t["p_holm"] < LEVEL]
        where = (f"differs from α0 at α = {', '.join(f'{a:g}' for a in moved)} (Holm p < {LEVEL:g})" if moved
                 else f"no α differs from α0 (Holm p ≥ {LEVEL:g})")
        return (f"{source_lang}: range of the seed mean {100 * entry['range_of_mean']:.2f} points; {where}; "
                f"minimum detectable change at the end {100 * entry['end'].get('mde', float('nan')):.2f} points")
    parts = []
    for lang, entry in languages.items():
        if lang == source_lang or not entry["end"]:
            continue
        end = entry["end"]
        if end["p_holm"] < LEVEL:
            verdict = "rises" if end["estimate"] > 0 else "falls"
        else:
            verdict = "no detectable change"
        parts.append(f"{lang}: {verdict} ({100 * end['estimate']:+.2f} points at α = {end['alpha']:g}, "
                     f"Holm p {format_p(end['p_holm'])}, MDE {100 * end['mde']:.2f} points)")
    return "; ".join(parts) or "not tested: no target language"


# ---------------------------------------------------------------- files


def load_seed_runs(dirs: Mapping[int, Path]) -> tuple[dict[str, Any], dict[int, dict[str, np.ndarray]]]:
    """Read each seed's ``per_example.json``; check that every seed has the same task,
    metric, α points, languages and test rows (ids, in order). Returns the shared header
    and seed -> language -> statistics ``(alphas, n, k)``."""
    header: dict[str, Any] | None = None
    ids: dict[str, list[str]] = {}
    out: dict[int, dict[str, np.ndarray]] = {}
    for seed, directory in sorted(dirs.items()):
        path = Path(directory) / PER_EXAMPLE_FILE
        if not path.is_file():
            raise InputError(f"{path} is missing: the interpolation run predates per-example results; rerun it")
        data = read_json_object(path, "the interpolation's per-example results")
        this = {k: data.get(k) for k in ("task", "metric", "columns", "alphas")}
        this["languages"] = list(data.get("languages", {}))
        if header is None:
            header = this
        elif this != header:
            diff = ", ".join(k for k in this if this[k] != header[k])
            raise InputError(f"{path}: differs from the first seed's run in {diff}; every seed must evaluate the "
                             "same line on the same test sets")
        out[seed] = {}
        for lang, entry in data["languages"].items():
            if ids.setdefault(lang, entry["ids"]) != entry["ids"]:
                raise InputError(f"{path}: the {lang} test rows differ from the first seed's (ids or order); "
                                 "the tests pair rows across seeds")
            out[seed][lang] = np.asarray(entry["stats"], dtype=np.float64)
    if header is None:
        raise InputError("no interpolation runs to summarize")
    return header, out


def run_landscape_summary(interpolations: Mapping[int, Path], out: Path, *, source_lang: str,
                          n_resamples: int = 10000, seed: int = 0, overwrite: bool = False) -> dict[str, Any]:
    """Summarize the interpolation runs of several seeds (seed -> run folder) into ``out``:
    ``summary.json``, ``summary.md`` and ``interpolation.png`` (and SVG, PDF)."""
    from xladjust.tasks.registry import get_task

    with claim_output(out, command=KIND, inputs=list(interpolations.values()), legacy=[summary_kind(KIND)]):
        judge_existing(Path(out), overwrite=overwrite, resume=None)
        header, per_seed = load_seed_runs(interpolations)
        metric = get_task(header["task"]).primary()
        summary = {"kind": KIND, "task": header["task"], "metric": header["metric"],
                   **summarize_line(per_seed, header["alphas"], metric, source_lang, n_resamples=n_resamples,
                                    seed=seed),
                   "runs": {str(s): str(d) for s, d in sorted(interpolations.items())}}
        summary["signature"] = make_signature(
            stage=KIND, seed=seed, config={"source_lang": source_lang, "n_resamples": n_resamples,
                                           "runs": summary["runs"]},
            inputs={f"seed {s}": sha256_file(Path(d) / PER_EXAMPLE_FILE) for s, d in sorted(interpolations.items())})
        markdown = summary_markdown(summary)
        log.info("%s", markdown.split("\n## Paired tests")[0].strip())
        with atomic_dir(out) as tmp:
            write_json_atomic(tmp / "summary.json", summary)
            write_text_atomic(tmp / "summary.md", markdown)
            plot_seed_band(summary, tmp)
            mark_complete(tmp)
    return summary


def summary_markdown(summary: Mapping[str, Any]) -> str:
    metric, seeds = summary["metric"], summary["seeds"]
    langs = list(summary["languages"])
    lines = [f"# Interpolation over {len(seeds)} seed(s) ({summary['task']}, {metric})", "",
             f"Seeds {', '.join(map(str, seeds))}; each fine-tunes its own endpoints. {metric} in percent: "
             "mean over seeds (min–max).", "",
             "| α | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
    for i, alpha in enumerate(summary["alphas"]):
        cells = [summary["languages"][lang]["by_alpha"][i] for lang in langs]
        lines.append(f"| {alpha:.2f} | " + " | ".join(
            f"{100 * c['mean']:.2f} ({100 * c['min']:.2f}–{100 * c['max']:.2f})" for c in cells) + " |")
    lines += ["", "Minimum detectable effect at 80% power (two-sided, 0.05) of the end point against the start, "
                  "in points:", ""]
    for lang in langs:
        end = summary["languages"][lang]["end"]
        if end:
            lines.append(f"- {lang}: {100 * end['mde']:.2f} from the hierarchical standard error "
                         f"({100 * end['se']:.2f}); {100 * end['seed_mde']:.2f} from the spread of the seeds alone "
                         f"(t, {len(seeds) - 1} df)" if len(seeds) > 1 else
                         f"- {lang}: {100 * end['mde']:.2f} from the standard error over test rows "
                         f"({100 * end['se']:.2f}); one seed, so the seed spread is not measured")
    lines += ["", "Declared comparisons:", ""]
    for name, c in summary["comparisons"].items():
        lines.append(f"- **{name}**: {c['declared']}.  \n  Result: {c['reading']}.")
    for warning in summary["warnings"]:
        lines.append(f"\nwarning: {warning}")
    lines += ["", f"## Paired tests along the line: {metric}(α) − {metric}(α0), α0 = {summary['alphas'][0]:g}", "",
              f"{summary['test']['method']}, {summary['test']['n_resamples']} resamples; "
              f"{summary['test']['correction']}. Δ and interval in points; the sign-flip p over seeds beside them.", ""]
    for lang in langs:
        lines += [f"**{lang}**", "", "| α | Δ | 95% interval | p | Holm p | sign-flip p |", "|---|---|---|---|---|---|"]
        for t in summary["languages"][lang]["tests"]:
            lines.append(f"| {t['alpha']:.2f} | {100 * t['estimate']:+.2f} | [{100 * t['ci_low']:+.2f}, "
                         f"{100 * t['ci_high']:+.2f}] | {format_p(t['p'])} | {format_p(t['p_holm'])} | "
                         f"{format_p(t['sign_flip_p'])} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def plot_seed_band(summary: Mapping[str, Any], directory: Path) -> None:
    """The seed mean of each language along α, with a band from the lowest to the highest seed."""
    alphas = summary["alphas"]
    curves = {lang: (alphas, [r["mean"] for r in e["by_alpha"]], [r["min"] for r in e["by_alpha"]],
                     [r["max"] for r in e["by_alpha"]]) for lang, e in summary["languages"].items()}
    band_plot(directory / "interpolation", curves, xlabel="α  (0 = monolingual, 1 = bilingual)",
              ylabel=summary["metric"],
              title=f"{summary['task']}: mean over {len(summary['seeds'])} seed(s), band = min–max over seeds")
