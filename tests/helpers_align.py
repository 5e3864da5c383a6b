"""Test helpers for the align stage: stand-in executables, the real fast_align when
present, small corpora written to temporary files."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FAKE_FAST_ALIGN = TESTS / "fake_fast_align.py"
FAKE_ATOOLS = TESTS / "fake_atools.py"

EN = ["The house is big .", "The dog drinks water .", "My sister reads a book .", "Red water in the river ."]
ES = ["La casa es grande .", "El perro bebe agua .", "Mi hermana lee un libro .", "Agua roja en el río ."]


def executable(directory: Path, name: str, script: Path) -> Path:
    """A shell wrapper named ``name`` that runs ``script`` with this Python."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def real_tool(name: str, env_var: str) -> Path | None:
    """The real fast_align/atools from the environment or PATH, or None."""
    value = os.environ.get(env_var)
    if value:
        path = Path(value)
        path = path / name if path.is_dir() else path
        return path if path.is_file() else None
    found = shutil.which(name)
    return Path(found) if found else None


def real_fast_align() -> Path | None:
    return real_tool("fast_align", "FAST_ALIGN")


def real_atools() -> Path | None:
    path = real_tool("atools", "ATOOLS")
    if path is None and real_fast_align() is not None:
        beside = real_fast_align().parent / "atools"  # type: ignore[union-attr]
        path = beside if beside.is_file() else None
    return path


def needs_fast_align(fn):
    """Mark a test that needs the real fast_align (and atools): skipped when absent."""
    skip = pytest.mark.skipif(real_fast_align() is None,
                              reason="the real fast_align is not available (set FAST_ALIGN or put it on PATH)")
    return pytest.mark.needs_fast_align(skip(fn))


def write_lines(path: Path, lines: list[str] | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = lines if isinstance(lines, str) else "".join(line + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


def install_fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Stand-in fast_align and atools wrappers; FAST_ALIGN and ATOOLS point at them for
    one test only (monkeypatch restores the environment)."""
    bin_dir = tmp_path / "fake-bin"
    tools = {"fast_align": executable(bin_dir, "fast_align", FAKE_FAST_ALIGN),
             "atools": executable(bin_dir, "atools", FAKE_ATOOLS)}
    monkeypatch.setenv("FAST_ALIGN", str(tools["fast_align"]))
    monkeypatch.setenv("ATOOLS", str(tools["atools"]))
    return tools


def hide_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No fast_align or atools anywhere for one test: environment unset, PATH without them."""
    monkeypatch.delenv("FAST_ALIGN", raising=False)
    monkeypatch.delenv("ATOOLS", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path") + os.pathsep + os.path.dirname(sys.executable))


def write_small_corpus(directory: Path) -> tuple[Path, Path]:
    return write_lines(directory / "train.en", EN), write_lines(directory / "train.es", ES)
