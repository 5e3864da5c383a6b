"""xladjust: cross-lingual adjustment of multilingual encoders.

The stages live in sub-packages that follow the pipeline: ``xladjust.align``,
``xladjust.adjust``, ``xladjust.tasks`` and ``xladjust.probes``. This package holds
what every stage shares: model sources, word-embedding extraction, run directories,
and the error types.
"""

__version__ = "0.1.0"

from xladjust.errors import XladjustError  # noqa: E402

__all__ = ["XladjustError", "__version__"]
