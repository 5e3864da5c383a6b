"""Transfer comparisons: fine-tune several checkpoints over seeds, compare on every test set.

Each (model, seed) run is a regular fine-tuning run under ``OUT/runs/NAME/seed-S``; a run
that is already complete with the same resolved config is reused and an interrupted one
continues from its last checkpoint, so an interrupted comparison resumes (``--resume``) to
the result an uninterrupted one gives. Per language the table gives each model's primary metric as
mean ± std over seeds and, for every model against the first (the baseline), the
difference of the seed-averaged metric with its paired-bootstrap 95% interval and
paired-permutation p-value over test examples (per-example statistics averaged over
seeds), and beside them the seed-level tests (sign-flip over per-seed differences, and a
hierarchical bootstrap over seeds and examples; see :mod:`xladjust.tasks.significance`).
Written as ``comparison.json``, ``comparison.md`` and ``scores.csv`` (every per-seed
score, one row each); ``.complete`` last.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.config import config_to_dict, result_keys
from xladjust.errors import ConfigError, InputError
from xladjust.io import (
    COMPLETE_MARKER,
    is_complete,
    mark_complete,
    write_json_atomic,
    write_text_atomic,
)
from xladjust.outputs import claim_output, clear_run_dir, judge_existing
from xladjust.shareable import read_record
from xladjust.signature import make_signature
from xladjust.stats import seed_warnings
from xladjust.tasks.config import (
    FinetuneConfig,
    TransferConfig,
    resolve_defaults,
    trained_weights,
)
from xladjust.tasks.evaluation import read_stats
from xladjust.tasks.finetune import finetune, read_run, rerun_flags
from xladjust.tasks.model import META_FILE
from xladjust.tasks.registry import get_task
from xladjust.tasks.significance import (
    compare_paired,
    compare_seeds,
    format_p,
    mean_std,
    min_sign_flip_p,
    seeds_needed,
)

# a fine-tuning run's config -> its on_step hook (or None)
HookFor = Callable[[FinetuneConfig], Any]

log = logging.getLogger(__name__)

SIGNIFICANCE_SEED = 0


def run_config(config: TransferConfig, name: str, seed: int, lang: str | None = None) -> FinetuneConfig:
    """The fine-tuning config of one (model, seed) run; with ``lang``, of a per-language
    arm's model for that language (tested on it alone)."""
    out = Path(config.out) / "runs" / name / (lang or "") / f"seed-{seed}"
    extra: dict[str, Any] = {"threads": 1} if config.parallel > 1 else {}
    if lang is not None:
        extra["test"] = {lang: config.finetune.test[lang]}
    model = config.per_language[name][lang] if lang is not None else config.models[name]
    return dataclasses.replace(config.finetune, model=model, seed=seed, out=out,
                               save_model=config.finetune.save_model and config.keep_checkpoints,
                               continual=config.continual.get(name, config.finetune.continual),
                               **rerun_flags(out), **extra)


def _reusable(cfg: FinetuneConfig) -> bool:
    if not is_complete(cfg.out) or not (Path(cfg.out) / META_FILE).is_file():
        return False
    stored = read_record(cfg.out).get("signature", {}).get("config") or {}  # with full paths
    return all(stored.get(k) == v for k, v in result_keys(resolve_defaults(cfg)).items())


def transfer(config: TransferConfig, hook_for: HookFor | None = None, *, resume: bool = False,
             overwrite: bool = False) -> dict[str, Any]:
    """Run every (model, seed), then write and return the comparison table.

    ``hook_for(finetune_config)``, if given, returns each run's ``on_step`` hook (see
    :func:`~xladjust.tasks.finetune.finetune`); a module-level function, so that runs in
    worker processes can call it too. An earlier comparison in ``config.out`` follows the
    output rule (:func:`xladjust.outputs.judge_existing`): ``resume`` continues an
    unfinished one in place (its finished (model, seed) runs with the same settings are
    reused, an interrupted one continues from its last checkpoint); ``overwrite`` deletes
    it, once every check has passed, and starts afresh."""
    problems = config.check()
    if problems:
        raise ConfigError(problems)

    inputs = [*config.models.values(), *config.finetune.train, config.finetune.dev, *config.finetune.test.values()]
    with claim_output(config.out, command="transfer", inputs=inputs, legacy=LEGACY_OUTPUT) as claim:
        out = Path(config.out)
        if judge_existing(out, overwrite=overwrite, resume=resume) and overwrite:
            clear_run_dir(out)
        claim.mark()  # built in place: finished (model, seed) runs are reused by --resume
        (out / COMPLETE_MARKER).unlink(missing_ok=True)  # complete again only at the end
        return _transfer(config, hook_for)


