"""Metrics against known values: SQuAD EM/F1, entity F1 (seqeval), summed statistics."""

from __future__ import annotations

import numpy as np
import pytest

from xladjust.tasks.metrics import (
    entity_counts,
    exact_match,
    f1_of_counts,
    mean_of,
    normalize_answer,
    prf_from_counts,
    squad_scores,
    token_f1,
)


def test_squad_normalization():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an apple, a pear and THE plum.") == "apple pear and plum"
    assert normalize_answer("theory") == "theory"  # articles only as whole words


@pytest.mark.parametrize(("pred", "gold", "em", "f1"), [
    ("the Eiffel Tower!", "Eiffel tower", 1.0, 1.0),
    ("in Paris France", "Paris", 0.0, 0.5),  # precision 1/3, recall 1
    ("Paris", "Paris France", 0.0, 2 / 3),  # precision 1, recall 1/2
    ("red red blue", "red blue blue", 0.0, 2 / 3),  # bag overlap counts repeats: 2 of 3 each
    ("London", "Paris", 0.0, 0.0),
    ("", "Paris", 0.0, 0.0),
])
def test_squad_em_f1_known_values(pred, gold, em, f1):
    assert exact_match(pred, gold) == em
    assert token_f1(pred, gold) == pytest.approx(f1)


def test_squad_scores_take_best_gold():
    assert squad_scores("Paris", ["in Paris", "Paris"]) == (1.0, 1.0)
    assert squad_scores("Paris", []) == (0.0, 0.0)


def test_entity_counts_sum_to_seqeval_f1():
    from seqeval.metrics import f1_score, precision_score, recall_score

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"], ["O", "O"], ["B-LOC", "I-LOC", "I-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"], ["B-PER", "O"], ["B-LOC", "I-LOC", "O"]]
    counts = np.array([entity_counts(g, p) for g, p in zip(gold, pred, strict=True)])
    assert counts.tolist() == [[1, 2, 2], [1, 1, 1], [0, 1, 0], [0, 1, 1]]
    precision, recall, f1 = prf_from_counts(*counts.sum(0))
    assert f1 == pytest.approx(f1_score(gold, pred))
    assert precision == pytest.approx(precision_score(gold, pred))
    assert recall == pytest.approx(recall_score(gold, pred))
    assert f1_of_counts()(counts.sum(0), len(counts)) == pytest.approx(4 / 9)  # 2·2 / (5 + 4)


def test_entity_counts_treat_stray_i_as_entity_start():
    assert entity_counts(["I-PER", "I-PER"], ["B-PER", "I-PER"]) == (1, 1, 1)
    with pytest.raises(ValueError, match="2 gold tags but 1 predicted"):
        entity_counts(["O", "O"], ["O"])


def test_sum_metrics_vectorize_and_handle_zero():
    sums = np.array([[3.0, 1.0], [2.0, 2.0]])
    assert mean_of(0)(sums, 4).tolist() == [0.75, 0.5]
    assert f1_of_counts()(np.array([0, 0, 0]), 5) == 0.0
    assert prf_from_counts(0, 0, 0) == (0.0, 0.0, 0.0)
