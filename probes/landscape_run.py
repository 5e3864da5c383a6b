"""Interpolation and flatness runs over fine-tuned task checkpoints: set up → sweep → save.

Each run directory holds ``summary.json`` (kind, signature, table), ``table.md`` and plots
(PNG and SVG), and is marked complete last. An interpolation run also writes
``per_example.json``: each test example's statistics (for NLI, 1 if correct) at every α,
so that differences along the line can be tested paired on the same examples
(:mod:`xladjust.probes.landscape_seeds`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.embeddings import resolve_layers
from xladjust.errors import InputError
from xladjust.io import atomic_dir, mark_complete, sha256_file, write_json_atomic, write_text_atomic
from xladjust.outputs import claim_output, judge_existing, summary_kind
from xladjust.probes.builtin import distance_probe, word_retrieval_probe
from xladjust.probes.inputs import load_bitext
from xladjust.probes.landscape import (
    check_compatible,
    flatness_sweep,
    interpolation_sweep,
    sharpness_summary,
)
from xladjust.probes.plots import save_figure
from xladjust.probes.registry import ProbeSettings
from xladjust.probes.views import BitextView, CheckpointEmbedder
from xladjust.signature import make_signature
from xladjust.tasks.base import stats_of
from xladjust.tasks.evaluation import evaluate_task_model, load_examples, metrics_table
from xladjust.tasks.model import load_task_model
from xladjust.training_common import bf16_field

log = logging.getLogger(__name__)

PER_EXAMPLE_FILE = "per_example.json"


@dataclass(frozen=True)
class EvalSettings:
    task: str | None
    tests: dict[str, str]  # language -> test source
    max_examples: int | None = None
    batch_size: int = 64
    bf16: bool = bf16_field()  # bfloat16 autocast
    probe_bitexts: dict[str, str] = field(default_factory=dict)  # name -> aligned corpus (interpolation)
    probe_layer: int | None = None  # encoder layer of the probes; None = the last
    device: str = "auto"  # where the checkpoints run: auto (CUDA when visible), cpu, cuda or cuda:N

    def check(self) -> None:
        if not self.tests:
            raise InputError("no evaluation sets: pass --test LANG=FILE (at least one)")


def _evaluator(settings: EvalSettings, task_model: Any, progress: bool, keep: list[Any] | None = None):
    """``model -> {lang: {metric: value}}`` with test sets read once; with ``keep``, each
    call also appends ``{lang: (ids, per-example statistics (n, k))}`` to it."""
    examples = {lang: load_examples(task_model.task, src, "test", settings.max_examples)
                for lang, src in settings.tests.items()}
    width = len(task_model.task.score_columns)

    def run(model: Any) -> dict[str, dict[str, float]]:
        results = evaluate_task_model(task_model, settings.task, examples, batch_size=settings.batch_size,
                                      bf16=settings.bf16, progress=False)
        if keep is not None:
            keep.append({lang: ([str(r["id"]) for r in res.predictions], stats_of(res.predictions, width))
                         for lang, res in results.items()})
        return metrics_table(results)

    return run


def _prober(settings: EvalSettings, task_model: Any) -> Any:
    """``model -> {bitext: {mean_delta, share_delta_positive, p_at_1_cosine, p_at_1_csls}}``:
    the distance and word-retrieval probes on the encoder under the task head, with each
    bitext read and its triples drawn once (so every α is measured on the same triples)."""
    from types import SimpleNamespace

    bitexts = [load_bitext(Path(path), name) for name, path in settings.probe_bitexts.items()]
    n_layers = int(task_model.encoder.config.num_hidden_layers)
    layers = resolve_layers("last" if settings.probe_layer is None else settings.probe_layer, n_layers)
    probe_settings = ProbeSettings()

    def run(model: Any) -> dict[str, dict[str, float]]:
        loaded = SimpleNamespace(model=model.base_model, tokenizer=task_model.tokenizer)
        embedder = CheckpointEmbedder(loaded, layers=layers, sentence_layers=layers, bf16=settings.bf16)
        out = {}
        for bitext in bitexts:
            view = BitextView(bitext, layers, embedder.words([p.src for p in bitext.pairs]),
                              embedder.words([p.tgt for p in bitext.pairs]))
            dist = distance_probe(view, probe_settings).metrics
            retrieval = word_retrieval_probe(view, probe_settings).metrics
            out[bitext.name] = {"layer": layers[0], "mean_delta": dist["mean_delta"],
                                "share_delta_positive": dist["share_delta_positive"],
                                "p_at_1_cosine": retrieval["p_at_1_cosine"], "p_at_1_csls": retrieval["p_at_1_csls"]}
        return out

    return run


def _state(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _hashes(paths: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, source in paths.items():
        p = Path(source)
        out[name] = sha256_file(p) if p.is_file() else source
    return out


def _pairs_hash(directory: str) -> str:
    pairs = Path(directory) / "pairs.jsonl"
    return sha256_file(pairs) if pairs.is_file() else directory


def _checkpoint_hash(directory: str | Path) -> str:
    weights = Path(directory) / "model.safetensors"
    return sha256_file(weights) if weights.is_file() else str(directory)


def run_interpolation(a: str, b: str, alphas: list[float], settings: EvalSettings, out: Path,
                      *, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Evaluate θ(α) between checkpoints ``a`` and ``b``; write ``out``; return the summary.
    An earlier run in ``out`` is replaced only with ``overwrite`` (see
    :func:`xladjust.outputs.judge_existing`)."""
    inputs = [a, b, *settings.tests.values(), *settings.probe_bitexts.values()]
    with claim_output(out, command="interpolate", inputs=inputs, legacy=[summary_kind("interpolate")]):
        judge_existing(Path(out), overwrite=overwrite, resume=None)
        return _run_interpolation(a, b, alphas, settings, out, progress=progress)


