"""The adjust stage's typed config, checked as a whole before any model loads.

``xladjust validate FILE`` (with ``kind: adjust``) and ``xladjust adjust --config FILE``
build the same :class:`AdjustConfig`; :meth:`AdjustConfig.check` reports every
conflicting or out-of-range option at once, including the chosen objective's options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from xladjust.adjust.objective_options import OBJECTIVES
from xladjust.config import Renamed
from xladjust.errors import ConfigError
from xladjust.models import OFFLINE_SPEC
from xladjust.pooling import Pooling
from xladjust.training_common import Precision, training_device_problem


class Mix(str, Enum):
    """How sentence pairs are drawn from several aligned corpora."""

    PROPORTIONAL = "proportional"  # in proportion to each corpus's usable pairs
    UNIFORM = "uniform"  # the same number from each corpus


class OptimizerName(str, Enum):
    ADAMW = "adamw"
    ADAM = "adam"


class OptimizerKernel(str, Enum):
    """torch's implementation of the dense Adam/AdamW update (same math, different cost)."""

    FUSED = "fused"  # one kernel per tensor, no temporaries (CPU and CUDA float tensors)
    FOREACH = "foreach"  # batched over tensors: fast on GPUs, temporaries as large as the parameters
    LOOP = "loop"  # one tensor at a time, temporaries as large as the largest tensor


class Schedule(str, Enum):
    """Learning rate after warmup: held constant or decayed linearly to zero."""

    CONSTANT = "constant"
    LINEAR = "linear"


class Allocator(str, Enum):
    """How freed CPU memory goes back to the system (see :mod:`xladjust.allocator`)."""

    DEFAULT = "default"  # malloc as the process has it: fastest, freed memory stays resident
    COMPACT = "compact"  # glibc: tensors of 128 KiB or more unmapped when freed (less RSS, slower)


class EmbeddingUpdates(str, Enum):
    """How the input word-embedding matrix (most of a multilingual encoder's parameters) trains.

    - ``sparse`` (default): only the rows of subwords in the batch get a gradient and an
      update (lazy Adam, the update of :class:`torch.optim.SparseAdam`); a row's moment
      estimates advance only on steps where it occurs, and weight decay does not apply to it. Every other
      parameter trains as usual. Nearly as fast as ``freeze`` while still letting input
      vectors of the corpus's subwords move.
    - ``freeze``: the word-embedding matrix stays as pretrained; only the transformer
      layers (and position/type embeddings) adapt. Subwords keep their input vectors, so the
      adjustment must come from contextualization; the fastest option and the least memory.
    - ``train``: the dense Adam update of the whole matrix every step, as in the papers'
      code. Rows that never occurred in a batch do not move under Adam without weight
      decay, so (with ``weight_decay: 0``) only the rows seen so far are stored and updated;
      the result is the dense update's. With weight decay the matrix trains densely.
    """

    SPARSE = "sparse"
    FREEZE = "freeze"
    TRAIN = "train"


REFERENCE_PRESET: dict[str, Any] = {
    "objective": "l2",
    # the English partner through the trainable model; squared distances averaged over words
    # and vector components (F.mse_loss)
    "objective_options": {"partner": "trainable", "reg_weight": 1.0, "mean": "components"},
    "special_tokens": True,  # [CLS]/[SEP] aligned too
    "embeddings": "train",  # dense Adam over every parameter
    "batch_size": 32,
    "lr": 5.0e-5,
    "optimizer": "adam",
    "adam_beta1": 0.9,
    "adam_beta2": 0.98,  # "Adam hparams from Attention Is All You Need"
    "adam_eps": 1.0e-9,
    "schedule": "constant",  # linear warmup over 10% of the steps, then constant
    "warmup_ratio": 0.1,
    "max_grad_norm": None,  # no clipping
    "weight_decay": 0.0,
    "dropout": True,  # the reference trains with the encoder's dropout
    "epochs": 1,
}
"""Every setting of Efimov et al.'s alignment script in xladjust's terms (docs/objectives.md
prints it; the pipeline's ``preset: reference`` and ``benchmarks/adjust.py`` use it)."""

PRESETS: dict[str, dict[str, Any]] = {"reference": REFERENCE_PRESET}


