"""The probes' pure math on hand-made arrays whose every figure is known in advance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xladjust.probes.distances import (
    cosine_distance,
    euclidean_distance,
    paired_difference,
    triple_distances,
)
from xladjust.probes.retrieval import (
    csls_from_similarity,
    retrieval_accuracy,
    retrieval_scores,
    retrieve,
)
from xladjust.probes.stats import (
    bootstrap_ci,
    cohens_dz,
    histogram_counts,
    measures_change,
    paired_comparison,
    rank_biserial,
    shared_bins,
    summarize_triples,
)


def unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


# --- distances ---------------------------------------------------------------------------

def test_cosine_distance_known_values():
    a = np.array([[1, 0], [1, 0], [1, 0], [1, 1], [2, 0]], dtype=float)
    b = np.array([[1, 0], [0, 1], [-1, 0], [1, 0], [5, 0]], dtype=float)
    np.testing.assert_allclose(cosine_distance(a, b), [0, 1, 2, 1 - 1 / math.sqrt(2), 0], atol=1e-12)


def test_cosine_distance_of_zero_vector_is_nan():
    out = cosine_distance(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert math.isnan(out[0]) and out[1] == 0.0


def test_euclidean_distance_known_values():
    np.testing.assert_allclose(euclidean_distance([[0, 0], [1, 1]], [[3, 4], [1, 1]]), [5, 0])


def test_triple_distances_and_delta_over_layers():
    # layer 0: r = w, u orthogonal; layer 1: u = w, r opposite.
    w = np.array([[[1.0, 0.0]], [[1.0, 0.0]]])
    r = np.array([[[2.0, 0.0]], [[-1.0, 0.0]]])
    u = np.array([[[0.0, 3.0]], [[1.0, 0.0]]])
    cos = triple_distances(w, r, u, "cosine")
    np.testing.assert_allclose(cos["related"], [[0.0], [2.0]], atol=1e-12)
    np.testing.assert_allclose(cos["unrelated"], [[1.0], [0.0]], atol=1e-12)
    np.testing.assert_allclose(cos["delta"], [[1.0], [-2.0]], atol=1e-12)
    euc = triple_distances(w, r, u, "euclidean")
    np.testing.assert_allclose(euc["related"], [[1.0], [2.0]])
    np.testing.assert_allclose(euc["unrelated"], [[math.sqrt(10)], [0.0]])
    np.testing.assert_allclose(euc["delta"], [[math.sqrt(10) - 1], [-2.0]])


def test_paired_difference_sign():
    assert paired_difference([0.2], [0.5])[0] == pytest.approx(0.3)


# --- summaries and bootstrap ---------------------------------------------------------------

def test_summarize_triples_known_values():
    s = summarize_triples([0.1, 0.2, 0.3, 0.4], [0.5, 0.1, 0.6, 0.4], n_resamples=200, seed=1)
    assert s["n"] == 4
    assert s["mean_related"] == pytest.approx(0.25)
    assert s["median_related"] == pytest.approx(0.25)
    assert s["mean_unrelated"] == pytest.approx(0.4)
    assert s["median_unrelated"] == pytest.approx(0.45)
    assert s["mean_delta"] == pytest.approx(0.15)  # deltas 0.4, -0.1, 0.3, 0.0
    assert s["median_delta"] == pytest.approx(0.15)
    assert s["share_delta_positive"] == pytest.approx(0.5)  # Δ = 0 is not > 0
    assert -0.1 <= s["mean_delta_ci_low"] <= s["mean_delta"] <= s["mean_delta_ci_high"] <= 0.4


def test_summarize_skips_nan_triples():
    s = summarize_triples([0.1, np.nan, 0.3], [0.2, 0.5, np.nan], n_resamples=10)
    assert s["n"] == 1 and s["mean_delta"] == pytest.approx(0.1)


def test_bootstrap_ci_of_two_points_spans_them():
    # resample means of {0, 1} are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_ci([0.0, 1.0], n_resamples=4000, seed=0) == (0.0, 1.0)


def test_bootstrap_ci_constant_and_seeded():
    assert bootstrap_ci([0.7] * 5, n_resamples=50) == pytest.approx((0.7, 0.7))
    values = np.random.default_rng(3).normal(size=200)
    assert bootstrap_ci(values, 300, seed=5) == bootstrap_ci(values, 300, seed=5)
    lo, hi = bootstrap_ci(values, 300, seed=5)
    assert lo < values.mean() < hi
    assert all(math.isnan(x) for x in bootstrap_ci([], 10))


# --- paired comparisons --------------------------------------------------------------------

def test_paired_comparison_known_values():
    c = paired_comparison([1, 2, 3, 4], [2, 4, 6, 8], n_resamples=500, seed=0)
    assert c["n"] == 4
    assert c["mean_change"] == pytest.approx(2.5) and c["median_change"] == pytest.approx(2.5)
    assert c["share_increased"] == 1.0
    assert c["rank_biserial"] == pytest.approx(1.0)
    assert c["cohens_dz"] == pytest.approx(2.5 / np.std([1, 2, 3, 4], ddof=1))
    assert c["wilcoxon_statistic"] == 0.0
    assert c["wilcoxon_p"] == pytest.approx(0.125)  # exact: 2 of 16 sign patterns are as extreme
    assert c["bootstrap_p"] == 0.0 and c["bootstrap_ci_low"] >= 1.0


def test_paired_comparison_of_identical_values_is_zero_change():
    values = np.random.default_rng(0).normal(size=50)
    c = paired_comparison(values, values.copy(), n_resamples=100)
    assert c["mean_change"] == 0.0 and c["median_change"] == 0.0
    assert c["share_unchanged"] == 1.0 and c["share_increased"] == 0.0
    assert c["wilcoxon_p"] == 1.0 and c["rank_biserial"] == 0.0 and c["cohens_dz"] == 0.0
    assert c["bootstrap_ci_low"] == 0.0 == c["bootstrap_ci_high"] and c["bootstrap_p"] == 1.0


def test_effect_sizes_by_hand():
    assert rank_biserial([1, 2, -3]) == pytest.approx(0.0)  # R+ = 1 + 2, R- = 3
    assert rank_biserial([1, -1, 2]) == pytest.approx(0.5)  # ranks 1.5, 1.5, 3
    assert rank_biserial([0, 0]) == 0.0
    assert cohens_dz([1, 3]) == pytest.approx(2 / math.sqrt(2))
    assert cohens_dz([2, 2]) == math.inf


def test_paired_comparison_rejects_unpaired_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        paired_comparison([1, 2], [1, 2, 3])


# --- histograms ------------------------------------------------------------------------------

def test_histogram_counts_on_shared_bins():
    edges, counts = histogram_counts({"a": [0.0, 0.5, 1.0, np.nan], "b": [0.25, 0.75]}, bins=2)
    np.testing.assert_allclose(edges, [0.0, 0.5, 1.0])
    assert counts["a"].tolist() == [1, 2]  # 0.5 opens the second bin, 1.0 closes it
    assert counts["b"].tolist() == [1, 1]


def test_histogram_counts_with_explicit_edges_and_degenerate_range():
    edges, counts = histogram_counts({"x": [-1, 0, 0, 3]}, bins=np.array([-1.0, 0.0, 1.0]))
    assert counts["x"].tolist() == [1, 2]  # 3 is outside the edges
    np.testing.assert_allclose(shared_bins([[2.0, 2.0]], bins=2), [1.5, 2.0, 2.5])


# --- retrieval -----------------------------------------------------------------------------

# x0 at 18°, x1 at -10°; y1 at 40°, y0 at 0°. Gold: x0 <-> y1, x1 <-> y0 (rows in that order).
# y0 is a hub: both x's nearest neighbour by cosine. With k = 1 CSLS discounts it:
# CSLS(x0, y0) = 2cos18° - cos18° - cos10° = .917 < CSLS(x0, y1) = 2cos22° - cos18° - cos22° = .927.
X = np.array([unit(18), unit(-10)], dtype=np.float32)
Y = np.array([unit(40), unit(0)], dtype=np.float32)


def test_csls_from_similarity_by_hand():
    sim = np.array([[0.9, 0.88], [0.95, 0.5]])
    csls = csls_from_similarity(sim, k=1)
    # r_y(x) = row maxima (0.9, 0.95); r_x(y) = column maxima (0.95, 0.88)
    np.testing.assert_allclose(csls, [[-0.05, -0.02], [0.0, -0.83]], atol=1e-12)
    assert sim.argmax(axis=1).tolist() == [0, 0] and csls.argmax(axis=1).tolist() == [1, 0]


def test_retrieval_cosine_vs_csls_known_answer():
    found = retrieve(X, Y, k=1, csls=True)
    assert found["cosine"]["src_to_tgt"].tolist() == [1, 1]  # both pick the hub y0
    assert found["cosine"]["tgt_to_src"].tolist() == [0, 1]
    assert found["csls"]["src_to_tgt"].tolist() == [0, 1]
    assert found["csls"]["tgt_to_src"].tolist() == [0, 1]
    scores = retrieval_scores(X, Y, k=1)
    assert scores["cosine"] == {"src_to_tgt": 0.5, "tgt_to_src": 1.0, "mean": 0.75}
    assert scores["csls"] == {"src_to_tgt": 1.0, "tgt_to_src": 1.0, "mean": 1.0}


@pytest.mark.parametrize("candidates", [1, 6, 20, 100])  # 1: nearly all settled by the full search
def test_faiss_csls_matches_numpy_on_random_vectors(candidates):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    y = (x + rng.normal(scale=1.5, size=x.shape)).astype(np.float32)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    csls = csls_from_similarity(xn @ yn.T, k=5)
    found = retrieve(x, y, k=5, candidates=candidates)
    assert found["csls"]["src_to_tgt"].tolist() == csls.argmax(axis=1).tolist()
    assert found["csls"]["tgt_to_src"].tolist() == csls.argmax(axis=0).tolist()
    assert found["cosine"]["src_to_tgt"].tolist() == (xn @ yn.T).argmax(axis=1).tolist()


def test_retrieval_scale_invariant_and_k_larger_than_set():
    scores = retrieval_scores(X * 7.0, Y * 0.1, k=10)  # k is clipped to the 2 candidates
    assert scores["cosine"]["mean"] == 0.75
    assert 0.0 <= scores["csls"]["mean"] <= 1.0


def test_retrieval_accuracy_by_hand():
    assert retrieval_accuracy([0, 1, 2], [0, 2, 2]) == pytest.approx(2 / 3)
    assert math.isnan(retrieval_accuracy([], []))
    with pytest.raises(ValueError):
        retrieval_accuracy([0, 1], [0])


def test_retrieve_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="equal width"):
        retrieve(np.zeros((2, 3)), np.zeros((2, 4)))


def test_csls_shortlist_falls_back_to_a_full_search_when_the_bound_fails(monkeypatch):
    import xladjust.probes.retrieval as retrieval

    calls = []
    real = retrieval.inner_product_search
    monkeypatch.setattr(retrieval, "inner_product_search", lambda q, k, n: calls.append(len(q)) or real(q, k, n))
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    y = rng.normal(size=(60, 8)).astype(np.float32)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    found = retrieve(x, y, k=3, candidates=3)
    assert len(calls) > 2 and all(n < 60 for n in calls[2:])  # only the unsettled queries
    assert found["csls"]["src_to_tgt"].tolist() == csls_from_similarity(xn @ yn.T, k=3).argmax(axis=1).tolist()


# --- paired tests of retrieval hits and the held-out layer choice ---------------------------

def test_mcnemar_exact_hand_checked():
    from xladjust.probes.stats import mcnemar_exact

    # 5 queries gained, none lost: p = 2 · 0.5^5 = 0.0625 (never below 0.05 with 5 changes)
    before = [0, 0, 0, 0, 0, 1, 1, 0]
    after = [1, 1, 1, 1, 1, 1, 1, 0]
    r = mcnemar_exact(before, after)
    assert (r["gained"], r["lost"], r["n"]) == (5, 0, 8)
    assert r["mcnemar_p"] == pytest.approx(0.0625)
    assert r["p_at_1_before"] == pytest.approx(2 / 8) and r["p_at_1_after"] == pytest.approx(7 / 8)
    assert r["change"] == pytest.approx(5 / 8)
    # 9 gained, 1 lost: p = 2 · (C(10,0) + C(10,1)) / 2^10 = 22/1024
    r = mcnemar_exact([1] + [0] * 9 + [1, 0], [0] + [1] * 9 + [1, 0])
    assert (r["gained"], r["lost"]) == (9, 1) and r["mcnemar_p"] == pytest.approx(22 / 1024)
    # balanced changes: p = 1 (capped); no change at all: p = 1
    assert mcnemar_exact([1, 0], [0, 1])["mcnemar_p"] == 1.0
    assert mcnemar_exact([1, 0, 1], [1, 0, 1])["mcnemar_p"] == 1.0


def test_mcnemar_skips_nan_queries_and_rejects_bad_vectors():
    from xladjust.probes.stats import mcnemar_exact

    r = mcnemar_exact([0, 0, np.nan], [1, 1, 1])
    assert r["n"] == 2 and r["gained"] == 2 and r["mcnemar_p"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar_exact([0, 1], [0])
    with pytest.raises(ValueError, match="0 \\(miss\\) or 1"):
        mcnemar_exact([0, 2], [0, 1])


def test_retrieval_hits_per_query():
    from xladjust.probes.retrieval import retrieval_hits, scores_of_hits

    # x0 and x1 both nearest to y0; y1 nearest to x1: hits x→y (T, F), y→x (T, T)
    x = np.array([unit(0), unit(20)])
    y = np.array([unit(5), unit(80)])
    hits = retrieval_hits(x, y, k=1, csls=False)
    assert hits["cosine"]["src_to_tgt"].tolist() == [True, False]
    assert hits["cosine"]["tgt_to_src"].tolist() == [True, True]
    assert scores_of_hits(hits)["cosine"] == {"src_to_tgt": 0.5, "tgt_to_src": 1.0, "mean": 0.75}


def test_layer_choice_split_is_seeded_disjoint_and_covers_all():
    from xladjust.probes.builtin import split_for_layer_choice

    select, report = split_for_layer_choice(11, seed=0)
    assert len(select) == 5 and len(report) == 6
    assert sorted(np.r_[select, report].tolist()) == list(range(11))
    again, _ = split_for_layer_choice(11, seed=0)
    other, _ = split_for_layer_choice(11, seed=1)
    assert again.tolist() == select.tolist() and other.tolist() != select.tolist()
    assert split_for_layer_choice(1, seed=0)[0].size == 0


def test_summarize_triples_scale_free_measures_and_sentence_intervals():
    rel = np.array([0.1, 0.2, 0.3, 0.4])
    unrel = np.array([0.3, 0.1, 0.6, 0.8])
    s = summarize_triples(rel, unrel, n_resamples=300, seed=0, clusters=[0, 0, 1, 1])
    assert s["share_delta_positive"] == pytest.approx(0.75)
    assert s["ratio"] == pytest.approx(1.8 / 1.0)
    assert s["unit"] == "sentence" and s["n_units"] == 2
    # two sentences: every resample is sentence 0 twice, 1 twice, or one of each
    assert s["share_delta_positive_ci_low"] == pytest.approx(0.5) and s["share_delta_positive_ci_high"] == 1.0
    with pytest.raises(ValueError, match="3 sentence ids for 4 triples"):
        summarize_triples(rel, unrel, n_resamples=10, clusters=[0, 1, 2])


def test_measures_change_on_hand_made_triples():
    rel_b, unrel_b = np.array([0.2, 0.2, 0.2, 0.2]), np.array([0.1, 0.3, 0.1, 0.3])
    rel_a, unrel_a = rel_b / 2, unrel_b / 2  # the space contracts by half
    m = measures_change(rel_b, unrel_b, rel_a, unrel_a, clusters=[0, 0, 1, 1], n_resamples=200)
    assert m["share_delta_positive"]["change"] == 0.0 and m["ratio"]["change"] == pytest.approx(0.0)
    assert m["mean_delta"]["before"] == pytest.approx(0.0)
    assert m["mean_related"]["change"] == pytest.approx(-0.1) and m["mean_related"]["p"] == 0.0
    assert m["primary"] == ["share_delta_positive", "ratio"] and m["n_units"] == 2
    up = measures_change(rel_b, unrel_b, rel_b, unrel_b + 0.2, n_resamples=200)
    share = up["share_delta_positive"]
    assert share["before"] == 0.5 and share["after"] == 1.0 and share["change"] == 0.5
    assert share["ci_low"] <= 0.5 <= share["ci_high"] and share["mde"] > 0
    assert (share["p"] < 0.05) == (share["ci_low"] > 0 or share["ci_high"] < 0)  # test matches the interval


def test_paired_comparison_resamples_sentences_when_given():
    rng = np.random.default_rng(0)
    sentence = np.repeat(np.arange(20), 25)
    before = rng.normal(0, 1, sentence.size)
    after = before + 0.05 + rng.normal(0, 0.3, 20)[sentence] + rng.normal(0, 0.05, sentence.size)
    flat = paired_comparison(before, after, n_resamples=1000, seed=0)
    grouped = paired_comparison(before, after, n_resamples=1000, seed=0, clusters=sentence)
    assert flat["unit"] == "triple" and grouped["unit"] == "sentence" and grouped["n_units"] == 20
    width = grouped["bootstrap_ci_high"] - grouped["bootstrap_ci_low"]
    assert width > 3 * (flat["bootstrap_ci_high"] - flat["bootstrap_ci_low"])
    assert grouped["mde"] > 3 * flat["mde"]
    assert flat["bootstrap_p"] < 0.01 < grouped["bootstrap_p"]  # triples as independent overstate it
