"""Interruption by a signal: raised where it lands, and remembered in case it is swallowed.

The CLI's handler (:func:`on_signal`, installed by ``xladjust.cli``) raises
:class:`Interrupted` in the main thread at whatever line is running, so every stage unwinds
as for Ctrl-C. Code that catches ``BaseException`` or uses a bare ``except`` can swallow
that exception, and the run would then go on and finish as if no signal had come: seen
with SIGTERM during adjust's set-up, once in 25 runs, exit status 0 and the run marked
complete (the code that swallowed it, somewhere in the libraries loaded there, was not
identified). So the handler also records the signal, and :func:`check_interrupted` raises
it again; it runs before any run directory is marked complete
(:func:`xladjust.io.mark_complete`) and before every training step.
"""

from __future__ import annotations

from typing import Any

_received: int | None = None  # the signal number received since the handlers were installed


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. Raised in the main thread by :func:`on_signal`, so every
    stage unwinds as for Ctrl-C: ``finally`` blocks remove scratch files, nothing is
    marked complete. Not a KeyboardInterrupt, so click does not turn it into an Abort."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def on_signal(signum: int, frame: Any) -> None:
    global _received
    _received = signum
    raise Interrupted(signum)


def check_interrupted() -> None:
    """Raise :class:`Interrupted` again if a signal arrived (its first raise may have been
    swallowed)."""
    if _received is not None:
        raise Interrupted(_received)


def forget_signals() -> None:
    """Start afresh (a new command in the same process)."""
    global _received
    _received = None
