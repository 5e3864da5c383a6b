"""Seeds and significance against hand-checked cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from xladjust.tasks.metrics import f1_of_counts, mean_of
from xladjust.tasks.significance import (
    compare_paired,
    format_p,
    mean_std,
    paired_bootstrap_interval,
    paired_permutation_test,
)

ACC = mean_of(0)


def test_mean_std_uses_sample_std():
    assert mean_std([0.5, 0.6, 0.7]) == (pytest.approx(0.6), pytest.approx(0.1))
    assert mean_std([0.4]) == (0.4, 0.0)
    with pytest.raises(ValueError):
        mean_std([])


def test_permutation_exact_hand_checked():
    # A right on 4 of 5 examples, B on none: d = B − A = (−1, −1, −1, −1, 0), observed |Δ| = 0.8.
    # Swapping flips the sign of each d_i; only the 2 patterns with all four signs equal
    # reach |Δ| = 0.8, out of 2^4 patterns over the differing examples: p = 2/16 = 0.125.
    a = np.array([1, 1, 1, 1, 0])
    b = np.array([0, 0, 0, 0, 0])
    p, exact = paired_permutation_test(a, b, ACC, n_resamples=10000)
    assert exact and p == pytest.approx(0.125)


def test_permutation_exact_matches_brute_force_for_f1():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 3, size=(7, 3)).astype(float)
    b = rng.integers(0, 3, size=(7, 3)).astype(float)
    f1 = f1_of_counts()
    observed = abs(f1(b.sum(0), 7) - f1(a.sum(0), 7))
    hits = 0
    for mask in itertools.product([0, 1], repeat=7):
        m = np.array(mask, dtype=bool)[:, None]
        aa, bb = np.where(m, b, a), np.where(m, a, b)
        hits += abs(f1(bb.sum(0), 7) - f1(aa.sum(0), 7)) >= observed - 1e-12
    p, exact = paired_permutation_test(a, b, f1, n_resamples=1000)
    assert exact and p == pytest.approx(hits / 2**7)


def test_permutation_monte_carlo_and_identical_systems():
    a = np.r_[np.ones(60), np.zeros(40)]
    b = np.r_[np.zeros(60), np.zeros(40)]  # B loses 60 examples: clearly significant
    p, exact = paired_permutation_test(a, b, ACC, n_resamples=2000, seed=1)
    assert not exact and p == pytest.approx(1 / 2001)
    assert paired_permutation_test(a, a, ACC) == (1.0, True)


def test_bootstrap_interval_hand_checked():
    # n = 2 with d = (0, 1): resampled means are 0, 0.5, 0.5, 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles are 0 and 1.
    low, high = paired_bootstrap_interval(np.array([0, 0]), np.array([0, 1]), ACC, n_resamples=4000, seed=0)
    assert (low, high) == (0.0, 1.0)
    # a constant per-example difference gives a degenerate interval
    low, high = paired_bootstrap_interval(np.zeros(50), np.ones(50), ACC, n_resamples=500)
    assert low == high == 1.0


def test_compare_paired_reports_difference_b_minus_a():
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.6).astype(float)
    b = np.where(rng.random(400) < 0.15, 1.0, a)  # B fixes ~15% of examples
    cmp = compare_paired(a, b, ACC, n_resamples=2000, seed=0)
    assert cmp.difference == pytest.approx(b.mean() - a.mean())
    assert cmp.ci_low < cmp.difference < cmp.ci_high and cmp.ci_low > 0
    assert cmp.p_value < 0.01 and cmp.n_examples == 400
    assert set(cmp.to_dict()) >= {"difference", "ci_low", "ci_high", "p_value"}


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="same"):
        compare_paired(np.zeros(3), np.zeros(4), ACC)


def test_format_p():
    assert format_p(0.0001) == "<0.001"
    assert format_p(0.04567) == "0.046"


def test_seed_variance_reports_spread_per_language_against_the_source():
    from xladjust.tasks.transfer import comparison_markdown, seed_variance

    def scores(per_seed):
        mean, std = mean_std(list(per_seed.values()))
        return {"mean": mean, "std": std, "per_seed": per_seed}

    table = {"task": "nli", "metric": "accuracy", "baseline_model": "a", "seeds": [1, 2, 3], "languages": {
        "es": {"scores": {"a": scores({1: 0.50, 2: 0.56, 3: 0.53})}, "comparisons": {}, "n_examples": 9,
               "baseline": 0.33},
        "en": {"scores": {"a": scores({1: 0.60, 2: 0.61, 3: 0.62})}, "comparisons": {}, "n_examples": 9,
               "baseline": 0.33},
    }}
    variance = seed_variance(table)
    assert variance["source_language"] == "en"
    es = variance["models"]["a"]["es"]
    assert es["range"] == pytest.approx(0.06) and es["min"] == 0.50 and es["max"] == 0.56
    assert es["std"] == pytest.approx(0.03)  # sample std of 0.50, 0.56, 0.53
    assert es["std_ratio"] == pytest.approx(3.0)  # en's sample std is 0.01
    assert variance["models"]["a"]["en"]["std_ratio"] == pytest.approx(1.0)
    table["seed_variance"] = variance
    assert "| a | es | 3.00 | 50.0 | 56.0 | 6.00 | 3.0 |" in comparison_markdown(table)


def test_seed_variance_has_no_ratio_when_the_source_does_not_vary():
    from xladjust.tasks.transfer import comparison_markdown, seed_variance

    same = {"mean": 0.6, "std": 0.0, "per_seed": {1: 0.6, 2: 0.6}}
    table = {"task": "nli", "metric": "accuracy", "baseline_model": "a", "seeds": [1, 2], "languages": {
        "en": {"scores": {"a": same}, "comparisons": {}, "n_examples": 4, "baseline": 0.33}}}
    table["seed_variance"] = seed_variance(table)
    assert table["seed_variance"]["models"]["a"]["en"]["std_ratio"] is None
    assert "| a | en | 0.00 | 60.0 | 60.0 | 0.00 | — |" in comparison_markdown(table)


# ---------------------------------------------------------------- seed-level tests


def test_sign_flip_exact_hand_checked():
    from xladjust.tasks.significance import sign_flip_test

    # d = (1, 2, 3): the signed sums are ±6, ±4, ±2, 0, 0; only +6 and −6 reach |6|: p = 2/8.
    assert sign_flip_test([1.0, 2.0, 3.0]) == (pytest.approx(0.25), True)
    # d = (3, −1, 2), sum 4: signed sums 6, 2, 4, 0, 0, −4, −2, −6; |s| ≥ 4 for 4 of 8: p = 0.5.
    assert sign_flip_test([3.0, -1.0, 2.0]) == (pytest.approx(0.5), True)
    # six seeds all the same way: 2/64, the first count of seeds below 0.05
    assert sign_flip_test([1, 2, 3, 4, 5, 6]) == (pytest.approx(2 / 64), True)
    assert sign_flip_test([0.0, 0.0, 0.0]) == (1.0, True)


def test_sign_flip_monte_carlo_and_bad_input():
    from xladjust.tasks.significance import sign_flip_test

    p, exact = sign_flip_test(np.ones(40), n_resamples=2000, seed=0)
    assert not exact and p == pytest.approx(1 / 2001)  # no random pattern of 40 signs reaches all +1
    with pytest.raises(ValueError, match="no per-seed"):
        sign_flip_test([])
    with pytest.raises(ValueError, match="finite"):
        sign_flip_test([1.0, float("nan")])


def test_min_p_and_seeds_needed():
    from xladjust.tasks.significance import min_sign_flip_p, seeds_needed

    assert min_sign_flip_p(3) == 0.25 and min_sign_flip_p(5) == 0.0625 and min_sign_flip_p(6) == 0.03125
    assert min_sign_flip_p(1) == 1.0
    assert seeds_needed(0.05) == 6  # 2/2^5 = 0.0625 ≥ 0.05 > 2/2^6
    assert seeds_needed(0.01) == 8  # 2/2^7 = 0.0156, 2/2^8 = 0.0078
    with pytest.raises(ValueError):
        min_sign_flip_p(0)
    with pytest.raises(ValueError):
        seeds_needed(0.0)


def test_hierarchical_bootstrap_hand_checked():
    from xladjust.tasks.significance import hierarchical_bootstrap

    # seed 1: B right and A wrong on every example (difference 1 on any example resample);
    # seed 2: both right everywhere (difference 0). Drawing 2 seeds with replacement gives
    # 1, 0.5, 0 with probability 1/4, 1/2, 1/4: interval [0, 1], p = 2 · P(≤ 0) = 0.5.
    a = [np.zeros(4), np.ones(4)]
    b = [np.ones(4), np.ones(4)]
    low, high, p = hierarchical_bootstrap(a, b, ACC, n_resamples=20000, seed=0)
    assert (low, high) == (0.0, 1.0)
    assert p == pytest.approx(0.5, abs=0.02)
    # B better on every example and seed: a degenerate interval at 1 and p = 0
    assert hierarchical_bootstrap([np.zeros(5)] * 3, [np.ones(5)] * 3, ACC, n_resamples=300) == (1.0, 1.0, 0.0)


def test_hierarchical_bootstrap_one_seed_is_the_example_bootstrap():
    from xladjust.tasks.significance import hierarchical_bootstrap

    # n = 2, d = (0, 1), one seed: resampled differences 0, 0.5, 1 as in the example bootstrap
    low, high, p = hierarchical_bootstrap([np.array([0, 0])], [np.array([0, 1])], ACC, n_resamples=4000, seed=0)
    assert (low, high) == (0.0, 1.0)
    assert p == pytest.approx(0.5, abs=0.05)  # P(difference ≤ 0) = 1/4


def test_hierarchical_bootstrap_rejects_unpaired_input():
    from xladjust.tasks.significance import hierarchical_bootstrap

    with pytest.raises(ValueError, match="same non-zero number of seeds"):
        hierarchical_bootstrap([np.zeros(3)], [np.zeros(3), np.zeros(3)], ACC)
    with pytest.raises(ValueError, match="same examples"):
        hierarchical_bootstrap([np.zeros(3), np.zeros(4)], [np.zeros(3), np.zeros(4)], ACC)


def test_compare_seeds_pairs_by_seed():
    from xladjust.tasks.significance import compare_seeds

    a_scores = {1: 0.50, 2: 0.60, 3: 0.55}
    b_scores = {3: 0.58, 1: 0.52, 2: 0.61}  # same seeds, other order: pairing is by seed
    stats = {s: np.zeros(4) for s in (1, 2, 3)}
    better = {s: np.ones(4) for s in (1, 2, 3)}
    cmp = compare_seeds(a_scores, b_scores, stats, better, ACC, n_resamples=200)
    assert cmp.seeds == [1, 2, 3]
    assert cmp.per_seed_difference == pytest.approx([0.02, 0.01, 0.03])
    assert cmp.mean_difference == pytest.approx(0.02)
    assert cmp.sign_flip_p == pytest.approx(0.25) and cmp.min_p == 0.25 and cmp.seeds_needed == 6
    with pytest.raises(ValueError, match="share no seed"):
        compare_seeds({1: 0.5}, {2: 0.5}, {1: np.zeros(2)}, {2: np.zeros(2)}, ACC)


def _fake_run(directory, accuracy_by_lang, hits_by_lang):
    import json

    (directory / "predictions").mkdir(parents=True)
    test = {lang: {"metrics": {"accuracy": acc}, "baseline": 0.33} for lang, acc in accuracy_by_lang.items()}
    (directory / "metrics.json").write_text(json.dumps({"test": test}), encoding="utf-8")
    for lang, hits in hits_by_lang.items():
        lines = [json.dumps({"id": str(i), "stats": [float(h)]}) for i, h in enumerate(hits)]
        (directory / "predictions" / f"test-{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def test_compare_runs_puts_both_tests_side_by_side(tmp_path):
    from xladjust.tasks.transfer import compare_runs, comparison_markdown

    hits_a = {1: [1, 0, 0, 0], 2: [1, 1, 0, 0], 3: [0, 0, 0, 0]}
    hits_b = {1: [1, 1, 0, 0], 2: [1, 1, 1, 0], 3: [1, 0, 0, 0]}  # +1 example with every seed
    runs = {name: {s: _fake_run(tmp_path / name / str(s), {"en": np.mean(h[s])}, {"en": h[s]}) for s in (1, 2, 3)}
            for name, h in (("vanilla", hits_a), ("adjusted", hits_b))}
    table = compare_runs(runs, "nli", ["en"], n_resamples=500)
    table["seeds"] = [1, 2, 3]
    cmp = table["languages"]["en"]["comparisons"]["adjusted - vanilla"]
    seeds = cmp["seed_level"]
    assert seeds["per_seed_difference"] == pytest.approx([0.25, 0.25, 0.25])
    assert seeds["sign_flip_p"] == pytest.approx(0.25) and seeds["min_p"] == 0.25  # 3 seeds cannot go lower
    assert seeds["hier_ci_low"] <= 0.25 <= seeds["hier_ci_high"]
    md = comparison_markdown(table)
    assert "p (sign-flip over seeds)" in md and "95% CI (seeds × examples)" in md
    row = next(line for line in md.splitlines() if line.startswith("| en |"))
    assert row.rstrip(" |").endswith("0.250")  # the sign-flip p, last column
    assert "smallest possible p is 2/2^3 = 0.25; it needs at least 6 seeds" in md


def test_compare_seeds_reports_the_minimum_detectable_effect():
    from xladjust.stats import minimum_detectable_effect
    from xladjust.tasks.significance import compare_seeds

    rng = np.random.default_rng(0)
    stats_a = {s: (rng.random(200) < 0.5).astype(float)[:, None] for s in (1, 2, 3, 4, 5)}
    stats_b = {s: (rng.random(200) < 0.55).astype(float)[:, None] for s in (1, 2, 3, 4, 5)}
    score = {s: float(v.mean()) for s, v in stats_a.items()}, {s: float(v.mean()) for s, v in stats_b.items()}
    c = compare_seeds(score[0], score[1], stats_a, stats_b, ACC, n_resamples=2000, seed=0)
    assert c.hier_se > 0 and c.mde == pytest.approx(minimum_detectable_effect(c.hier_se))
    diffs = np.asarray(c.per_seed_difference)
    assert c.seed_mde == pytest.approx((2.776445 + 0.940965) * diffs.std(ddof=1) / np.sqrt(5), rel=1e-5)