# transfer runs written before the run-folder marker existed
LEGACY_OUTPUT = [("comparison.json",), ("runs",)]


def _transfer(config: TransferConfig, hook_for: HookFor | None) -> dict[str, Any]:
    task = get_task(config.finetune.task)
    runs: dict[str, dict[int, Path]] = {}
    pending: list[FinetuneConfig] = []
    for name in config.models:
        for seed in config.seeds:
            cfg = run_config(config, name, seed)
            if _reusable(cfg):
                log.info("reusing the finished run %s", cfg.out)
            else:
                pending.append(cfg)
            runs.setdefault(name, {})[seed] = Path(cfg.out)
    per_language: dict[str, dict[str, dict[int, Path]]] = {}
    for name, specs in config.per_language.items():
        for lang in specs:
            for seed in config.seeds:
                cfg = run_config(config, name, seed, lang)
                if not _reusable(cfg):
                    pending.append(cfg)
                per_language.setdefault(name, {}).setdefault(lang, {})[seed] = Path(cfg.out)
    run_all(pending, config.parallel, hook_for)
    table = compare_runs(runs, task.name, list(config.finetune.test), n_resamples=config.resamples,
                         per_language=per_language)
    table["models"] = dict(config.models)
    table["per_language"] = {name: dict(specs) for name, specs in config.per_language.items()}
    table["continual"] = {name: config_to_dict(c) for name, c in config.continual.items()}
    table["seeds"] = list(config.seeds)
    table["trained_weights"] = trained_weights(config.finetune)
    table["signature"] = make_signature(stage="transfer", config=config_to_dict(config), seed=SIGNIFICANCE_SEED)
    out = Path(config.out)
    write_json_atomic(out / "comparison.json", table)
    write_text_atomic(out / "comparison.md", comparison_markdown(table))
    write_text_atomic(out / SCORES_FILE, scores_csv(table))
    mark_complete(out)
    return table


SCORES_FILE = "scores.csv"
SCORES_COLUMNS = ("task", "metric", "model", "language", "seed", "score")


