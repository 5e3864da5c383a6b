"""Errors meant for users.

Every error a user can fix derives from :class:`XladjustError`. The CLI prints such an
error as one line and exits with status 2; anything else is a bug and shows a traceback.
"""

from __future__ import annotations


class XladjustError(Exception):
    """Base class for errors a user can act on. The message says what to do."""


class InputError(XladjustError):
    """A user-provided file or value is malformed (names the file and line where known)."""


class ConfigError(XladjustError):
    """A configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            joined = "; ".join(self.problems)
            super().__init__(f"{len(self.problems)} config problems: {joined}")


class ModelError(XladjustError):
    """A model spec cannot be resolved or a checkpoint is unusable."""


class ExternalToolError(XladjustError):
    """An external program is missing or failed."""


class MissingDependencyError(XladjustError):
    """An optional dependency is not installed; the message names the extra to install."""


class OutputError(InputError):
    """An output cannot be written where asked: it overlaps an input, holds something
    that is not an output of the same command, is locked by another run, or the disk is
    full. Nothing was replaced."""