def _run_interpolation(a: str, b: str, alphas: list[float], settings: EvalSettings, out: Path, *,
                       progress: bool) -> dict[str, Any]:
    settings.check()
    tm_a = load_task_model(a, device=settings.device)
    tm_b = load_task_model(b, device=settings.device)
    if tm_a.task.name != tm_b.task.name:
        raise InputError(f"{a} is a {tm_a.task.name!r} model but {b} is a {tm_b.task.name!r} model")
    if type(tm_a.model) is not type(tm_b.model):
        raise InputError(f"{a} ({type(tm_a.model).__name__}) and {b} ({type(tm_b.model).__name__}) "
                         "have different architectures")
    state_a, state_b = _state(tm_a.model), _state(tm_b.model)
    check_compatible(state_a, state_b, names=(str(a), str(b)))
    del tm_b  # keep two state dicts and one working model
    kept: list[Any] = []
    evaluate = _evaluator(settings, tm_a, progress, keep=kept)
    probe = _prober(settings, tm_a) if settings.probe_bitexts else None
    rows = interpolation_sweep(tm_a.model, state_a, state_b, alphas, evaluate, progress=progress, probe=probe)
    metric = tm_a.task.primary_metric
    per_example = per_example_record(tm_a.task.name, metric, list(tm_a.task.score_columns),
                                     [r["alpha"] for r in rows], kept)
    summary = {
        "kind": "interpolate",
        "task": tm_a.task.name,
        "metric": metric,
        "from": str(a),
        "to": str(b),
        "rows": rows,
        "per_example": PER_EXAMPLE_FILE,
        "signature": make_signature(stage="interpolate", config={"from": str(a), "to": str(b), "alphas": alphas,
                                                                 "tests": settings.tests,
                                                                 "max_examples": settings.max_examples,
                                                                 "probe_bitexts": settings.probe_bitexts,
                                                                 "probe_layer": settings.probe_layer},
                                    inputs={"from": _checkpoint_hash(a), "to": _checkpoint_hash(b),
                                            **_hashes(settings.tests),
                                            **{f"probe:{k}": _pairs_hash(v) for k, v in settings.probe_bitexts.items()}}),
    }
    summary["spread"] = _spread_along_line(rows, metric)
    _write(out, summary, interpolation_markdown(summary), lambda d: plot_interpolation(summary, d),
           extra={PER_EXAMPLE_FILE: per_example})
    return summary


