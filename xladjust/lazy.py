"""Registries name what they hold as ``"module:attr"`` strings, loaded on first use, so that
listing a registry (CLI choices, ``--help``, config checks) imports no heavy library."""

from __future__ import annotations

import importlib
from typing import Any


def load(target: str) -> Any:
    """The object ``target`` (``"package.module:attr"``) names, importing its module now."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{target!r} is not 'module:attr'")
    return getattr(importlib.import_module(module), attr)
