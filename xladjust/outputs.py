"""The one guard for every command's output folder (or file).

:func:`claim_output` is entered by each command's library entry point before anything
is written, and held until the command ends. In that order it

1. refuses an input that is an unfinished run (:func:`check_complete_run`), and an output
   that equals, contains or lies inside an input of the run, or lies inside another
   run's folder (one not being written by this process: a pipeline's stages and a
   transfer's fine-tunings are written inside their own run);
2. refuses an existing output that is not a finished or failed output *of the same
   command*: a run folder says which command wrote it in its marker file
   ``.xladjust-output.json`` (folders written before the marker existed are recognized by
   the files the command always writes); an empty folder is fine;
3. takes a lock: ``.NAME.lock`` beside the output, held with ``fcntl.flock`` and holding
   the holder's pid, host, command and start time, so a second run to the same output
   exits with status 2 naming the holder;
4. removes scratch left beside the output by a killed earlier run (``.NAME.XXXXXXXX.tmp``).

Files and folders alike go through it (``file=True`` for a single-file output such as
``embed --out`` or ``align evaluate --out``). Every check keys on the resolved path: a
symlink to a run, or a path through a symlinked folder, is the run it points to, locked
by the same lock file; its replacement is built beside the real folder and swapped in
there, so the symlink keeps pointing at the new contents and nothing stray is left.

The old output itself is replaced only when the new one is complete:
:func:`xladjust.io.atomic_dir` builds it in a temporary sibling, writes the marker into it
(:func:`write_claim_marker`) and swaps it in. Commands that build in place (adjust's
resumable runs, transfer, run) write the marker with :meth:`Claim.mark`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust import __version__
from xladjust.errors import InputError, OutputError
from xladjust.io import BEFORE_SWAP, COMPLETE_MARKER, is_complete, real_path, write_json_atomic

MARKER_FILE = ".xladjust-output.json"
LOCK_SUFFIX = ".lock"

# resolved output path -> its active claim in this process
_CLAIMS: dict[str, Claim] = {}
# the run folders held by this process and its ancestors, for worker processes (transfer's
# parallel fine-tunings): they write inside a run their parent holds
HELD_RUNS_ENV = "XLADJUST_HELD_RUNS"

# how an output written before the marker existed is recognized: alternatives, each a set
# of file names that must all exist, or a predicate on the folder
Legacy = Sequence["Sequence[str] | Callable[[Path], bool]"]


@dataclass
class Claim:
    """An output held by this process: checked, locked, not yet replaced."""

    out: Path  # as given
    command: str
    lock_path: Path | None
    fd: int | None
    started: float

    @property
    def marker(self) -> dict[str, Any]:
        return {"command": self.command, "xladjust": __version__,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started))}

    def mark(self, directory: str | os.PathLike[str] | None = None) -> Path:
        """Create ``directory`` (default: the output) and write the marker into it; a
        folder built in place keeps the marker of its first run."""
        target = Path(directory) if directory is not None else self.out
        target.mkdir(parents=True, exist_ok=True)
        if not owned_by(target, self.command, ()):
            write_json_atomic(target / MARKER_FILE, self.marker)
        return target

    def staging_dir(self) -> Path:
        """A fixed sibling of the real output folder where a command that builds in place
        prepares a replacement (safe under the lock; removed as stale scratch by the next
        claim)."""
        real = real_path(self.out)
        return real.with_name(f".{real.name}.staging.tmp")


def claim_output(out: str | os.PathLike[str], *, command: str, inputs: Iterable[Any] = (),
                 legacy: Legacy = (), file: bool = False, also: Sequence[Path] = (),
                 enabled: bool = True, flag: str = "--out") -> contextlib.AbstractContextManager[Claim]:
    """Check, lock and hold output ``out`` of ``command`` (see the module doc).

    ``inputs``: every input path of the run (files, folders, model dirs; hub names and
    ``None`` are skipped). ``legacy``: how an older output of this command without a marker
    is recognized (e.g. ``[("pairs.jsonl", "manifest.json")]`` or ``[summary_kind("compare")]``).
    ``file``: the output is one file (``also`` lists files written with it, such as an
    index). ``enabled=False`` (other ranks of a distributed run) yields an unlocked claim.
    """
    return _claim(Path(out), command, list(inputs), legacy, file, list(also), enabled, flag)


@contextlib.contextmanager
def _claim(out: Path, command: str, inputs: list[Any], legacy: Legacy, file: bool,
           also: list[Path], enabled: bool, flag: str) -> Iterator[Claim]:
    claim = Claim(out=out, command=command, lock_path=None, fd=None, started=time.time())
    if not enabled:
        yield claim
        return
    for item in inputs:  # an unfinished run is no input, refused before anything is written
        if item is not None and not (isinstance(item, str) and ":" in item):
            check_complete_run(os.path.expanduser(str(item)), "input")
    for target in (out, *also):
        check_not_input(target, inputs, flag)
        check_not_inside_run(target, flag)
    check_replaceable(out, command, legacy, file=file, flag=flag)
    for extra in also:
        if extra.is_dir():
            raise OutputError(f"{extra} (written with {flag} {out}) is a directory; choose another {flag}")
    key = _key(out)
    if key in _CLAIMS:
        raise OutputError(f"{flag} {out} is already being written by this process "
                          f"({_CLAIMS[key].command}); choose another {flag}")
    claim.lock_path, claim.fd = _lock(out, command, flag)
    _CLAIMS[key] = claim
    inherited = os.environ.get(HELD_RUNS_ENV)
    os.environ[HELD_RUNS_ENV] = os.pathsep.join([*_held_runs(inherited), key])
    try:
        remove_stale_scratch(real_path(out))
        yield claim
    finally:
        _CLAIMS.pop(key, None)
        if inherited is None:
            os.environ.pop(HELD_RUNS_ENV, None)
        else:
            os.environ[HELD_RUNS_ENV] = inherited
        _unlock(claim)


def _held_runs(value: str | None) -> list[str]:
    return [p for p in (value or "").split(os.pathsep) if p]


def write_claim_marker(target: Path, directory: Path) -> None:
    """Write the marker of the claim on ``target`` (if any) into ``directory``, the
    folder about to replace it (called by :func:`xladjust.io.atomic_dir`)."""
    claim = _CLAIMS.get(_key(target))
    if claim is not None:
        claim.mark(directory)


def leaf_strings(data: Any) -> Iterator[str]:
    """Every string in a config dict (nested dicts and lists): the candidate input paths
    of a run, for ``inputs`` (values that name no existing path are skipped there)."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from leaf_strings(value)
    elif isinstance(data, (list, tuple)):
        for value in data:
            yield from leaf_strings(value)


