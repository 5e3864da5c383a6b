"""Data sources: a local file, a ``datasets`` hub name or a ``save_to_disk`` folder,
resolved into task examples.

A source string is a path or ``hf:NAME[:CONFIG[:SPLIT]]``, for example
``hf:xnli:es:test``, ``hf:wikiann:es:validation`` or ``hf:google/xquad:xquad.es:validation``;
a folder written by ``save_to_disk`` is read with ``load_from_disk``, as ``FOLDER`` or
``hf:FOLDER::SPLIT``. In-memory datasets: ``xladjust.data.hf.as_source(ds)`` gives the
string (see :mod:`xladjust.data.hf`).
Without a split, training sources read ``train``, dev sources ``validation`` and test
sources ``test``. Hub rows are converted to the same records as local files:
``xnli`` (``premise``, ``hypothesis``, class-label ``label``), ``wikiann`` (``tokens``,
class-label ``ner_tags``) and SQuAD-shaped QA sets (``id``, ``question``, ``context``,
``answers`` with ``text`` and ``answer_start`` lists).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust.config import expand_path
from xladjust.data.hf import is_saved_dataset, load_split
from xladjust.errors import InputError
from xladjust.tasks.examples import PairExample, QAExample, TaggedSentence
from xladjust.tasks.readers import checked_answer

log = logging.getLogger(__name__)

HUB_PREFIX = "hf:"
DEFAULT_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


@dataclass(frozen=True)
class Source:
    """Where examples come from: ``path`` for a local file, else a hub dataset."""

    text: str
    path: Path | None = None
    name: str | None = None
    config: str | None = None
    split: str | None = None

    @property
    def is_hub(self) -> bool:
        return self.path is None


def parse_source(text: str) -> Source:
    """Parse a source string (see module doc)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("empty data source; give a file path or hf:NAME[:CONFIG[:SPLIT]]")
    text = text.strip()
    if not text.startswith(HUB_PREFIX):
        path = expand_path(text, "data source")  # ~ and $VAR, as for every path
        if is_saved_dataset(path):  # a save_to_disk folder, read like a hub set
            return Source(text=text, name=str(path))
        return Source(text=text, path=path)
    parts = text[len(HUB_PREFIX) :].split(":")
    if len(parts) > 3 or not parts[0]:
        raise InputError(f"bad hub source {text!r}; use hf:NAME[:CONFIG[:SPLIT]], e.g. hf:xnli:es:test")
    name, config, split = (parts + [None, None])[:3]
    return Source(text=text, name=name, config=config or None, split=split or None)


def missing_sources(sources: dict[str, str]) -> list[str]:
    """Problems with local sources (missing files), one message per source; hub sources pass."""
    problems = []
    for role, text in sources.items():
        try:
            src = parse_source(text)
        except InputError as exc:
            problems.append(f"{role}: {exc}")
            continue
        if src.path is not None and not src.path.is_file():
            problems.append(f"{role}: data file {src.path} does not exist")
    return problems


def load_hub_rows(source: Source, role: str) -> Any:
    """Load a hub split or a ``save_to_disk`` folder as a ``datasets.Dataset``."""
    split = source.split or DEFAULT_SPLITS.get(role, "test")
    return load_split(source.name, source.config, split, where=source.text)


def _class_names(rows: Any, column: str) -> list[str] | None:
    feature = getattr(rows, "features", {}).get(column)
    inner = getattr(feature, "feature", feature)  # Sequence(ClassLabel) or ClassLabel
    names = getattr(inner, "names", None)
    return list(names) if names else None


def _name_of(value: Any, names: list[str] | None, where: str) -> str:
    if isinstance(value, str):
        return value
    if names is None or not 0 <= int(value) < len(names):
        raise InputError(f"{where}: label {value!r} has no name in the dataset's class labels")
    return names[int(value)]


def pairs_from_rows(rows: Any, labels: Sequence[str], where: str) -> list[PairExample]:
    """XNLI-shaped rows (``premise``, ``hypothesis``, ``label``) as pair examples."""
    names = _class_names(rows, "label")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row["label"], str) and int(row["label"]) < 0:
            continue  # unlabelled rows (label -1) in some hub sets
        label = _name_of(row["label"], names, f"{where} row {i}")
        if label not in labels:
            raise InputError(f"{where} row {i}: label {label!r} is not in the label set ({', '.join(labels)})")
        out.append(PairExample(id=str(i), premise=row["premise"], hypothesis=row["hypothesis"], label=label))
    return out


def tagged_from_rows(rows: Any, tags: Sequence[str], where: str) -> list[TaggedSentence]:
    """WikiANN-shaped rows (``tokens``, ``ner_tags``) as tagged sentences."""
    names = _class_names(rows, "ner_tags")
    out = []
    for i, row in enumerate(rows):
        seq = [_name_of(t, names, f"{where} row {i}") for t in row["ner_tags"]]
        for tag in seq:
            if tag not in tags:
                raise InputError(f"{where} row {i}: tag {tag!r} is not in the label set ({', '.join(tags)})")
        out.append(TaggedSentence(id=str(i), tokens=list(row["tokens"]), tags=seq))
    return out


def qa_from_rows(rows: Any, where: str) -> list[QAExample]:
    """SQuAD-shaped rows as QA examples (answers checked against their context)."""
    out = []
    for i, row in enumerate(rows):
        qid = str(row.get("id", i))
        answers = [
            checked_answer(text, int(start), row["context"], f"{where} question {qid}")
            for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True)
        ]
        out.append(QAExample(id=qid, question=row["question"].strip(), context=row["context"], answers=answers))
    return out