def apply_preset(data: dict[str, Any], where: str = "adjust") -> dict[str, Any]:
    """Adjust config keys with ``preset: NAME`` expanded: the preset's settings, then the
    mapping's other keys on top of them."""
    if "preset" not in data:
        return dict(data)
    rest = {k: v for k, v in data.items() if k != "preset"}
    name = data["preset"]
    if name not in PRESETS:
        raise ConfigError(f"{where}: unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return {**PRESETS[name], **rest}


# Options that steer how a run proceeds but not what it computes; a resumed run may
# change them.
RUN_CONTROL_KEYS = ("resume", "overwrite", "progress", "checkpoint_every", "keep_checkpoints",
                    "keep_checkpoints_at_end", "log_every", "probe_every", "bitext", "allocator")


@dataclass(frozen=True)
class AdjustConfig:
    """Everything an adjust run needs. Paths are taken as given (not resolved)."""

    expand = staticmethod(apply_preset)  # build_config expands preset: NAME first
    RUN_CONTROL_KEYS: ClassVar[tuple[str, ...]] = RUN_CONTROL_KEYS
    # old key -> the key that replaced it (xladjust.config.build_config reads both, for one release)
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {"cpu": Renamed("device", {True: "cpu", False: "auto"}),
                                                        "probe_bitext": "bitext"}

    aligned: list[Path]  # aligned-corpus directories (align stage output), one per language pair
    out: Path  # run directory: the final checkpoint, xladjust.json, metrics.jsonl
    model: str = OFFLINE_SPEC
    objective: str = "l2"
    objective_options: dict[str, Any] = field(default_factory=dict)  # the objective's hyperparameters (see docs/objectives.md)
    layer: int = -1  # hidden-state layer aligned (0 = embeddings, -1 = last)
    pooling: Pooling = Pooling.MEAN  # subwords -> word vector
    # pair selection
    max_pairs: int | None = None  # sentence pairs sampled over all corpora (None: all usable)
    mix: Mix = Mix.PROPORTIONAL  # how pairs are drawn from several aligned corpora
    drop_identical: bool = True  # drop links whose two words are the same string
    special_tokens: bool = False  # align the tokenizer's own [CLS]/[SEP] (<s>/</s>) as pseudo-words
    max_words: int | None = None  # pairs with a longer side are skipped
    max_subwords: int | None = None  # same in subwords, specials included (default: model limit)
    # optimization
    epochs: int | None = None  # default 1 unless max_steps is given
    max_steps: int | None = None  # optimizer steps
    batch_size: int = 16  # sentence pairs per micro-batch
    max_tokens: int = 8192  # padded subwords per micro-batch (both sides)
    # padded subwords per forward pass: a larger micro-batch is forwarded in chunks whose
    # gradients add up to the micro-batch's (same result, bounded activation memory; for
    # objectives whose loss is a sum over links and words, l2; None: whole micro-batches)
    forward_tokens: int | None = 2048
    grad_accum: int = 1  # micro-batches per optimizer step
    optimizer: OptimizerName = OptimizerName.ADAMW  # optimizer of the dense parameters
    lr: float = 5e-5
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999  # the reference code (Efimov et al.) uses 0.98
    adam_eps: float = 1e-8  # the reference code uses 1e-9
    optimizer_kernel: OptimizerKernel = OptimizerKernel.FUSED
    weight_decay: float = 0.0  # decoupled weight decay (not applied to sparse embedding rows)
    warmup_steps: int | None = None  # optimizer steps; default: warmup_ratio 0.1
    warmup_ratio: float | None = None  # share of all optimizer steps
    schedule: Schedule = Schedule.LINEAR  # learning rate after warmup: constant or linear decay to 0
    max_grad_norm: float | None = 1.0  # clip the global gradient norm to this; null: no clipping
    # train with the encoder's dropout (the reference code's). Off (the default), the
    # regularizer is zero at the start and measures drift, not dropout noise (docs/ablations.md)
    dropout: bool = False
    embeddings: EmbeddingUpdates = EmbeddingUpdates.SPARSE
    precision: Precision = Precision.AUTO
    gradient_checkpointing: bool = False  # recompute layer activations in backward: less memory, ~30% slower
    allocator: Allocator = Allocator.DEFAULT  # compact: freed tensor memory goes back to the system (glibc)
    device: str = "auto"  # auto (CUDA when visible), cpu, or cuda
    seed: int = 0
    # run control
    checkpoint_every: int | None = 500  # optimizer steps between resumable checkpoints (None: never)
    keep_checkpoints: int = 1  # newest checkpoints kept while running
    keep_checkpoints_at_end: bool = False  # keep them after the run completes
    log_every: int = 10  # optimizer steps between metrics.jsonl lines
    resume: bool = False
    overwrite: bool = False
    progress: bool = True  # progress bar on a terminal, log lines otherwise
    # geometry curves: d(w,r), d(w,u), delta, P@1 on held-out triples -> geometry.jsonl
    probe_every: int | None = None  # optimizer steps between geometry probes (also step 0 and the end); None: off
    bitext: Path | None = None  # held-out aligned corpus of the probes (never a training corpus)

    def check(self) -> list[str]:
        """Every cross-field and range problem, as messages that say what to do."""
        problems: list[str] = []
        problems += self._check_paths()
        problems += _positive(self, ("batch_size", "max_tokens", "grad_accum", "keep_checkpoints", "log_every"))
        problems += _positive_or_none(
            self, ("max_pairs", "max_words", "max_subwords", "epochs", "max_steps", "checkpoint_every",
                   "forward_tokens")
        )
        problems += _positive_or_none(self, ("probe_every",))
        if self.probe_every is not None and self.bitext is None:
            problems.append("probe_every needs bitext: a held-out aligned corpus (--bitext DIR)")
        if self.max_subwords is not None and self.max_subwords < 3:
            problems.append(f"max_subwords must be at least 3 (specials included), got {self.max_subwords}")
        if self.epochs is not None and self.max_steps is not None:
            problems.append(
                f"epochs ({self.epochs}) and max_steps ({self.max_steps}) conflict: set one of them"
            )
        if self.warmup_steps is not None and self.warmup_ratio is not None:
            problems.append(
                f"warmup_steps ({self.warmup_steps}) and warmup_ratio ({self.warmup_ratio}) conflict: set one of them"
            )
        if self.warmup_steps is not None and self.warmup_steps < 0:
            problems.append(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.warmup_ratio is not None and not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if (self.warmup_steps is not None and self.max_steps is not None
                and self.warmup_steps > self.max_steps):
            problems.append(f"warmup_steps ({self.warmup_steps}) exceeds max_steps ({self.max_steps})")
        if not self.lr > 0:
            problems.append(f"lr must be positive, got {self.lr}")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.adam_eps >= 0:
            problems.append(f"adam_eps must be >= 0, got {self.adam_eps}")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            problems.append(f"max_grad_norm must be positive or null (no clipping), got {self.max_grad_norm}")
        if self.resume and self.overwrite:
            problems.append("resume and overwrite conflict: --resume continues the run in --out, "
                            "--overwrite replaces it; pass one of them")
        if (device_problem := training_device_problem(self.device)) is not None:
            problems.append(device_problem)
        if self.precision is Precision.FP16 and self.device == "cpu":
            problems.append("precision fp16 needs a CUDA device but device is cpu; use bf16 or fp32 on the CPU")
        problems += self._check_objective()
        return problems

    def _check_paths(self) -> list[str]:
        problems = []
        if not self.aligned:
            problems.append("aligned must name at least one aligned-corpus directory")
        seen: set[Path] = set()
        out = _norm(self.out)
        for path in self.aligned:
            p = _norm(path)
            if p in seen:
                problems.append(f"aligned corpus {path} is listed twice")
            seen.add(p)
            if p == out or out in p.parents:
                problems.append(f"out ({self.out}) would replace the aligned corpus {path}; choose another out")
        return problems

    def _check_objective(self) -> list[str]:
        try:
            spec = OBJECTIVES.entry(self.objective)
        except ConfigError as exc:
            return exc.problems
        return [f"objective_options: {p}" for p in spec.option_problems(self.objective_options)]

    def objective_config(self) -> Any:
        """The objective's typed options (a frozen dataclass of the registered kind)."""
        return OBJECTIVES.entry(self.objective).build_options(self.objective_options)

    @property
    def resolved_epochs(self) -> int | None:
        """Epochs to run; None when ``max_steps`` decides."""
        if self.max_steps is not None:
            return None
        return 1 if self.epochs is None else self.epochs


def _norm(path: Path) -> Path:
    return Path(path).expanduser().resolve()


def _positive(cfg: AdjustConfig, names: tuple[str, ...]) -> list[str]:
    return [f"{n} must be a positive integer, got {getattr(cfg, n)}" for n in names if getattr(cfg, n) < 1]


def _positive_or_none(cfg: AdjustConfig, names: tuple[str, ...]) -> list[str]:
    out = []
    for n in names:
        value = getattr(cfg, n)
        if value is not None and value < 1:
            out.append(f"{n} must be a positive integer or null, got {value}")
    return out
