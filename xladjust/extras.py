"""The optional parts of the install (``pip install 'xladjust[EXTRA]'``) and the one check
that a command's extras are there.

The core install runs ``embed``, ``align`` and ``adjust``. Probes, task fine-tuning, the
comparison report and hub datasets each need libraries the core does not; a command that
needs a missing one stops with one line naming the ``pip install`` to run, before any work
(:data:`xladjust.stages.STAGES` says which command needs which extra). The list mirrors
``[project.optional-dependencies]`` in ``pyproject.toml``; a test keeps the two equal.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from types import ModuleType

from xladjust.errors import MissingDependencyError

# extra -> {import name: distribution name} of what it adds to the core install
EXTRAS: dict[str, dict[str, str]] = {
    "probes": {"faiss": "faiss-cpu", "matplotlib": "matplotlib"},
    "tasks": {"seqeval": "seqeval"},
    "report": {"matplotlib": "matplotlib", "markdown_it": "markdown-it-py"},
    "hub": {"datasets": "datasets", "sentence_transformers": "sentence-transformers"},
}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None
        return False


def missing(extras: Iterable[str]) -> dict[str, list[str]]:
    """extra -> the distributions of it that are not installed (extras with none left out)."""
    out: dict[str, list[str]] = {}
    for extra in extras:
        gone = [dist for module, dist in EXTRAS[extra].items() if not installed(module)]
        if gone:
            out[extra] = gone
    return out


def require(extras: Iterable[str], what: str) -> None:
    """A one-line :class:`MissingDependencyError` naming the ``pip install`` when ``what``
    (a command or feature) needs an extra that is not installed."""
    gone = missing(extras)
    if gone:
        names = ",".join(gone)
        packages = ", ".join(dist for dists in gone.values() for dist in dists)
        raise MissingDependencyError(f"{what} needs {packages}, which the core install leaves out: "
                          f"pip install 'xladjust[{names}]'")


def import_extra(module: str, extra: str, what: str) -> ModuleType:
    """``import module`` (a part of ``extra``), or the one-line error of :func:`require`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{what} needs {EXTRAS[extra][module]}, which the core install leaves out: "
                                     f"pip install 'xladjust[{extra}]'") from None
