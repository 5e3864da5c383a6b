"""The fast_align backend: the real ``fast_align`` executable, both directions at once.

Forward (``fast_align -i BITEXT -d -o -v``) and reverse (the same plus ``-r``) run as two
concurrent processes, each with ``OpenMP`` threads set to its share of the CPU cores.
fast_align writes one Pharaoh line per input line on stdout, in source-target order in
both directions, and its diagnostics on stderr. The line counts are checked against the
input. Options left at fast_align's defaults are not passed, so the default command reads
exactly as in the papers.

The binary comes from ``--fast-align PATH`` (``fast_align.binary``), ``$FAST_ALIGN``, or
``PATH``; ``atools`` from ``fast_align.atools``, ``$ATOOLS``, beside fast_align, or PATH.
fast_align is not on PyPI: build it from https://github.com/clab/fast_align (cmake).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from xladjust.align.backends import AlignerOutput
from xladjust.align.config import AlignerSpec, FastAlignOptions
from xladjust.align.external import ToolRun, find_tool, run_tools, stderr_tail, tool_identity
from xladjust.align.links import count_lines
from xladjust.align.parallel import default_workers
from xladjust.align.tokenize import JointFile
from xladjust.config import config_to_dict
from xladjust.errors import ExternalToolError
from xladjust.progress import progress as progress_bar

log = logging.getLogger(__name__)

FAST_ALIGN_HOW = ("pass --fast-align PATH, set FAST_ALIGN=PATH, or put fast_align on PATH "
                  "(build it from https://github.com/clab/fast_align with cmake)")
ATOOLS_HOW = "pass --atools PATH, set ATOOLS=PATH, or put atools (built with fast_align) on PATH"
_DEFAULTS = FastAlignOptions()
_ITERATION = re.compile(rb"^ITERATION \d+", re.MULTILINE)


def find_fast_align(options: FastAlignOptions) -> Path:
    return find_tool("fast_align", options.binary, "FAST_ALIGN", FAST_ALIGN_HOW)


def find_atools(options: FastAlignOptions, required: bool = False) -> Path | None:
    """atools, or None when it is not found and not ``required``."""
    beside: list[Path] = []
    try:
        beside.append(find_fast_align(options).parent / "atools")
    except ExternalToolError:
        pass
    try:
        return find_tool("atools", options.atools, "ATOOLS", ATOOLS_HOW, also=beside)
    except ExternalToolError:
        if required or options.atools:
            raise
        return None


def fast_align_args(options: FastAlignOptions, bitext: Path, reverse: bool) -> list[str]:
    """fast_align's arguments (after the program) for one direction."""
    args = ["-i", str(bitext)]
    if options.favor_diagonal:
        args.append("-d")
    if options.optimize_tension:
        args.append("-o")
    if options.variational_bayes:
        args.append("-v")
    if reverse:
        args.append("-r")
    if options.iterations != _DEFAULTS.iterations:
        args += ["-I", str(options.iterations)]
    if options.favor_diagonal and options.diagonal_tension != _DEFAULTS.diagonal_tension:
        args += ["-T", repr(options.diagonal_tension)]  # -T also switches -d on: only with -d
    if options.variational_bayes and options.alpha != _DEFAULTS.alpha:
        args += ["-a", repr(options.alpha)]
    if options.p0 != _DEFAULTS.p0:
        args += ["-q", repr(options.p0)]
    if options.no_null:
        args.append("-N")
    return args


class FastAlignBackend:
    name = "fast_align"
    uses_extra_text = True
    directional = True
    samples = False

    def __init__(self, spec: AlignerSpec, seed: int = 0):  # fast_align's EM has no randomness
        self.options = spec.fast_align

    def check(self) -> None:
        find_fast_align(self.options)

    def threads(self) -> int:
        return self.options.threads or max(1, default_workers() // 2)

    def align(self, bitext: JointFile, work: Path, progress: bool = False) -> AlignerOutput:
        binary = find_fast_align(self.options)
        source = bitext.path
        if self.options.lowercase:
            source = work / "bitext.lower.txt"
            with open(bitext.path, encoding="utf-8") as f, open(source, "w", encoding="utf-8") as out:
                for line in f:
                    out.write(line.lower())
        env = {"OMP_NUM_THREADS": str(self.threads())}
        runs = [
            ToolRun(f"fast_align ({direction})", [str(binary), *fast_align_args(self.options, source, reverse)],
                    work / f"{direction}.pharaoh", work / f"{direction}.stderr", env)
            for direction, reverse in (("forward", False), ("reverse", True))
        ]
        bar = _iteration_bar(runs, 2 * self.options.iterations, progress)
        try:
            run_tools(runs, poll=bar.poll if bar else None)
        finally:
            if bar:
                bar.close()
        for run in runs:
            check_line_count(run, bitext.n_pairs)
        info: dict[str, Any] = {
            "binary": tool_identity(binary),
            "commands": [run.command_line for run in runs],
            "options": _options_dict(self.options),
            "deterministic": self.threads() == 1,
            "note": "with several OpenMP threads fast_align's sums vary slightly between runs",
        }
        return AlignerOutput(forward=runs[0].stdout, reverse=runs[1].stdout, info=info)


def check_line_count(run: ToolRun, expected: int) -> None:
    n = count_lines(run.stdout)
    if n != expected:
        raise ExternalToolError(f"{run.name} wrote {n} alignment lines for {expected} input pairs; "
                                f"command: {run.command_line}; stderr (last lines): {stderr_tail(run.stderr)}")


def _options_dict(options: FastAlignOptions) -> dict[str, Any]:
    return {k: v for k, v in config_to_dict(options).items() if k not in ("binary", "atools")}


class _IterationBar:
    """A progress bar over fast_align's EM iterations, read from the stderr files."""

    def __init__(self, runs: list[ToolRun], total: int):
        self.runs = runs
        self.bar = progress_bar(total=total, desc="fast_align", unit="iter")
        self.done = 0

    def poll(self) -> None:
        done = 0
        for run in self.runs:
            try:
                done += len(_ITERATION.findall(run.stderr.read_bytes()))
            except OSError:
                continue
        if done > self.done:
            self.bar.update(done - self.done)
            self.done = done

    def close(self) -> None:
        self.bar.close()


def _iteration_bar(runs: list[ToolRun], total: int, enabled: bool) -> _IterationBar | None:
    return _IterationBar(runs, total) if enabled else None
