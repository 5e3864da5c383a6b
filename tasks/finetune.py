"""The fine-tuning stage: setup → train → save, as :func:`finetune`.

Setup reads every data file (so bad input fails before a model loads; a streamed
training file is read through once, which checks it), puts the task head on the encoder
and, for continual learning, computes the anchor's word vectors. Training (on the
accelerator of :func:`~xladjust.tasks.training.make_task_accelerator`, in every process
of a launch) selects the best dev step; while it runs, ``out/checkpoints`` holds its
resumable state (``resume`` continues from it, after checking it was written for the same
config and input contents). Saving, on the main process, writes atomically into ``out``
(which drops the checkpoints):

- the fine-tuned model (config, safetensors, tokenizer; unless ``save_model`` is off),
  whose encoder loads as a model spec;
- ``predictions/dev.jsonl`` and ``predictions/test-LANG.jsonl``, one record per example
  (id, gold, prediction and the ``stats`` the metrics sum);
- ``metrics.json`` (dev and test metrics with baselines, training history);
- ``xladjust.json`` (task, encoding options, resolved config, signature, metrics);
- the ``.complete`` marker, last.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust.config import config_to_dict, result_fingerprint, result_keys
from xladjust.errors import ConfigError, InputError
from xladjust.io import (
    atomic_dir,
    is_complete,
    mark_complete,
    read_json,
    sha256_file,
    write_json_atomic,
)
from xladjust.model_card import finish_checkpoint
from xladjust.outputs import claim_output, judge_existing
from xladjust.shareable import shareable, write_record
from xladjust.signature import make_signature
from xladjust.tasks.base import EncodeOptions, Task, stats_of
from xladjust.tasks.config import (
    FinetuneConfig,
    resolve_defaults,
    trained_weights,
)
from xladjust.tasks.continual import build_continual, pool_pairs
from xladjust.tasks.evaluation import EvalResult, evaluate_task_model, load_examples, save_results
from xladjust.tasks.model import META_FILE, TaskModel, init_task_model, save_task_model, task_meta
from xladjust.tasks.readers import sample_indices, split_off, take
from xladjust.tasks.registry import get_task
from xladjust.tasks.sources import parse_source
from xladjust.tasks.training import (
    Checkpointing,
    TrainResult,
    TrainSettings,
    make_task_accelerator,
    total_steps,
    train,
)
from xladjust.tasks.trainset import TrainSet
from xladjust.training_common import OnStep, is_main_process_env, require_hook, trains_on_cpu
from xladjust.training_state import CHECKPOINTS_DIR, GEOMETRY_FILE

log = logging.getLogger(__name__)

TRAIN_SAMPLE_SEED = 0  # the training subset is the same for every training seed
DEV_SPLIT_SEED = 0  # dev_split holds out the same rows for every training seed
METRICS_FILE = "metrics.json"


def encode_options(cfg: FinetuneConfig) -> EncodeOptions:
    """Encoding options of a resolved config."""
    return EncodeOptions(max_length=int(cfg.max_length or 0), doc_stride=cfg.doc_stride,
                         max_question_length=cfg.max_question_length, max_answer_length=cfg.max_answer_length,
                         label_subwords=cfg.label_subwords)


def train_settings(cfg: FinetuneConfig) -> TrainSettings:
    """Training settings of a resolved config."""
    return TrainSettings(epochs=float(cfg.epochs or 0), batch_size=int(cfg.batch_size or 0),
                         learning_rate=float(cfg.lr or 0), seed=cfg.seed, max_steps=cfg.max_steps,
                         weight_decay=cfg.weight_decay, warmup_ratio=cfg.warmup_ratio, bf16=cfg.bf16,
                         eval_every=cfg.eval_every, progress=cfg.progress, grad_accum=cfg.grad_accum,
                         max_grad_norm=cfg.max_grad_norm)


@dataclass
class _Data:
    train: list[Any] | None  # None when streamed
    n_train: int  # training examples (after the per-source limit)
    train_counts: list[int]  # examples per training source, before the limit
    dev: list[Any] | None
    tests: dict[str, list[Any]]
    pairs: list[Any] | None  # continual learning's pool of aligned pairs


def _input_hashes(cfg: FinetuneConfig, model_path: str | None = None) -> dict[str, str]:
    sources = list(cfg.train) + ([cfg.dev] if cfg.dev else []) + list(cfg.test.values())
    hashes = {}
    for text in sources:
        src = parse_source(text)
        hashes[text] = sha256_file(src.path) if src.path is not None else "hub"
    if cfg.continual is not None:
        for corpus in cfg.continual.corpora:
            pairs = corpus / "pairs.jsonl"
            if pairs.is_file():
                hashes[str(pairs)] = sha256_file(pairs)
    for directory in dict.fromkeys(d for d in (cfg.model, model_path) if d):
        weights = Path(directory) / "model.safetensors"
        if Path(directory).is_dir() and weights.is_file():
            hashes[f"{cfg.model}/model.safetensors"] = sha256_file(weights)
    return hashes


def config_fingerprint(cfg: FinetuneConfig) -> str:
    """Hash of the resolved options that change what a run computes (run control excluded)."""
    return result_fingerprint(cfg)


def fingerprinted_settings(cfg: FinetuneConfig) -> dict[str, Any]:
    """The options :func:`config_fingerprint` hashes."""
    return result_keys(cfg)


def rerun_flags(out: str | os.PathLike[str]) -> dict[str, bool]:
    """``resume`` and ``overwrite`` for a caller that has decided to run ``out`` (again)
    itself (transfer, the pipeline): an interrupted run with checkpoints continues, any
    other run there is replaced."""
    resume = (Path(out) / CHECKPOINTS_DIR).is_dir() and not is_complete(out)
    return {"resume": resume, "overwrite": not resume and Path(out).is_dir()}


# fine-tuning runs written before the run-folder marker existed, and unfinished runs
# (their checkpoints are written in place while training)
LEGACY_OUTPUT = [(META_FILE, METRICS_FILE), (CHECKPOINTS_DIR,)]


def finetune_inputs(cfg: FinetuneConfig) -> list[Any]:
    """Every input path of a fine-tuning run (for the output guard)."""
    corpora = list(cfg.continual.corpora) if cfg.continual else []
    return [cfg.model, *cfg.train, cfg.dev, *cfg.test.values(), *corpora, cfg.bitext]


def finetune(config: FinetuneConfig, on_step: OnStep | None = None) -> Path:
    """Fine-tune, select on dev, evaluate the test sets and save; return ``config.out``.

    ``on_step(step, encoder, last, run_dir)``, if given, is called on the main process at
    the start and after every optimizer step (the geometry curves of ``probe_every``: the
    caller builds that hook with :func:`xladjust.probes.geometry.finetune_hook`)."""
    problems = config.check()
    if problems:
        raise ConfigError(problems)
    require_hook(config.probe_every, on_step, "finetune_hook")
    if config.threads is None:
        return _finetune(config, on_step)
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _finetune(config, on_step)
    finally:
        torch.set_num_threads(previous)


def _finetune(config: FinetuneConfig, on_step: OnStep | None) -> Path:
    cfg = resolve_defaults(config)
    with claim_output(cfg.out, command="finetune", inputs=finetune_inputs(cfg), legacy=LEGACY_OUTPUT,
                      enabled=is_main_process_env()):
        # with --overwrite an earlier run stays until the new one replaces the folder whole at its end
        judge_existing(Path(cfg.out), overwrite=cfg.overwrite, resume=cfg.resume)
        return _finetune_claimed(cfg, on_step)


def _finetune_claimed(cfg: FinetuneConfig, on_step: OnStep | None) -> Path:
    task = get_task(cfg.task)
    data = _read_data(cfg, task)  # all data first: bad input fails before the model loads
    geometry = functools.partial(on_step, run_dir=Path(cfg.out)) if on_step is not None else None
    acc = make_task_accelerator(bf16=cfg.bf16, cpu=trains_on_cpu(cfg.device))
    tm = init_task_model(cfg.model, task, encode_options(cfg), seed=cfg.seed, device=str(acc.device))
    if cfg.freeze_embeddings:
        tm.model.get_input_embeddings().weight.requires_grad_(False)
    trainset = _train_set(cfg, task, tm, data)
    log.info("%s: %d training examples -> %d features%s", task.name, data.n_train, trainset.n_features,
             f" (streamed in buffers of {cfg.stream_buffer})" if trainset.streamed else "")
    extra = None
    if data.pairs is not None and cfg.continual is not None:
        extra = build_continual(cfg.continual, tm.encoder, tm.tokenizer, data.pairs, bf16=cfg.bf16, seed=cfg.seed,
                                progress=cfg.progress and acc.is_main_process)

    best: dict[str, Any] = {}  # the dev predictions of the best step, reused when saving

    def dev_score() -> float:
        records = task.predict(tm.model, tm.tokenizer, data.dev or [], tm.options, batch_size=cfg.eval_batch_size,
                               bf16=cfg.bf16, progress=False)
        score = float(task.primary()(stats_of(records, len(task.score_columns)).sum(0), len(records)))
        if "score" not in best or score > best["score"]:
            best.update(score=score, records=records)
        return score

    checkpointing = Checkpointing(run_dir=Path(cfg.out), every=cfg.checkpoint_every or None, resume=cfg.resume,
                                  inputs=_input_hashes(cfg, tm.path), fingerprints={"config": config_fingerprint(cfg)},
                                  settings=fingerprinted_settings(cfg))
    result = train(tm, trainset, train_settings(cfg), accelerator=acc, dev_score=dev_score if data.dev else None,
                   extra=extra, checkpointing=checkpointing, on_step=geometry)
    if acc.is_main_process:
        # the best step's dev predictions were made by an earlier invocation: predict again
        stale = result.resumed_from is not None and result.best_step <= result.resumed_from
        dev_records = None if stale else best.get("records")
        info = {"processes": acc.num_processes, "precision": acc.mixed_precision, "grad_accum": cfg.grad_accum,
                "resumed_from_step": result.resumed_from}
        _save(cfg, tm, data, result, n_features=trainset.n_features, dev_records=dev_records, info=info)
        log.info("wrote %s", cfg.out)
    acc.wait_for_everyone()
    return Path(cfg.out)


def _read_data(cfg: FinetuneConfig, task: Task) -> _Data:
    """Read dev and test sets, and the training data (streamed: only counted, which checks it)."""
    train_examples: list[Any] | None = []
    counts: list[int] = []
    dev = load_examples(task, cfg.dev, "dev", cfg.max_dev_examples) if cfg.dev else None
    if cfg.stream_buffer:
        train_examples = None
        counts = [sum(1 for _ in _source_examples(task, source)) for source in cfg.train]
        for source, n in zip(cfg.train, counts, strict=True):
            if n == 0:
                raise InputError(f"training source {source} holds no examples")
        n_train = sum(min(n, cfg.max_train_examples or n) for n in counts)
    else:
        n_first = 0
        for i, source in enumerate(cfg.train):
            if cfg.dev_split is not None and (i == 0 or cfg.dev_split_parallel):
                # dev held out of the first source before any sampling; with dev_split_parallel
                # the same row numbers out of the others (the split depends on the count alone)
                items = task.read(parse_source(source), "train")
                if i > 0 and len(items) != n_first:
                    raise InputError(f"dev_split_parallel: training source {source} has {len(items)} examples, "
                                     f"the first has {n_first}; give parallel files or drop dev_split_parallel")
                rest, held = split_off(items, cfg.dev_split, DEV_SPLIT_SEED)
                if i == 0:
                    n_first, dev = len(items), take(held, cfg.max_dev_examples)
                train_examples += take(rest, cfg.max_train_examples, TRAIN_SAMPLE_SEED)
                continue
            train_examples += load_examples(task, source, "train", cfg.max_train_examples, TRAIN_SAMPLE_SEED)
        n_train = len(train_examples)
    tests = {lang: load_examples(task, src, "test", cfg.max_test_examples) for lang, src in cfg.test.items()}
    return _Data(train_examples, n_train, counts, dev, tests, _continual_pool(cfg, n_train))


def _source_examples(task: Task, source: str) -> Iterator[Any]:
    """A training source's examples one at a time (a hub split is loaded whole)."""
    src = parse_source(source)
    if src.path is not None:
        return task.iter_file(src.path)
    return iter(task.read(src, "train"))


