"""Adjust stage: alignment objectives and the training loop that writes checkpoints.

``adjust(AdjustConfig(...)) -> Path`` trains and returns the run directory, a Hugging Face
checkpoint with ``xladjust.json``; the CLI is ``xladjust adjust``.
"""

from xladjust.adjust.config import AdjustConfig
from xladjust.adjust.run import adjust

__all__ = ["AdjustConfig", "adjust"]
