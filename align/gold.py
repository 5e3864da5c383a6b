"""Gold alignments: reading them as published, and the fixed dev/test split.

A gold set is pre-tokenized ``src ||| tgt`` lines and a file with one line of ``i-j``
(sure) and ``ipj`` (possible) links per sentence, 1-indexed unless ``one_indexed`` is off.
Published files (WPT'03/'05 format) also hold links that cannot be scored: index 0 for
NULL (a word aligned to nothing) and, now and then, a link past the sentence end. By
default such a link is an error that quotes it as written and says what to do; with
``drop_invalid`` it is dropped and counted (:class:`GoldDrops`).

:func:`split_gold` is the one rule that splits a gold set into a dev part (for choosing a
layer or a threshold) and a test part (for reporting): sentence ``k`` (0-based) is dev when
``k % 3 == 0``. Interleaving keeps both parts from the same documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xladjust.align.joint import split_joint
from xladjust.align.links import GoldItem, GoldLinks, Link, parse_gold_items
from xladjust.align.normalize import normalize_text
from xladjust.errors import ConfigError, InputError
from xladjust.io import iter_text_lines

DEV_EVERY = 3  # sentence k is dev when k % DEV_EVERY == 0
SPLITS = ("all", "dev", "test")
DROP_HOW = "pass --drop-invalid-gold to drop such links and count them"


@dataclass(frozen=True)
class GoldPair:
    src: list[str]
    tgt: list[str]
    links: GoldLinks


@dataclass
class GoldDrops:
    """Gold links dropped under ``drop_invalid``: NULL (index 0) and past the sentence."""

    null: int = 0
    out_of_range: int = 0
    lines: set[int] = field(default_factory=set)

    @property
    def total(self) -> int:
        return self.null + self.out_of_range

    def to_dict(self) -> dict[str, int]:
        return {"null": self.null, "out_of_range": self.out_of_range, "lines": len(self.lines)}

    def describe(self) -> str:
        return (f"dropped {self.null} NULL (index 0) and {self.out_of_range} out-of-range gold links "
                f"on {len(self.lines)} lines")


def read_gold(gold_text: Path, gold: Path, one_indexed: bool = True, drop_invalid: bool = False,
              drops: GoldDrops | None = None) -> list[GoldPair]:
    """Gold sentences and links, checked: same line counts, no empty side, links in range
    (or, with ``drop_invalid``, unusable links dropped and counted into ``drops``)."""
    for path in (gold_text, gold):
        if not path.is_file():
            raise InputError(f"gold file {path} does not exist")
    texts = [text for _, text in iter_text_lines(gold_text)]
    lines = [text for _, text in iter_text_lines(gold)]
    if len(texts) != len(lines):
        raise InputError(f"{gold_text} has {len(texts)} sentence pairs but {gold} has {len(lines)} link lines; "
                         "they must correspond line by line")
    drops = drops if drops is not None else GoldDrops()
    sentences = []
    for lineno, text in enumerate(texts, start=1):
        src_text, tgt_text = split_joint(text, f"{gold_text}:{lineno}")
        src, tgt = _gold_words(src_text, gold_text, lineno), _gold_words(tgt_text, gold_text, lineno)
        if not src or not tgt:
            raise InputError(f"{gold_text}:{lineno}: empty {'source' if not src else 'target'} side in the gold text")
        sentences.append((src, tgt))
    items = [parse_gold_items(line, f"{gold}:{lineno}") for lineno, line in enumerate(lines, start=1)]
    layout = _layout(items, [(len(s), len(t)) for s, t in sentences])
    shift = 1 if one_indexed else 0
    out = []
    for lineno, ((src, tgt), row) in enumerate(zip(sentences, items, strict=True), start=1):
        sure: set[Link] = set()
        possible: set[Link] = set()
        for item in row:
            i, j = item.i - shift, item.j - shift
            problem = None
            if i < 0 or j < 0:
                problem = "null"
            elif i >= len(src) or j >= len(tgt):
                problem = "out_of_range"
            if problem is not None:
                if not drop_invalid:
                    raise InputError(_message(f"{gold}:{lineno}", item.text, problem, len(src), len(tgt),
                                              one_indexed, layout))
                setattr(drops, problem, getattr(drops, problem) + 1)
                drops.lines.add(lineno)
                continue
            possible.add((i, j))
            if item.sure:
                sure.add((i, j))
        out.append(GoldPair(src, tgt, GoldLinks(frozenset(sure), frozenset(possible))))
    if not out:
        raise InputError(f"{gold_text} holds no sentence pairs")
    if not any(pair.links.possible for pair in out):
        dropped = f" after {drops.describe()}" if drops.total else ""
        raise InputError(f"{gold} holds no gold links{dropped}; AER, precision and recall need gold links "
                         "(is it the right file?)")
    return out


def _gold_words(text: str, path: Path, lineno: int) -> list[str]:
    """The gold text's words as written (links index them), each normalized as the
    tokenizer normalizes the words it makes; a word of invisible characters only would
    vanish there and shift every link after it, so it is refused."""
    words = text.split()
    normalized = [normalize_text(w) for w in words]
    for k, (word, norm) in enumerate(zip(words, normalized, strict=True), start=1):
        if not norm:
            raise InputError(f"{path}:{lineno}: word {k} ({word!r}) is only invisible format characters; "
                             "remove it from the gold text and shift the links after it")
    return normalized


def _layout(items: Sequence[Sequence[GoldItem]], sizes: Sequence[tuple[int, int]]) -> str:
    """What the indices of the whole file fit: ``zero`` (every link fits 0-indexed, some
    index is 0, none reaches a sentence's length), ``one`` (no index 0, every link fits
    1-indexed) or ``mixed``."""
    has_zero = reaches_end = False
    for row, (n_src, n_tgt) in zip(items, sizes, strict=True):
        for item in row:
            has_zero |= item.i == 0 or item.j == 0
            reaches_end |= item.i >= n_src or item.j >= n_tgt
    if has_zero and not reaches_end:
        return "zero"
    if not has_zero:
        return "one"
    return "mixed"


def _message(where: str, text: str, problem: str, n_src: int, n_tgt: int, one_indexed: bool, layout: str) -> str:
    if problem == "null":
        head = f"{where}: gold link {text!r} uses index 0, which WPT-format files use for NULL (a word aligned to nothing)"
        if layout == "zero":
            return f"{head}; this file's indices all fit counting from 0: pass --zero-indexed if it counts from 0"
        return f"{head}; {DROP_HOW}"
    head = (f"{where}: gold link {text!r} points past the sentence ({n_src} source and {n_tgt} target words, "
            f"counted from {1 if one_indexed else 0})")
    if not one_indexed and layout == "one":
        return f"{head}; this file has no index 0 and fits counting from 1: drop --zero-indexed"
    return f"{head}; check that this gold line belongs to the same line of the gold text, or {DROP_HOW}"


def split_gold(pairs: Sequence[GoldPair], split: str) -> list[int]:
    """Indices of the gold sentences in ``split`` (``all``, ``dev`` or ``test``)."""
    if split not in SPLITS:
        raise ConfigError(f"gold split {split!r} is not one of: {', '.join(SPLITS)}")
    if split == "all":
        return list(range(len(pairs)))
    dev = split == "dev"
    return [k for k in range(len(pairs)) if (k % DEV_EVERY == 0) == dev]