def per_example_record(task: str, metric: str, columns: list[str], alphas: list[float],
                       kept: list[dict[str, tuple[list[str], Any]]]) -> dict[str, Any]:
    """``per_example.json``: per language the example ids (the same at every α) and, per α,
    the ``(n, k)`` statistics of its examples (integers where every value is whole)."""
    import numpy as np

    if len(kept) != len(alphas):
        raise ValueError(f"{len(kept)} evaluations for {len(alphas)} alphas")
    languages = {}
    for lang in (kept[0] if kept else {}):
        ids = kept[0][lang][0]
        stats = np.stack([np.asarray(point[lang][1], dtype=np.float64) for point in kept])  # (alphas, n, k)
        whole = bool(np.all(stats == np.round(stats)))
        languages[lang] = {"ids": ids, "stats": (stats.astype(np.int64) if whole else stats).tolist()}
    return {"task": task, "metric": metric, "columns": columns, "alphas": alphas, "languages": languages}


def _spread_along_line(rows: list[dict[str, Any]], metric: str) -> dict[str, dict[str, float]]:
    langs = list(rows[0]["metrics"]) if rows else []
    out = {}
    for lang in langs:
        values = [r["metrics"][lang][metric] for r in rows]
        out[lang] = {"start": values[0], "end": values[-1], "min": min(values), "max": max(values),
                     "range": max(values) - min(values)}
    return out


