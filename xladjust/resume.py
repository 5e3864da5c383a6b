"""Before a resume loads anything: are the inputs and the checkpoint's files as the run left them?

A resumed run must compute what the interrupted one would have. So before anything is
loaded into the model, :func:`verify_checkpoint_files` checks, each failure one line naming the
file and what to do:

- the *contents* of every input (hashes from :func:`content_hashes`, never paths) are the
  ones the interrupted run recorded;
- the checkpoint holds every file it must, each JSON file parses and has every key the
  trainer reads, each JSON-lines log has only whole lines (a cut last line is damage).

Each stage (adjust; finetune when it resumes) lists its own files and keys; the rules live
here once. After loading, :func:`xladjust.training_state.verify_same_run` checks what the
loaded state records (config fingerprints, process count).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xladjust.errors import InputError
from xladjust.io import sha256_file

AFRESH = "start afresh with --overwrite"


def content_hashes(paths: Mapping[str, str | Path | None]) -> dict[str, str]:
    """name -> SHA-256 of a file's bytes, or of a folder's files (names and bytes, sorted);
    names whose path is None or does not exist locally (hub names) are left out."""
    import hashlib

    out: dict[str, str] = {}
    for name, value in paths.items():
        if value is None:
            continue
        path = Path(value)
        if path.is_file():
            out[name] = sha256_file(path)
        elif path.is_dir():
            h = hashlib.sha256()
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                h.update(str(f.relative_to(path)).encode() + b"\0" + sha256_file(f).encode())
            out[name] = h.hexdigest()
    return out


def verify_same_settings(checkpoint: Path, recorded: Mapping[str, Any] | None, current: Mapping[str, Any]) -> None:
    """Refuse (InputError, one line) to resume from ``checkpoint`` when a setting that
    changes what the run computes differs from the interrupted run's (``recorded``, as it
    wrote them when it started; None: not recorded, left to the later checks). The
    message names the first such key, both values and how to go on: a checkpoint written
    under other settings is sound, only not this run's."""
    if recorded is None:
        return
    then, now = json.loads(json.dumps(dict(recorded))), json.loads(json.dumps(dict(current), default=str))
    for key in sorted(set(then) | set(now)):
        if then.get(key) != now.get(key):
            was = json.dumps(then.get(key), ensure_ascii=False)
            option = "--" + key.replace("_", "-")
            raise InputError(f"cannot resume from {checkpoint}: the setting {key!r} differs from the interrupted "
                             f"run's ({_short(was)} then, {_short(json.dumps(now.get(key), ensure_ascii=False))} now); "
                             f"resume with the run's own setting ({option} or '{key}:' {_short(was)}), or {AFRESH} "
                             "to train with the new one")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verify_checkpoint_files(checkpoint: Path, *, recorded_inputs: Mapping[str, str] | None, inputs: Mapping[str, str],
                  files: Sequence[str] = (), json_keys: Mapping[str, Sequence[str]] | None = None,
                  jsonl: Sequence[Path] = (), labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Refuse (InputError, one line) to resume from ``checkpoint`` when an input changed
    or the checkpoint is damaged; return the parsed JSON files (name -> object).

    ``recorded_inputs``/``inputs``: name -> content hash, as the interrupted run recorded
    them and as they are now (None: nothing recorded, which is refused too); ``labels``
    name an input in messages (default: its key). ``files``:
    names that must exist (non-empty) in the checkpoint; ``json_keys``: JSON files in it
    and the keys each must have; ``jsonl``: JSON-lines files (anywhere) to check line by line.
    """
    checkpoint = Path(checkpoint)
    if recorded_inputs is None:
        raise InputError(f"cannot resume from {checkpoint}: the interrupted run recorded no input hashes; {AFRESH}")
    for name in sorted(set(recorded_inputs) | set(inputs)):
        if recorded_inputs.get(name) != inputs.get(name):
            label = (labels or {}).get(name, name)
            raise InputError(f"cannot resume from {checkpoint}: the contents of {label} changed since the "
                             f"interrupted run (resume checks contents, not paths); restore it or {AFRESH}")
    for name in files:
        path = checkpoint / name
        if not path.is_file() or path.stat().st_size == 0:
            raise InputError(f"checkpoint {checkpoint} is damaged: {name} is missing or empty; "
                             f"delete the checkpoint to resume from an older one, or {AFRESH}")
    parsed: dict[str, Any] = {}
    for name, keys in (json_keys or {}).items():
        path = checkpoint / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            raise InputError(f"checkpoint {checkpoint} is damaged: {name} is missing or not valid JSON; "
                             f"delete the checkpoint to resume from an older one, or {AFRESH}") from None
        missing = [k for k in keys if not isinstance(data, dict) or k not in data]
        if missing:
            raise InputError(f"checkpoint {checkpoint} is damaged: {name} has no {', '.join(map(repr, missing))}; "
                             f"delete the checkpoint to resume from an older one, or {AFRESH}")
        parsed[name] = data
    for path in jsonl:
        check_jsonl(path)
    return parsed


def check_jsonl(path: Path) -> None:
    """Every line of ``path`` (if it exists) is a JSON object; else one line naming it."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                ok = isinstance(json.loads(raw.decode("utf-8")), dict) if raw.strip() else True
            except (UnicodeDecodeError, ValueError):
                ok = False
            if not ok or not raw.endswith(b"\n"):
                raise InputError(f"{path}:{lineno}: the line is cut short or not a JSON object; the run "
                                 f"cannot be resumed: {AFRESH}")
