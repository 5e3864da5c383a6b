"""Task metrics as pure functions, and per-example statistics that add up to them.

Every task scores each example with a small vector of statistics whose column sums
determine the corpus metric: accuracy is the mean of ``correct``; SQuAD EM and F1 are
means of per-question values; entity-level F1 is ``2·tp / (n_pred + n_gold)`` over
summed entity counts. Because a metric is a function of summed statistics, resampling
tests (:mod:`xladjust.tasks.significance`) recompute it exactly on any subset.

The SQuAD normalization follows the official v1.1 evaluation script: lower-case, drop
ASCII punctuation, drop the articles a/an/the, collapse whitespace. (MLQA's official
script normalizes per language; scores here use the SQuAD rule for every language.)
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

SumMetric = Callable[[np.ndarray, int], np.ndarray]
"""A metric computed from column sums ``(..., k)`` of per-example statistics over ``n`` examples."""

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """The SQuAD v1.1 answer normalization."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Bag-of-tokens F1 between normalized answers (0 when they share no token)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(EM, F1) of one prediction: the best over the gold answers."""
    if not golds:
        return 0.0, 0.0
    return max(exact_match(prediction, g) for g in golds), max(token_f1(prediction, g) for g in golds)


def entity_counts(gold_tags: Sequence[str], pred_tags: Sequence[str]) -> tuple[int, int, int]:
    """(true positives, predicted entities, gold entities) of one tagged sentence.

    Entities are extracted as seqeval does in its default (conlleval-compatible) mode, so
    summed counts give exactly ``seqeval.metrics.f1_score``.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    if len(gold_tags) != len(pred_tags):
        raise ValueError(f"{len(gold_tags)} gold tags but {len(pred_tags)} predicted tags")
    gold = set(get_entities(list(gold_tags)))
    pred = set(get_entities(list(pred_tags)))
    return len(gold & pred), len(pred), len(gold)


def prf_from_counts(tp: float, n_pred: float, n_gold: float) -> tuple[float, float, float]:
    """Precision, recall and F1 from entity counts (0 where undefined)."""
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0
    return precision, recall, f1


def mean_of(column: int) -> SumMetric:
    """The metric 'mean of statistic ``column``' (accuracy, EM, F1 per question)."""

    def metric(sums: np.ndarray, n: int) -> np.ndarray:
        return np.asarray(sums)[..., column] / max(n, 1)

    return metric


def f1_of_counts(tp: int = 0, n_pred: int = 1, n_gold: int = 2) -> SumMetric:
    """Entity-level F1 from columns holding summed (tp, n_pred, n_gold)."""

    def metric(sums: np.ndarray, n: int) -> np.ndarray:
        s = np.asarray(sums, dtype=np.float64)
        denom = s[..., n_pred] + s[..., n_gold]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, 2 * s[..., tp] / np.where(denom > 0, denom, 1), 0.0)

    return metric
