"""Alignment quality against gold links: precision, recall, F1 and AER.

With predicted links A, sure gold links S and possible gold links P (S ⊆ P), summed
over the corpus (Och & Ney 2003):

    precision = |A ∩ P| / |A|        recall = |A ∩ S| / |S|
    AER       = 1 − (|A ∩ S| + |A ∩ P|) / (|A| + |S|)
    F1        = 2 · precision · recall / (precision + recall)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xladjust.align.links import GoldLinks, Link
from xladjust.errors import InputError


@dataclass(frozen=True)
class AlignmentScores:
    precision: float
    recall: float
    f1: float
    aer: float
    predicted: int  # |A|
    sure: int  # |S|
    possible: int  # |P|
    hits_sure: int  # |A ∩ S|
    hits_possible: int  # |A ∩ P|
    sentences: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_alignments(predicted: Sequence[Iterable[Link]], gold: Sequence[GoldLinks]) -> AlignmentScores:
    """Corpus-level precision, recall, F1 and AER of ``predicted`` against ``gold``."""
    if len(predicted) != len(gold):
        raise InputError(f"{len(predicted)} predicted alignments for {len(gold)} gold sentences; "
                         "the counts must match")
    n_pred = n_sure = n_possible = hit_sure = hit_possible = 0
    for links, g in zip(predicted, gold, strict=True):
        a = set(links)
        possible = g.possible | g.sure
        n_pred += len(a)
        n_sure += len(g.sure)
        n_possible += len(possible)
        hit_sure += len(a & g.sure)
        hit_possible += len(a & possible)
    precision = hit_possible / n_pred if n_pred else 0.0
    recall = hit_sure / n_sure if n_sure else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    denominator = n_pred + n_sure
    aer = 1.0 - (hit_sure + hit_possible) / denominator if denominator else 0.0
    return AlignmentScores(precision, recall, f1, aer, n_pred, n_sure, n_possible, hit_sure, hit_possible, len(gold))
