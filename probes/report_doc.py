"""The building blocks of xladjust's Markdown reports: text, figures, tables, headings.

A report is a sequence of :data:`Block`\\ s. A :class:`Figure` is written to Markdown in one
fixed form, an image line and a caption line below it::

    ![What the figure shows](plots/en-es.delta.png)

    *What the figure shows* ([SVG](plots/en-es.delta.svg), [PDF](plots/en-es.delta.pdf))

and :func:`parse_blocks` reads that form back (and the older ``([SVG](...))`` line), so a
report embedded in another report keeps its figures where they were, with their captions.
Heading anchors follow GitHub's rule (:func:`slugify`), so the table of contents works in
``report.md`` on a forge and in the HTML page alike. All functions here are pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)\s*$")
_CAPTION = re.compile(r"^\*(?P<caption>.+?)\*(?:\s*\(\[SVG\]\((?P<svg>[^)\s]+)\)"
                      r"(?:,\s*\[PDF\]\((?P<pdf>[^)\s]+)\))?\))?\s*$")
_OLD_SVG = re.compile(r"^\(\[SVG\]\((?P<svg>[^)\s]+)\)\)\s*$")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.*?)\s*#*\s*$")
_NUMBER = re.compile(r"^[-+−]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?%?$", re.IGNORECASE)


@dataclass(frozen=True)
class Text:
    """Markdown text (headings, tables, lists, paragraphs), no figures."""

    markdown: str


@dataclass(frozen=True)
class Figure:
    """An image with a caption that says what is plotted; ``svg`` and ``pdf`` are the
    vector copies."""

    src: str
    caption: str
    svg: str | None = None
    pdf: str | None = None


Block = Text | Figure


def figure_markdown(figure: Figure) -> str:
    pdf = f", [PDF]({figure.pdf})" if figure.svg and figure.pdf else ""
    svg = f" ([SVG]({figure.svg}){pdf})" if figure.svg else ""
    alt = figure.caption.replace("[", "(").replace("]", ")")
    return f"![{alt}]({figure.src})\n\n*{_caption_text(figure.caption)}*{svg}\n"


def _caption_text(caption: str) -> str:
    return caption.replace("*", "\\*").replace("\n", " ")


def blocks_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as one Markdown text, a blank line between blocks."""
    parts = [figure_markdown(b) if isinstance(b, Figure) else b.markdown.strip("\n") + "\n" for b in blocks]
    return "\n".join(p for p in parts if p.strip())


def parse_blocks(markdown: str) -> list[Block]:
    """Split Markdown into text and figures; a figure is an image alone on its line,
    optionally followed by its caption line. Lines inside code fences stay text."""
    blocks: list[Block] = []
    text: list[str] = []
    lines = markdown.splitlines()
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        image = None if fenced else _IMAGE.match(line)
        if image is None:
            text.append(line)
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        caption, svg, pdf = image["alt"], None, None
        follow = _CAPTION.match(lines[j]) or _OLD_SVG.match(lines[j]) if j < len(lines) else None
        if follow is not None:
            caption = follow.groupdict().get("caption") or caption
            svg = follow["svg"]
            pdf = follow.groupdict().get("pdf")
            i = j + 1
        else:
            i += 1
        if "\n".join(text).strip():
            blocks.append(Text("\n".join(text).strip("\n")))
        text = []
        blocks.append(Figure(image["src"], caption.replace("\\*", "*"), svg, pdf))
    if "\n".join(text).strip():
        blocks.append(Text("\n".join(text).strip("\n")))
    return blocks


def shift_headings(markdown: str, by: int, *, drop_title: bool = False) -> str:
    """Move every heading ``by`` levels down (at most level 6); with ``drop_title`` the
    first level-1 heading is removed (the embedding report gives its own)."""
    out = []
    fenced = False
    dropped = not drop_title
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m is None:
            out.append(line)
            continue
        level = len(m["hashes"])
        if not dropped and level == 1:
            dropped = True
            continue
        out.append("#" * min(6, level + by) + " " + m["title"])
    return "\n".join(out)


def map_blocks(blocks: Sequence[Block], text: Callable[[str], str] | None = None,
               figure: Callable[[Figure], Figure] | None = None) -> list[Block]:
    """Apply ``text(str) -> str`` to each text block and ``figure(Figure) -> Figure`` to
    each figure."""
    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Figure):
            out.append(figure(b) if figure else b)
        else:
            out.append(Text(text(b.markdown)) if text else b)
    return out


def is_number(cell: str) -> bool:
    """A table cell that holds a figure: a number or percentage, ``–``, ``x ± y``,
    ``[a, b]``, optionally followed by a note in parentheses (``45.0% (12)``, ``(3 seeds)``)."""
    cell = re.sub(r"\s*\([^()]*\)$", "", cell.strip().strip("*").replace("`", ""))
    if cell in ("", "–", "—", "-"):
        return True
    parts = re.split(r"\s*±\s*|,\s*|\s*→\s*|\s+\[|\]$", cell.strip("[] "))
    return all(_NUMBER.match(p.strip(" []")) for p in parts if p.strip(" []"))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A pipe table; columns whose cells are all figures are right-aligned, label columns
    left-aligned. Pipes inside cells are escaped. Ends with a blank line."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    numeric = [bool(rows) and all(is_number(str(r[k])) for r in rows if k < len(r)) for k in range(len(header))]
    align = ["---:" if n else ":---" for n in numeric]
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def slugify(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces become hyphens."""
    plain = re.sub(r"[`*_]", "", title)
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", plain).strip().lower()
    return re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")


class Slugger:
    """Unique anchors in order of appearance: ``x``, ``x-1``, ``x-2`` (GitHub's rule)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, title: str) -> str:
        base = slugify(title)
        n = self.seen.get(base)
        self.seen[base] = 0 if n is None else n + 1
        return base if n is None else f"{base}-{n + 1}"


def headings(markdown: str) -> list[tuple[int, str]]:
    """``(level, title)`` of every heading outside code fences, in order."""
    found = []
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m is not None:
            found.append((len(m["hashes"]), m["title"]))
    return found


def table_of_contents(markdown: str, max_level: int = 3) -> str:
    """A nested list of links to the headings of levels 2..``max_level``."""
    slug = Slugger()
    lines = []
    for level, title in headings(markdown):
        anchor = slug(title)
        if 2 <= level <= max_level:
            lines.append("  " * (level - 2) + f"- [{re.sub(r'[][]', '', title)}](#{anchor})")
    return "\n".join(lines)

