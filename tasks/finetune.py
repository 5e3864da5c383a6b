"""The fine-tuning stage: setup → train → save, as :func:`finetune`.

Setup reads every data file (so bad input fails before a model loads), puts the task
head on the encoder and, for continual learning, computes the anchor's word vectors.
Training selects the best dev step. Saving writes, atomically into ``out``:

- the fine-tuned model (config, safetensors, tokenizer; unless ``save_model`` is off),
  whose encoder loads as a model spec;
- ``predictions/dev.jsonl`` and ``predictions/test-LANG.jsonl``, one record per example
  (id, gold, prediction and the ``stats`` the metrics sum);
- ``metrics.json`` (dev and test metrics with baselines, training history);
- ``xladjust.json`` (task, encoding options, resolved config, signature, metrics);
- the ``.complete`` marker, last.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust.config import config_to_dict
from xladjust.errors import ConfigError
from xladjust.io import atomic_dir, mark_complete, read_json, sha256_file, write_json_atomic
from xladjust.signature import make_signature
from xladjust.tasks.base import EncodeOptions, Task, stats_of
from xladjust.tasks.config import FinetuneConfig, resolve_defaults
from xladjust.tasks.evaluation import EvalResult, evaluate, load_examples, save_results
from xladjust.tasks.model import META_FILE, TaskModel, init_task_model, save_task_model, task_meta
from xladjust.tasks.registry import get_task
from xladjust.tasks.sources import parse_source
from xladjust.tasks.training import TrainResult, TrainSettings, total_steps, train

log = logging.getLogger(__name__)

TRAIN_SAMPLE_SEED = 0  # the training subset is the same for every training seed
METRICS_FILE = "metrics.json"


def encode_options(cfg: FinetuneConfig) -> EncodeOptions:
    """Encoding options of a resolved config."""
    return EncodeOptions(max_length=int(cfg.max_length or 0), doc_stride=cfg.doc_stride,
                         max_question_length=cfg.max_question_length, max_answer_length=cfg.max_answer_length,
                         label_subwords=cfg.label_subwords)


def train_settings(cfg: FinetuneConfig) -> TrainSettings:
    """Training settings of a resolved config."""
    return TrainSettings(epochs=float(cfg.epochs or 0), batch_size=int(cfg.batch_size or 0),
                         learning_rate=float(cfg.learning_rate or 0), seed=cfg.seed, max_steps=cfg.max_steps,
                         weight_decay=cfg.weight_decay, warmup_ratio=cfg.warmup_ratio, bf16=cfg.bf16,
                         eval_every=cfg.eval_every, progress=cfg.progress)


@dataclass
class _Data:
    train: list[Any]
    dev: list[Any] | None
    tests: dict[str, list[Any]]
    pairs: list[Any] | None  # continual learning's pool of aligned pairs


def _input_hashes(cfg: FinetuneConfig) -> dict[str, str]:
    sources = list(cfg.train) + ([cfg.dev] if cfg.dev else []) + list(cfg.test.values())
    hashes = {}
    for text in sources:
        src = parse_source(text)
        hashes[text] = sha256_file(src.path) if src.path is not None else "hub"
    if cfg.continual is not None:
        pairs = Path(cfg.continual.corpus) / "pairs.jsonl"
        if pairs.is_file():
            hashes[str(pairs)] = sha256_file(pairs)
    model_dir = Path(cfg.model)
    if model_dir.is_dir() and (model_dir / "model.safetensors").is_file():
        hashes[f"{cfg.model}/model.safetensors"] = sha256_file(model_dir / "model.safetensors")
    return hashes


# fine-tuning runs written before the run-folder marker existed
LEGACY_OUTPUT = [(META_FILE, METRICS_FILE)]


def finetune_inputs(cfg: FinetuneConfig) -> list[Any]:
    """Every input path of a fine-tuning run (for the output guard)."""
    return [cfg.model, *cfg.train, cfg.dev, *cfg.test.values(), cfg.continual.corpus if cfg.continual else None]


def finetune(config: FinetuneConfig) -> Path:
    """Fine-tune, select on dev, evaluate the test sets and save; return ``config.out``."""
    problems = config.check()
    if problems:
        raise ConfigError(problems)
    if config.threads is None:
        return _finetune(config)
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _finetune(config)
    finally:
        torch.set_num_threads(previous)


def _finetune(config: FinetuneConfig) -> Path:
    from xladjust.outputs import claim_output

    cfg = resolve_defaults(config)
    with claim_output(cfg.out, command="finetune", inputs=finetune_inputs(cfg), legacy=LEGACY_OUTPUT):
        return _finetune_claimed(cfg)


def _finetune_claimed(cfg: FinetuneConfig) -> Path:
    task = get_task(cfg.task)
    data = _read_data(cfg, task)  # all data first: bad input fails before the model loads
    tm = init_task_model(cfg.model, task, encode_options(cfg), seed=cfg.seed)
    if cfg.freeze_embeddings:
        tm.model.get_input_embeddings().weight.requires_grad_(False)
    features = task.encode_train(data.train, tm.tokenizer, tm.options)
    log.info("%s: %d training examples -> %d features", task.name, len(data.train), len(features))
    extra = None
    if data.pairs is not None and cfg.continual is not None:
        from xladjust.tasks.continual import build_continual

        extra = build_continual(cfg.continual, tm.encoder, tm.tokenizer, data.pairs, bf16=cfg.bf16, seed=cfg.seed,
                                progress=cfg.progress)

    best: dict[str, Any] = {}  # the dev predictions of the best step, reused when saving

    def dev_score() -> float:
        records = task.predict(tm.model, tm.tokenizer, data.dev or [], tm.options, batch_size=cfg.eval_batch_size,
                               bf16=cfg.bf16, progress=False)
        score = float(task.primary()(stats_of(records, len(task.score_columns)).sum(0), len(records)))
        if "score" not in best or score > best["score"]:
            best.update(score=score, records=records)
        return score

    result = train(tm, features, train_settings(cfg), dev_score=dev_score if data.dev else None, extra_loss=extra,
                   extra_params=extra.parameters() if extra is not None else ())
    _save(cfg, tm, data, result, n_features=len(features), dev_records=best.get("records"))
    log.info("wrote %s", cfg.out)
    return Path(cfg.out)


def _read_data(cfg: FinetuneConfig, task: Task) -> _Data:
    train_examples: list[Any] = []
    for source in cfg.train:
        train_examples += load_examples(task, source, "train", cfg.max_train_examples, TRAIN_SAMPLE_SEED)
    dev = load_examples(task, cfg.dev, "dev", cfg.max_dev_examples) if cfg.dev else None
    tests = {lang: load_examples(task, src, "test", cfg.max_test_examples) for lang, src in cfg.test.items()}
    return _Data(train_examples, dev, tests, _continual_pool(cfg, len(train_examples)))


def _save(cfg: FinetuneConfig, tm: TaskModel, data: _Data, result: TrainResult, n_features: int,
          dev_records: list[dict[str, Any]] | None) -> None:
    """Evaluate the test sets and write the run directory atomically (see module doc).
    ``dev_records`` are the selected step's dev predictions (the model now holds that step)."""
    task = tm.task
    with atomic_dir(Path(cfg.out)) as tmp:
        if cfg.save_model:
            save_task_model(tm, tmp)
        summary: dict[str, Any] = {"task": task.name, "model": cfg.model, "seed": cfg.seed,
                                   "primary_metric": task.primary_metric, "baseline_name": task.baseline_name}
        if data.dev and dev_records is not None:
            dev = {"dev": EvalResult(language="dev", source=str(cfg.dev), task=task.name, predictions=dev_records,
                                     metrics=task.metrics(stats_of(dev_records, len(task.score_columns))),
                                     baseline=task.baseline(data.dev))}
            summary["dev"] = {**save_results(dev, tmp, prefix="")["dev"], "source": cfg.dev}
        if data.tests:
            results = evaluate(tm, None, data.tests, batch_size=cfg.eval_batch_size, bf16=cfg.bf16,
                               progress=cfg.progress)
            saved = save_results(results, tmp, prefix="test")
            summary["test"] = {lang: {**saved[lang], "source": cfg.test[lang]} for lang in saved}
        summary["train"] = {"examples": len(data.train), "features": n_features, "steps": result.steps,
                            "best_step": result.best_step, "best_dev": result.best_score,
                            "seconds": round(result.seconds, 1), "history": result.history}
        write_json_atomic(tmp / METRICS_FILE, summary)
        signature = make_signature(stage="finetune", config=config_to_dict(cfg), seed=cfg.seed,
                                   inputs=_input_hashes(cfg), extra={"base_model_path": tm.path})
        write_json_atomic(tmp / META_FILE, {**task_meta(tm), "stage": "finetune", "signature": signature,
                                            "metrics": {k: v for k, v in summary.items() if k != "train"}})
        mark_complete(tmp)


def _continual_pool(cfg: FinetuneConfig, n_train: int) -> list[Any] | None:
    """The aligned pairs continual learning will draw from (read before the model loads)."""
    if cfg.continual is None:
        return None
    from xladjust.tasks.continual import pool_pairs

    c = cfg.continual
    steps = total_steps(n_train, train_settings(cfg))
    return pool_pairs(c.corpus, c.max_pairs or steps * c.pairs_per_step, seed=cfg.seed)


def read_run(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``metrics.json`` of a finished fine-tuning run."""
    return read_json(Path(directory) / METRICS_FILE)
