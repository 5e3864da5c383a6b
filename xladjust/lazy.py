"""Registries name what they hold as ``"module:attr"`` strings, loaded on first use, so that
listing a registry (CLI choices, ``--help``, config checks) imports no heavy library."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load(target: str) -> Any:
    """The object ``target`` (``"package.module:attr"``) names, importing its module now."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"{target!r} is not 'module:attr'")
    return getattr(importlib.import_module(module), attr)


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A package's module ``__getattr__``: ``name`` is loaded from the module
    ``exports[name]`` on first use, so importing the package stays light."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return load(f"{module}:{name}")

    return __getattr__
