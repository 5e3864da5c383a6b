"""The probability extraction methods (softmax, entmax, optimal transport) on hand-made
similarity matrices whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from xladjust.align.config import EmbeddingOptions
from xladjust.align.similarity import (
    METHODS,
    align_by_similarity,
    entmax15,
    entmax_links,
    ot_links,
    sinkhorn_plan,
    softmax_links,
    softmax_probabilities,
)

# cos = 2 sim - 1: rows 0 and 1 have clear partners; row 2 is torn between columns 1 and 2
SIM = np.array([[0.95, 0.10, 0.10],
                [0.10, 0.90, 0.15],
                [0.10, 0.60, 0.60]])


def test_softmax_probabilities_match_the_formula():
    x = np.array([[0.0, np.log(3.0)], [1.0, -np.inf]])
    assert softmax_probabilities(x, axis=1) == pytest.approx(np.array([[0.25, 0.75], [1.0, 0.0]]))


def test_entmax15_exact_values():
    p = entmax15(np.array([[0.0, 0.0], [10.0, 0.0], [1.0, 0.5], [2.0, -np.inf]]), axis=1)
    # [1, 0.5]: z = [0.5, 0.25], (0.5 - t)^2 + (0.25 - t)^2 = 1 gives 0.5 - t = (0.5 + sqrt(7.75)) / 4
    u = (0.5 + np.sqrt(7.75)) / 4
    assert p == pytest.approx(np.array([[0.5, 0.5], [1.0, 0.0], [u**2, (u - 0.25) ** 2], [1.0, 0.0]]))
    assert entmax15(np.array([[1.0, 0.5]]).T, axis=0)[:, 0] == pytest.approx(p[2])  # any axis


def test_sinkhorn_plan_has_uniform_marginals_and_follows_the_kernel():
    plan = sinkhorn_plan(np.log(np.array([[4.0, 1.0], [1.0, 4.0], [1.0, 1.0]])))
    assert plan.sum(axis=1) == pytest.approx(np.full(3, 1 / 3), abs=1e-6)
    assert plan.sum(axis=0) == pytest.approx(np.full(2, 1 / 2), abs=1e-6)
    assert plan[0, 0] > plan[0, 1] and plan[1, 1] > plan[1, 0] and plan[2, 0] == pytest.approx(plan[2, 1], abs=1e-6)


def test_softmax_keeps_links_both_directions_agree_on():
    # temperature 0.1: row 2 splits evenly between columns 1 and 2 (0.5 each), but column 1
    # gives row 2 only exp(2*0.6/0.1)/(...) ~ 0.0025 next to row 1's 0.9975
    assert softmax_links(SIM, threshold=0.1, temperature=0.1) == [(0, 0), (1, 1), (2, 2)]
    # a threshold below column 1's share of row 2 adds the second link of row 2
    assert softmax_links(SIM, threshold=0.001, temperature=0.1) == [(0, 0), (1, 1), (2, 1), (2, 2)]
    assert softmax_links(SIM, threshold=0.6, temperature=0.1) == [(0, 0), (1, 1)]  # row 2: 0.5 each


def test_entmax_is_sparse_without_a_threshold():
    # 1.5-entmax of a row gives zero to words far from the best; row 2's tie stays a tie
    assert entmax_links(SIM, threshold=0.0, temperature=0.1) == [(0, 0), (1, 1), (2, 2)]
    assert entmax_links(SIM, threshold=0.0, temperature=10.0) == [(i, j) for i in range(3) for j in range(3)]


def test_ot_links_follow_the_transport_plan():
    assert ot_links(SIM, threshold=0.3, temperature=0.05) == [(0, 0), (1, 1), (2, 2)]
    # two source words, three target words: uniform masses force the third target word's
    # mass onto the source words; a high threshold keeps only the clear links
    sim = np.array([[0.9, 0.1, 0.1], [0.1, 0.9, 0.5]])
    assert ot_links(sim, threshold=0.6, temperature=0.05) == [(0, 0), (1, 1)]
    assert (1, 2) in ot_links(sim, threshold=0.3, temperature=0.05)


def test_probability_methods_skip_words_without_vectors():
    sim = SIM.copy()
    sim[0, :] = -np.inf
    sim[:, 2] = -np.inf
    for name in ("softmax", "entmax", "ot"):
        links = align_by_similarity(sim, name, threshold=0.1, temperature=0.1)
        assert (1, 1) in links and all(i != 0 and j != 2 for i, j in links), name
    # OT moves every word's mass somewhere: column 0's half goes to the closer row 2
    assert align_by_similarity(sim, "ot", threshold=0.1, temperature=0.1) == [(1, 1), (2, 0)]
    assert align_by_similarity(np.full((2, 2), -np.inf), "ot") == []
    assert align_by_similarity(np.zeros((0, 2)), "softmax") == []


def test_registry_drives_the_options_check():
    assert [k for k, m in METHODS.items() if m.probabilistic] == ["softmax", "entmax", "ot"]
    assert align_by_similarity(SIM, "softmax") == softmax_links(SIM, threshold=METHODS["softmax"].default_threshold)
    problems = EmbeddingOptions(method="argmax", threshold=0.2, temperature=0).check()
    assert any("threshold applies to the probability methods (softmax, entmax, ot), not argmax" in p
               for p in problems)
    assert any("temperature must be positive" in p for p in problems)
    assert EmbeddingOptions(method="ot", threshold=1.5).check() == ["embedding.threshold must be in [0, 1), got 1.5"]
