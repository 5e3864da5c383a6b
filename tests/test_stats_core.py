"""The shared statistics (xladjust.stats) on hand-made numbers."""

import math

import numpy as np
import pytest

from xladjust.stats import (
    bootstrap_p,
    cluster_bootstrap,
    cluster_sums,
    holm,
    minimum_detectable_effect,
    percentile_interval,
    seed_standard_error,
    seed_warnings,
    tost,
)


def mean_of(sums):
    return sums[:, 0] / sums[:, 1]


def test_cluster_sums_in_order_of_first_appearance():
    sums = cluster_sums([[1.0, 1], [2.0, 1], [4.0, 1]], ["b", "a", "b"])
    assert sums.tolist() == [[5.0, 2.0], [2.0, 1.0]]
    with pytest.raises(ValueError, match="2 cluster ids for 3 items"):
        cluster_sums([1.0, 2.0, 3.0], [0, 1])


def test_interval_widens_when_triples_share_sentences():
    # 30 sentences of 40 triples each; each sentence shifts all its triples together
    rng = np.random.default_rng(0)
    sentence = np.repeat(np.arange(30), 40)
    values = 0.1 + rng.normal(0, 0.05, 30)[sentence] + rng.normal(0, 0.02, sentence.size)
    columns = np.stack([values, np.ones_like(values)], axis=1)
    clustered = cluster_bootstrap(columns, sentence, mean_of, n_resamples=2000, seed=1)
    independent = cluster_bootstrap(columns, None, mean_of, n_resamples=2000, seed=1)
    lo_c, hi_c = percentile_interval(clustered)
    lo_i, hi_i = percentile_interval(independent)
    assert lo_c < values.mean() < hi_c
    # the sentence effect dominates: about sqrt(40 * 0.05^2 / (0.05^2 + 0.02^2)) ~ 5.9x wider
    assert (hi_c - lo_c) > 4 * (hi_i - lo_i)


def test_cluster_bootstrap_of_singletons_is_the_ordinary_bootstrap():
    values = np.array([1.0, 2.0, 3.0, 10.0])
    columns = np.stack([values, np.ones(4)], axis=1)
    a = cluster_bootstrap(columns, None, mean_of, n_resamples=50, seed=3)
    b = cluster_bootstrap(columns, [7, 8, 9, 6], mean_of, n_resamples=50, seed=3)
    assert np.allclose(a, b)
    assert set(np.round(a * 4).astype(int)) <= set(range(4, 41))  # every draw a mean of four values


def test_bootstrap_p_matches_the_percentile_interval():
    draws = np.linspace(-0.1, 1.9, 1001)  # 51 of 1001 draws at or below 0
    assert bootstrap_p(draws) == pytest.approx(2 * 51 / 1001)
    lo, _ = percentile_interval(draws)
    assert lo < 0 and bootstrap_p(draws) > 0.05  # interval crosses 0, test not significant
    shifted = draws + 0.2
    assert percentile_interval(shifted)[0] > 0 and bootstrap_p(shifted) < 0.05
    assert math.isnan(bootstrap_p([]))


def holm_textbook(p, alpha):
    """Holm's step-down procedure: reject the sorted hypotheses while p(i) <= alpha/(m-i+1)."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    rejected = set()
    for rank, i in enumerate(order):
        if p[i] > alpha / (len(p) - rank):
            break
        rejected.add(i)
    return rejected


def test_holm_on_hand_made_p_values():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.2]) == pytest.approx([0.5, 0.4])
    assert holm([0.3, 0.6, 0.9]) == pytest.approx([0.9, 1.0, 1.0])  # capped at 1
    for alpha in (0.01, 0.02, 0.05, 0.1):
        assert {i for i, q in enumerate(holm(p)) if q <= alpha} == holm_textbook(p, alpha)


def test_holm_leaves_nan_out_of_the_family():
    out = holm([0.01, float("nan"), 0.04])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


def test_tost_equivalent_not_equivalent_inconclusive():
    eq = tost(0.1, 0.5, 2.0)  # z = 4.2 and 3.8
    assert eq["outcome"] == "equivalent"
    assert eq["p"] == pytest.approx(7.235e-5, rel=1e-3)
    assert -2.0 < eq["ci_low"] < eq["ci_high"] < 2.0
    far = tost(5.0, 0.5, 2.0)  # 90% interval [4.18, 5.82], beyond +2
    assert far["outcome"] == "not equivalent" and far["ci_low"] == pytest.approx(5 - 1.6449 * 0.5, abs=1e-4)
    unsure = tost(1.0, 1.5, 2.0)  # 90% interval [-1.47, 3.47] straddles +2
    assert unsure["outcome"] == "inconclusive" and unsure["p"] > 0.05
    edge = tost(0.0, 1.0, 1.6448536)  # one-sided z = 1.645: p = 0.05 exactly
    assert edge["p"] == pytest.approx(0.05, abs=1e-6)
    with pytest.raises(ValueError, match="margin must be positive"):
        tost(0.0, 1.0, 0.0)


def test_tost_with_t_quantiles_is_stricter():
    assert tost(0.5, 0.5, 2.0, df=3)["p"] > tost(0.5, 0.5, 2.0)["p"]


def test_minimum_detectable_effect():
    assert minimum_detectable_effect(1.0) == pytest.approx(1.959964 + 0.841621, abs=1e-5)
    assert minimum_detectable_effect(0.01) == pytest.approx(0.0280158, abs=1e-6)
    assert minimum_detectable_effect(1.0, df=4) == pytest.approx(2.776445 + 0.940965, abs=1e-5)
    assert math.isnan(minimum_detectable_effect(float("nan")))
    with pytest.raises(ValueError, match="alpha and power"):
        minimum_detectable_effect(1.0, power=1.0)


def test_seed_standard_error():
    se, df = seed_standard_error([1.0, 2.0, 3.0, 4.0, 5.0])
    assert se == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1) / math.sqrt(5)) and df == 4
    assert math.isnan(seed_standard_error([1.0])[0])


def test_seed_warnings():
    assert seed_warnings(5, {"adjusted": 2}) == [] and seed_warnings(None, {}) == []
    found = seed_warnings(3, {"adjusted": 1, "adjusted-reference": 2})
    assert len(found) == 2 and "only 3 fine-tuning seed(s)" in found[0] and found[1].startswith("adjusted:")