def scores_csv(table: dict[str, Any]) -> str:
    """Every (model, language, seed) test score of a comparison, one row each, the metric
    as a fraction as in ``comparison.json`` (``pandas.read_csv(OUT/scores.csv)``)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SCORES_COLUMNS)
    for lang, entry in table["languages"].items():
        for model, scores in entry["scores"].items():
            for seed, score in scores["per_seed"].items():
                writer.writerow([table["task"], table["metric"], model, lang, seed, score])
    return buffer.getvalue()


def run_all(configs: list[FinetuneConfig], parallel: int = 1, hook_for: HookFor | None = None) -> None:
    """Fine-tune every config: one after another, or ``parallel`` at a time in fresh
    subprocesses (each config then runs with one torch thread). The first failure is
    raised after the runs already under way have finished."""
    if parallel <= 1 or len(configs) <= 1:
        for cfg in configs:
            log.info("fine-tuning %s, seed %d -> %s", cfg.model, cfg.seed, cfg.out)
            _finetune_with(cfg, hook_for)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    log.info("fine-tuning %d runs, %d at a time (1 thread each)", len(configs), parallel)
    context = multiprocessing.get_context("spawn")  # no forked torch state in the workers
    with ProcessPoolExecutor(max_workers=min(parallel, len(configs)), mp_context=context,
                             initializer=_one_thread) as pool:
        futures = [pool.submit(_finetune_with, cfg, hook_for) for cfg in configs]
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error


def _finetune_with(cfg: FinetuneConfig, hook_for: HookFor | None) -> Path:
    return finetune(cfg, on_step=hook_for(cfg) if hook_for is not None else None)


def _one_thread() -> None:
    import os

    os.environ["OMP_NUM_THREADS"] = "1"


def compare_runs(runs: dict[str, dict[int, Path]], task_name: str, languages: list[str], *,
                 n_resamples: int = 10000,
                 per_language: dict[str, dict[str, dict[int, Path]]] | None = None) -> dict[str, Any]:
    """The comparison table of finished runs (model name → seed → run directory); a
    per-language arm (name → language → seed → run directory) has cells in its languages only."""
    task = get_task(task_name)
    width = len(task.score_columns)
    per_language = per_language or {}
    names = list(runs) + [n for n in per_language if n not in runs]
    table: dict[str, Any] = {"task": task_name, "metric": task.primary_metric, "baseline_model": names[0],
                             "n_resamples": n_resamples, "languages": {}}
    for lang in languages:
        entry: dict[str, Any] = {"scores": {}, "comparisons": {}}
        mean_stats: dict[str, np.ndarray] = {}
        seed_stats: dict[str, dict[int, np.ndarray]] = {}
        ids_of: dict[str, list[str]] = {}
        present = [n for n in names if n in runs or lang in per_language[n]]
        for name in present:
            per_seed = {}
            stats: dict[int, np.ndarray] = {}
            for seed, run_dir in (runs[name] if name in runs else per_language[name][lang]).items():
                per_seed[seed] = read_run(run_dir)["test"][lang]["metrics"][task.primary_metric]
                ids, s = read_stats(run_dir, f"test-{lang}", width)
                if name in ids_of and ids != ids_of[name]:
                    raise InputError(f"runs of {name} were evaluated on different {lang} examples; rerun them")
                ids_of[name] = ids
                stats[seed] = s
            mean, std = mean_std(list(per_seed.values()))
            entry["scores"][name] = {"mean": mean, "std": std, "per_seed": per_seed}
            mean_stats[name] = np.mean(list(stats.values()), axis=0)
            seed_stats[name] = stats
        entry["n_examples"] = len(ids_of[names[0]])
        entry["baseline"] = read_run(next(iter(runs[names[0]].values())))["test"][lang]["baseline"]
        for name in present[1:]:
            if ids_of[name] != ids_of[names[0]]:
                raise InputError(f"{name} and {names[0]} were evaluated on different {lang} examples")
            cmp = compare_paired(mean_stats[names[0]], mean_stats[name], task.primary(),
                                 n_resamples=n_resamples, seed=SIGNIFICANCE_SEED)
            seeds = compare_seeds(entry["scores"][names[0]]["per_seed"], entry["scores"][name]["per_seed"],
                                  seed_stats[names[0]], seed_stats[name], task.primary(),
                                  n_resamples=n_resamples, seed=SIGNIFICANCE_SEED)
            entry["comparisons"][f"{name} - {names[0]}"] = {**cmp.to_dict(), "seed_level": seeds.to_dict()}
        table["languages"][lang] = entry
    table["seed_variance"] = seed_variance(table)
    n_seeds = min((len(r) for r in runs.values()), default=0)
    table["warnings"] = seed_warnings(n_seeds)
    for warning in table["warnings"]:
        log.warning("%s: %s", task_name, warning)
    return table


def seed_variance(table: dict[str, Any]) -> dict[str, Any]:
    """Spread across seeds per model and language (Wu et al. 2022: zero-shot results vary
    far more across seeds in the target languages than in the source language).

    The source language is ``en`` when tested, else the first test language; ``std_ratio``
    is a language's std over the source language's (None when the source's std is 0)."""
    langs = table["languages"]
    if not langs:
        return {}
    source = "en" if "en" in langs else next(iter(langs))
    out: dict[str, Any] = {"source_language": source, "models": {}}
    for name in _model_names(table):
        rows = {}
        source_std = langs[source]["scores"][name]["std"] if name in langs[source]["scores"] else 0.0
        for lang, entry in langs.items():
            if name not in entry["scores"]:  # a per-language arm has no model for this language
                continue
            scores = list(entry["scores"][name]["per_seed"].values())
            std = entry["scores"][name]["std"]
            rows[lang] = {"std": std, "min": min(scores), "max": max(scores), "range": max(scores) - min(scores),
                          "std_ratio": std / source_std if source_std > 0 else None}
        out["models"][name] = rows
    return out


def _model_names(table: dict[str, Any]) -> list[str]:
    """Every model with a score in some language, in table order."""
    names: list[str] = []
    for entry in table["languages"].values():
        names += [n for n in entry["scores"] if n not in names]
    return names


def comparison_markdown(table: dict[str, Any]) -> str:
    """The comparison as a Markdown table (metric in points, ×100; ``–`` where a
    per-language arm has no model for the language)."""
    langs = table["languages"]
    names = _model_names(table)
    base = table["baseline_model"]
    others = [n for n in names if n != base]
    head = ["language", "n", "trivial"] + [f"{n} ({table['metric']})" for n in names]
    for n in others:
        head += [f"Δ {n} − {base}", "95% CI", "p", "95% CI (seeds × examples)",
                 "p (seeds × examples)", "MDE (seeds × examples)", "p (sign-flip over seeds)"]
    lines = [f"# {table['task']}: {table['metric']} ×100, mean ± std over seeds "
             f"{', '.join(map(str, table.get('seeds', [])))}", "",
             f"Weights trained in fine-tuning: {table.get('trained_weights', 'not recorded')}."
             + _continual_note(table.get("continual") or {}), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lang, entry in langs.items():
        row = [lang, str(entry["n_examples"]), f"{100 * entry['baseline']:.1f}"]
        row += [f"{100 * entry['scores'][n]['mean']:.1f} ± {100 * entry['scores'][n]['std']:.1f}"
                if n in entry["scores"] else "–" for n in names]
        for n in others:
            if f"{n} - {base}" not in entry["comparisons"]:
                row += ["–"] * 6
                continue
            c = entry["comparisons"][f"{n} - {base}"]
            row += [f"{100 * c['difference']:+.1f}", f"[{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}]",
                    format_p(c["p_value"])]
            row += _seed_cells(c.get("seed_level"))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Δ: difference of the seed-averaged metric. *95% CI*, *p*: paired bootstrap interval and two-sided "
              "paired permutation test over test examples (statistics averaged over seeds; seed variance not "
              "included). *Seeds × examples*: hierarchical bootstrap resampling seeds and examples. "
              "*MDE*: the difference the seeds × examples test detects with 80% power at α = 0.05 (2.80 × the standard "
              "deviation of its draws). "
              "*Sign-flip over seeds*: exact two-sided test of the per-seed differences (same seed for both models). "
              "'trivial': majority class / all-O / empty answer."]
    lines += _seed_test_note(table)
    lines += [f"\n**Warning:** {w}." for w in table.get("warnings", [])]
    lines += _seed_variance_markdown(table.get("seed_variance") or {})
    return "\n".join(lines) + "\n"


def _continual_note(continual: dict[str, Any]) -> str:
    if not continual:
        return ""
    arms = "; ".join(f"{name}: {c['objective']}, {c['weight']} × alignment + {c['regularizer_weight']} × "
                     f"regularizer toward {c['anchor']}, {c['pairs_per_step']} pairs per step"
                     for name, c in continual.items())
    return f" Continual learning (same seeds and schedule): {arms}."


def _seed_cells(seed_level: dict[str, Any] | None) -> list[str]:
    if not seed_level:
        return ["–", "–", "–", "–"]
    mde = seed_level.get("mde")
    return [f"[{100 * seed_level['hier_ci_low']:+.1f}, {100 * seed_level['hier_ci_high']:+.1f}]",
            format_p(seed_level["hier_p"]), "–" if mde is None or mde != mde else f"{100 * mde:.1f}",
            format_p(seed_level["sign_flip_p"])]


def _seed_test_note(table: dict[str, Any]) -> list[str]:
    n = len(table.get("seeds") or [])
    if n < 1:
        return []
    need = seeds_needed(0.05)
    note = (f"With {n} seed{'s' if n > 1 else ''} the sign-flip test's smallest possible p is 2/2^{n} = "
            f"{min_sign_flip_p(n):.3g}; it needs at least {need} seeds to be able to reach p < 0.05.")
    if n < need:
        note += " Its p here cannot show significance; the seeds are too few, which is not evidence of no difference."
    return ["", note]


def _seed_variance_markdown(variance: dict[str, Any]) -> list[str]:
    if not variance:
        return []
    source = variance["source_language"]
    lines = ["", "## Seed variance", "",
             f"| model | language | std | min | max | range | std / std({source}) |", "|---|---|---|---|---|---|---|"]
    for name, rows in variance["models"].items():
        for lang, r in rows.items():
            ratio = "—" if r["std_ratio"] is None else f"{r['std_ratio']:.1f}"
            lines.append(f"| {name} | {lang} | {100 * r['std']:.2f} | {100 * r['min']:.1f} | {100 * r['max']:.1f} "
                         f"| {100 * r['range']:.2f} | {ratio} |")
    return lines
