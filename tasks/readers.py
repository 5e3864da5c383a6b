"""Readers for the local task formats; every problem names the file and line (or id).

- sentence pairs: TSV ``premise<TAB>hypothesis<TAB>label`` (XNLI in the XTREME layout);
- tagged sentences: ``token<TAB>tag`` lines, a blank line between sentences (PAN-X / CoNLL);
- extractive QA: SQuAD v1.1 JSON (``data`` → ``paragraphs`` → ``qas``), as XQuAD, MLQA and
  TyDi QA GoldP ship it.

A label or tag outside the task's label set is an error, never silently mapped.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from xladjust.errors import InputError
from xladjust.io import iter_text_lines
from xladjust.tasks.examples import Answer, PairExample, QAExample, TaggedSentence

T = TypeVar("T")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without the newline) for each line of a UTF-8 file."""
    if not path.is_file():
        raise InputError(f"data file {path} does not exist")
    yield from iter_text_lines(path)


def _check_label(label: str, labels: Sequence[str], where: str, what: str) -> None:
    if label not in labels:
        raise InputError(f"{where}: {what} {label!r} is not in the label set ({', '.join(labels)})")


def read_pair_tsv(path: str | Path, labels: Sequence[str]) -> list[PairExample]:
    """Read ``premise<TAB>hypothesis<TAB>label`` rows; a ``premise...label`` header is skipped."""
    out = list(iter_pair_tsv(path, labels))
    if not out:
        raise InputError(f"{path} holds no examples")
    return out


def iter_pair_tsv(path: str | Path, labels: Sequence[str]) -> Iterator[PairExample]:
    """:func:`read_pair_tsv`, one example at a time (for streaming a large file)."""
    p = Path(path)
    n = 0
    for lineno, line in _lines(p):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise InputError(
                f"{p}:{lineno}: expected 3 tab-separated fields (premise, hypothesis, label), "
                f"found {len(fields)}"
            )
        premise, hypothesis, label = (x.strip() for x in fields)
        if not n and lineno == 1 and (premise, hypothesis, label) == ("premise", "hypothesis", "label"):
            continue
        if not premise or not hypothesis:
            raise InputError(f"{p}:{lineno}: empty premise or hypothesis")
        _check_label(label, labels, f"{p}:{lineno}", "label")
        yield PairExample(id=str(n), premise=premise, hypothesis=hypothesis, label=label)
        n += 1


def read_tagged(path: str | Path, tags: Sequence[str]) -> list[TaggedSentence]:
    """Read ``token<TAB>tag`` lines, sentences separated by blank lines."""
    out = list(iter_tagged(path, tags))
    if not out:
        raise InputError(f"{path} holds no sentences")
    return out


def iter_tagged(path: str | Path, tags: Sequence[str]) -> Iterator[TaggedSentence]:
    """:func:`read_tagged`, one sentence at a time (for streaming a large file)."""
    p = Path(path)
    n = 0
    tokens: list[str] = []
    labels: list[str] = []
    for lineno, line in _lines(p):
        if not line.strip():
            if tokens:
                yield TaggedSentence(id=str(n), tokens=tokens, tags=labels)
                n, tokens, labels = n + 1, [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip():
            raise InputError(
                f"{p}:{lineno}: expected 'token<TAB>tag' (a blank line between sentences), got {line!r}"
            )
        tag = fields[1].strip()
        _check_label(tag, tags, f"{p}:{lineno}", "tag")
        tokens.append(fields[0].strip())
        labels.append(tag)
    if tokens:
        yield TaggedSentence(id=str(n), tokens=tokens, tags=labels)


def read_squad(path: str | Path) -> list[QAExample]:
    """Read SQuAD v1.1 JSON; every answer must match its context at ``answer_start``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"data file {p} does not exist")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: invalid UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise InputError(f"{p}: not SQuAD v1.1 JSON (expected an object with a 'data' list)")
    out: list[QAExample] = []
    for a, article in enumerate(doc["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(f"{p}: data[{a}] has no 'paragraphs' list")
        for g, para in enumerate(paragraphs):
            where = f"{p}: data[{a}].paragraphs[{g}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise InputError(f"{where} has no 'context' string")
            if not isinstance(para.get("qas"), list):
                raise InputError(f"{where} has no 'qas' list")
            for q in para["qas"]:
                out.append(squad_example(q, para["context"], where))
    if not out:
        raise InputError(f"{p} holds no questions")
    return out


def squad_example(q: Any, context: str, where: str) -> QAExample:
    """One SQuAD ``qas`` entry as a :class:`QAExample`, with its answers checked."""
    if not isinstance(q, dict) or not isinstance(q.get("question"), str) or "id" not in q:
        raise InputError(f"{where}: a question lacks 'id' or 'question'")
    qid = str(q["id"])
    answers = []
    raw_answers = q.get("answers", [])
    if not isinstance(raw_answers, list):
        raise InputError(f"{where}: question {qid}: 'answers' must be a list")
    for ans in raw_answers:
        if not isinstance(ans, dict) or not isinstance(ans.get("text"), str) or not isinstance(
            ans.get("answer_start"), int
        ):
            raise InputError(f"{where}: question {qid}: an answer lacks 'text' or 'answer_start'")
        answers.append(checked_answer(ans["text"], ans["answer_start"], context, f"{where}: question {qid}"))
    return QAExample(id=qid, question=q["question"].strip(), context=context, answers=answers)


def checked_answer(text: str, start: int, context: str, where: str) -> Answer:
    """An :class:`Answer`, after checking that it sits in ``context`` where it says."""
    if not text.strip():
        raise InputError(f"{where}: empty answer text; SQuAD v1.1 answers are non-empty spans "
                         "(is this file unlabelled?)")
    found = context[start : start + len(text)] if start >= 0 else ""
    if found != text:
        hint = context.find(text)
        fix = f"; the text occurs at {hint}: fix answer_start" if hint >= 0 else "; it is not in the context at all"
        raise InputError(
            f"{where}: answer {text!r} does not match the context at answer_start={start} "
            f"(found {found!r}){fix}"
        )
    return Answer(text=text, start=start)


def take(items: Sequence[T], limit: int | None, seed: int | None = None) -> list[T]:
    """At most ``limit`` items: the first ones, or a random sample (original order kept)
    when ``seed`` is given."""
    if limit is None or limit >= len(items):
        return list(items)
    if seed is None:
        return list(items[:limit])
    return [items[i] for i in sample_indices(len(items), limit, seed)]


def sample_indices(n: int, limit: int, seed: int) -> list[int]:
    """The sorted positions :func:`take` keeps of ``n`` items (``limit < n``)."""
    return sorted(random.Random(seed).sample(range(n), limit))


def split_off(items: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """``(rest, held_out)``: a seeded random ``fraction`` of ``items`` (at least one, never
    all) held out, both parts in the original order and disjoint."""
    if len(items) < 2:
        raise InputError(f"cannot hold out a dev split from {len(items)} example(s); give a dev set")
    n_out = min(len(items) - 1, max(1, round(fraction * len(items))))
    held = set(random.Random(seed).sample(range(len(items)), n_out))
    return ([x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held])