def run_flatness(model: str, radii: list[float], directions: int, seed: int, settings: EvalSettings, out: Path,
                 *, filter_normalized: bool = True, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Evaluate θ + r·d around ``model``; write ``out``; return the summary. An earlier run
    in ``out`` is replaced only with ``overwrite``."""
    with claim_output(out, command="flatness", inputs=[model, *settings.tests.values()],
                      legacy=[summary_kind("flatness")]):
        judge_existing(Path(out), overwrite=overwrite, resume=None)
        return _run_flatness(model, radii, directions, seed, settings, out, filter_normalized=filter_normalized,
                             progress=progress)


def _run_flatness(model: str, radii: list[float], directions: int, seed: int, settings: EvalSettings, out: Path,
                  *, filter_normalized: bool, progress: bool) -> dict[str, Any]:
    settings.check()
    if 0.0 not in radii:
        radii = [0.0, *radii]
    tm = load_task_model(model, device=settings.device)
    state = _state(tm.model)
    evaluate = _evaluator(settings, tm, progress)
    result = flatness_sweep(tm.model, state, radii, directions, seed, evaluate,
                            filter_normalized=filter_normalized, progress=progress)
    metric = tm.task.primary_metric
    summary = {
        "kind": "flatness",
        "task": tm.task.name,
        "metric": metric,
        "model": str(model),
        "radii": result.radii,
        "directions": directions,
        "filter_normalized": filter_normalized,
        "rows": result.rows,
        "sharpness": sharpness_summary(result, metric, higher_is_better=True),
        "signature": make_signature(stage="flatness", seed=seed,
                                    config={"model": str(model), "radii": result.radii, "directions": directions,
                                            "filter_normalized": filter_normalized, "tests": settings.tests,
                                            "max_examples": settings.max_examples},
                                    inputs={"model": _checkpoint_hash(model), **_hashes(settings.tests)}),
    }
    _write(out, summary, flatness_markdown(summary), lambda d: plot_flatness(summary, d))
    return summary


def _write(out: Path, summary: dict[str, Any], markdown: str, plot: Any,
           extra: dict[str, Any] | None = None) -> None:
    """Write a run folder; ``extra``: more JSON files by name, written compact."""
    with atomic_dir(out) as tmp:
        write_json_atomic(tmp / "summary.json", summary)
        for name, data in (extra or {}).items():
            write_text_atomic(tmp / name, json.dumps(data, separators=(",", ":")) + "\n")
        write_text_atomic(tmp / "table.md", markdown)
        plot(tmp)
        mark_complete(tmp)


def interpolation_markdown(summary: dict[str, Any]) -> str:
    langs = list(summary["rows"][0]["metrics"]) if summary["rows"] else []
    metric = summary["metric"]
    lines = [f"# Interpolation ({summary['task']}, {metric})", "",
             f"θ(α) = (1 − α)·θ_A + α·θ_B, A = `{summary['from']}`, B = `{summary['to']}`; {metric} in percent.", "",
             "| α | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
    for row in summary["rows"]:
        lines.append(f"| {row['alpha']:.2f} | " + " | ".join(f"{100 * row['metrics'][lang][metric]:.2f}" for lang in langs) + " |")
    lines += ["", "| language | at A | at B | range along the line |", "|---|---|---|---|"]
    for lang, s in summary["spread"].items():
        lines.append(f"| {lang} | {100 * s['start']:.2f} | {100 * s['end']:.2f} | {100 * s['range']:.2f} |")
    probed = [r for r in summary["rows"] if r.get("probes")]
    if probed:
        names = list(probed[0]["probes"])
        layer = probed[0]["probes"][names[0]]["layer"]
        lines += ["", f"Probes on the encoder (layer {layer}): mean Δ (cosine) and word retrieval P@1 (CSLS, %)", "",
                  "| α | " + " | ".join(f"{n} mean Δ | {n} P@1" for n in names) + " |",
                  "|---|" + "---|---|" * len(names)]
        for row in probed:
            cells = [f"{row['probes'][n]['mean_delta']:.4f} | {100 * row['probes'][n]['p_at_1_csls']:.1f}" for n in names]
            lines.append(f"| {row['alpha']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def flatness_markdown(summary: dict[str, Any]) -> str:
    metric = summary["metric"]
    radii = [r for r in summary["radii"] if r > 0]
    lines = [f"# Flatness ({summary['task']}, error = 1 − {metric})", "",
             f"{summary['directions']} random directions"
             + (" (filter-normalized)" if summary["filter_normalized"] else "") + f" around `{summary['model']}`.",
             "Mean increase in error at each radius (± std across directions), in percentage points:", "",
             "| language | " + " | ".join(f"r = {r:g}" for r in radii) + " |", "|---|" + "---|" * len(radii)]
    for lang, s in summary["sharpness"].items():
        cells = [f"{100 * s['by_radius'][f'{r:g}']['mean_increase']:+.2f} ± {100 * s['by_radius'][f'{r:g}']['std']:.2f}"
                 for r in radii]
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_interpolation(summary: dict[str, Any], directory: Path) -> None:
    plt = _plt()
    metric = summary["metric"]
    probed = bool(summary["rows"]) and bool(summary["rows"][0].get("probes"))
    fig, axes = plt.subplots(1, 2 if probed else 1, figsize=(11 if probed else 6, 4), squeeze=False)
    ax = axes[0][0]
    alphas = [r["alpha"] for r in summary["rows"]]
    for lang in summary["rows"][0]["metrics"]:
        ax.plot(alphas, [r["metrics"][lang][metric] for r in summary["rows"]], marker="o", label=lang)
    ax.set_xlabel("α  (0 = A, 1 = B)")
    ax.set_ylabel(metric)
    spread = ", ".join(f"{lang} range {s['range']:.3f}" for lang, s in summary["spread"].items())
    ax.set_title(f"{summary['task']}: {metric} along the line A→B\n{spread}", fontsize=9)
    ax.legend(title="language")
    ax.grid(alpha=0.3)
    if probed:
        ax = axes[0][1]
        for name in summary["rows"][0]["probes"]:
            ax.plot(alphas, [r["probes"][name]["mean_delta"] for r in summary["rows"]], marker="o", label=name)
        ax.set_xlabel("α  (0 = A, 1 = B)")
        ax.set_ylabel("mean Δ = d(w,u) − d(w,r), cosine")
        ax.set_title("encoder: related vs unrelated words along the line", fontsize=9)
        ax.legend(title="bitext")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, directory / "interpolation")
    plt.close(fig)


def plot_flatness(summary: dict[str, Any], directory: Path) -> None:
    plt = _plt()
    langs = list(summary["sharpness"])
    fig, axes = plt.subplots(1, len(langs), figsize=(4 * len(langs), 3.6), sharey=True, squeeze=False)
    metric = summary["metric"]
    for ax, lang in zip(axes[0], langs, strict=True):
        for k in range(summary["directions"]):
            rows = [r for r in summary["rows"] if r["direction"] == k]
            ax.plot([r["radius"] for r in rows], [1 - r["metrics"][lang][metric] for r in rows],
                    marker=".", alpha=0.7, label=f"direction {k}")
        top = summary["sharpness"][lang]["by_radius"][f"{max(summary['radii']):g}"]["mean_increase"]
        ax.set_title(f"{lang}: {top:+.3f} error at r={max(summary['radii']):g}", fontsize=9)
        ax.set_xlabel("radius r")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"error (1 − {metric})")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"{summary['task']}: error around the checkpoint", fontsize=10)
    fig.tight_layout()
    save_figure(fig, directory / "flatness")
    plt.close(fig)