def _streamed_examples(cfg: FinetuneConfig, task: Task, counts: list[int]) -> Iterator[Any]:
    """Every training source's examples in order, with the same per-source subset as in memory."""
    for source, n in zip(cfg.train, counts, strict=True):
        limit = cfg.max_train_examples
        keep = set(sample_indices(n, limit, TRAIN_SAMPLE_SEED)) if limit is not None and limit < n else None
        for i, example in enumerate(_source_examples(task, source)):
            if keep is None or i in keep:
                yield example


def _train_set(cfg: FinetuneConfig, task: Task, tm: TaskModel, data: _Data) -> TrainSet:
    batch_size = int(cfg.batch_size or 0)
    if data.train is not None:
        features = task.encode_train(data.train, tm.tokenizer, tm.options)
        return TrainSet.in_memory(features, batch_size, cfg.seed)
    return TrainSet.streamed_from(lambda: _streamed_examples(cfg, task, data.train_counts),
                                  lambda chunk: task.encode_train(chunk, tm.tokenizer, tm.options),
                                  buffer_examples=int(cfg.stream_buffer or 0), batch_size=batch_size, seed=cfg.seed)


def _save(cfg: FinetuneConfig, tm: TaskModel, data: _Data, result: TrainResult, n_features: int,
          dev_records: list[dict[str, Any]] | None, info: dict[str, Any]) -> None:
    """Evaluate the test sets and write the run directory atomically (see module doc).
    ``dev_records`` are the selected step's dev predictions (the model now holds that
    step; None: predict them now)."""
    task = tm.task
    if data.dev and dev_records is None:
        dev_records = task.predict(tm.model, tm.tokenizer, data.dev, tm.options, batch_size=cfg.eval_batch_size,
                                   bf16=cfg.bf16, progress=False)
    with atomic_dir(Path(cfg.out)) as tmp:
        if (Path(cfg.out) / GEOMETRY_FILE).is_file():  # the curves written while training
            shutil.copyfile(Path(cfg.out) / GEOMETRY_FILE, tmp / GEOMETRY_FILE)
        if cfg.save_model:
            save_task_model(tm, tmp)
        summary: dict[str, Any] = {"task": task.name, "model": cfg.model, "seed": cfg.seed,
                                   "primary_metric": task.primary_metric, "baseline_name": task.baseline_name,
                                   "trained_weights": trained_weights(cfg)}
        if data.dev and dev_records is not None:
            dev = {"dev": EvalResult(language="dev", source=dev_source(cfg), task=task.name, predictions=dev_records,
                                     metrics=task.metrics(stats_of(dev_records, len(task.score_columns))),
                                     baseline=task.baseline(data.dev))}
            summary["dev"] = {**save_results(dev, tmp, prefix="")["dev"], "source": dev_source(cfg)}
        if data.tests:
            results = evaluate_task_model(tm, None, data.tests, batch_size=cfg.eval_batch_size, bf16=cfg.bf16,
                                          progress=cfg.progress)
            saved = save_results(results, tmp, prefix="test")
            summary["test"] = {lang: {**saved[lang], "source": cfg.test[lang]} for lang in saved}
        rate = result.features_seen / result.seconds if result.seconds > 0 else None
        summary["train"] = {"examples": data.n_train, "features": n_features, "steps": result.steps,
                            "best_step": result.best_step, "best_dev": result.best_score,
                            "seconds": round(result.seconds, 1), "features_per_s": rate, **info,
                            "history": result.history}
        write_json_atomic(tmp / METRICS_FILE, shareable(summary))  # travels with the checkpoint
        signature = make_signature(stage="finetune", config=config_to_dict(cfg), seed=cfg.seed,
                                   inputs=_input_hashes(cfg, tm.path), extra={"base_model_path": tm.path})
        meta = {**task_meta(tm), "stage": "finetune", "signature": signature,
                "trained_weights": trained_weights(cfg),
                "metrics": {k: v for k, v in summary.items() if k != "train"}}
        if cfg.save_model:  # portable tokenizer files, xladjust.json and its local twin, README.md model card
            finish_checkpoint(tmp, meta)
        else:
            write_record(tmp, meta)
        mark_complete(tmp)


def dev_source(cfg: FinetuneConfig) -> str:
    """Where the dev set came from, as outputs record it."""
    if cfg.dev_split is not None:
        return f"{cfg.train[0]} (dev_split {cfg.dev_split}: held-out rows, seed {DEV_SPLIT_SEED})"
    return str(cfg.dev)


def _continual_pool(cfg: FinetuneConfig, n_train: int) -> list[Any] | None:
    """The aligned pairs continual learning will draw from (read before the model loads)."""
    if cfg.continual is None:
        return None

    c = cfg.continual
    steps = total_steps(n_train, train_settings(cfg))
    return pool_pairs(c.corpora, c.max_pairs or steps * c.pairs_per_step, seed=cfg.seed)


def read_run(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``metrics.json`` of a finished fine-tuning run."""
    return read_json(Path(directory) / METRICS_FILE)
