"""Seeds and significance: mean ± std over seeds, paired tests between two checkpoints.

Both tests work on per-example statistics ``(n, k)`` of two systems on the *same*
examples and a metric of their column sums (see :mod:`xladjust.tasks.metrics`), so they
apply to accuracy, SQuAD F1 and entity-level F1 alike.

- **Paired permutation test** (p-value): under the null hypothesis the two systems are
  exchangeable on each example, so each example's pair of statistics is swapped or not at
  random; p is the share of swap patterns whose |difference| reaches the observed one.
  Only examples where the systems differ matter; with m of them, all 2^m patterns are
  enumerated when 2^m ≤ ``n_resamples`` (an exact p), else ``n_resamples`` random
  patterns give p = (1 + hits) / (1 + n_resamples).
- **Paired bootstrap** (interval): examples are resampled with replacement, the same
  indices for both systems; the 2.5th and 97.5th percentiles of the resampled difference
  give the 95% interval.

Both treat the *test examples* as the random unit. Fine-tuning seeds vary about as much as
the differences being tested, so two seed-level tests sit beside them:

- **Sign-flip test over seeds** (:func:`sign_flip_test`): per seed, model B's score minus
  model A's with the same seed; under the null hypothesis each difference is as likely
  positive as negative, so p is the share of the 2^n sign patterns whose |mean| reaches the
  observed one (exact). Its smallest possible p is 2/2^n (:func:`min_sign_flip_p`): 0.25
  with 3 seeds, 0.0625 with 5; it takes 6 seeds (p ≥ 0.031) to be able to reach p < 0.05
  (:func:`seeds_needed`). With fewer, a non-significant p says the seeds are too few, not
  that the models are alike.
- **Hierarchical bootstrap** (:func:`hierarchical_bootstrap`): seeds and test examples are
  resampled with replacement, independently (the two are crossed: every seed is scored on
  every example), the same draws for both models; the 2.5th and 97.5th percentiles give the
  interval, and p = 2·min(share ≤ 0, share ≥ 0) (the test of the interval printed beside
  it). The standard deviation of its draws is the standard error ``se`` of the difference,
  and ``mde`` = 2.80·se is the difference this test detects with 80% power at α = 0.05
  (:func:`xladjust.stats.minimum_detectable_effect`); ``seed_mde`` is the same from the
  per-seed differences alone (t quantiles on n − 1 degrees of freedom). With few seeds the
  seed level has few distinct resamples (10 multisets for 3 seeds) and the bootstrap
  understates the seed variance by about (n − 1)/n, so read its interval as a lower bound
  on the uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xladjust.stats import (
    bootstrap_p,
    bootstrap_se,
    minimum_detectable_effect,
    percentile_interval,
    seed_standard_error,
)
from xladjust.tasks.metrics import SumMetric

_CHUNK = 512
_TOL = 1e-12


@dataclass(frozen=True)
class PairedComparison:
    """System B minus system A on the same examples."""

    metric_a: float
    metric_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    exact: bool
    n_examples: int
    n_resamples: int

    def to_dict(self) -> dict[str, float | int | bool]:
        return dict(self.__dict__)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no values")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _check(stats_a: np.ndarray, stats_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(stats_a, dtype=np.float64)
    b = np.asarray(stats_b, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if b.ndim == 1:
        b = b[:, None]
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired statistics must have the same (n, k) shape, got {a.shape} and {b.shape}")
    if len(a) == 0:
        raise ValueError("no examples to compare")
    return a, b


def paired_permutation_test(stats_a: np.ndarray, stats_b: np.ndarray, metric: SumMetric, *,
                            n_resamples: int = 10000, seed: int = 0) -> tuple[float, bool]:
    """Two-sided p-value of metric(B) − metric(A); returns (p, exact)."""
    a, b = _check(stats_a, stats_b)
    n = len(a)
    observed = abs(float(metric(b.sum(0), n) - metric(a.sum(0), n)))
    differ = np.flatnonzero(np.any(a != b, axis=1))
    m = len(differ)
    if m == 0:
        return 1.0, True
    delta = b[differ] - a[differ]  # swapping example i moves delta_i from B's sums to A's
    sum_a, sum_b = a.sum(0), b.sum(0)
    exact = m <= 30 and 2**m <= n_resamples
    hits = 0
    if exact:
        codes = np.arange(2**m, dtype=np.int64)
        for start in range(0, len(codes), _CHUNK * 8):
            block = codes[start : start + _CHUNK * 8]
            swaps = ((block[:, None] >> np.arange(m)) & 1).astype(np.float64)
            hits += _count(swaps, delta, sum_a, sum_b, n, metric, observed)
        return hits / 2**m, True
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_resamples:
        size = min(_CHUNK, n_resamples - done)
        swaps = rng.integers(0, 2, size=(size, m)).astype(np.float64)
        hits += _count(swaps, delta, sum_a, sum_b, n, metric, observed)
        done += size
    return (1 + hits) / (1 + n_resamples), False


def _count(swaps: np.ndarray, delta: np.ndarray, sum_a: np.ndarray, sum_b: np.ndarray, n: int,
           metric: SumMetric, observed: float) -> int:
    moved = swaps @ delta
    diff = metric(sum_b - moved, n) - metric(sum_a + moved, n)
    return int(np.sum(np.abs(diff) >= observed - _TOL))


def paired_bootstrap_interval(stats_a: np.ndarray, stats_b: np.ndarray, metric: SumMetric, *,
                              n_resamples: int = 10000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of metric(B) − metric(A), resampling examples in pairs."""
    a, b = _check(stats_a, stats_b)
    n = len(a)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    done = 0
    while done < n_resamples:
        size = min(_CHUNK, n_resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        diffs[done : done + size] = metric(b[idx].sum(1), n) - metric(a[idx].sum(1), n)
        done += size
    tail = (1 - level) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return float(low), float(high)


def compare_paired(stats_a: np.ndarray, stats_b: np.ndarray, metric: SumMetric, *,
                   n_resamples: int = 10000, seed: int = 0) -> PairedComparison:
    """Difference B − A with its 95% bootstrap interval and permutation p-value."""
    a, b = _check(stats_a, stats_b)
    n = len(a)
    metric_a = float(metric(a.sum(0), n))
    metric_b = float(metric(b.sum(0), n))
    p, exact = paired_permutation_test(a, b, metric, n_resamples=n_resamples, seed=seed)
    low, high = paired_bootstrap_interval(a, b, metric, n_resamples=n_resamples, seed=seed)
    return PairedComparison(metric_a=metric_a, metric_b=metric_b, difference=metric_b - metric_a,
                            ci_low=low, ci_high=high, p_value=p, exact=exact, n_examples=n,
                            n_resamples=n_resamples)


def sign_flip_test(differences: Sequence[float], *, n_resamples: int = 100000,
                   seed: int = 0) -> tuple[float, bool]:
    """Two-sided sign-flip permutation test that the per-seed differences have mean 0.

    All 2^n sign patterns are enumerated when 2^n ≤ ``n_resamples`` (an exact p: the share
    of patterns whose |mean| reaches the observed |mean|), else ``n_resamples`` random
    patterns give p = (1 + hits) / (1 + n_resamples). Returns (p, exact)."""
    d = np.asarray(differences, dtype=np.float64).ravel()
    if d.size == 0:
        raise ValueError("no per-seed differences to test")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"per-seed differences must be finite, got {d.tolist()}")
    n = d.size
    observed = abs(float(d.mean()))
    if observed == 0.0:
        return 1.0, True
    if n <= 30 and 2**n <= n_resamples:
        codes = np.arange(2**n, dtype=np.int64)
        signs = 1.0 - 2.0 * ((codes[:, None] >> np.arange(n)) & 1)
        hits = int(np.sum(np.abs(signs @ d) / n >= observed - _TOL))
        return hits / 2**n, True
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    while done < n_resamples:
        size = min(_CHUNK * 8, n_resamples - done)
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(size, n))
        hits += int(np.sum(np.abs(signs @ d) / n >= observed - _TOL))
        done += size
    return (1 + hits) / (1 + n_resamples), False