BEFORE_SWAP.append(write_claim_marker)


def active_claim(target: str | os.PathLike[str]) -> Claim | None:
    return _CLAIMS.get(_key(Path(target)))


# ----------------------------------------------------------------------------- checks


def check_not_input(out: Path, inputs: Iterable[Any], flag: str = "--out", *, label: str | None = None) -> None:
    """Refuse an output that equals, contains or lies inside any existing input path;
    ``label`` names the output in the message (default: ``flag out``)."""
    target = real_path(out)
    for item in inputs:
        if item is None or (isinstance(item, str) and (not item.strip() or ":" in item)):
            continue
        path = Path(os.path.expanduser(str(item)))
        if not os.path.lexists(path):
            continue
        source = real_path(path)
        if target == source:
            how = "is"
        elif _inside(source, target):
            how = "contains"
        elif _inside(target, source):
            how = "lies inside"
        else:
            continue
        raise OutputError(f"{label or f'{flag} {out}'} {how} the input {item}; writing there would destroy it. "
                          f"Choose another {flag}")


def run_folder_command(path: Path) -> str | None:
    """The command that wrote run folder ``path`` (its marker file), ``"?"`` for a
    finished folder without a marker (``.complete`` only), None when it is no run folder."""
    marker = path / MARKER_FILE
    if marker.is_file():
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "?"
        return str(data.get("command", "?")) if isinstance(data, dict) else "?"
    return "?" if (path / COMPLETE_MARKER).is_file() else None


def check_complete_run(path: str | os.PathLike[str], what: str = "model") -> None:
    """Refuse to read an unfinished run folder as a result: a folder with the run marker
    and no ``.complete`` (interrupted, failed, or being written). A folder without the
    marker (a plain Hugging Face checkpoint, a downloaded model) is not judged here."""
    folder = Path(path)
    if not (folder / MARKER_FILE).is_file() or (folder / COMPLETE_MARKER).exists():
        return
    command = run_folder_command(folder)
    raise InputError(f"{what} {folder} is an unfinished 'xladjust {command}' run (no {COMPLETE_MARKER}): it was "
                     "interrupted, failed or is still running; finish it (adjust, finetune: --resume) or rerun it")


def check_not_inside_run(out: Path, flag: str = "--out") -> None:
    """Refuse an output inside another run's folder: a folder with a run marker or
    ``.complete`` above it, unless this process (or the process that started it, through
    :data:`HELD_RUNS_ENV`) is writing that run now."""
    target = real_path(out)
    held = {*_CLAIMS, *_held_runs(os.environ.get(HELD_RUNS_ENV))}
    for parent in target.parents:
        if str(parent) in held:
            return  # written as part of a run this process or its parent holds (a pipeline stage, a fine-tuning)
        command = run_folder_command(parent)
        if command is not None:
            who = "an earlier run" if command == "?" else f"'xladjust {command}'"
            raise OutputError(f"{flag} {out} lies inside the run folder {parent} (written by {who}); writing "
                              f"there would change that run. Choose another {flag} outside it")


