"""Zero-shot evaluation of task models on any list of languages.

:func:`evaluate_task_model` takes a checkpoint directory or an already-loaded :class:`TaskModel`
(so landscape analyses can evaluate in-memory weights) and test sets as sources or as
already-read examples. Every test set is read before the first prediction, so a missing
or malformed file fails fast. It returns results; :func:`save_results` writes them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.errors import InputError
from xladjust.io import atomic_path
from xladjust.tasks.base import Task, stats_of
from xladjust.tasks.model import TaskModel, load_task_model
from xladjust.tasks.readers import take
from xladjust.tasks.sources import parse_source

log = logging.getLogger(__name__)

PREDICTIONS_DIR = "predictions"


@dataclass
class EvalResult:
    """Scores of one model on one test set, with per-example predictions."""

    language: str
    source: str
    task: str
    metrics: dict[str, float]
    baseline: float
    predictions: list[dict[str, Any]] = field(repr=False)

    @property
    def n_examples(self) -> int:
        return len(self.predictions)

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "n_examples": self.n_examples, "metrics": self.metrics,
                "baseline": self.baseline}


def load_examples(task: Task, source: str, role: str, limit: int | None = None,
                  sample_seed: int | None = None) -> list[Any]:
    """Read ``source`` for ``task``; keep ``limit`` examples (the first ones, or a random
    sample when ``sample_seed`` is given)."""
    examples = task.read(parse_source(source), role)
    kept = take(examples, limit, sample_seed)
    if len(kept) < len(examples):
        log.info("%s: using %d of %d examples", source, len(kept), len(examples))
    return kept


def evaluate_task_model(
    model: str | Path | TaskModel,
    task: str | None,
    tests: Mapping[str, str | Sequence[Any]],
    *,
    batch_size: int = 64,
    bf16: bool | None = None,
    max_examples: int | None = None,
    progress: bool = False,
    device: str | None = None,
) -> dict[str, EvalResult]:
    """Evaluate ``model`` (a fine-tuned checkpoint directory or a :class:`TaskModel`) on
    each test set in ``tests`` (language → source string or list of examples).

    ``task`` must match the checkpoint's task when given (None: take the checkpoint's).
    Returns language → :class:`EvalResult`, in the order of ``tests``.
    """
    if not tests:
        raise InputError("no test sets given; pass LANG=FILE pairs")
    tm = model if isinstance(model, TaskModel) else load_task_model(model, device=device)
    if task is not None and task != tm.task.name:
        raise InputError(f"the model was fine-tuned for {tm.task.name!r}, not {task!r}")
    loaded: dict[str, tuple[str, list[Any]]] = {}
    for lang, test in tests.items():
        if isinstance(test, str):
            loaded[lang] = (test, load_examples(tm.task, test, "test", max_examples))
        else:
            loaded[lang] = ("<in memory>", take(list(test), max_examples))
        if not loaded[lang][1]:
            raise InputError(f"test set {lang!r} holds no examples")
    results = {}
    for lang, (source, examples) in loaded.items():
        records = tm.task.predict(tm.model, tm.tokenizer, examples, tm.options, batch_size=batch_size,
                                  bf16=bf16, progress=progress)
        metrics = tm.task.metrics(stats_of(records, len(tm.task.score_columns)))
        results[lang] = EvalResult(language=lang, source=source, task=tm.task.name, metrics=metrics,
                                   baseline=tm.task.baseline(examples), predictions=records)
        log.info("%s %s: %s (%s baseline %.4f)", tm.task.name, lang,
                 ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), tm.task.baseline_name,
                 results[lang].baseline)
    return results


def metrics_table(results: Mapping[str, EvalResult]) -> dict[str, dict[str, float]]:
    """language → metric → value (the shape landscape analyses expect)."""
    return {lang: dict(r.metrics) for lang, r in results.items()}


def save_results(results: Mapping[str, EvalResult], directory: Path, prefix: str = "test") -> dict[str, Any]:
    """Write ``predictions/PREFIX-LANG.jsonl`` (``LANG.jsonl`` without a prefix) per test
    set; return the summaries."""
    pred_dir = Path(directory) / PREDICTIONS_DIR
    pred_dir.mkdir(parents=True, exist_ok=True)
    for lang, r in results.items():
        name = f"{prefix}-{lang}" if prefix else lang
        with atomic_path(pred_dir / f"{name}.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as f:
            for record in r.predictions:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {lang: r.summary() for lang, r in results.items()}


def read_stats(directory: Path, name: str, width: int) -> tuple[list[str], np.ndarray]:
    """Example ids and per-example statistics from ``predictions/NAME.jsonl``."""
    path = Path(directory) / PREDICTIONS_DIR / f"{name}.jsonl"
    if not path.is_file():
        raise InputError(f"{path} is missing; the run did not finish (rerun it)")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [str(r["id"]) for r in records], stats_of(records, width)
