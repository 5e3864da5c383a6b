"""The ``src ||| tgt`` line format (fast_align's input): its one reader and one writer.

Reading splits a line at a ``|||`` that stands between whitespace (or at a line end);
exactly one separator is allowed. Writing joins word lists with single spaces. A word
that is exactly ``|||`` would read back as a separator, so the writer escapes it as
``&#124;&#124;&#124;`` (Moses' escape for ``|``) and :func:`parse_joint_words` restores
it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xladjust.errors import InputError

SEPARATOR = "|||"
_ESCAPED = "&#124;&#124;&#124;"
_SPLIT = re.compile(r"(?:(?<=\s)|^)\|\|\|(?=\s|$)")


def split_joint(line: str, where: str) -> tuple[str, str]:
    """The source and target text of one ``src ||| tgt`` line (sides stripped)."""
    parts = _SPLIT.split(line.rstrip("\r\n"))
    if len(parts) != 2:
        found = len(parts) - 1
        raise InputError(
            f"{where}: expected one 'source ||| target' separator, found {found}; "
            "each line holds one sentence pair with ' ||| ' between the sides"
        )
    return parts[0].strip(), parts[1].strip()


def format_joint(src: Sequence[str], tgt: Sequence[str]) -> str:
    """One ``src ||| tgt`` line (without newline) from word lists."""
    return f"{' '.join(_escape(src))} {SEPARATOR} {' '.join(_escape(tgt))}"


def parse_joint_words(line: str, where: str) -> tuple[list[str], list[str]]:
    """Word lists of a line written by :func:`format_joint`."""
    parts = line.split(" ||| ")  # fast path: the writer leaves exactly one " ||| "
    src, tgt = parts if len(parts) == 2 else split_joint(line, where)
    return _unescape(src.split()), _unescape(tgt.split())


def _escape(words: Sequence[str]) -> list[str]:
    return [_ESCAPED if w == SEPARATOR else w for w in words]


def _unescape(words: list[str]) -> list[str]:
    return [SEPARATOR if w == _ESCAPED else w for w in words] if _ESCAPED in words else words
