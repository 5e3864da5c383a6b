"""The accepted range of every numeric setting, shared by command-line options and configs.

A number a user gives must be finite, and a size must fit in memory: a batch of 10^12
sentences or an input of 10^9 subwords is refused at once with one line instead of
failing deep inside torch. Seeds must lie in [0, 2^32 - 1], the range numpy, torch and
Python's ``random`` all accept. :mod:`xladjust.cli.types` turns these bounds into click
parameter types; :func:`xladjust.config.build_config` applies :func:`config_problems` to
every typed config (YAML or options), so both paths refuse the same values.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_SEED = 2**32 - 1
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Bound:
    """A numeric range: ``integer`` or real, ``low``/``high`` inclusive unless ``open_low``.

    ``what`` names the quantity in messages; ``reason`` says why the upper end exists.
    A bound marked ``strict`` applies in full to configs too; other bounds apply their
    upper end there (the configs' own ``check()`` reports lower-end problems).
    """

    integer: bool
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    what: str = "a number"
    reason: str = "larger values cannot fit in memory"
    strict: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        low, high = self._num(self.low), self._num(self.high)
        if low is not None and high is not None:
            left = f"above {low}" if self.open_low else f"from {low}"
            return f"{kind} {left} to {high}"
        if low is not None:
            return f"{kind} {'above' if self.open_low else 'of at least'} {low}"
        if high is not None:
            return f"{kind} of at most {high}"
        return kind

    def _num(self, x: float | None) -> str | None:
        if x is None:
            return None
        return str(int(x)) if (self.integer or float(x).is_integer()) and abs(x) < 1e15 else f"{x:g}"

    def problem(self, value: Any, *, full: bool = True) -> str | None:
        """Why ``value`` is out of range, naming it (None if it is fine)."""
        why = self.why(value, full=full)
        return None if why is None else f"{_show(value)} {why}"

    def why(self, value: Any, *, full: bool = True) -> str | None:
        """What is wrong with ``value`` ("is not finite; give ..."), or None. ``full=False``:
        only finiteness, the int64 range and the upper end (plus the lower end if strict)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"is not {self.describe()}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"is not finite; give {self.describe()}"
        if self.integer and isinstance(value, float) and full:
            return "is not an integer"
        if isinstance(value, int) and abs(value) > INT64_MAX:
            return f"is out of range; give {self.describe()}"
        lower = full or self.strict
        if lower and self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return f"is out of range; give {self.describe()}"
        if self.high is not None and value > self.high:
            return f"is out of range; give {self.describe()} ({self.reason})"
        return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- the bounds ------------------------------------------------------------------------

SEED = Bound(True, 0, MAX_SEED, what="a seed", reason="numpy and torch accept 32-bit seeds", strict=True)
BATCH = Bound(True, 1, 65_536, what="a batch size")
LENGTH = Bound(True, 1, 65_536, what="a length in subwords or words")
TOKENS = Bound(True, 1, 2**24, what="subwords per batch")
COUNT = Bound(True, 1, 10**12, what="a count", reason="more than any corpus or run holds")
EPOCHS = Bound(False, 0, 100_000, open_low=True, what="a number of epochs", reason="more than any run can take")
RESAMPLES = Bound(True, 1, 10**7, what="resamples")
SMALL = Bound(True, 1, 1_000_000, what="a count")
THREADS = Bound(True, 0, 4096, what="a thread or process count", reason="more than any machine has")
POSITIVE = Bound(False, 0, None, open_low=True, what="a positive number")
# Adam's first step is lr / (1 - beta1) = 10 lr: beyond ~3e37 it overflows float32 itself.
LEARNING_RATE = Bound(False, 0, 1e30, open_low=True, what="a learning rate",
                      reason="larger values overflow float32 optimizer arithmetic")
NON_NEGATIVE = Bound(False, 0, None, what="a non-negative number")
FINITE = Bound(False, what="a finite number")
LAYER = Bound(True, -4096, 4096, what="a layer index", reason="no model has that many layers")
DIRECTIONS = Bound(True, 1, 10_000, what="a number of directions")
POINTS = Bound(True, 2, 10_000, what="a number of points")
DIMENSION = Bound(True, 1, 65_536, what="a vector dimension")

# Config field name -> bound (applied wherever the name occurs, at any nesting depth).
FIELD_BOUNDS: dict[str, Bound] = {
    "seed": SEED, "seeds": SEED,
    "batch_size": BATCH, "eval_batch_size": BATCH, "pairs_per_step": BATCH, "chunk_pairs": BATCH,
    "max_length": LENGTH, "max_subwords": LENGTH, "doc_stride": LENGTH, "max_question_length": LENGTH,
    "max_answer_length": LENGTH, "max_words": LENGTH,
    "max_tokens": TOKENS,
    "max_pairs": COUNT, "max_steps": COUNT, "max_tatoeba_pairs": COUNT,
    "max_train_examples": COUNT, "max_dev_examples": COUNT, "max_test_examples": COUNT,
    "checkpoint_every": COUNT, "warmup_steps": COUNT, "log_every": COUNT, "eval_every": COUNT,
    "iterations": COUNT,
    "epochs": EPOCHS,
    "resamples": RESAMPLES,
    "csls_k": SMALL, "bins": SMALL, "samplers": SMALL, "grad_accum": SMALL, "keep_checkpoints": SMALL,
    "threads": THREADS, "workers": THREADS,
    "layer": LAYER,
    "lr": LEARNING_RATE,
    "directions": DIRECTIONS, "max_examples": COUNT, "max_eval_examples": COUNT, "probe_layer": LAYER,
    "projection_dim": DIMENSION, "chunk_size": COUNT,
}


def config_problems(obj: Any, where: str) -> list[str]:
    """Every numeric value of the typed config ``obj`` (nested dataclasses and lists
    included) that is non-finite or outside its field's bound."""
    problems: list[str] = []
    _walk(obj, where, None, problems)
    return problems


def _walk(value: Any, where: str, bound: Bound | None, problems: list[str]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name), f"{where}.{f.name}", FIELD_BOUNDS.get(f.name), problems)
    elif isinstance(value, dict):
        # free-form option mappings (an objective's options) are typed configs of their own,
        # built (and bounded) by their owner's check(); walking them here would report twice
        return
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _walk(item, f"{where}[{i}]", bound, problems)
    elif isinstance(value, (int, float)) and not isinstance(value, (bool, enum.Enum)):
        problem = (bound or _ANY_NUMBER).problem(value, full=False)
        if problem:
            problems.append(f"{where}: {problem}")
    elif isinstance(value, (str, Path)) or value is None:
        return


_ANY_NUMBER = Bound(False, what="a finite number")
