"""The eflomal backend through its Python API, and its error paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_cli import run_cli

from xladjust.align import eflomal_backend, eflomal_seed
from xladjust.align.config import AlignConfig, AlignerSpec, EflomalOptions, InputSpec, Symmetrizer
from xladjust.align.corpus import check_aligned_corpus, read_pairs
from xladjust.align.pipeline import align_corpus
from xladjust.errors import ExternalToolError, MissingDependencyError

DEMO = Path(__file__).resolve().parents[1] / "data" / "samples" / "demo-en-es"


def config(tmp_path: Path, limit: int = 200) -> AlignConfig:
    return AlignConfig("en", "es", tmp_path / "out", workers=1,
                       input=InputSpec(src=DEMO / "train.en", tgt=DEMO / "train.es", max_pairs=limit),
                       aligner=AlignerSpec(name="eflomal", symmetrize_with=Symmetrizer.BUILTIN))


def test_eflomal_aligns_the_demo_corpus(tmp_path):
    result = align_corpus(config(tmp_path))
    manifest = check_aligned_corpus(result.out)
    pairs = read_pairs(result.out)
    assert len(pairs) == 200
    aligner = manifest["aligner"]
    assert aligner["package"].startswith("eflomal ") and aligner["deterministic"] is True
    assert aligner["seed"] == 0
    assert aligner["options"]["samplers"] == 3
    # literal everyday translations: most words are linked, sentence-final periods align
    stats = manifest["statistics"]
    assert stats["links_per_sentence"] > 6 and stats["unaligned_word_share"] < 0.25
    periods = [p for p in pairs if p.src[-1] == "." and p.tgt[-1] == "."]
    linked = sum((len(p.src) - 1, len(p.tgt) - 1) in p.links for p in periods)
    assert linked >= 0.9 * len(periods)


def test_missing_eflomal_says_which_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "eflomal", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'xladjust\[eflomal\]'"):
        align_corpus(config(tmp_path))
    assert not (tmp_path / "out").exists()


def test_eflomal_failure_shows_its_command(tmp_path, monkeypatch):
    def fail(self, *args, **kwargs):
        raise subprocess.CalledProcessError(1, ["eflomal", "-m", "3"])

    monkeypatch.setattr(eflomal_backend._import_eflomal().Aligner, "align", fail)
    with pytest.raises(ExternalToolError, match=r"eflomal failed \(exit status 1\); command: eflomal -m 3"):
        align_corpus(config(tmp_path))


def test_eflomal_short_output_is_caught(tmp_path, monkeypatch):
    def short(options, bitext, forward, reverse, quiet=True, env=None):
        forward.write_text("0-0\n")
        reverse.write_text("0-0\n")

    monkeypatch.setattr(eflomal_backend, "run_eflomal", short)
    with pytest.raises(ExternalToolError, match="eflomal wrote 1 forward alignment lines for 200 pairs"):
        align_corpus(config(tmp_path))


def test_eflomal_options_are_checked():
    problems = EflomalOptions(model=4, samplers=0, iterations=(1, 2)).check()
    assert len(problems) == 3


def _align_cli(tmp_path: Path, name: str, seed: int, capsys) -> bytes:
    out = tmp_path / name
    code, _, err = run_cli(["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(DEMO / "train.en"),
                            "--tgt", str(DEMO / "train.es"), "--max-pairs", "150", "--aligner", "eflomal",
                            "--symmetrize-with", "builtin", "--workers", "1", "--seed", str(seed), "--out", str(out)],
                           capsys)
    assert code == 0, err
    return (out / "pairs.jsonl").read_bytes()


def test_eflomal_with_the_same_seed_gives_the_same_corpus(tmp_path, capsys):
    first = _align_cli(tmp_path, "a", 3, capsys)
    assert _align_cli(tmp_path, "b", 3, capsys) == first
    assert _align_cli(tmp_path, "c", 4, capsys) != first  # the seed reaches the sampler
    assert "XLADJUST_EFLOMAL_SEED" not in os.environ  # the seeding variables were set for eflomal only


def test_seeding_library_environment(tmp_path):
    shim = eflomal_seed.seed_shim(tmp_path)
    assert shim.available, shim.reason
    env = shim.env(11)
    assert env["XLADJUST_EFLOMAL_SEED"] == "11" and env["OMP_NUM_THREADS"] == "2,1"
    assert env["LD_PRELOAD"] == str(shim.library) and shim.library.parent.parent == tmp_path
    assert eflomal_seed.seed_shim(tmp_path).library == shim.library  # built once, then reused


def test_without_a_compiler_eflomal_runs_unseeded_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(eflomal_seed, "_compiler", lambda: None)
    monkeypatch.setattr(eflomal_seed, "seed_shim", lambda: eflomal_seed.SeedShim(None, "no C compiler"))
    monkeypatch.setattr(eflomal_backend, "seed_shim", eflomal_seed.seed_shim)
    assert "no C compiler" in eflomal_seed.seed_shim().reason
    manifest = align_corpus(config(tmp_path, limit=50)).manifest
    assert manifest["aligner"]["deterministic"] is False and manifest["aligner"]["seed"] is None
    assert "unseeded (no C compiler)" in manifest["aligner"]["note"]


def test_no_compiler_reason_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(eflomal_seed, "_compiler", lambda: None)
    shim = eflomal_seed.seed_shim(tmp_path / "fresh")
    assert not shim.available and "apt-get install gcc" in shim.reason and shim.env(1) == {}


def test_unwritable_cache_leaves_eflomal_unseeded_with_the_reason(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    shim = eflomal_seed.seed_shim(blocker)  # the cache "directory" is a file
    assert not shim.available and "cannot build the eflomal seeding library" in shim.reason


def test_failing_compiler_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(eflomal_seed, "_compiler", lambda: "false")
    shim = eflomal_seed.seed_shim(tmp_path)
    assert not shim.available and "building the eflomal seeding library with false failed" in shim.reason
    assert not list((tmp_path / "eflomal-seed").iterdir())  # no half-written files left
