"""What every task provides: reading, encoding, a head, a loss, predictions and scores.

A task is a small object registered in :mod:`xladjust.tasks.registry`. Its methods take
examples, a tokenizer and :class:`EncodeOptions`; files and devices stay with the caller.
Per-example predictions are JSON-ready dicts that carry the gold answer and a ``stats``
list (see :mod:`xladjust.tasks.metrics`) from which the corpus metrics are summed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xladjust.errors import InputError
from xladjust.tasks.metrics import SumMetric
from xladjust.tasks.sources import Source, load_hub_rows


@dataclass(frozen=True)
class TaskDefaults:
    """Per-task training defaults (each can be overridden in the config)."""

    max_length: int
    batch_size: int
    learning_rate: float
    epochs: float


@dataclass(frozen=True)
class EncodeOptions:
    """How examples become model inputs."""

    max_length: int
    doc_stride: int = 128  # QA: overlapping tokens between consecutive context windows
    max_question_length: int = 64  # QA: question tokens kept
    max_answer_length: int = 30  # QA: longest predicted answer, in tokens
    label_subwords: str = "first"  # NER: 'first' subword of a word, or 'all' subwords


class Task(ABC):
    """One task family: data, head, metric and defaults."""

    name: str
    labels: tuple[str, ...] = ()
    primary_metric: str
    score_columns: tuple[str, ...]
    baseline_name: str
    defaults: TaskDefaults
    model_outputs: tuple[str, ...]
    token_level: bool

    # -- data ------------------------------------------------------------------------
    def read(self, source: Source, role: str) -> list[Any]:
        """Examples from a local file or the hub (``role``: train, dev or test)."""
        if source.path is not None:
            return self.read_file(source.path)
        rows = load_hub_rows(source, role)
        examples = self.from_hub_rows(rows, source.text)
        if not examples:
            raise InputError(f"hub dataset {source.text!r} holds no usable examples")
        return examples

    @abstractmethod
    def read_file(self, path: Any) -> list[Any]: ...

    def iter_file(self, path: Any) -> Iterator[Any]:
        """The examples of a local file one at a time; formats that cannot be streamed
        (a JSON document) are read whole."""
        return iter(self.read_file(path))

    @abstractmethod
    def from_hub_rows(self, rows: Any, where: str) -> list[Any]: ...

    # -- model -----------------------------------------------------------------------
    @abstractmethod
    def auto_model_class(self) -> Any:
        """The ``transformers`` auto class of this task's head."""

    def model_kwargs(self) -> dict[str, Any]:
        """Extra ``from_pretrained`` arguments (label maps for classification heads)."""
        if not self.labels:
            return {}
        return {
            "num_labels": len(self.labels),
            "id2label": dict(enumerate(self.labels)),
            "label2id": {label: i for i, label in enumerate(self.labels)},
        }

    @abstractmethod
    def encode_train(self, examples: Sequence[Any], tokenizer: Any, options: EncodeOptions) -> list[dict[str, Any]]:
        """Training features (with targets)."""

    @abstractmethod
    def loss(self, outputs: Any, batch: dict[str, Any]) -> Any:
        """The task loss (fp32) from model outputs and a collated batch."""

    # -- evaluation ------------------------------------------------------------------
    @abstractmethod
    def predict(
        self, model: Any, tokenizer: Any, examples: Sequence[Any], options: EncodeOptions, *,
        batch_size: int, bf16: bool, progress: bool,
    ) -> list[dict[str, Any]]:
        """One JSON-ready record per example: id, gold, prediction and ``stats``."""

    @abstractmethod
    def metrics(self, stats: np.ndarray) -> dict[str, float]:
        """Corpus metrics from per-example statistics ``(n, len(score_columns))``."""

    @abstractmethod
    def primary(self) -> SumMetric:
        """The primary metric as a function of summed statistics (for resampling)."""

    @abstractmethod
    def baseline(self, examples: Sequence[Any]) -> float:
        """The primary metric of the trivial predictor (majority class, all-O, empty)."""


def stats_of(records: Sequence[dict[str, Any]], width: int) -> np.ndarray:
    """The ``(n, width)`` statistics array of prediction records."""
    if not records:
        return np.zeros((0, width))
    return np.asarray([r["stats"] for r in records], dtype=np.float64).reshape(len(records), width)


def pad_id_of(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
