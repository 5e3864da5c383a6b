"""Task examples: one record type per task family, as read from files or the hub.

Readers produce these; tasks encode them into model features and score predictions
against them. They hold text only (no token ids), so they are cheap to keep and compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PairExample:
    """A sentence pair with a class label (NLI)."""

    id: str
    premise: str
    hypothesis: str
    label: str


@dataclass(frozen=True)
class TaggedSentence:
    """A pre-split sentence with one BIO tag per word (NER)."""

    id: str
    tokens: list[str]
    tags: list[str]


@dataclass(frozen=True)
class Answer:
    """An answer span: ``context[start:start + len(text)] == text``."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class QAExample:
    """An extractive question over a context, with its gold answers (SQuAD v1.1)."""

    id: str
    question: str
    context: str
    answers: list[Answer] = field(default_factory=list)


Example = PairExample | TaggedSentence | QAExample
