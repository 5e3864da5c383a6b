"""Pharaoh link lines (``0-0 1-2 ...``) and gold lines with sure and possible links.

Parsing is pure: a line and a ``where`` (file:line) for error messages go in, links come
out. Aligner output and gold files are read line by line with their line numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xladjust.errors import ExternalToolError, InputError, XladjustError

Link = tuple[int, int]

_LINK = re.compile(r"^(\d+)([-p])(\d+)$")


_PHARAOH_LINE = re.compile(r"\s*(?:[0-9]+-[0-9]+(?:\s+[0-9]+-[0-9]+)*)?\s*")
_PHARAOH_LINK = re.compile(r"([0-9]+)-([0-9]+)")


def parse_pharaoh(line: str, where: str, error: type[XladjustError] = InputError) -> list[Link]:
    """Links of one Pharaoh line (``i-j`` pairs separated by spaces), 0-indexed.

    A trailing `` ||| score`` (fast_align ``-s``) is ignored. ``error`` is the exception
    class raised for a malformed link (ExternalToolError for a tool's output).
    """
    text = line.split(" ||| ", 1)[0]
    if _PHARAOH_LINE.fullmatch(text):
        return [(int(a), int(b)) for a, b in _PHARAOH_LINK.findall(text)]
    bad = next(item for item in text.split() if not _PHARAOH_LINK.fullmatch(item))
    raise error(f"{where}: malformed link {bad!r}; expected i-j with non-negative integers")


@dataclass(frozen=True)
class GoldLinks:
    """Gold links of one sentence pair: ``sure`` ⊆ ``possible`` (0-indexed)."""

    sure: frozenset[Link] = field(default_factory=frozenset)
    possible: frozenset[Link] = field(default_factory=frozenset)


@dataclass(frozen=True)
class GoldItem:
    """One gold link as written: its text, its indices as in the file, sure or possible."""

    text: str
    i: int
    j: int
    sure: bool


def parse_gold_items(line: str, where: str) -> list[GoldItem]:
    """The links of one gold line as written (``i-j`` sure, ``ipj`` possible), unshifted."""
    items = []
    for item in line.split():
        m = _LINK.match(item)
        if m is None:
            raise InputError(f"{where}: malformed gold link {item!r}; expected i-j (sure) or ipj (possible)")
        items.append(GoldItem(item, int(m.group(1)), int(m.group(3)), m.group(2) == "-"))
    return items


def parse_gold(line: str, where: str, one_indexed: bool = True) -> GoldLinks:
    """One gold line: ``i-j`` sure links and ``ipj`` possible links.

    Every sure link is also possible (the AER convention S ⊆ P). With ``one_indexed``
    the indices are shifted to 0-based; an index 0 then is an error (WPT files write NULL
    links that way; :func:`xladjust.align.gold.read_gold` can drop them).
    """
    shift = 1 if one_indexed else 0
    sure: set[Link] = set()
    possible: set[Link] = set()
    for item in parse_gold_items(line, where):
        i, j = item.i - shift, item.j - shift
        if i < 0 or j < 0:
            raise InputError(f"{where}: gold link {item.text!r} uses index 0, which WPT-format files use for NULL; "
                             "drop such links (--drop-invalid-gold) or pass --zero-indexed if the file counts from 0")
        possible.add((i, j))
        if item.sure:
            sure.add((i, j))
    return GoldLinks(frozenset(sure), frozenset(possible))


def check_range(links: Iterable[Link], n_src: int, n_tgt: int, where: str, error: type[XladjustError] = InputError,
                hint: str = "") -> None:
    """Raise ``error`` if a link points past the sentence ends."""
    for i, j in links:
        if i >= n_src or j >= n_tgt:
            raise error(f"{where}: link {i}-{j} is out of range for {n_src} source and {n_tgt} "
                        f"target words{hint}")


def iter_pharaoh_file(path: str | Path, tool: str = "") -> Iterator[list[Link]]:
    """Stream the links of a Pharaoh file, one list per line; errors name file and line.

    With ``tool`` set the file is that tool's output and errors are ExternalToolErrors.
    """
    error: type[XladjustError] = ExternalToolError if tool else InputError
    prefix = f"{tool} output " if tool else ""
    with open(path, encoding="utf-8", errors="strict") as f:
        for lineno, line in enumerate(f, start=1):
            yield parse_pharaoh(line, f"{prefix}{path}:{lineno}", error)


def count_lines(path: str | Path) -> int:
    """Number of newline-terminated lines (plus a final unterminated one)."""
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (0 if last == b"\n" else 1)
