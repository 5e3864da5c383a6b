"""The one rule for user-given names that become part of a path.

Language codes, pair names, model and arm names, variant names and the ``LANG`` of
``--test LANG=FILE`` all end up in file or folder names (``align-NAME/``,
``runs/NAME-sSEED/``, ``predictions/test-LANG.jsonl``). Each goes through
:func:`name_problem` (configs, which report every problem at once) or
:func:`check_name` (command-line values), so none can climb out of its folder (``..``,
``/``), hide (``.x``), vanish (empty) or exceed what a file system takes.
"""

from __future__ import annotations

import re

from xladjust.errors import InputError

MAX_NAME_LENGTH = 64
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ALLOWED = "letters, digits, '.', '_' and '-', starting with a letter or digit"


def name_problem(name: object, what: str) -> str | None:
    """None when ``name`` is usable in a path, else a one-line message naming ``what``."""
    if not isinstance(name, str):
        return f"{what}: expected a name ({ALLOWED}), got {name!r}; quote it in YAML"
    if not name.strip():
        return f"{what}: the name is empty; give {ALLOWED}"
    if len(name) > MAX_NAME_LENGTH:
        return f"{what} {name[:20]!r}... is {len(name)} characters long; use at most {MAX_NAME_LENGTH}"
    if not _NAME.match(name):
        return f"{what} {name!r} is not a usable name ({ALLOWED}; it becomes part of a file name)"
    return None


def check_name(name: object, what: str) -> str:
    """``name`` itself when usable (see :func:`name_problem`); an InputError otherwise."""
    problem = name_problem(name, what)
    if problem:
        raise InputError(problem)
    return str(name)
