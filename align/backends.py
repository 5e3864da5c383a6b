"""The aligner interface and its registry.

A backend turns the tokenized bitext of a run (:class:`~xladjust.align.tokenize.JointFile`)
into Pharaoh link files: a ``forward`` (source→target model) and a ``reverse``
(target→source model) file for statistical aligners, which the pipeline then symmetrizes,
or a final ``links`` file for aligners that are symmetric themselves. ``check()`` runs
before any heavy work and raises if the backend cannot run (binary or package missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xladjust.align.config import ALIGNERS, AlignerSpec
from xladjust.align.tokenize import JointFile


@dataclass
class AlignerOutput:
    """Link files written by a backend (Pharaoh lines, one per pair, source-target order)."""

    forward: Path | None = None
    reverse: Path | None = None
    links: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)  # command lines, versions, options
    halves: tuple[str, str] = ("forward", "reverse")  # what the two files hold, as reports name them

    @property
    def directional(self) -> bool:
        return self.links is None


class Backend(Protocol):
    name: str
    uses_extra_text: bool  # whether more parallel text improves the gold part (statistical models)
    directional: bool  # writes forward and reverse links that are then symmetrized
    samples: bool  # its links depend on the seed (a sampler); else every seed gives the same links

    def check(self) -> None: ...

    def align(self, bitext: JointFile, work: Path, progress: bool = False) -> AlignerOutput: ...


def create_backend(spec: AlignerSpec, seed: int = 0) -> Backend:
    """The backend named by ``spec.name``, configured from ``spec``; backends that sample
    (eflomal) take the run's ``seed``."""
    return ALIGNERS.get(spec.name)(spec, seed=seed)
