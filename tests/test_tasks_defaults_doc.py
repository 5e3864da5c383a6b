"""The task defaults are the published hyperparameters tasks/README.md cites: the table
there and the registry say the same."""

from __future__ import annotations

import re
from pathlib import Path

from xladjust.tasks.registry import TASKS

REPO = Path(__file__).resolve().parents[1]


def test_documented_task_defaults_are_the_registry_defaults():
    text = (REPO / "tasks" / "README.md").read_text(encoding="utf-8")
    section = text.split("**Defaults and where they come from.**", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| `(\w+)` \| ([\d.e-]+) \| (\d+) \| (\d+) \| (\d+)", section, re.M)
    assert {name for name, *_ in rows} == set(TASKS)
    for name, lr, batch, epochs, length in rows:
        d = TASKS.get(name).defaults
        assert (d.learning_rate, d.batch_size, d.epochs, d.max_length) == (
            float(lr), int(batch), float(epochs), int(length)), name
