"""The align pipeline: outputs, manifest, statistics, configs, and interrupted runs."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from helpers_align import FAKE_FAST_ALIGN, executable, write_lines, write_small_corpus

from xladjust.align.backends import ALIGNERS, AlignerOutput, create_backend
from xladjust.align.config import AlignConfig, AlignerSpec, InputSpec, Symmetrizer
from xladjust.align.corpus import PHARAOH_FILE, check_aligned_corpus, export_pharaoh, read_pairs
from xladjust.align.external import ToolRun, run_tools
from xladjust.align.pipeline import align_corpus
from xladjust.align.stats import AlignmentStats
from xladjust.config import build_config, validate_file
from xladjust.errors import ConfigError, InputError
from xladjust.io import is_complete


class StubBackend:
    """Forward: target word j -> source word j (if any); reverse: the same plus source
    word 0 -> target word 1. Deterministic, no external program."""

    name = "stub"
    uses_extra_text = True

    def __init__(self, fail_in_align: BaseException | None = None):
        self.fail = fail_in_align

    def check(self) -> None:
        pass

    def align(self, bitext, work: Path, progress: bool = False) -> AlignerOutput:
        if self.fail is not None:
            raise self.fail
        fwd, rev = [], []
        for src, tgt in bitext.iter_words():
            diag = [(j, j) for j in range(min(len(src), len(tgt)))]
            fwd.append(" ".join(f"{i}-{j}" for i, j in diag))
            rev.append(" ".join(f"{i}-{j}" for i, j in diag + ([(0, 1)] if len(tgt) > 1 else [])))
        return AlignerOutput(forward=write_lines(work / "f", fwd), reverse=write_lines(work / "r", rev),
                             info={"stub": True})


def config(tmp_path: Path, **kw) -> AlignConfig:
    src, tgt = write_small_corpus(tmp_path)
    aligner = kw.pop("aligner", AlignerSpec(name="eflomal", symmetrize_with=Symmetrizer.BUILTIN))
    return AlignConfig("en", "es", tmp_path / "out", input=kw.pop("input", InputSpec(src=src, tgt=tgt)),
                       aligner=aligner, workers=1, **kw)


def test_output_directory_manifest_and_pharaoh(tmp_path):
    result = align_corpus(config(tmp_path), backend=StubBackend())
    manifest = check_aligned_corpus(result.out)
    pairs = read_pairs(result.out)
    assert pairs[0].src == ["The", "house", "is", "big", "."]
    # union of both directions would add 0-1; grow-diag-final-and does not (both words aligned)
    assert pairs[0].links == [(i, i) for i in range(5)]
    assert manifest["src_lang"] == "en" and manifest["tgt_lang"] == "es"
    assert manifest["aligner"]["name"] == "stub" and manifest["aligner"]["stub"] is True
    assert manifest["aligner"]["symmetrization"] == {"symmetrizer": "builtin", "heuristic": "grow-diag-final-and",
                                                     "implementation": "xladjust.align.symmetrize"}
    assert manifest["tokenizer"]["name"] == "moses" and manifest["tokenizer"]["escape"] is False
    assert set(manifest["input"]["checksums"]) == {str(tmp_path / "train.en"), str(tmp_path / "train.es")}
    assert manifest["counts"]["pairs"] == 4 and manifest["counts"]["lines"] == 4
    sig = manifest["signature"]
    assert sig["stage"] == "align" and sig["seed"] == 0 and "sacremoses" in sig["versions"]
    assert sig["config"]["aligner"]["symmetrize"] == "grow-diag-final-and"
    assert set(manifest["statistics"]) >= {"links_per_sentence", "one_to_one_word_share", "identical_link_share"}
    lines = (result.out / PHARAOH_FILE).read_text().splitlines()
    assert lines[0] == "0-0 1-1 2-2 3-3 4-4"
    assert export_pharaoh(result.out, tmp_path / "x.pharaoh") == 4
    assert (tmp_path / "x.pharaoh").read_text().splitlines() == lines
    assert not list(tmp_path.glob(".out.*")), "scratch or temporary directories were left behind"


def test_union_and_one_to_one(tmp_path):
    spec = AlignerSpec(name="eflomal", symmetrize="union", symmetrize_with=Symmetrizer.BUILTIN, one_to_one=True)
    result = align_corpus(config(tmp_path, aligner=spec), backend=StubBackend())
    pairs = read_pairs(result.out)
    # union adds 0-1: source word 0 (0-0, 0-1) and target word 1 (0-1, 1-1) get two links
    # each, so 0-0, 0-1 and 1-1 are dropped
    assert pairs[0].links == [(2, 2), (3, 3), (4, 4)]
    assert result.manifest["aligner"]["one_to_one"] is True


def test_skipped_lines_are_counted_in_the_manifest(tmp_path):
    src = write_lines(tmp_path / "a.en", ["a b .", "", "c d .", "w " * 30])
    tgt = write_lines(tmp_path / "a.es", ["x y .", "z", "u v .", "t"])
    cfg = config(tmp_path, input=InputSpec(src=src, tgt=tgt, max_words=20))
    counts = align_corpus(cfg, backend=StubBackend()).manifest["counts"]
    assert (counts["lines"], counts["pairs"], counts["skipped_empty"], counts["skipped_long"]) == (4, 2, 1, 1)


def test_pretokenized_input_keeps_its_words(tmp_path):
    path = write_lines(tmp_path / "b.txt", ["It's  a test ||| Es una prueba"])
    cfg = config(tmp_path, input=InputSpec(joint=path, tokenize=False))
    result = align_corpus(cfg, backend=StubBackend())
    assert read_pairs(result.out)[0].src == ["It's", "a", "test"]
    assert result.manifest["tokenizer"]["name"] == "whitespace"


def test_statistics_on_a_hand_made_pair():
    stats = AlignmentStats()
    # links 0-0 (identical "Ana"), 1-1, 1-2 (word 1 has two links), word 2 unaligned
    stats.add(["Ana", "runs", "fast"], ["Ana", "corre", "mucho"], [(0, 0), (1, 1), (1, 2)])
    stats.add(["x"], ["y"], [])
    r = stats.result()
    assert r["links_per_sentence"] == 1.5
    assert r["one_to_one_word_share"] == pytest.approx(2 / 8)  # only Ana-Ana, 2 of 8 words
    assert r["identical_link_share"] == pytest.approx(1 / 3)
    assert r["unaligned_word_share"] == pytest.approx(3 / 8)  # fast, x, y


@pytest.mark.parametrize("where", ["align", "write"])
def test_an_interrupted_run_leaves_no_output_that_looks_complete(tmp_path, monkeypatch, where):
    cfg = config(tmp_path)
    first = align_corpus(cfg, backend=StubBackend())  # a previous complete run
    before = (first.out / "pairs.jsonl").read_bytes()
    cfg2 = config(tmp_path / "second")
    if where == "align":
        backend = StubBackend(fail_in_align=KeyboardInterrupt())
    else:
        backend = StubBackend()
        calls = []

        def interrupt(self, src, tgt, links):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt

        monkeypatch.setattr(AlignmentStats, "add", interrupt)
    with pytest.raises(KeyboardInterrupt):
        align_corpus(cfg2, backend=backend)
    assert not cfg2.out.exists() and not is_complete(cfg2.out)
    assert not list((tmp_path / "second").glob(".out.*")), "temporary directories were left behind"
    # rerunning into an existing complete output that gets interrupted keeps the old one intact
    with pytest.raises(KeyboardInterrupt):
        align_corpus(dataclasses.replace(cfg, overwrite=True), backend=StubBackend(fail_in_align=KeyboardInterrupt()))
    assert is_complete(first.out) and (first.out / "pairs.jsonl").read_bytes() == before


def test_an_interrupt_stops_running_tools(tmp_path, monkeypatch):
    tool = executable(tmp_path / "bin", "fast_align", FAKE_FAST_ALIGN)
    monkeypatch.setenv("FAKE_FAST_ALIGN_SLEEP", "30")
    monkeypatch.setenv("FAKE_FAST_ALIGN_LOG", str(tmp_path / "log"))
    write_lines(tmp_path / "b", ["a ||| b"])
    runs = [ToolRun("fast_align", [str(tool), "-i", str(tmp_path / "b")], tmp_path / f"o{k}", tmp_path / f"e{k}")
            for k in range(2)]

    def interrupt():
        raise KeyboardInterrupt

    start = time.time()
    with pytest.raises(KeyboardInterrupt):
        run_tools(runs, poll=interrupt)
    time.sleep(0.2)
    assert time.time() - start < 10 and not (tmp_path / "log").exists()


def test_config_problems_are_reported_together():
    with pytest.raises(ConfigError) as err:
        build_config(AlignConfig, {"src_lang": "English", "tgt_lang": "es", "out": "o",
                                   "input": {"src": "a"},
                                   "aligner": {"name": "giza", "fast_align": {"iterations": 0}}})
    problems = err.value.problems
    assert any("'English' is not an ISO 639 code" in p for p in problems)
    assert any("src needs its partner" in p for p in problems)
    assert any("aligner 'giza' is not one of: fast_align, eflomal, embedding" in p for p in problems)
    assert any("fast_align.iterations must be at least 1" in p for p in problems)
    with pytest.raises(ConfigError, match="'grow' is not one of"):
        build_config(AlignConfig, {"src_lang": "en", "tgt_lang": "es", "out": "o", "input": {"joint": "b"},
                                   "aligner": {"symmetrize": "grow"}})


def test_validate_an_align_config_file(tmp_path):
    path = write_lines(tmp_path / "align.yaml", [
        "kind: align", "src_lang: en", "tgt_lang: es", "out: runs/x", "input: {joint: train.en-es}",
        "aligner: {name: fast_align, symmetrize: intersect, fast_align: {iterations: 6}}"])
    cfg = validate_file(path)
    assert isinstance(cfg, AlignConfig) and cfg.aligner.fast_align.iterations == 6
    assert cfg.aligner.symmetrize.value == "intersect" and cfg.input.joint == Path("train.en-es")


def test_registry_and_unknown_aligner():
    assert list(ALIGNERS) == ["fast_align", "eflomal", "embedding", "combined"]
    with pytest.raises(ConfigError, match="unknown aligner 'giza'"):
        create_backend(AlignerSpec(name="giza"))


def test_input_errors_come_before_any_work(tmp_path):
    src = write_lines(tmp_path / "a.en", ["a", "b"])
    tgt = write_lines(tmp_path / "a.es", ["a"])
    backend = StubBackend(fail_in_align=AssertionError("the aligner must not run"))
    with pytest.raises(InputError, match="line counts differ"):
        align_corpus(config(tmp_path, input=InputSpec(src=src, tgt=tgt)), backend=backend)


def test_manifest_is_json_with_timings(tmp_path):
    result = align_corpus(config(tmp_path), backend=StubBackend())
    manifest = json.loads((result.out / "manifest.json").read_text())
    assert set(manifest["timings_s"]) >= {"tokenize", "align", "symmetrize", "write"}


def test_final_pass_in_worker_processes_matches_one_process(tmp_path, monkeypatch):
    from xladjust.align import finish
    from xladjust.align.finish import FinishSettings, finish_pairs
    from xladjust.align.tokenize import JointFile

    monkeypatch.setattr(finish, "MIN_PAIRS_FOR_WORKERS", 0)
    monkeypatch.setattr(finish, "CHUNK_SIZE", 7)
    joint = JointFile(tmp_path / "b.txt")
    fwd, rev = [], []
    with joint:
        for k in range(60):
            n = 2 + k % 5
            joint.write_words([f"w{i}" for i in range(n)], [f"w{i}" for i in range(n + 1)])
            fwd.append(" ".join(f"{min(j, n - 1)}-{j}" for j in range(n + 1)))
            rev.append(" ".join(f"{i}-{i + 1}" for i in range(n)))
    files = (str(write_lines(tmp_path / "f", fwd)), str(write_lines(tmp_path / "r", rev)))
    settings = FinishSettings("stub", str(joint.path), files, "grow-diag-final-and", one_to_one=False)
    results = []
    for workers in (1, 2):
        stats = AlignmentStats()
        encoded = list(finish_pairs(joint.path, joint.n_pairs, settings, stats, workers=workers))
        results.append((encoded, stats.result()))
    assert results[0] == results[1]
    assert len(results[0][0]) == 60 and results[0][1]["identical_link_share"] > 0
