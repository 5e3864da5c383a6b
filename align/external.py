"""The one wrapper around external programs (fast_align, atools).

:func:`find_tool` locates a binary (explicit path, then an environment variable, then
``PATH``) or says how to provide it. :func:`run_tools` starts commands together, each with
stdout and stderr going to files, logs the exact command lines, waits for all, and on a
non-zero exit raises an ExternalToolError showing the command and the tail of its stderr
(the other commands are stopped). An interrupt stops every command.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xladjust.config import expand_path
from xladjust.errors import ExternalToolError
from xladjust.io import sha256_file

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 12


def find_tool(name: str, explicit: str | os.PathLike[str] | None, env_var: str, how: str,
              also: Sequence[Path] = ()) -> Path:
    """Path of executable ``name``: ``explicit``, else ``$env_var``, else ``also``, else PATH.

    ``how`` finishes the error message (e.g. "pass --fast-align PATH"). An explicit or
    environment path that is wrong is an error of its own, never silently skipped.
    """
    for origin, value in (("given path", explicit), (f"${env_var}", os.environ.get(env_var))):
        if value:
            path = expand_path(value, origin)  # ~ and $VAR, as for every path
            if path.is_dir():
                path = path / name
            if not path.is_file():
                raise ExternalToolError(f"{name}: {origin} {value} does not exist; {how}")
            if not os.access(path, os.X_OK):
                raise ExternalToolError(f"{name}: {origin} {value} is not executable (chmod +x it); {how}")
            return path
    for candidate in also:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ExternalToolError(f"{name} was not found; {how}")


def tool_identity(path: Path) -> dict[str, str]:
    """What identifies a binary in a manifest: its resolved path and sha256."""
    return {"path": str(path.resolve()), "sha256": sha256_file(path)}


@dataclass
class ToolRun:
    """One command with its output files."""

    name: str
    argv: list[str]
    stdout: Path
    stderr: Path
    env: dict[str, str] = field(default_factory=dict)  # added to the inherited environment

    @property
    def command_line(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (prefix + " " if prefix else "") + shlex.join(self.argv)


def stderr_tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no stderr captured)"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail) if tail else "(stderr was empty)"


def run_tools(runs: Sequence[ToolRun], poll: Callable[[], None] | None = None, poll_seconds: float = 0.1) -> None:
    """Run ``runs`` concurrently; raise ExternalToolError if any fails.

    ``poll`` is called every ``poll_seconds`` while they run (e.g. to move a progress bar).
    """
    procs: list[tuple[ToolRun, subprocess.Popen[bytes]]] = []
    try:
        for run in runs:
            log.info("running %s", run.command_line)
            with open(run.stdout, "wb") as out, open(run.stderr, "wb") as err:
                try:
                    proc = subprocess.Popen(run.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                            env={**os.environ, **run.env})
                except OSError as exc:
                    raise ExternalToolError(f"{run.name} could not start ({exc.strerror}): {run.command_line}") from None
            procs.append((run, proc))
        while any(proc.poll() is None for _, proc in procs):
            for run, proc in procs:
                if proc.returncode not in (None, 0):
                    _fail(run, proc.returncode)
            if poll is not None:
                poll()
            time.sleep(poll_seconds)
        for run, proc in procs:
            if proc.returncode != 0:
                _fail(run, proc.returncode)
        if poll is not None:
            poll()
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:  # pragma: no cover - a tool ignoring SIGTERM
                    proc.kill()
                    proc.wait()


def _fail(run: ToolRun, code: int) -> None:
    what = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    raise ExternalToolError(f"{run.name} failed ({what}); command: {run.command_line}; "
                            f"stderr (last lines): {stderr_tail(run.stderr)}")
