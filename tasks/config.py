"""Typed configs of the tasks stage: fine-tuning (``kind: finetune``), continual learning
and multi-seed transfer comparisons. Every problem is reported at once, before a model loads.

Fields left ``None`` take the task's default (see :mod:`xladjust.tasks.registry`);
:func:`resolve_defaults` fills them, and the resolved config is what outputs record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from xladjust.config import Renamed
from xladjust.names import name_problem
from xladjust.tasks.continual import objective_problems
from xladjust.tasks.registry import TASKS, get_task
from xladjust.tasks.sources import missing_sources
from xladjust.training_common import (
    AutocastSetting,
    Precision,
    fp16_problem,
    precision_field,
    training_device_problem,
)

RUN_CONTROL_KEYS = ("progress", "threads", "eval_batch_size", "device", "checkpoint_every", "resume",
                    "overwrite", "probe_every", "bitext")
"""Fine-tuning options that steer how a run proceeds, not what it computes: a resumed or
reused run may differ in them."""


@dataclass(frozen=True)
class ContinualConfig:
    """Continual learning: the adjust stage's alignment objective added to the task loss.

    Each optimizer step draws ``pairs_per_step`` sentence pairs from the aligned corpus
    ``corpus`` and adds ``weight`` × alignment + ``regularizer_weight`` × regularizer at
    hidden layer ``layer`` (see :mod:`xladjust.tasks.continual`). ``objective`` names an
    objective of the adjust stage; ``objective_options`` are its options except the
    regularizer weight. For ``l2`` both terms are means over words and vector components
    (``F.mse_loss``, the scale of Efimov et al.'s code) unless ``objective_options`` sets
    ``mean: words``, which makes the term hidden-size times heavier against the task loss.
    The anchor the regularizer pulls toward is explicit: ``start`` (the checkpoint
    fine-tuning starts from, i.e. ``model``) or another model spec (``l2`` only; in a
    pipeline, ``vanilla`` names the pipeline's starting model). The steps draw from a pool
    of ``max_pairs`` pairs (default: enough for every step). Efimov et al.'s code: l2,
    weight 0.01, regularizer 1, 16 pairs per step, anchor = the vanilla model, no clipping
    of the gradient (``max_grad_norm: null`` in the fine-tuning config).

    ``dropout`` (default off) runs the continual pass with the encoder's dropout, as the
    task pass has it. Off, the regularizer is zero at the anchor, as its definition says;
    on, it measures dropout noise: on the offline model at the start of fine-tuning it was
    1.68 with a gradient norm of 6.7, against 0.29 for the alignment term and 0.2-0.8 for
    the task loss (measured with squared distances summed over components, 384 times the
    paper's scale), so clipping at norm 1 left the task a fifth of its update.
    """

    corpus: Path | list[Path]  # one aligned corpus, or several (the pool draws evenly from each)
    objective: str = "l2"
    objective_options: dict[str, Any] = field(default_factory=dict)
    weight: float = 0.01
    regularizer_weight: float = 1.0
    pairs_per_step: int = 16
    anchor: str = "start"  # what the regularizer pulls toward: start or a model spec
    layer: int = -1
    max_pairs: int | None = None
    dropout: bool = False  # the continual pass with the encoder's dropout (the regularizer then sees its noise)

    @property
    def corpora(self) -> list[Path]:
        return [Path(c) for c in self.corpus] if isinstance(self.corpus, list) else [Path(self.corpus)]

    def check(self) -> list[str]:
        problems = []
        for corpus in self.corpora:
            if not Path(corpus).is_dir():
                problems.append(f"continual.corpus: aligned corpus {corpus} does not exist "
                                "(write one with 'xladjust align')")
        problems.extend(f"continual: {p}" for p in objective_problems(self.objective, self.objective_options,
                                                                      self.anchor))
        if self.weight <= 0:
            problems.append(f"continual.weight must be positive, got {self.weight} (leave continual out instead)")
        if self.regularizer_weight < 0:
            problems.append(f"continual.regularizer_weight must be >= 0, got {self.regularizer_weight}")
        if self.pairs_per_step < 1:
            problems.append("continual.pairs_per_step must be at least 1")
        if self.max_pairs is not None and self.max_pairs < self.pairs_per_step:
            problems.append("continual.max_pairs must be at least pairs_per_step")
        if not self.anchor:
            problems.append("continual.anchor must be 'start' or a model spec")
        return problems


@dataclass(frozen=True)
class FinetuneConfig(AutocastSetting):
    """Fine-tune ``model`` on ``task`` with ``train`` data, select on ``dev``, evaluate ``test``.

    ``train``/``dev``/``test`` values are file paths or ``hf:NAME[:CONFIG[:SPLIT]]``;
    ``test`` maps a language code to a source. Several training sources are concatenated
    (e.g. English + Spanish for a "bilingual" model). ``max_train_examples`` draws a fixed
    random subset (data seed 0, the same for every training seed); dev and test limits
    keep the first examples, so parallel test sets stay parallel. ``dev_split`` holds out
    that fraction of the first training source as the dev set (a fixed random split, data
    seed 0, disjoint from the training rows; give it instead of ``dev``). With
    ``dev_split_parallel`` the same row numbers are held out of every other training source
    too, which must have as many rows (translations of the first, as XNLI's ``dev-XX``
    files are): no translation of a dev row is trained on. Every weight is
    trained by default, as in Efimov et al. and Cao et al.; ``freeze_embeddings`` keeps the
    input word-embedding matrix at its starting values (82% of the offline model's
    parameters): training runs several times faster and words absent from the English
    training data keep the vectors the (adjusted) checkpoint gave them. Outputs state which
    weights were trained (:func:`trained_weights`).
    ``threads`` sets torch's intra-op threads for the run (on a CPU shared with other
    jobs, 1 thread avoids oversubscription, which here slowed steps 5-fold).

    An optimizer step takes ``grad_accum`` micro-batches of ``batch_size`` per process
    (under ``torchrun``/``accelerate launch`` the global batch is batch_size × grad_accum
    × processes); ``device`` is auto (CUDA when visible), cpu or cuda. With
    ``stream_buffer`` the training files are streamed in buffers of that many examples
    instead of read whole (see :mod:`xladjust.tasks.trainset`). Every
    ``checkpoint_every`` optimizer steps (None or 0: never) the training state goes to
    ``out/checkpoints``; ``resume`` continues an interrupted run from its newest one.
    """

    RUN_CONTROL_KEYS: ClassVar[tuple[str, ...]] = RUN_CONTROL_KEYS
    # old key -> the key that replaced it (xladjust.config.build_config reads both, for one release)
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {
        "cpu": Renamed("device", {True: "cpu", False: "auto"}),
        "bf16": Renamed("precision", {True: "bf16", False: "fp32"}),
        "probe_bitext": "bitext",
        "learning_rate": "lr",
    }

    task: str
    model: str
    train: list[str]
    out: Path
    dev: str | None = None
    dev_split: float | None = None
    dev_split_parallel: bool = False  # hold the same rows out of every other training source (its translations)
    test: dict[str, str] = field(default_factory=dict)
    seed: int = 0  # seed of head initialization, batch order and dropout
    max_train_examples: int | None = None
    max_dev_examples: int | None = 1000  # dev set: its first N examples
    max_test_examples: int | None = None
    epochs: float | None = None
    max_steps: int | None = None
    batch_size: int | None = None  # training batch size; default: the task's
    lr: float | None = None  # peak learning rate; default: the task's
    weight_decay: float = 0.01  # AdamW weight decay (not on biases and layer norms)
    warmup_ratio: float = 0.1  # share of all optimizer steps with linear warmup
    max_grad_norm: float | None = 1.0  # clip the gradient's global norm to this; null: no clipping (the paper's loops)
    max_length: int | None = None
    doc_stride: int = 128
    max_question_length: int = 64  # QA: question subwords kept
    max_answer_length: int = 30  # QA: longest answer span predicted, in subwords
    label_subwords: Literal["first", "all"] = "first"
    freeze_embeddings: bool = False
    precision: Precision = precision_field()  # fp32 or bf16 autocast; auto: bf16 where the device has it fast
    eval_every: int | None = None
    eval_batch_size: int = 64  # batch size of dev and test predictions
    save_model: bool = True  # write the fine-tuned model (false: metrics and predictions only)
    progress: bool = True  # progress bar on a terminal, log lines otherwise
    threads: int | None = None
    continual: ContinualConfig | None = None
    grad_accum: int = 1
    device: str = "auto"  # auto (CUDA when visible), cpu, or cuda
    stream_buffer: int | None = None
    checkpoint_every: int | None = 500
    resume: bool = False
    overwrite: bool = False  # replace a run already in out (the output rule: xladjust.outputs.judge_existing)
    # geometry curves: d(w,r), d(w,u), delta, P@1 of the encoder on held-out triples -> geometry.jsonl
    probe_every: int | None = None  # optimizer steps between geometry probes (also step 0 and the end); None: off
    bitext: Path | None = None  # held-out aligned corpus of the probes

    def check(self) -> list[str]:
        problems: list[str] = fp16_problem(self.precision)
        if (device_problem := training_device_problem(self.device)) is not None:
            problems.append(device_problem)
        if self.probe_every is not None and self.probe_every < 1:
            problems.append(f"probe_every must be at least 1, got {self.probe_every}")
        if self.probe_every is not None and self.bitext is None:
            problems.append("probe_every needs bitext: a held-out aligned corpus (--bitext DIR)")
        if self.task not in TASKS:
            return [f"task: unknown task {self.task!r}; known tasks: {', '.join(TASKS)}"]
        if not self.train:
            problems.append("train: give at least one training source")
        sources = {f"train[{i}]": s for i, s in enumerate(self.train)}
        if self.dev:
            sources["dev"] = self.dev
        for lang, src in self.test.items():
            if problem := name_problem(lang, "test: language"):
                problems.append(problem)
            sources[f"test[{lang}]"] = src
        problems.extend(missing_sources(sources))
        for name in ("max_train_examples", "max_dev_examples", "max_test_examples", "max_steps",
                     "batch_size", "max_length", "eval_every", "threads", "grad_accum", "stream_buffer"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be at least 1, got {value}")
        for name in ("epochs", "lr"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append(f"{name} must be positive, got {value}")
        if self.checkpoint_every is not None and self.checkpoint_every < 0:
            problems.append(f"checkpoint_every must be >= 0 (0: no checkpoints), got {self.checkpoint_every}")
        if self.dev_split is not None and not 0 < self.dev_split < 1:
            problems.append(f"dev_split must be a fraction in (0, 1), got {self.dev_split}")
        if self.dev_split is not None and self.dev:
            problems.append("give dev or dev_split, not both")
        if self.dev_split_parallel and self.dev_split is None:
            problems.append("dev_split_parallel holds out dev_split's rows of every training source; give dev_split")
        if self.dev_split is not None and self.stream_buffer:
            problems.append("dev_split reads the first training source whole; it does not go with stream_buffer")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            problems.append(f"max_grad_norm must be positive or null (no clipping), got {self.max_grad_norm}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.eval_batch_size < 1 or self.max_answer_length < 1 or self.max_question_length < 1:
            problems.append("eval_batch_size, max_answer_length and max_question_length must be positive")
        if self.task == "qa":
            length = self.max_length or get_task("qa").defaults.max_length
            if self.doc_stride < 1 or length - self.max_question_length - 4 <= self.doc_stride:
                problems.append(
                    f"doc_stride {self.doc_stride} must be positive and smaller than the context room per "
                    f"window (max_length {length} - max_question_length {self.max_question_length} - 4)"
                )
        if self.out.exists() and not self.out.is_dir():
            problems.append(f"out: {self.out} is a file; give a directory")
        if self.continual is not None:
            problems.extend(self.continual.check())
        return problems


def trained_weights(config: FinetuneConfig) -> str:
    """Which weights fine-tuning updates, as results tables and run records state it."""
    return "all but the input word embeddings" if config.freeze_embeddings else "all"


def resolve_defaults(config: FinetuneConfig) -> FinetuneConfig:
    """``config`` with every ``None`` hyperparameter replaced by the task's default."""
    d = get_task(config.task).defaults
    return dataclasses.replace(
        config,
        epochs=config.epochs if config.epochs is not None else d.epochs,
        batch_size=config.batch_size or d.batch_size,
        lr=config.lr or d.learning_rate,
        max_length=config.max_length or d.max_length,
    )


@dataclass(frozen=True)
class TransferConfig:
    """Fine-tune each of ``models`` (name → spec; the first is the baseline) with every
    seed, using ``finetune`` as the template (its ``model``, ``seed`` and ``out`` are
    replaced per run), then compare the test scores of every other model to the baseline.
    ``continual`` gives a model continual learning (an arm such as ``adjusted+continual``:
    the same spec as ``adjusted``, the same seeds and schedule, plus the alignment loss).
    ``parallel`` > 1 runs that many fine-tunings at once in subprocesses of one thread each.
    ``per_language`` adds arms of one model per test language (name → {LANG: spec}), as
    Efimov et al. adjust one model per language: each is fine-tuned like the others and
    tested on its own language only, and the table compares it there.
    """

    # old key -> the key that replaced it (xladjust.config.build_config reads both, for one release)
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {"n_resamples": "resamples"}

    models: dict[str, str]
    seeds: list[int]
    out: Path
    finetune: FinetuneConfig
    resamples: int = 10000  # bootstrap and permutation resamples of the comparisons
    keep_checkpoints: bool = True
    continual: dict[str, ContinualConfig] = field(default_factory=dict)  # model name -> its continual learning
    parallel: int = 1  # (model, seed) fine-tunings run side by side, one thread each
    per_language: dict[str, dict[str, str]] = field(default_factory=dict)  # arm -> {LANG: spec}, tested on LANG alone

    def check(self) -> list[str]:
        problems = [f"finetune: {p}" for p in self.finetune.check()]
        for name, cont in self.continual.items():
            if name not in self.models:
                problems.append(f"continual: {name!r} is not one of the models ({', '.join(self.models)})")
            problems.extend(f"continual[{name}]: {p}" for p in cont.check())
        for name, specs in self.per_language.items():
            if problem := name_problem(name, "per_language: arm name"):
                problems.append(problem)
            elif name in self.models:
                problems.append(f"per_language: arm name {name!r} is also one of the models; choose another")
            for lang in specs:
                if lang not in self.finetune.test:
                    problems.append(f"per_language[{name}]: {lang!r} has no test set "
                                    f"(finetune.test has {', '.join(self.finetune.test) or 'none'})")
        if self.parallel < 1:
            problems.append(f"parallel must be at least 1, got {self.parallel}")
        if not self.models:
            problems.append("models: give at least one NAME=SPEC")
        for name in self.models:
            if problem := name_problem(name, "models: name"):
                problems.append(problem)
        if not self.seeds:
            problems.append("seeds: give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            problems.append(f"seeds: repeated seeds in {self.seeds}")
        if not self.finetune.test:
            problems.append("finetune.test: a transfer comparison needs at least one test set")
        if self.resamples < 100:
            problems.append("resamples must be at least 100")
        return problems
