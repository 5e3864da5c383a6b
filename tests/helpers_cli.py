"""Running the ``xladjust`` command line inside a test process."""

from __future__ import annotations

from pathlib import Path

import pytest

from xladjust.cli import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``xladjust ARGS``."""
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    captured = capsys.readouterr()
    return exc.value.code or 0, captured.out, captured.err


def fail_one_line(capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> str:
    """Run ``xladjust -q ARGS`` in-process; assert exit status 2 and exactly one stderr
    line, ``xladjust: error: ...`` containing ``fragment``; return that line."""
    capsys.readouterr()
    code, _, err = run_cli(["-q", *args], capsys)
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("xladjust: error:"), err
    assert fragment in lines[0], err
    return lines[0]


def tree_hashes(*paths: Path) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (files or folders), by path."""
    import hashlib

    out: dict[str, str] = {}
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def assert_nothing_complete(*paths: Path) -> None:
    """No ``.complete`` marker in or under any of ``paths``."""
    for path in map(Path, paths):
        assert not (path / ".complete").exists(), path
        assert not path.is_dir() or not any(path.rglob(".complete")), path
