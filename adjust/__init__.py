"""Adjust stage: alignment objectives and the training loop that writes checkpoints.

``adjust(AdjustConfig(...)) -> Path`` trains and returns the run directory, a Hugging Face
checkpoint with ``xladjust.json``; the CLI is ``xladjust adjust``. Both names load on first
use, so ``import xladjust.adjust.config`` (the CLI's ``--help``) stays light.
"""

from __future__ import annotations

from typing import Any

from xladjust.lazy import load

_EXPORTS = {
    "AdjustConfig": "xladjust.adjust.config:AdjustConfig",
    "adjust": "xladjust.adjust.run:adjust",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return load(_EXPORTS[name])
    raise AttributeError(f"module 'xladjust.adjust' has no attribute {name!r}")
