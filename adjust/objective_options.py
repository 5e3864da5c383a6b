"""The alignment objectives' registry and their options, without torch (the CLI's choices,
``--help`` and config checks read it); the objectives themselves are in
:mod:`xladjust.adjust.objectives`, loaded when one is built."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

from xladjust.config import build_config
from xladjust.errors import ConfigError
from xladjust.registry import Entry, Registry


@dataclass(frozen=True)
class ObjectiveSpec(Entry):
    """A registered objective: its name, the function that builds its module (``target``:
    ``(options, hidden size) -> module``, loads torch), one line for ``--help``, and its
    options class."""

    options: type

    def option_problems(self, data: Any) -> list[str]:
        try:
            self.build_options(data)
        except ConfigError as exc:
            return exc.problems
        return []

    def build_options(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ConfigError(f"options of objective {self.name!r} must be a mapping")
        return build_config(self.options, data, where=self.name)

    def build(self, options: Any, hidden_size: int) -> Any:
        return self.load()(options, hidden_size)

    def option_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.options)]


# --- l2 (Cao et al. 2020) -------------------------------------------------------------

class Partner(str, Enum):
    FROZEN = "frozen"  # the frozen model's English vector (Cao et al.)
    TRAINABLE = "trainable"  # the trainable model's English vector (Efimov et al.'s code)


class Mean(str, Enum):
    WORDS = "words"  # mean over words of the squared distance (a sum over vector components)
    COMPONENTS = "components"  # mean over words and vector components: F.mse_loss (Efimov et al.'s code)


@dataclass(frozen=True)
class L2Options:
    reg_weight: float = 1.0  # λ
    partner: Partner = Partner.FROZEN
    mean: Mean = Mean.WORDS  # components: both terms divided by the hidden size, as F.mse_loss is

    def check(self) -> list[str]:
        return [] if self.reg_weight >= 0 else [f"reg_weight must be >= 0, got {self.reg_weight}"]


# --- contrastive (Wu & Dredze 2020) ---------------------------------------------------

class Negatives(str, Enum):
    WEAK = "weak"  # negatives from the other language
    STRONG = "strong"  # negatives from both languages


@dataclass(frozen=True)
class ContrastiveOptions:
    temperature: float = 0.1
    negatives: Negatives = Negatives.WEAK
    projection_dim: int = 128
    reg_weight: float = 1.0  # weight of ||θ − θ₀||₂

    def check(self) -> list[str]:
        problems = []
        if not self.temperature > 0:
            problems.append(f"temperature must be positive, got {self.temperature}")
        if self.projection_dim < 1:
            problems.append(f"projection_dim must be a positive integer, got {self.projection_dim}")
        if self.reg_weight < 0:
            problems.append(f"reg_weight must be >= 0, got {self.reg_weight}")
        return problems


# --- registry -------------------------------------------------------------------------

OBJECTIVES: Registry[ObjectiveSpec] = Registry("objective", [
    ObjectiveSpec(
        "l2", "xladjust.adjust.objectives:l2_objective",
        "squared distance to the English partner + λ·English drift (Cao et al. 2020)", L2Options,
    ),
    ObjectiveSpec(
        "contrastive", "xladjust.adjust.objectives:contrastive_objective",
        "InfoNCE over aligned pairs + ||θ − θ₀|| (Wu & Dredze 2020)", ContrastiveOptions,
    ),
])
