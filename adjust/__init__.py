"""Adjust stage: alignment objectives and the training loop that writes checkpoints.

``adjust(AdjustConfig(...)) -> Path`` trains and returns the run directory, a Hugging Face
checkpoint with ``xladjust.json``; the CLI is ``xladjust adjust``. Both names load on first
use, so ``import xladjust.adjust.config`` (the CLI's ``--help``) stays light.
"""

from __future__ import annotations

from xladjust.lazy import lazy_exports

_EXPORTS = {
    "AdjustConfig": "xladjust.adjust.config",
    "adjust": "xladjust.adjust.run",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
