"""Atomic file and directory writes, checksums, JSON helpers.

Outputs are written under a temporary name and renamed into place, so an interrupted
run never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from xladjust.errors import InputError, OutputError
from xladjust.interrupts import check_interrupted

COMPLETE_MARKER = ".complete"

# Called as hook(target, new_folder) before atomic_dir swaps a finished folder in.
# xladjust.outputs, which sits above this module, adds the writer of an output claim's
# run-folder marker when it is imported (without it no claim exists).
BEFORE_SWAP: list[Callable[[Path, Path], None]] = []


def real_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` expanded and every symlink resolved. Outputs are written, locked
    and compared at their real path: writing to a symlink replaces what it points to and
    leaves the symlink in place."""
    return Path(os.path.realpath(os.path.expanduser(str(path))))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    target = real_path(path)
    with temporary_beside(target) as tmp_path, disk_full_names(target):
        yield tmp_path
        os.replace(tmp_path, target)


@contextlib.contextmanager
def temporary_beside(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file name beside ``path`` (same disk, so a rename is atomic), removed
    at the end unless it was renamed away (see :func:`replace_files`)."""
    target = real_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path: Path | None = None
    try:  # from its creation on, so that an interrupt (Ctrl-C) at any point removes it
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        tmp_path = Path(tmp)
        os.close(fd)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs follow the umask
        yield tmp_path
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "value"):  # enums
        return obj.value
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_json_object(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The JSON object in the file ``path``; ``what`` names the file's role in the errors
    ("the aligned corpus's manifest"). Invalid UTF-8 or JSON, or a JSON value that is not
    an object, is a one-line InputError naming the file."""
    try:
        data = read_json(path)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"{what} {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} holds no JSON object")
    return data


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; replace ``path`` with it on success.

    An existing ``path`` stays intact until the new directory is complete. When ``path``
    is an output claimed with :func:`xladjust.outputs.claim_output`, the claim's run-folder
    marker is written into the new directory before it is swapped in (:data:`BEFORE_SWAP`).
    """
    target = real_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:  # from its creation on, so that an interrupt (Ctrl-C) at any point removes it
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        os.chmod(tmp, 0o777 & ~_umask())
        with disk_full_names(target):
            yield tmp
            for hook in BEFORE_SWAP:
                hook(target, tmp)
            replace_dir(tmp, target)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(new: Path, target: Path) -> None:
    """Put directory ``new`` at ``target``; an existing ``target`` is moved aside first and
    removed only once ``new`` is in place (put back if the swap fails). A symlinked
    ``target`` is replaced where it points (``new`` is built beside that folder)."""
    new, target = Path(new), real_path(target)
    if not target.exists():
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def replace_files(moves: list[tuple[Path, Path]]) -> None:
    """Rename each finished temporary file onto its target, all or none: targets that
    existed are moved aside first and put back if any rename fails, so files that belong
    together (vectors and their index) never end up from two different runs."""
    moves = [(tmp, real_path(target)) for tmp, target in moves]  # a symlink: replace what it points to
    backups: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for _, target in moves:
            if target.exists():
                backup = target.with_name(f".{target.name}.old")
                os.replace(target, backup)
                backups.append((backup, target))
        for tmp, target in moves:
            with disk_full_names(target):
                os.replace(tmp, target)
            placed.append(target)
    except BaseException:
        for target in placed:
            target.unlink(missing_ok=True)
        for backup, target in backups:
            os.replace(backup, target)
        raise
    for backup, _ in backups:
        backup.unlink(missing_ok=True)


_DISK_FULL_TEXT = ("No space left on device", "StorageFull", "Disk quota exceeded")


def is_disk_full(exc: BaseException, path: str | os.PathLike[str] | None = None) -> bool:
    """True for an error that means the disk (or quota) is full: ENOSPC/EDQUOT, the
    messages safetensors wraps them in, or any other error while writing ``path`` (torch
    reports a full disk as "iostream error" or "unexpected pos") when the disk holding
    ``path`` has (almost) no room left."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if not isinstance(exc, Exception):
        return False
    if any(t in str(exc) for t in _DISK_FULL_TEXT):
        return True
    if path is None:
        return False
    try:
        return shutil.disk_usage(_existing_parent(Path(path))).free < (1 << 20)
    except OSError:
        return False


def _existing_parent(path: Path) -> Path:
    path = path.parent
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


@contextlib.contextmanager
def disk_full_names(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a full disk while writing ``path`` into an OutputError that says so and names
    the path (the low-level errors often name neither)."""
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:
        if not is_disk_full(exc, path):
            raise
        where = _visible(Path(path))
        named = getattr(exc, "filename", None)
        if named and _visible(Path(named)).is_relative_to(where):
            where = _visible(Path(named))  # the file inside ``path`` that was being written
        raise OutputError(f"the disk is full (No space left on device) while writing {where}; free some space "
                          "or choose an --out on another disk, and rerun") from exc


_TEMP_NAME = re.compile(r"^\.(.+)\.[a-z0-9_]{8}\.tmp$")


def _visible(path: Path) -> Path:
    """The path a user asked for, behind the temporary names of :func:`temporary_beside`
    and :func:`atomic_dir` (in any component: a file inside a folder being written)."""
    parts = []
    for part in path.parts:
        while match := _TEMP_NAME.match(part):
            part = match.group(1)
        parts.append(part)
    return Path(*parts) if parts else path


def iter_text_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """(line number, text without the newline) for each line of a UTF-8 file; invalid
    UTF-8 is an InputError naming the file, line and byte."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{lineno}: invalid UTF-8 at byte {exc.start}") from None
            yield lineno, line.rstrip("\r\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def mark_complete(run_dir: str | os.PathLike[str]) -> None:
    """Mark a run directory complete; done last, after every output is in place. Never
    after a signal, even one whose exception was swallowed (:mod:`xladjust.interrupts`)."""
    check_interrupted()
    write_text_atomic(Path(run_dir) / COMPLETE_MARKER, "")


def is_complete(run_dir: str | os.PathLike[str]) -> bool:
    return (Path(run_dir) / COMPLETE_MARKER).exists()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=_json_default)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def os_error_line(exc: OSError) -> str:
    """An operating-system error as one line that names the path and what it means."""
    named = getattr(exc, "filename", None)
    if named:
        named = str(_visible(Path(os.fsdecode(named))))  # the path asked for, not its temporary name
    if is_disk_full(exc):
        return "the disk is full (no space left on device)" + (f": {named}" if named else "")
    if named and exc.errno in (errno.EEXIST, errno.ENOTDIR):
        blocker = _file_in_the_way(Path(os.fsdecode(named)))
        if blocker is not None:
            return (f"{blocker} is a file where a folder is expected (to hold {named}); move it away or choose "
                    "another path")
    detail = exc.strerror or str(exc)
    return f"{detail}: {named}" if named else detail


def _file_in_the_way(path: Path) -> Path | None:
    """The first component of ``path`` (itself included) that exists and is not a folder."""
    for candidate in [*reversed(path.parents), path]:
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None
