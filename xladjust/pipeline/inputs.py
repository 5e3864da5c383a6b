"""Read every input file of a config before any work, to catch what would fail later.

``xladjust validate FILE`` and ``xladjust run FILE [--dry-run]`` call :func:`check_inputs`
(a pipeline config: :func:`xladjust.pipeline.check_pipeline_inputs`, built on these):
parallel text goes through the align stage's readers (line counts, empty or over-long
sides under ``strict``, no usable pair), task data through the task's own reader (labels
outside the task's set, QA answers that are empty or not in their context, a file with no
rows). Each file is read once, streaming, and its reading stops at its first problem, so
the check is bounded by one pass over the inputs. A dev set that is the same file (path or
content) as a training set is a warning: dev scores would not measure held-out data.
Hub sources (``hf:``) are not read (that needs the network).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from xladjust.align.config import InputSpec
from xladjust.align.readers import open_bitext, scan_bitext
from xladjust.config import build_config
from xladjust.errors import ConfigError, XladjustError
from xladjust.io import sha256_file
from xladjust.tasks.config import FinetuneConfig
from xladjust.tasks.registry import TASKS, get_task
from xladjust.tasks.sources import parse_source


class InputProblems(ConfigError):
    """Problems found in the input data; the CLI prints one line per problem."""

    one_line_each = True


@dataclass
class InputReport:
    """Problems (the run would fail) and warnings (it would run, but mislead)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: InputReport) -> None:
        self.problems += other.problems
        self.warnings += other.warnings

    def raise_problems(self) -> None:
        if self.problems:
            raise InputProblems(self.problems)


def check_inputs(cfg: Any) -> InputReport:
    """Read the inputs of a fine-tuning config; other configs pass (a pipeline config's
    are read by :func:`xladjust.pipeline.check_pipeline_inputs`, which uses this module)."""
    if isinstance(cfg, FinetuneConfig):
        return check_finetune_inputs(cfg, "finetune", {})
    return InputReport()


def check_parallel(spec: dict[str, Any], src_lang: str, tgt_lang: str, where: str,
                   seen: dict[str, str | None]) -> InputReport:
    """Stream one parallel-text input through the align stage's reader and filter."""
    report = InputReport()
    try:
        input_spec = build_config(InputSpec, dict(spec), where=where)
    except ConfigError:
        return report  # the config check reports it
    if input_spec.hf is not None:
        return report
    key = "|".join(str(getattr(input_spec, k)) for k in ("src", "tgt", "joint", "tsv", "max_pairs", "strict",
                                                          "max_words"))
    problem = _problem_once(seen, key, lambda: scan_bitext(open_bitext(input_spec, src_lang, tgt_lang),
                                                           input_spec.max_words, input_spec.strict))
    if problem is not None:
        report.problems.append(f"{where}: {problem}")
    return report


def check_finetune_inputs(ft: Any, where: str, seen: dict[str, str | None]) -> InputReport:
    """Read the training, dev and test files of a fine-tuning config with the task's reader,
    and warn when the dev set is a training set."""
    sources = {f"train[{i}]": s for i, s in enumerate(ft.train)}
    if ft.dev:
        sources["dev"] = ft.dev
    sources.update({f"test[{lang}]": s for lang, s in ft.test.items()})
    report = check_task_files(ft.task, sources, where, seen)
    if ft.dev:
        for i, train in enumerate(ft.train):
            same = _same_file(ft.dev, train)
            if same:
                report.warnings.append(
                    f"{where}: the dev set {ft.dev} is {same} as train[{i}]; dev scores (and the selected step) "
                    "then measure training data: give another dev file or use dev_split")
    return report


def check_task_files(task_name: str, sources: dict[str, str], where: str,
                      seen: dict[str, str | None]) -> InputReport:
    report = InputReport()
    if task_name not in TASKS:
        return report  # the config check reports it
    task = get_task(task_name)
    for role, text in sources.items():
        try:
            src = parse_source(text)
        except XladjustError:
            continue  # the config check reports it
        if src.path is None or not src.path.is_file():
            continue  # hub source, or a missing file the config check reports
        problem = _problem_once(seen, f"{task.name}|{src.path.resolve()}", partial(task.read_file, src.path))
        if problem is not None:
            report.problems.append(f"{where} {role}: {problem}")
    return report


def _problem_once(seen: dict[str, str | None], key: str, read: Callable[[], object]) -> str | None:
    """The one-line problem ``read()`` raises, or None; an input several stages share (the
    same ``key``) is read once and its problem reported for each of them."""
    if key not in seen:
        try:
            read()
            seen[key] = None
        except XladjustError as exc:
            seen[key] = str(exc)
    return seen[key]


def _same_file(a: str, b: str) -> str | None:
    """'the same file' or 'identical in content' when two local sources are, else None."""
    pa, pb = Path(a), Path(b)
    if not (pa.is_file() and pb.is_file()):
        return None
    if pa.resolve() == pb.resolve():
        return "the same file"
    if pa.stat().st_size == pb.stat().st_size and sha256_file(pa) == sha256_file(pb):
        return "identical in content"
    return None
