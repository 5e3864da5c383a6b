"""The one shape of every pluggable family: aligners, symmetrization heuristics,
objectives, probes and tasks.

A :class:`Registry` holds :class:`Entry` rows in the order they are listed: a name, the
``"module:attr"`` of what it names, and one line about it. Listing a registry (CLI
choices, ``--help``, config checks, docs) imports nothing; :meth:`Registry.get` loads an
entry's target through :func:`xladjust.lazy.load` when it is used. A family that needs
more facts before loading (a probe's input kind, an objective's options class) subclasses
:class:`Entry`. An unknown name is one :class:`~xladjust.errors.ConfigError` line that
lists the choices.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from xladjust.errors import ConfigError
from xladjust.lazy import load


@dataclass(frozen=True)
class Entry:
    """One registered item."""

    name: str
    target: str  # "module:attr" of what the name stands for, imported when it is used
    summary: str  # one line for --help, docs and reports

    def load(self) -> Any:
        return load(self.target)


E = TypeVar("E", bound=Entry)


class Registry(Generic[E]):
    """The entries of one family by name. Iterating gives the names, so
    ``click.Choice(list(REGISTRY))`` and ``name in REGISTRY`` read as for a dict."""

    def __init__(self, family: str, entries: Iterable[E]) -> None:
        self.family = family  # what one entry is, as the unknown-name error says it
        self._entries: dict[str, E] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"{family} {entry.name!r} is registered twice")
            self._entries[entry.name] = entry

    def names(self) -> list[str]:
        return list(self._entries)

    def entry(self, name: str) -> E:
        """The entry of ``name`` (nothing is imported)."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: a value no name can be (a list from a config file)
            raise ConfigError(f"unknown {self.family} {name!r}; choose one of: {', '.join(self._entries)}") from None

    def get(self, name: str) -> Any:
        """What ``name`` stands for, its module imported now."""
        return self.entry(name).load()

    def items(self) -> list[tuple[str, E]]:
        return list(self._entries.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}: {', '.join(self._entries)})"
