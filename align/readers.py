"""Parallel-text readers and validation, checked before any heavy work.

Four forms, one reader each, all streaming :class:`RawPair` records:

- two line-aligned files (``src`` + ``tgt``);
- one file of ``src ||| tgt`` lines (``joint``; the format's one reader is
  :func:`xladjust.align.joint.split_joint`);
- a TSV with a source and a target column (``tsv``);
- a ``datasets`` name ``NAME[:CONFIG]`` (``hf``), rows with a ``translation`` dict keyed
  by language code, or columns named by the language codes (or ``src``/``tgt``,
  ``source``/``target``).

Lines are split on ``\\n`` only (as fast_align counts them). Errors name the file and line:
invalid UTF-8, line counts that differ (both counts and the file that ends early), a line
without exactly one separator or two columns. :func:`filter_pairs` skips and counts pairs
with an empty side or a side over ``max_words`` whitespace words (errors under ``strict``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice, zip_longest
from pathlib import Path
from typing import Any

from xladjust.align.config import InputSpec
from xladjust.align.joint import split_joint
from xladjust.errors import InputError
from xladjust.io import iter_text_lines, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawPair:
    """One pair of untokenized sides; ``line`` counts from 1 in the input."""

    line: int
    src: str
    tgt: str


@dataclass
class Bitext:
    """A parallel-text input: iterate it for :class:`RawPair` records (re-iterable)."""

    form: str  # files | joint | tsv | hf
    name: str
    _open: Callable[[], Iterator[RawPair]]
    _where: Callable[[int, str], str]
    _hashes: Callable[[], dict[str, str]]
    limit: int | None = None

    def __iter__(self) -> Iterator[RawPair]:
        pairs = self._open()
        return islice(pairs, self.limit) if self.limit is not None else pairs

    def where(self, line: int, side: str) -> str:
        """``file:line`` of a pair's ``side`` ('src' or 'tgt') for messages."""
        return self._where(line, side)

    def hashes(self) -> dict[str, str]:
        """Checksums identifying the input (sha256 of files; name and fingerprint of datasets)."""
        return self._hashes()


def open_bitext(spec: InputSpec, src_lang: str, tgt_lang: str) -> Bitext:
    """The reader for ``spec``; missing files are reported here, nothing is read yet."""
    problems = spec.check()
    if problems:
        raise InputError("; ".join(problems))
    if spec.src is not None and spec.tgt is not None:
        src, tgt = _existing(spec.src), _existing(spec.tgt)
        return Bitext(
            "files", f"{src} + {tgt}", lambda: _read_two_files(src, tgt),
            lambda line, side: f"{src if side == 'src' else tgt}:{line}",
            lambda: {str(src): sha256_file(src), str(tgt): sha256_file(tgt)}, spec.max_pairs,
        )
    if spec.joint is not None:
        path = _existing(spec.joint)
        return Bitext("joint", str(path), lambda: _read_joint(path), lambda line, side: f"{path}:{line} ({side})",
                      lambda: {str(path): sha256_file(path)}, spec.max_pairs)
    if spec.tsv is not None:
        path = _existing(spec.tsv)
        return Bitext("tsv", str(path), lambda: _read_tsv(path), lambda line, side: f"{path}:{line} ({side})",
                      lambda: {str(path): sha256_file(path)}, spec.max_pairs)
    assert spec.hf is not None  # guaranteed by spec.check()
    return _open_hf(spec.hf, spec.hf_split, src_lang, tgt_lang, spec.max_pairs)