def owned_by(path: Path, command: str, legacy: Legacy = ()) -> bool:
    """Whether folder ``path`` is an output (finished or failed) of ``command``."""
    marker = path / MARKER_FILE
    if marker.is_file():
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and data.get("command") == command
    for rule in legacy:
        if callable(rule):
            if rule(path):
                return True
        elif rule and all((path / name).exists() for name in rule):
            return True
    return False


def summary_kind(kind: str) -> Callable[[Path], bool]:
    """A legacy rule: the folder's ``summary.json`` says ``"kind": kind``."""

    def rule(path: Path) -> bool:
        try:
            data = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and data.get("kind") == kind

    return rule


def check_replaceable(out: Path, command: str, legacy: Legacy = (), *, file: bool = False,
                      flag: str = "--out") -> bool:
    """Refuse an existing ``out`` that this command may not replace; True when ``out``
    holds an earlier output of ``command`` (False when absent or an empty folder)."""
    if file:
        if out.is_dir():
            raise OutputError(f"{flag} {out} is a directory; give a file path")
        return out.exists()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {out} is a file; give a directory path")
    if not out.is_dir() or not any(out.iterdir()):
        return False
    if not owned_by(out, command, legacy):
        article = "an" if command[0] in "aeiou" else "a"
        raise OutputError(f"{flag} {out} is not {article} {command} run: a non-empty folder that 'xladjust "
                          f"{command}' did not write; refusing to delete or replace it, choose another {flag}")
    return True


def judge_existing(out: Path, *, overwrite: bool, resume: bool | None, flag: str = "--out") -> bool:
    """The rule every command that writes a folder follows for an earlier run in ``out``
    (already checked to be this command's by :func:`check_replaceable`): a complete run is
    replaced only with ``--overwrite``; an unfinished one is continued with ``--resume``
    (``resume=None``: the command cannot resume, so it is refused or replaced). Raises
    OutputError (one line saying which flag to pass); returns whether ``out`` holds an
    earlier run (anything besides the marker file)."""
    if resume and overwrite:
        raise OutputError("--resume and --overwrite conflict: --resume continues the run in "
                          f"{flag}, --overwrite replaces it; pass one of them")
    occupied = out.is_dir() and any(p.name != MARKER_FILE for p in out.iterdir())
    complete = occupied and is_complete(out)
    if resume and complete:
        raise OutputError(f"{out} holds a complete run; nothing to resume. Drop --resume, or pass "
                          "--overwrite to run again")
    if occupied and not resume and not overwrite:
        if complete:
            state = "a complete run"
        elif resume is None:
            state = "an unfinished run, which this command cannot resume"
        else:
            state = "an unfinished run (continue it with --resume)"
        raise OutputError(f"{out} already holds {state}; pass --overwrite to replace it or choose another {flag}")
    return occupied


def clear_run_dir(out: Path) -> None:
    """Delete an earlier run's contents from ``out`` (``--overwrite``, once every check has
    passed, for a command that builds its run in place); the claim's marker stays."""
    import shutil

    for path in out.iterdir():
        if path.name == MARKER_FILE:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


# ----------------------------------------------------------------------------- lock


def lock_path(out: Path) -> Path:
    """The lock file of output ``out``: beside its real path, so every alias (a symlink,
    a relative path) takes the same lock."""
    real = real_path(out)
    return real.with_name(f".{real.name}{LOCK_SUFFIX}")


def _lock(out: Path, command: str, flag: str) -> tuple[Path, int]:
    import fcntl

    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise OutputError(f"{flag} {out} is in use by another run ({_holder(path)}); wait for it to "
                              f"finish or choose another {flag}") from None
        try:  # the holder before us may have removed the file between our open and flock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(info) + "\n").encode())
    return path, fd


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"xladjust {info['command']}, pid {info['pid']} on {info['host']}, since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"lock file {path}"


def _unlock(claim: Claim) -> None:
    if claim.fd is None:
        return
    with contextlib.suppress(OSError):
        if claim.lock_path is not None:
            claim.lock_path.unlink()  # still holding the lock: the next run's inode check sees it
    os.close(claim.fd)
    claim.fd = None


# ----------------------------------------------------------------------------- helpers


def remove_stale_scratch(out: Path) -> None:
    """Remove ``.NAME.XXXXXXXX.tmp``, ``.NAME.staging.tmp`` and ``.NAME.old`` beside
    ``out``: scratch of an earlier run that was killed (only called under the lock)."""
    parent = out.parent
    if not parent.is_dir():
        return
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.([a-z0-9_]{{8}}\.tmp|staging\.tmp|old)$")
    for path in parent.iterdir():
        if pattern.match(path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)




def _inside(child: Path, parent: Path) -> bool:
    return child != parent and child.is_relative_to(parent)


def _key(path: Path) -> str:
    return str(real_path(path))
