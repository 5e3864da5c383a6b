"""The combined aligner: statistical links and embedding links joined by a heuristic
(stand-in fast_align for the statistical half, a stub for the embedding half)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers_align import install_fake_tools, write_lines, write_small_corpus

from xladjust.align.backends import create_backend
from xladjust.align.combined import CombinedBackend
from xladjust.align.config import (
    AlignConfig,
    AlignerSpec,
    CombinedOptions,
    EmbeddingOptions,
    EvaluateConfig,
    InputSpec,
    Symmetrizer,
)
from xladjust.align.corpus import read_pairs
from xladjust.align.pipeline import align_corpus
from xladjust.align.scoring import score_aligner


class StubEmbedding:
    """Links every source word i to target word i + 1 (when there is one), plus 0-0."""

    name = "embedding"
    options = EmbeddingOptions()

    def __init__(self):
        self.seen = 0

    def check(self):
        pass

    def layer(self, num_layers):
        return 8

    def _model(self):
        return SimpleNamespace(num_layers=12)

    def align_words(self, pairs, progress=None):
        for src, tgt in pairs:
            self.seen += 1
            yield sorted({(0, 0), *((i, i + 1) for i in range(len(src)) if i + 1 < len(tgt))})


def backend(heuristic: str, tmp_path: Path, monkeypatch) -> tuple[CombinedBackend, AlignerSpec]:
    install_fake_tools(tmp_path, monkeypatch)
    spec = AlignerSpec(name="combined", symmetrize=heuristic, symmetrize_with=Symmetrizer.BUILTIN,
                       combined=CombinedOptions(statistical="fast_align"))
    b = create_backend(spec)
    assert isinstance(b, CombinedBackend)
    b.embedding = StubEmbedding()
    return b, spec


@pytest.mark.parametrize("heuristic", ["intersect", "union"])
def test_combined_links_are_the_heuristic_of_both_aligners(tmp_path, monkeypatch, heuristic):
    b, spec = backend(heuristic, tmp_path, monkeypatch)
    src, tgt = write_small_corpus(tmp_path)
    cfg = AlignConfig("en", "es", tmp_path / "out", input=InputSpec(src=src, tgt=tgt), aligner=spec, workers=1)
    result = align_corpus(cfg, backend=b)
    pairs = read_pairs(result.out)
    # the stand-in fast_align links the diagonal here; the stub links i -> i + 1 and 0-0
    for p in pairs:
        diagonal = {(i, i) for i in range(min(len(p.src), len(p.tgt)))}
        shifted = {(0, 0), *((i, i + 1) for i in range(len(p.src)) if i + 1 < len(p.tgt))}
        expected = diagonal & shifted if heuristic == "intersect" else diagonal | shifted
        assert set(p.links) == expected
    info = result.manifest["aligner"]
    assert info["name"] == "combined" and info["statistical"]["name"] == "fast_align"
    assert info["statistical"]["symmetrize"] == "intersect" and info["embedding"]["layer"] == 8


def test_evaluate_embeds_only_the_gold_lines(tmp_path, monkeypatch):
    b, spec = backend("grow-diag-final-and", tmp_path, monkeypatch)
    text = write_lines(tmp_path / "g.src-tgt", ["the house ||| la casa", "the dog ||| el perro"])
    gold = write_lines(tmp_path / "g.gold", ["1-1 2-2", "1-1 2-2"])
    src, tgt = write_small_corpus(tmp_path)
    cfg = EvaluateConfig(text, gold, "en", "es", extra=InputSpec(src=src, tgt=tgt), aligner=spec, workers=1)
    report = score_aligner(cfg, backend=b)
    assert b.embedding.seen == 2 and report.n_extra == 4
    assert report.aligner["embedding"]["aligned_pairs"] == 2
    assert set(report.scores) == {"statistical", "embedding", "grow-diag-final-and"}
    assert report.scores["statistical"].aer == 0.0  # the statistical half alone


def test_combined_options_are_checked():
    assert CombinedOptions(statistical="embedding").check() == [
        "combined.statistical must be eflomal or fast_align, got 'embedding'"]