def _existing(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"input file {path} does not exist")
    if not path.is_file():
        raise InputError(f"input {path} is not a file")
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, a byte-order mark on line 1 removed."""
    for lineno, text in iter_text_lines(path):
        yield lineno, text[1:] if lineno == 1 and text.startswith("\ufeff") else text


def _read_two_files(src: Path, tgt: Path) -> Iterator[RawPair]:
    src_lines, tgt_lines = _lines(src), _lines(tgt)
    for a, b in zip_longest(src_lines, tgt_lines):
        if a is None or b is None:
            short, long_, rest = (src, tgt, tgt_lines) if a is None else (tgt, src, src_lines)
            n_short = (b or a)[0] - 1
            counts = {short: n_short, long_: n_short + 1 + sum(1 for _ in rest)}
            raise InputError(
                f"line counts differ: {src} has {counts[src]} lines, {tgt} has {counts[tgt]}; "
                f"{short} ends early (after line {n_short}). The files must be line-aligned"
            )
        yield RawPair(a[0], a[1], b[1])


def _read_joint(path: Path) -> Iterator[RawPair]:
    for lineno, text in _lines(path):
        src, tgt = split_joint(text, f"{path}:{lineno}")
        yield RawPair(lineno, src, tgt)


def _read_tsv(path: Path) -> Iterator[RawPair]:
    for lineno, text in _lines(path):
        cols = text.split("\t")
        if len(cols) != 2:
            raise InputError(f"{path}:{lineno}: expected 2 tab-separated columns (source, target), "
                             f"found {len(cols)}")
        yield RawPair(lineno, cols[0], cols[1])


def _open_hf(spec: str, split: str, src_lang: str, tgt_lang: str, limit: int | None) -> Bitext:
    # imported here: only hf: inputs need it, and 'xladjust align --help' imports this module
    from xladjust.data.hf import load_split

    name, _, config = spec.removeprefix("hf:").partition(":")
    ds = load_split(name, config or None, split, where=f"hf:{spec}")  # hub name or save_to_disk folder
    get = _hf_row_reader(list(ds.column_names), src_lang, tgt_lang, spec)

    def rows() -> Iterator[RawPair]:
        for i, row in enumerate(ds, start=1):
            src, tgt = get(row, i)
            yield RawPair(i, src, tgt)

    fingerprint = getattr(ds, "_fingerprint", None) or "unknown"
    return Bitext("hf", f"hf:{spec}", rows, lambda line, side: f"hf:{spec} row {line} ({side})",
                  lambda: {f"hf:{spec}[{split}]": str(fingerprint)}, limit)


def _hf_row_reader(columns: list[str], src_lang: str, tgt_lang: str, spec: str) -> Callable[[dict, int], tuple[str, str]]:
    def text(value: Any, row: int, key: str) -> str:
        if not isinstance(value, str):
            raise InputError(f"hf:{spec} row {row}: {key} is a {type(value).__name__}, not text")
        return value

    if "translation" in columns:
        def from_translation(row: dict, i: int) -> tuple[str, str]:
            tr = row["translation"]
            if not isinstance(tr, dict) or src_lang not in tr or tgt_lang not in tr:
                keys = sorted(tr) if isinstance(tr, dict) else type(tr).__name__
                raise InputError(f"hf:{spec} row {i}: 'translation' has no {src_lang!r} and {tgt_lang!r} "
                                 f"entries (found {keys}); check --src-lang/--tgt-lang")
            return text(tr[src_lang], i, src_lang), text(tr[tgt_lang], i, tgt_lang)
        return from_translation
    for a, b in ((src_lang, tgt_lang), ("src", "tgt"), ("source", "target")):
        if a in columns and b in columns:
            return lambda row, i, a=a, b=b: (text(row[a], i, a), text(row[b], i, b))
    raise InputError(f"hf:{spec}: cannot find the two sides: expected a 'translation' column or columns "
                     f"{src_lang!r}/{tgt_lang!r} (or src/tgt, source/target); found {columns}")


@dataclass
class FilterCounts:
    """How many input lines were read, kept and skipped (and a few skipped locations)."""

    lines: int = 0
    kept: int = 0
    skipped_empty: int = 0
    skipped_long: int = 0
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "kept": self.kept, "skipped_empty": self.skipped_empty,
                "skipped_long": self.skipped_long, "skipped_examples": list(self.examples)}


def filter_pairs(bitext: Bitext, max_words: int, strict: bool, counts: FilterCounts | None = None) -> Iterator[RawPair]:
    """Pairs with two non-empty sides of at most ``max_words`` words; the rest are skipped
    and counted in ``counts`` (under ``strict`` they raise InputError)."""
    counts = counts if counts is not None else FilterCounts()
    for pair in bitext:
        counts.lines += 1
        problem = _problem(pair, max_words)
        if problem is None:
            counts.kept += 1
            yield pair
            continue
        side, what = problem
        where = bitext.where(pair.line, side)
        if strict:
            hint = ("remove the pair or drop --strict to skip it" if what == "empty"
                    else f"raise --max-words (now {max_words}) or drop --strict to skip it")
            raise InputError(f"{where}: {what} {'source' if side == 'src' else 'target'} side; {hint}")
        if what == "empty":
            counts.skipped_empty += 1
        else:
            counts.skipped_long += 1
        if len(counts.examples) < 5:
            counts.examples.append(f"{where}: {what}")


def _problem(pair: RawPair, max_words: int) -> tuple[str, str] | None:
    for side, text in (("src", pair.src), ("tgt", pair.tgt)):
        if not text.strip():
            return side, "empty"
    for side, text in (("src", pair.src), ("tgt", pair.tgt)):
        if len(text.split()) > max_words:
            return side, f"over {max_words} words"
    return None


def scan_bitext(bitext: Bitext, max_words: int, strict: bool) -> FilterCounts:
    """Read the whole input once to find every problem before heavy work starts."""
    counts = FilterCounts()
    for _ in filter_pairs(bitext, max_words, strict, counts):
        pass
    if counts.kept == 0:
        raise InputError(f"{bitext.name}: no usable sentence pairs ({counts.lines} lines read, "
                         f"{counts.skipped_empty} with an empty side, {counts.skipped_long} over-long)")
    if counts.skipped_empty or counts.skipped_long:
        log.warning("%s: skipping %d pair(s) with an empty side and %d over %d words (--strict makes these errors)",
                    bitext.name, counts.skipped_empty, counts.skipped_long, max_words)
    return counts
