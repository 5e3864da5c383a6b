"""The eflomal backend, through the pip package's Python API (extra ``eflomal``).

One ``eflomal.Aligner.align`` call writes both directions: the eflomal binary runs the
forward and reverse models in parallel (OpenMP), each with ``samplers`` Gibbs samplers.
eflomal lowercases words itself. Its binary has no seed option (it reads
``/dev/urandom``); :mod:`xladjust.align.eflomal_seed` makes a run a pure function of the
input and the run's seed, and where it cannot, the manifest says ``deterministic: false``
with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xladjust.align.backends import AlignerOutput
from xladjust.align.config import AlignerSpec, EflomalOptions
from xladjust.align.eflomal_seed import SeedShim, seed_shim
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


@contextlib.contextmanager
def environment(extra: dict[str, str]) -> Iterator[None]:
    """``extra`` in ``os.environ`` within the block (eflomal's API starts its binary with
    the process environment); the previous values come back on exit."""
    before = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_eflomal(options: EflomalOptions, bitext: JointFile, forward: Path | None, reverse: Path | None,
                quiet: bool = True, env: dict[str, str] | None = None) -> None:
    """Align ``bitext`` with eflomal, writing the requested directions' Pharaoh files.

    Without ``quiet`` eflomal reports its progress (models, iterations, times) on stderr.
    ``env`` is added to the binary's environment (the seeding library's variables).
    """
    aligner = make_aligner(options)
    try:
        with environment(env or {}):
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
    directional = True
    samples = True

    def __init__(self, spec: AlignerSpec, seed: int = 0):
        self.options = spec.eflomal
        self.seed = seed
        self._shim: SeedShim | None = None

    def check(self) -> None:
        _import_eflomal()

    def shim(self) -> SeedShim:
        if self._shim is None:
            self._shim = seed_shim()
        return self._shim

    def align(self, bitext: JointFile, work: Path, progress: bool = False) -> AlignerOutput:
        from importlib.metadata import version

        forward, reverse = work / "forward.pharaoh", work / "reverse.pharaoh"
        shim = self.shim()
        if shim.available:
            log.info("eflomal: aligning %d pairs in both directions (seed %d)", bitext.n_pairs, self.seed)
        else:
            log.warning("eflomal: aligning %d pairs unseeded, so reruns differ and the manifest says "
                        "deterministic: false: %s", bitext.n_pairs, shim.reason)
        run_eflomal(self.options, bitext, forward, reverse, quiet=not progress, env=shim.env(self.seed))
        for path, direction in ((forward, "forward"), (reverse, "reverse")):
            n = count_lines(path) if path.exists() else 0
            if n != bitext.n_pairs:
                raise ExternalToolError(f"eflomal wrote {n} {direction} alignment lines for {bitext.n_pairs} pairs")
        info = {
            "package": f"eflomal {version('eflomal')}",
            "api": "eflomal.Aligner.align (both directions in one call)",
            "options": config_to_dict(self.options),
            "seed": self.seed if shim.available else None,
            "deterministic": shim.available,
            "note": ("seeded through xladjust.align.eflomal_seed (preload library, OMP_NUM_THREADS=2,1): "
                     "the same input and seed give the same links" if shim.available else
                     f"eflomal ran unseeded ({shim.reason}); reruns differ slightly"),
        }
        return AlignerOutput(forward=forward, reverse=reverse, info=info)
