"""The task registry: one place that names every task; CLI choices and config checks read
it. Listing it imports no task module; :func:`get_task` loads the one asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xladjust.registry import Entry, Registry

if TYPE_CHECKING:
    from xladjust.tasks.base import Task

TASKS: Registry[Entry] = Registry("task", [
    Entry("nli", "xladjust.tasks.nli:NLI", "sentence-pair classification (XNLI), accuracy"),
    Entry("ner", "xladjust.tasks.ner:NER", "BIO token classification (WikiANN / PAN-X), entity-level F1"),
    Entry("qa", "xladjust.tasks.qa:QA",
          "extractive QA (SQuAD v1.1 JSON: XQuAD, MLQA, TyDi QA GoldP), F1 and exact match"),
])


def task_names() -> list[str]:
    return TASKS.names()


def get_task(name: str) -> Task:
    """The task ``name``; an unknown name is a ConfigError that lists the tasks."""
    return TASKS.get(name)
