"""The eflomal backend, through the pip package's Python API (extra ``eflomal``).

One ``eflomal.Aligner.align`` call writes both directions: the eflomal binary runs the
forward and reverse models in parallel (OpenMP), each with ``samplers`` Gibbs samplers.
eflomal lowercases words itself. It seeds its sampler from the system clock, so two runs
differ slightly; the manifest says so.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

from xladjust.align.backends import AlignerOutput
from xladjust.align.config import AlignerSpec, EflomalOptions
from xladjust.align.links import count_lines
from xladjust.align.tokenize import JointFile
from xladjust.config import config_to_dict
from xladjust.errors import ExternalToolError, MissingDependencyError

log = logging.getLogger(__name__)


def _import_eflomal() -> Any:
    try:
        import eflomal
    except ImportError:
        raise MissingDependencyError("the eflomal aligner needs the eflomal package: "
                                     "pip install 'xladjust[eflomal]' (or pip install eflomal)") from None
    return eflomal


def make_aligner(options: EflomalOptions) -> Any:
    eflomal = _import_eflomal()
    return eflomal.Aligner(
        model=options.model, n_samplers=options.samplers, rel_iterations=options.rel_iterations,
        n_iterations=tuple(options.iterations) if options.iterations is not None else None,
        null_prior=options.null_prior,
    )


def run_eflomal(options: EflomalOptions, bitext: JointFile, forward: Path | None, reverse: Path | None,
                quiet: bool = True) -> None:
    """Align ``bitext`` with eflomal, writing the requested directions' Pharaoh files.

    Without ``quiet`` eflomal reports its progress (models, iterations, times) on stderr.
    """
    aligner = make_aligner(options)
    try:
        aligner.align(bitext.iter_side(0), bitext.iter_side(1),
                      links_filename_fwd=str(forward) if forward else None,
                      links_filename_rev=str(reverse) if reverse else None, quiet=quiet)
    except subprocess.CalledProcessError as exc:
        command = " ".join(map(str, exc.cmd)) if isinstance(exc.cmd, (list, tuple)) else str(exc.cmd)
        raise ExternalToolError(f"eflomal failed (exit status {exc.returncode}); command: {command}") from None
    except ValueError as exc:  # eflomal's own input checks
        raise ExternalToolError(f"eflomal rejected its input: {exc}") from None


class EflomalBackend:
    name = "eflomal"
    uses_extra_text = True

    def __init__(self, spec: AlignerSpec):
        self.options = spec.eflomal

    def check(self) -> None:
        _import_eflomal()

    def align(self, bitext: JointFile, work: Path, progress: bool = False) -> AlignerOutput:
        from importlib.metadata import version

        forward, reverse = work / "forward.pharaoh", work / "reverse.pharaoh"
        log.info("eflomal: aligning %d pairs in both directions", bitext.n_pairs)
        run_eflomal(self.options, bitext, forward, reverse, quiet=not progress)
        for path, direction in ((forward, "forward"), (reverse, "reverse")):
            n = count_lines(path) if path.exists() else 0
            if n != bitext.n_pairs:
                raise ExternalToolError(f"eflomal wrote {n} {direction} alignment lines for {bitext.n_pairs} pairs")
        info = {
            "package": f"eflomal {version('eflomal')}",
            "api": "eflomal.Aligner.align (both directions in one call)",
            "options": config_to_dict(self.options),
            "deterministic": False,
            "note": "eflomal seeds its samplers from the system clock; reruns differ slightly",
        }
        return AlignerOutput(forward=forward, reverse=reverse, info=info)
