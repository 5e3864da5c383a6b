"""The task registry: one place that names every task; CLI choices and config checks read it."""

from __future__ import annotations

from xladjust.errors import ConfigError
from xladjust.tasks.base import Task
from xladjust.tasks.ner import NERTask
from xladjust.tasks.nli import NLITask
from xladjust.tasks.qa import QATask

TASKS: dict[str, Task] = {task.name: task for task in (NLITask(), NERTask(), QATask())}


def task_names() -> list[str]:
    return list(TASKS)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None