def min_sign_flip_p(n_seeds: int) -> float:
    """The smallest p the exact two-sided sign-flip test can give with ``n_seeds`` seeds:
    only the observed pattern and its mirror image reach the observed |mean|, so 2/2^n."""
    if n_seeds < 1:
        raise ValueError(f"need at least one seed, got {n_seeds}")
    return min(1.0, 2.0 / 2**n_seeds)


def seeds_needed(alpha: float = 0.05) -> int:
    """The fewest seeds with which the sign-flip test can reach p < ``alpha``."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    n = 1
    while min_sign_flip_p(n) >= alpha:
        n += 1
    return n


def hierarchical_bootstrap(stats_a: Sequence[np.ndarray], stats_b: Sequence[np.ndarray], metric: SumMetric, *,
                           n_resamples: int = 10000, seed: int = 0,
                           level: float = 0.95) -> tuple[float, float, float]:
    """Bootstrap of B − A over seeds *and* test examples; returns (ci_low, ci_high, p).

    ``stats_a[s]`` and ``stats_b[s]`` are the per-example statistics ``(n, k)`` of the two
    models fine-tuned with the same seed ``s`` on the same examples. Each resample draws
    seeds with replacement and, independently, examples with replacement (the same draws
    for both models); its value is the mean over the drawn seeds of metric(B) − metric(A)
    on the drawn examples. p = 2·min(share ≤ 0, share ≥ 0), capped at 1."""
    diffs = hierarchical_draws(stats_a, stats_b, metric, n_resamples=n_resamples, seed=seed)
    low, high = percentile_interval(diffs, level)
    return low, high, bootstrap_p(diffs)


def hierarchical_draws(stats_a: Sequence[np.ndarray], stats_b: Sequence[np.ndarray], metric: SumMetric, *,
                       n_resamples: int = 10000, seed: int = 0) -> np.ndarray:
    """The resampled differences of :func:`hierarchical_bootstrap` (their standard
    deviation is the standard error of the seed-averaged difference)."""
    if len(stats_a) != len(stats_b) or not stats_a:
        raise ValueError(f"need the same non-zero number of seeds for both models, got {len(stats_a)} and {len(stats_b)}")
    pairs = [_check(a, b) for a, b in zip(stats_a, stats_b, strict=True)]
    shapes = {a.shape for a, _ in pairs}
    if len(shapes) > 1:
        raise ValueError(f"every seed must be scored on the same examples, got shapes {sorted(shapes)}")
    a_all = np.stack([a for a, _ in pairs])  # (seeds, n, k)
    b_all = np.stack([b for _, b in pairs])
    n_seeds, n = a_all.shape[0], a_all.shape[1]
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    done = 0
    while done < n_resamples:
        size = min(_CHUNK, n_resamples - done)
        idx = rng.integers(0, n, size=(size, n))  # examples drawn with replacement, per resample
        flat = (np.arange(size)[:, None] * n + idx).ravel()
        counts = np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)  # times drawn
        # per resample and seed: the metric of the drawn examples
        per_seed = np.stack([metric(counts @ b_all[s], n) - metric(counts @ a_all[s], n) for s in range(n_seeds)],
                            axis=1)  # (size, seeds)
        drawn = rng.integers(0, n_seeds, size=(size, n_seeds))
        diffs[done : done + size] = np.take_along_axis(per_seed, drawn, axis=1).mean(axis=1)
        done += size
    return diffs


@dataclass(frozen=True)
class SeedComparison:
    """System B minus system A with the seed as the unit (same seeds for both)."""

    seeds: list[int]
    per_seed_difference: list[float]
    mean_difference: float
    sign_flip_p: float
    sign_flip_exact: bool
    min_p: float  # the smallest p the sign-flip test can give with these seeds
    seeds_needed: int  # seeds with which it can reach p < 0.05
    hier_ci_low: float
    hier_ci_high: float
    hier_p: float
    n_resamples: int
    hier_se: float = float("nan")  # standard deviation of the hierarchical draws
    mde: float = float("nan")  # minimum detectable effect of the hierarchical test (80% power, α 0.05)
    seed_mde: float = float("nan")  # the same from the per-seed spread, t on n − 1 df (NaN under 2 seeds)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compare_seeds(scores_a: dict[int, float], scores_b: dict[int, float], stats_a: dict[int, np.ndarray],
                  stats_b: dict[int, np.ndarray], metric: SumMetric, *, n_resamples: int = 10000,
                  seed: int = 0) -> SeedComparison:
    """Seed-level comparison of B − A on the seeds both were fine-tuned with: the exact
    sign-flip test of the per-seed score differences and the hierarchical bootstrap."""
    seeds = sorted(set(scores_a) & set(scores_b) & set(stats_a) & set(stats_b))
    if not seeds:
        raise ValueError("the two models share no seed; a seed-level test pairs runs by seed")
    diffs = [float(scores_b[s]) - float(scores_a[s]) for s in seeds]
    p, exact = sign_flip_test(diffs, seed=seed)
    draws = hierarchical_draws([stats_a[s] for s in seeds], [stats_b[s] for s in seeds], metric,
                               n_resamples=n_resamples, seed=seed)
    low, high = percentile_interval(draws)
    se = bootstrap_se(draws)
    seed_se, df = seed_standard_error(diffs)
    return SeedComparison(seeds=seeds, per_seed_difference=diffs, mean_difference=float(np.mean(diffs)),
                          sign_flip_p=p, sign_flip_exact=exact, min_p=min_sign_flip_p(len(seeds)),
                          seeds_needed=seeds_needed(0.05), hier_ci_low=low, hier_ci_high=high,
                          hier_p=bootstrap_p(draws), n_resamples=n_resamples, hier_se=se,
                          mde=minimum_detectable_effect(se),
                          seed_mde=minimum_detectable_effect(seed_se, df=df) if df else float("nan"))


def format_p(p: float) -> str:
    """A p-value for tables."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"
