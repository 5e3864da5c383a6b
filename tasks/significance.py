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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


def format_p(p: float) -> str:
    """A p-value for tables."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"
