"""Align stage: parallel text -> Moses tokens -> word alignments -> aligned corpus.

Public API (imported on first use, so ``import xladjust.align.corpus`` stays light):

- :func:`align_corpus` (``xladjust align``): an :class:`AlignConfig` in, an aligned-corpus
  directory out (:mod:`xladjust.align.corpus` reads it);
- :func:`score_aligner` (``xladjust align evaluate``) and :func:`score_predictions`:
  AER, precision, recall and F1 against gold links (:func:`read_gold`, :func:`split_gold`);
- :func:`tune_extraction` (``xladjust align tune``): the embedding aligner's layer and
  extraction chosen on the dev split of gold sets;
- :func:`self_train` (``xladjust align --self-train K``): align → adjust → re-align;
- pure functions: :func:`symmetrize` / :data:`HEURISTICS`, :func:`one_to_one`,
  :func:`score_alignments`, :func:`align_by_similarity` / :data:`METHODS`;
- registries: :data:`ALIGNERS` (fast_align, eflomal, embedding, combined).
"""

from __future__ import annotations

from xladjust.lazy import lazy_exports

_EXPORTS = {
    "AlignConfig": "xladjust.align.config",
    "AlignerSpec": "xladjust.align.config",
    "EvaluateConfig": "xladjust.align.config",
    "InputSpec": "xladjust.align.config",
    "FastAlignOptions": "xladjust.align.config",
    "EflomalOptions": "xladjust.align.config",
    "EmbeddingOptions": "xladjust.align.config",
    "align_corpus": "xladjust.align.pipeline",
    "AlignResult": "xladjust.align.pipeline",
    "score_aligner": "xladjust.align.scoring",
    "score_predictions": "xladjust.align.scoring",
    "read_gold": "xladjust.align.gold",
    "split_gold": "xladjust.align.gold",
    "tune_extraction": "xladjust.align.tune",
    "TuneConfig": "xladjust.align.tune",
    "self_train": "xladjust.align.selftrain",
    "EvaluationReport": "xladjust.align.scoring",
    "symmetrize": "xladjust.align.symmetrize",
    "one_to_one": "xladjust.align.symmetrize",
    "HEURISTICS": "xladjust.align.symmetrize",
    "Heuristic": "xladjust.align.symmetrize",
    "score_alignments": "xladjust.align.metrics",
    "AlignmentScores": "xladjust.align.metrics",
    "align_by_similarity": "xladjust.align.similarity",
    "METHODS": "xladjust.align.similarity",
    "ALIGNERS": "xladjust.align.backends",
    "create_backend": "xladjust.align.backends",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
