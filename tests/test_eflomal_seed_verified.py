"""The eflomal determinism claim is checked before it is recorded: a seeding library that
was truncated, replaced, built for another machine or cannot be built never yields
``deterministic: true``; a verified one gives byte-identical same-seed runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_cli import run_cli

from xladjust.align import eflomal_backend, eflomal_seed

DEMO = Path(__file__).resolve().parents[1] / "data" / "samples" / "demo-en-es"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh cache whose seeding library every align run in the test uses."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(eflomal_backend, "seed_shim", lambda: eflomal_seed.seed_shim(cache))
    return cache


def _library(cache: Path) -> Path:
    shim = eflomal_seed.seed_shim(cache)
    assert shim.available, shim.reason
    return shim.library


def _align(tmp_path: Path, name: str, seed: int, capsys) -> Path:
    out = tmp_path / name
    code, _, err = run_cli(["-q", "align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(DEMO / "train.en"),
                            "--tgt", str(DEMO / "train.es"), "--max-pairs", "60", "--aligner", "eflomal",
                            "--symmetrize-with", "builtin", "--workers", "1", "--seed", str(seed), "--out", str(out)],
                           capsys)
    assert code == 0, err
    return out


def _aligner(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))["aligner"]


def test_expected_bytes_follow_the_library(cache):
    """The child-process check compares against this stream: if it drifted from the C
    source, every library would be refused."""
    assert eflomal_seed._verified(_library(cache)).available
    assert eflomal_seed.expected_bytes(1) != eflomal_seed.expected_bytes(2)
    assert eflomal_seed.expected_bytes(1, thread=0) != eflomal_seed.expected_bytes(1, thread=1)


def test_same_seed_runs_are_byte_identical_and_say_so(tmp_path, cache, capsys):
    a, b = _align(tmp_path, "a", 5, capsys), _align(tmp_path, "b", 5, capsys)
    for name in ("pairs.jsonl", "links.pharaoh"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert _aligner(a)["deterministic"] is True and _aligner(a)["seed"] == 5


def _truncate(library: Path) -> None:
    library.write_bytes(library.read_bytes()[:100])


def _replace_with_garbage(library: Path) -> None:
    library.write_bytes(b"\x7fELF" + b"\0" * 60)


def _drop_record(library: Path) -> None:
    library.with_name(library.name + ".sha256").unlink()


def _foreign_but_recorded(library: Path) -> None:
    """A library that matches its record but does not load here (as one built on another
    machine would): the child-process check refuses it."""
    import hashlib

    library.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 200)
    library.with_name(library.name + ".sha256").write_text(hashlib.sha256(library.read_bytes()).hexdigest())


DAMAGE = {"truncated": _truncate, "replaced": _replace_with_garbage, "hash record missing": _drop_record,
          "does not load": _foreign_but_recorded}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_library_is_rebuilt_and_verified(cache, damage):
    library = _library(cache)
    good = library.read_bytes()
    DAMAGE[damage](library)
    eflomal_seed._VERIFIED.clear()
    shim = eflomal_seed.seed_shim(cache)
    assert shim.available, shim.reason
    assert library.read_bytes() == good


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_without_a_compiler_a_damaged_library_means_deterministic_false(tmp_path, cache, capsys, monkeypatch,
                                                                       damage):
    DAMAGE[damage](_library(cache))
    eflomal_seed._VERIFIED.clear()
    monkeypatch.setattr(eflomal_seed, "_compiler", lambda: None)
    a, b = _align(tmp_path, "a", 5, capsys), _align(tmp_path, "b", 5, capsys)
    for run in (a, b):
        aligner = _aligner(run)
        assert aligner["deterministic"] is False and aligner["seed"] is None
        assert "eflomal ran unseeded" in aligner["note"] and "eflomal seeding library" in aligner["note"]


def test_an_unusable_cache_means_deterministic_false(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    monkeypatch.setattr(eflomal_backend, "seed_shim", lambda: eflomal_seed.seed_shim(blocker))
    aligner = _aligner(_align(tmp_path, "a", 5, capsys))
    assert aligner["deterministic"] is False and "cannot build the eflomal seeding library" in aligner["note"]


def test_the_library_name_carries_the_architecture(cache, monkeypatch):
    here = _library(cache)
    monkeypatch.setattr(eflomal_seed.platform, "machine", lambda: "otherarch")
    monkeypatch.setattr(eflomal_seed, "_compiler", lambda: None)
    other = eflomal_seed.seed_shim(cache)
    assert not other.available and "apt-get install gcc" in other.reason  # not this machine's library
    assert "otherarch" not in here.name and here.is_file()


def test_a_cache_that_cannot_be_read_means_deterministic_false(tmp_path, cache, capsys, monkeypatch):
    """As on a shared home whose cache folder this user may not search (root reads any
    folder, so the refusal is injected where the library is looked up)."""
    real_is_file = Path.is_file

    def denied(self):
        if self.name.startswith("seed-"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", denied)
    aligner = _aligner(_align(tmp_path, "a", 5, capsys))
    assert aligner["deterministic"] is False and aligner["seed"] is None
    assert "cache" in aligner["note"] and "is unusable (Permission denied)" in aligner["note"]
