"""How every table and message of the project writes a number: :func:`number`."""

from __future__ import annotations

import math
from numbers import Integral
from typing import Any


def number(value: Any, spec: str = ".3f", *, missing: str = "–", ints: bool = True) -> str:
    """``value`` written with the format ``spec``; ``missing`` for None, NaN and the
    infinities; an integer as itself when ``ints`` (a count stays '12', not '12.000')."""
    if value is None or isinstance(value, bool):
        return missing
    if ints and isinstance(value, Integral):
        return str(value)
    if not math.isfinite(value):
        return missing
    return format(value, spec)
