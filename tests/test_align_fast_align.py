"""The fast_align backend through a stand-in executable (tests/fake_fast_align.py), its
error paths, atools, and the real binary when it is present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers_align import (
    EN,
    ES,
    FAKE_FAST_ALIGN,
    executable,
    hide_tools,
    install_fake_tools,
    needs_fast_align,
    real_atools,
    real_fast_align,
    write_lines,
    write_small_corpus,
)

from xladjust.align.config import AlignConfig, AlignerSpec, FastAlignOptions, InputSpec, Symmetrizer
from xladjust.align.corpus import check_aligned_corpus, read_pairs
from xladjust.align.fast_align import fast_align_args, find_atools, find_fast_align
from xladjust.align.pipeline import align_corpus
from xladjust.errors import ExternalToolError


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    return install_fake_tools(tmp_path, monkeypatch)


def config(tmp_path, **aligner) -> AlignConfig:
    src, tgt = write_small_corpus(tmp_path)
    return AlignConfig("en", "es", tmp_path / "out", input=InputSpec(src=src, tgt=tgt),
                       aligner=AlignerSpec(name="fast_align", **aligner), workers=1)


def test_default_command_is_the_papers_d_o_v(tmp_path):
    assert fast_align_args(FastAlignOptions(), tmp_path / "b", reverse=False) == ["-i", str(tmp_path / "b"), "-d", "-o", "-v"]
    assert fast_align_args(FastAlignOptions(), tmp_path / "b", reverse=True)[-1] == "-r"


def test_options_map_to_flags(tmp_path):
    opts = FastAlignOptions(iterations=7, diagonal_tension=2.5, alpha=0.1, p0=0.1, no_null=True, optimize_tension=False)
    assert fast_align_args(opts, tmp_path / "b", reverse=True) == [
        "-i", str(tmp_path / "b"), "-d", "-v", "-r", "-I", "7", "-T", "2.5", "-a", "0.1", "-q", "0.1", "-N"]
    # -T would switch -d on, so without favor_diagonal it is not passed; -a only matters with -v
    plain = FastAlignOptions(favor_diagonal=False, variational_bayes=False, diagonal_tension=2.0, alpha=0.5)
    assert fast_align_args(plain, tmp_path / "b", reverse=False) == ["-i", str(tmp_path / "b"), "-o"]


def test_align_through_the_stand_in(tmp_path, fake_tools, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_FAST_ALIGN_LOG", str(log))
    result = align_corpus(config(tmp_path, symmetrize_with=Symmetrizer.BUILTIN))
    manifest = check_aligned_corpus(result.out)
    pairs = read_pairs(result.out)
    assert [" ".join(p.src) for p in pairs] == EN and [" ".join(p.tgt) for p in pairs] == ES
    # the stand-in links identical words and else the diagonal; grow-diag-final-and of both
    assert pairs[0].links == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(c["argv"][2:] for c in calls) == [["-d", "-o", "-v"], ["-d", "-o", "-v", "-r"]]
    aligner = manifest["aligner"]
    assert aligner["name"] == "fast_align" and len(aligner["commands"]) == 2
    assert aligner["commands"][1].endswith("-d -o -v -r") and "OMP_NUM_THREADS=" in aligner["commands"][0]
    assert aligner["binary"]["sha256"] and aligner["symmetrization"]["symmetrizer"] == "builtin"
    assert manifest["counts"]["pairs"] == 4 and manifest["counts"]["links"] == sum(len(p.links) for p in pairs)


def test_both_directions_run_at_the_same_time(tmp_path, fake_tools, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_FAST_ALIGN_LOG", str(log))
    monkeypatch.setenv("FAKE_FAST_ALIGN_SLEEP", "1.0")
    align_corpus(config(tmp_path, symmetrize_with=Symmetrizer.BUILTIN))
    a, b = (json.loads(line) for line in log.read_text().splitlines())
    assert a["start"] < b["end"] and b["start"] < a["end"], "forward and reverse did not overlap"


def test_symmetrizes_with_atools_when_found(tmp_path, fake_tools):
    result = align_corpus(config(tmp_path, symmetrize="intersect"))
    sym = result.manifest["aligner"]["symmetrization"]
    assert sym["symmetrizer"] == "atools" and sym["command"].endswith("-c intersect")
    assert sym["binary"]["path"] == str(fake_tools["atools"].resolve())
    builtin = align_corpus(config(tmp_path / "b", symmetrize="intersect", symmetrize_with=Symmetrizer.BUILTIN))
    assert read_pairs(result.out) == read_pairs(builtin.out)


def test_atools_failure_shows_command_and_stderr(tmp_path, fake_tools, monkeypatch):
    monkeypatch.setenv("FAKE_ATOOLS_MODE", "fail")
    with pytest.raises(ExternalToolError, match=r"atools failed \(exit status 134\); command: .*-c grow-diag-final-and.*"
                                                r"stderr \(last lines\): BAD ALIGNMENT: simulated failure"):
        align_corpus(config(tmp_path))


def test_missing_binary_says_how_to_provide_it(tmp_path, monkeypatch):
    hide_tools(tmp_path, monkeypatch)
    with pytest.raises(ExternalToolError, match=r"fast_align was not found; pass --fast-align PATH, set FAST_ALIGN=PATH"):
        align_corpus(config(tmp_path))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ExternalToolError, match="atools was not found"):
        find_atools(FastAlignOptions(), required=True)
    assert find_atools(FastAlignOptions()) is None


def test_explicit_paths_that_are_wrong_are_errors(tmp_path, monkeypatch):
    hide_tools(tmp_path, monkeypatch)
    with pytest.raises(ExternalToolError, match=r"fast_align: given path .*nope does not exist; pass --fast-align"):
        find_fast_align(FastAlignOptions(binary=str(tmp_path / "nope")))
    monkeypatch.setenv("FAST_ALIGN", str(tmp_path / "missing"))
    with pytest.raises(ExternalToolError, match=r"fast_align: \$FAST_ALIGN .*missing does not exist"):
        find_fast_align(FastAlignOptions())
    plain = write_lines(tmp_path / "fast_align", ["not a program"])
    with pytest.raises(ExternalToolError, match="is not executable"):
        find_fast_align(FastAlignOptions(binary=str(plain)))
    tool = executable(tmp_path / "bin", "fast_align", FAKE_FAST_ALIGN)
    monkeypatch.delenv("FAST_ALIGN")
    assert find_fast_align(FastAlignOptions(binary=str(tool.parent))) == tool  # a directory works too
    monkeypatch.setenv("PATH", str(tool.parent) + os.pathsep + os.environ["PATH"])
    assert find_fast_align(FastAlignOptions()) == tool


def test_nonzero_exit_shows_the_command_and_stderr_tail(tmp_path, fake_tools, monkeypatch):
    monkeypatch.setenv("FAKE_FAST_ALIGN_MODE", "fail-reverse")
    with pytest.raises(ExternalToolError) as err:
        align_corpus(config(tmp_path))
    msg = str(err.value)
    assert "fast_align (reverse) failed (exit status 3)" in msg
    assert "-i " in msg and msg.split("; stderr")[0].endswith("-d -o -v -r")
    assert "Can't read the corpus: simulated failure" in msg
    assert not (tmp_path / "out").exists()


def test_short_output_is_caught(tmp_path, fake_tools, monkeypatch):
    monkeypatch.setenv("FAKE_FAST_ALIGN_MODE", "short")
    with pytest.raises(ExternalToolError, match=r"fast_align \(forward\) wrote 3 alignment lines for 4 input pairs"):
        align_corpus(config(tmp_path))


def test_malformed_output_names_file_and_line(tmp_path, fake_tools, monkeypatch):
    monkeypatch.setenv("FAKE_FAST_ALIGN_MODE", "garbage")
    with pytest.raises(ExternalToolError, match=r"forward.pharaoh:1: malformed link 'x-1'"):
        align_corpus(config(tmp_path, symmetrize_with=Symmetrizer.BUILTIN))


def test_out_of_range_links_are_caught(tmp_path, fake_tools, monkeypatch):
    monkeypatch.setenv("FAKE_FAST_ALIGN_MODE", "range")
    with pytest.raises(ExternalToolError, match=r"fast_align output .*:1: link 0-999 is out of range for 5 source"):
        align_corpus(config(tmp_path, symmetrize="union", symmetrize_with=Symmetrizer.BUILTIN))


@needs_fast_align
def test_real_fast_align_on_the_demo_corpus_atools_and_builtin_agree(tmp_path):
    """One thread per direction makes fast_align deterministic, so the atools run and the
    built-in run must give identical corpora."""
    if real_atools() is None:
        pytest.skip("atools was not found beside fast_align")
    demo = Path(__file__).resolve().parents[1] / "data" / "samples" / "demo-en-es"
    results = []
    for symmetrizer in (Symmetrizer.ATOOLS, Symmetrizer.BUILTIN):
        cfg = AlignConfig("en", "es", tmp_path / symmetrizer.value,
                          input=InputSpec(src=demo / "train.en", tgt=demo / "train.es"), workers=1,
                          aligner=AlignerSpec(name="fast_align", symmetrize_with=symmetrizer,
                                              fast_align=FastAlignOptions(threads=1)))
        results.append(align_corpus(cfg))
    atools_run, builtin_run = results
    assert atools_run.manifest["aligner"]["symmetrization"]["symmetrizer"] == "atools"
    assert builtin_run.manifest["aligner"]["symmetrization"]["symmetrizer"] == "builtin"
    assert atools_run.manifest["aligner"]["binary"]["path"] == str(real_fast_align().resolve())
    assert read_pairs(atools_run.out) == read_pairs(builtin_run.out)
    stats = atools_run.manifest["statistics"]
    assert atools_run.manifest["counts"]["pairs"] == 359
    assert 0.8 * stats["src_words"] / 359 < stats["links_per_sentence"] < 1.5 * stats["src_words"] / 359


def test_fast_align_reads_lowercased_input_by_default_and_links_the_original_words(tmp_path, fake_tools):
    manifest = align_corpus(config(tmp_path, symmetrize_with=Symmetrizer.BUILTIN)).manifest
    assert manifest["aligner"]["options"]["lowercase"] is True
    assert all("bitext.lower.txt" in cmd for cmd in manifest["aligner"]["commands"])
    pairs = read_pairs(tmp_path / "out")
    assert pairs[0].src[0] == "The" and pairs[0].tgt[0] == "La"  # the corpus keeps its case
    cased = align_corpus(config(tmp_path / "cased", symmetrize_with=Symmetrizer.BUILTIN,
                                fast_align=FastAlignOptions(lowercase=False))).manifest
    assert all("bitext.txt" in cmd and "bitext.lower.txt" not in cmd for cmd in cased["aligner"]["commands"])
