"""Every table of ``xladjust compare``'s report as files: Markdown, CSV and LaTeX (booktabs).

A :class:`DataTable` holds a table twice: as display cells (the report's Markdown and the
LaTeX copy) and as raw values under machine-readable column names (the CSV and
``summary.json``), so ``pandas.read_csv`` gets numbers, not ``"45.0% (3 seeds)"``. Section
builders register the tables they build this way; any other pipe table in the report (one
embedded from a run's own Markdown) is exported cell by cell, a cell that is one number
(``0.123``, ``45.0%``) read as that number. :func:`export_tables` writes ``tables/NAME.*``
and puts a line linking the CSV and LaTeX files under each table. All functions but
:func:`export_tables` are pure.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust.io import write_text_atomic
from xladjust.probes.report_doc import Block, Text, is_number, slugify, table

TABLES_DIR = "tables"


@dataclass
class DataTable:
    """A table with display cells (``header``/``cells``) and raw values (``columns``/``rows``)."""

    name: str  # file stem under tables/
    title: str  # the LaTeX caption
    header: list[str]
    cells: list[list[str]]
    columns: list[str]
    rows: list[list[Any]]

    def markdown(self) -> list[str]:
        return table(self.header, self.cells)


_NUMBER = re.compile(r"^[-+−]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$", re.IGNORECASE)


def cell_value(cell: str) -> Any:
    """A display cell as a raw value: ``–`` and empty → None, one number (``45.0%`` → 45.0,
    the percent sign dropped: percentages stay in percent) → float, anything else → the
    text without Markdown marks."""
    text = cell.strip().strip("*").replace("`", "").strip()
    if text in ("", "–", "—", "-"):
        return None
    number = text[:-1] if text.endswith("%") else text
    if _NUMBER.match(number):
        return float(number.replace("−", "-"))
    return text


def parse_tables(markdown: str) -> list[tuple[int, int, list[str], list[list[str]]]]:
    """``(first line, end line, header, rows)`` of every pipe table outside code fences."""
    lines = markdown.splitlines()
    found = []
    fenced = False
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            fenced = not fenced
        if (not fenced and lines[i].startswith("|") and i + 1 < len(lines)
                and re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[i + 1])):
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            found.append((i, j, _row(lines[i]), [_row(x) for x in lines[i + 2:j]]))
            i = j
            continue
        i += 1
    return found


def _row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A CSV file: header, then rows; None is an empty field, floats as ``repr``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buffer.getvalue()


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}
_LATEX_SYMBOLS = {"Δ": r"$\Delta$", "±": r"$\pm$", "–": "--", "—": "---", "→": r"$\to$", "×": r"$\times$",
                  "−": "$-$", "θ": r"$\theta$", "α": r"$\alpha$", "≥": r"$\geq$", "≤": r"$\leq$",
                  "·": r"$\cdot$", "≈": r"$\approx$"}


def latex_escape(text: str) -> str:
    """Plain text for LaTeX: special characters escaped, a few symbols in math mode,
    Markdown's `code` and **bold** as \\texttt and \\textbf."""
    out = []
    for part in re.split(r"(`[^`]*`|\*\*[^*]+\*\*)", text):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(r"\texttt{" + _escape(part[1:-1]) + "}")
        elif part.startswith("**") and part.endswith("**") and len(part) > 3:
            out.append(r"\textbf{" + _escape(part[2:-2]) + "}")
        else:
            out.append(_escape(part))
    return "".join(out)


def _escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch) or _LATEX_SYMBOLS.get(ch) or ch for ch in text)


def latex_text(header: Sequence[str], cells: Sequence[Sequence[str]], caption: str, label: str) -> str:
    """A booktabs table (``\\usepackage{booktabs}``): figure columns right-aligned."""
    align = "".join("r" if cells and all(is_number(str(r[k])) for r in cells if k < len(r)) else "l"
                    for k in range(len(header)))
    lines = ["% needs \\usepackage{booktabs}", r"\begin{table}[ht]", r"\centering",
             r"\caption{" + latex_escape(caption) + "}", r"\label{tab:" + label + "}",
             r"\begin{tabular}{" + align + "}", r"\toprule",
             " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(str(c)) for c in row) + r" \\" for row in cells]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def export_tables(blocks: Sequence[Block], work: Path, registered: Sequence[DataTable] = ()
                  ) -> tuple[list[Block], list[dict[str, Any]]]:
    """Write every table of ``blocks`` under ``work/tables/`` as ``.md``, ``.csv`` and
    ``.tex``; return the blocks with a line linking the files under each table, and one
    entry per table for ``summary.json`` (its name, section, files, columns and rows).
    A registered table is recognized by its header and written with its raw values."""
    by_header = {tuple(t.header): t for t in registered}
    section = "report"
    entries: list[dict[str, Any]] = []
    out: list[Block] = []
    taken: set[str] = set()
    for block in blocks:
        if not isinstance(block, Text):
            out.append(block)
            continue
        lines = block.markdown.splitlines()
        inserts: dict[int, str] = {}
        earlier = section  # the heading before this block
        for start, end, header, rows in parse_tables(block.markdown):
            section = _section_before(lines, start) or earlier
            known = by_header.get(tuple(header))
            if known is not None:
                name, columns, values, cells = known.name, known.columns, known.rows, known.cells
            else:
                name = f"{len(entries) + 1:02d}-{slugify(section)[:40].strip('-') or 'table'}"
                columns, values, cells = header, [[cell_value(c) for c in r] for r in rows], rows
            while name in taken:
                name += "-2"
            taken.add(name)
            base = work / TABLES_DIR / name
            write_text_atomic(base.with_suffix(".md"), "\n".join(table(header, cells)))
            write_text_atomic(base.with_suffix(".csv"), csv_text(columns, values))
            caption = known.title if known is not None else section
            write_text_atomic(base.with_suffix(".tex"), latex_text(header, cells, caption, name))
            files = {s: f"{TABLES_DIR}/{name}.{s}" for s in ("md", "csv", "tex")}
            inserts[end] = f"*Table files:* [CSV]({files['csv']}), [LaTeX]({files['tex']}), [Markdown]({files['md']})"
            entries.append({"name": name, "section": section, "files": files, "columns": list(columns),
                            "rows": [list(r) for r in values]})
        section = _section_before(lines, len(lines)) or earlier
        if inserts:
            new: list[str] = []
            for k, line in enumerate(lines + [""]):
                if k in inserts:
                    new += ([""] if new and new[-1].strip() else []) + [inserts[k], ""]
                if k < len(lines):
                    new.append(line)
            block = Text("\n".join(new).strip("\n"))
        out.append(block)
    return out, entries


def _section_before(lines: list[str], start: int) -> str | None:
    for line in reversed(lines[:start]):
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            return heading.group(1)
    return None
