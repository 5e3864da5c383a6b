"""``datasets`` in: hub names, ``save_to_disk`` folders and in-memory datasets.

:func:`load_split` is the one place that turns a dataset reference into a
``datasets.Dataset``, for parallel text (``align``'s ``hf`` input) and task data alike:

- a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk`` is read
  with ``datasets.load_from_disk`` (no network);
- anything else is a hub name (or a local data folder ``load_dataset`` understands),
  loaded with ``datasets.load_dataset`` (network or a filled cache);
- a ``Dataset`` passes through; a ``DatasetDict`` gives the requested split.

Configs and signatures hold strings, so an in-memory dataset enters the Python API through
:func:`as_source`: it is saved once under the cache (``XLADJUST_CACHE_DIR/datasets/``,
in a folder named by the hash of its data) and the returned ``hf:FOLDER`` string goes wherever a
source string goes (``InputSpec(hf=...)``, ``FinetuneConfig(train=[...])``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from xladjust.errors import InputError
from xladjust.extras import import_extra
from xladjust.io import sha256_file

HUB_PREFIX = "hf:"
_SAVED_MARKERS = ("dataset_dict.json", "state.json")  # DatasetDict, Dataset


def _datasets() -> Any:
    return import_extra("datasets", "hub", "datasets input (hf:NAME or a save_to_disk folder)")


def is_saved_dataset(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``save_to_disk``."""
    path = Path(path)
    return path.is_dir() and any((path / m).is_file() for m in _SAVED_MARKERS)


def is_dataset(obj: Any) -> bool:
    """A ``datasets.Dataset`` or ``DatasetDict`` (checked without importing ``datasets``)."""
    return type(obj).__name__ in ("Dataset", "DatasetDict") and type(obj).__module__.startswith("datasets")


def pick_split(obj: Any, split: str, where: str) -> Any:
    """``obj`` itself for a ``Dataset``; its ``split`` for a ``DatasetDict``."""
    if type(obj).__name__ != "DatasetDict":
        return obj
    if split not in obj:
        raise InputError(f"{where} has no split {split!r}; its splits are {', '.join(obj)} (name one, e.g. "
                         f"hf:FOLDER::{next(iter(obj), 'train')})")
    return obj[split]


def load_split(ref: Any, config: str | None, split: str, where: str | None = None) -> Any:
    """A ``datasets.Dataset`` for ``ref`` (see module doc); errors name ``where``."""
    if is_dataset(ref):
        return pick_split(ref, split, where or "the dataset")
    name = str(ref).removeprefix(HUB_PREFIX)
    where = where or f"hf:{name}"
    datasets = _datasets()
    if is_saved_dataset(name):
        try:
            return pick_split(datasets.load_from_disk(name), split, where)
        except InputError:
            raise
        except Exception as exc:  # a damaged folder: datasets raises many kinds
            raise InputError(f"{where}: cannot read the save_to_disk folder {name}: {_first_line(exc)}") from None
    if Path(name).exists() and not Path(name).is_dir():
        raise InputError(f"{where}: {name} is a file; give a folder written by save_to_disk, a hub name, or "
                         "use the file as a regular input (src/tgt, bitext, tsv; a task data file)")
    try:
        return datasets.load_dataset(name, config or None, split=split)
    except Exception as exc:  # datasets raises many kinds (network, missing config, ...)
        raise InputError(
            f"could not load dataset {name!r} (config {config or None!r}, split {split!r}): {_first_line(exc)}. "
            "Hub datasets need network access or a filled cache; offline, use a local file, a folder written "
            "by Dataset.save_to_disk (hf:FOLDER), or an in-memory dataset through xladjust.data.hf.as_source"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def fingerprint(ds: Any) -> str:
    return str(getattr(ds, "_fingerprint", None) or "unknown")


def cache_root() -> Path:
    return Path(os.environ.get("XLADJUST_CACHE_DIR") or Path.home() / ".cache" / "xladjust") / "datasets"


def as_source(obj: Any, root: str | Path | None = None) -> str:
    """Save an in-memory ``Dataset``/``DatasetDict`` under ``root`` (default: the cache),
    in a folder named by the hash of its data, and return the ``hf:FOLDER`` source string
    that reads it back. The same data gives the same folder (and the same input hash in
    signatures); it is written once."""
    if not is_dataset(obj):
        raise InputError(f"as_source takes a datasets.Dataset or DatasetDict, not {type(obj).__name__}")
    folder = Path(root) if root is not None else cache_root()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dataset.", dir=folder))
    try:
        obj.save_to_disk(str(tmp / "d"))
        digest = hashlib.sha256()
        for path in sorted((tmp / "d").rglob("*.arrow")):
            digest.update(path.relative_to(tmp / "d").as_posix().encode())
            digest.update(sha256_file(path).encode())
        target = folder / digest.hexdigest()[:24]
        if not is_saved_dataset(target):
            os.replace(tmp / "d", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return f"{HUB_PREFIX}{target}"
