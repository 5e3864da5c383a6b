"""Who symmetrizes two directional link files: atools or the built-in heuristics.

Under ``symmetrize_with: auto`` fast_align's ``atools`` is used when it is found, under
``atools`` it is required, under ``builtin`` never. The built-in heuristics
(:mod:`xladjust.align.symmetrize`, identical results) run inside the final pass
(:mod:`xladjust.align.finish`), so they need no file of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xladjust.align.config import AlignerSpec, Symmetrizer
from xladjust.align.external import ToolRun, run_tools, tool_identity
from xladjust.align.fast_align import check_line_count, find_atools


def pick_atools(spec: AlignerSpec) -> Path | None:
    """The atools binary to symmetrize with, or None for the built-in heuristics."""
    if spec.symmetrize_with is Symmetrizer.BUILTIN:
        return None
    return find_atools(spec.fast_align, required=spec.symmetrize_with is Symmetrizer.ATOOLS)


def run_atools(atools: Path, forward: Path, reverse: Path, out: Path, heuristic: str, n_pairs: int,
               work: Path) -> dict[str, Any]:
    """``atools -i FORWARD -j REVERSE -c HEURISTIC > OUT``; returns the manifest entry."""
    run = ToolRun("atools", [str(atools), "-i", str(forward), "-j", str(reverse), "-c", heuristic],
                  out, work / "atools.stderr")
    run_tools([run])
    check_line_count(run, n_pairs)
    return {"symmetrizer": "atools", "heuristic": heuristic, "command": run.command_line,
            "binary": tool_identity(atools)}


def builtin_entry(heuristic: str) -> dict[str, Any]:
    return {"symmetrizer": "builtin", "heuristic": heuristic, "implementation": "xladjust.align.symmetrize"}
