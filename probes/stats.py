"""Statistics of paired differences: summaries, bootstrap intervals, paired tests,
histogram counts on shared bins.

Every function takes arrays and returns numbers, so each figure in a probe report can be
checked by hand. Randomness (bootstrap) goes through an explicit seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_BOOTSTRAP_BLOCK = 1 << 22  # resampled values drawn at once (bounds memory)


def _finite(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def bootstrap_means(values: Any, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of ``n_resamples`` resamples (with replacement, same size) of ``values``."""
    arr = _finite(values)
    if arr.size == 0 or n_resamples < 1:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    per_block = max(1, _BOOTSTRAP_BLOCK // arr.size)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, per_block):
        stop = min(n_resamples, start + per_block)
        idx = rng.integers(0, arr.size, size=(stop - start, arr.size))
        means[start:stop] = arr[idx].mean(axis=1)
    return means


def bootstrap_ci(
    values: Any, n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (NaNs ignored); ``(nan, nan)`` if empty."""
    means = bootstrap_means(values, n_resamples, seed)
    if means.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return (float(lo), float(hi))


def summarize_triples(
    d_related: Any, d_unrelated: Any, n_resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean and median of d(w, r), d(w, u) and Δ = d(w, u) − d(w, r), the share of Δ > 0
    and a bootstrap 95% interval of the mean Δ. Triples with a NaN distance are skipped."""
    rel = np.asarray(d_related, dtype=np.float64)
    unrel = np.asarray(d_unrelated, dtype=np.float64)
    keep = np.isfinite(rel) & np.isfinite(unrel)
    rel, unrel = rel[keep], unrel[keep]
    delta = unrel - rel
    n = int(delta.size)
    lo, hi = bootstrap_ci(delta, n_resamples, seed)

    def stat(fn: Any, arr: np.ndarray) -> float:
        return float(fn(arr)) if n else math.nan

    return {
        "n": n,
        "mean_related": stat(np.mean, rel),
        "median_related": stat(np.median, rel),
        "mean_unrelated": stat(np.mean, unrel),
        "median_unrelated": stat(np.median, unrel),
        "mean_delta": stat(np.mean, delta),
        "median_delta": stat(np.median, delta),
        "share_delta_positive": float(np.mean(delta > 0)) if n else math.nan,
        "mean_delta_ci_low": lo,
        "mean_delta_ci_high": hi,
    }


def rank_biserial(differences: Any) -> float:
    """Matched-pairs rank-biserial correlation (R+ − R−) / (R+ + R−), the effect size of
    the Wilcoxon signed-rank test; zeros are dropped, ties get average ranks."""
    from scipy.stats import rankdata

    d = _finite(differences)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = rankdata(np.abs(d))
    plus = float(ranks[d > 0].sum())
    minus = float(ranks[d < 0].sum())
    return (plus - minus) / (plus + minus)


def cohens_dz(differences: Any) -> float:
    """Cohen's d_z: mean of the paired differences over their standard deviation
    (0 when every difference is 0, ±inf when all are equal and non-zero)."""
    d = _finite(differences)
    if d.size == 0:
        return math.nan
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    if sd == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


def paired_comparison(
    before: Any, after: Any, n_resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Compare per-item values of two checkpoints on the same items (``after − before``).

    Returns the mean and median change, the Wilcoxon signed-rank test (statistic and
    two-sided p; zero differences dropped) with its rank-biserial effect size, Cohen's
    d_z, and a paired bootstrap 95% interval of the mean change with its two-sided p.
    Items with a NaN on either side are skipped.
    """
    a = np.asarray(before, dtype=np.float64)
    b = np.asarray(after, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    diff = b[keep] - a[keep]
    n = int(diff.size)
    out: dict[str, float] = {
        "n": n,
        "mean_change": float(diff.mean()) if n else math.nan,
        "median_change": float(np.median(diff)) if n else math.nan,
        "share_increased": float(np.mean(diff > 0)) if n else math.nan,
        "share_unchanged": float(np.mean(diff == 0)) if n else math.nan,
        "rank_biserial": rank_biserial(diff),
        "cohens_dz": cohens_dz(diff),
    }
    out.update(wilcoxon_test(diff))
    means = bootstrap_means(diff, n_resamples, seed)
    if means.size:
        lo, hi = np.percentile(means, [2.5, 97.5])
        p = min(1.0, 2.0 * min(float(np.mean(means <= 0)), float(np.mean(means >= 0))))
        out.update(bootstrap_ci_low=float(lo), bootstrap_ci_high=float(hi), bootstrap_p=p)
    else:
        out.update(bootstrap_ci_low=math.nan, bootstrap_ci_high=math.nan, bootstrap_p=math.nan)
    return out


def wilcoxon_test(differences: Any) -> dict[str, float]:
    """Two-sided Wilcoxon signed-rank test of paired differences (scipy), zeros dropped.
    With no non-zero difference there is nothing to test: statistic 0, p = 1."""
    from scipy.stats import wilcoxon

    d = _finite(differences)
    if not np.any(d != 0):
        return {"wilcoxon_statistic": 0.0, "wilcoxon_p": 1.0}
    result = wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return {"wilcoxon_statistic": float(result.statistic), "wilcoxon_p": float(result.pvalue)}


def mcnemar_exact(hits_before: Any, hits_after: Any) -> dict[str, float]:
    """Exact McNemar test of a change in hit rate on the same queries (``after − before``).

    ``hits_*`` are per-query hit (1) / miss (0) vectors; queries with a NaN on either side
    are skipped. Only discordant queries count: ``b`` hit before and missed after, ``c``
    missed before and hit after. Under the null hypothesis each discordant query is as
    likely to go either way, so ``min(b, c)`` is binomial(b + c, 1/2) and the two-sided
    p = min(1, 2 · P(X ≤ min(b, c))); p = 1 when no query changed."""
    a = np.asarray(hits_before, dtype=np.float64).ravel()
    h = np.asarray(hits_after, dtype=np.float64).ravel()
    if a.shape != h.shape:
        raise ValueError(f"paired hit vectors differ in length: {a.size} vs {h.size}")
    keep = np.isfinite(a) & np.isfinite(h)
    a, h = a[keep], h[keep]
    if not np.all(np.isin(a, (0.0, 1.0))) or not np.all(np.isin(h, (0.0, 1.0))):
        raise ValueError("hit vectors must hold 0 (miss) or 1 (hit)")
    n = int(a.size)
    lost = int(np.sum((a == 1) & (h == 0)))
    gained = int(np.sum((a == 0) & (h == 1)))
    m = lost + gained
    tail = sum(math.comb(m, i) for i in range(min(lost, gained) + 1)) / 2**m if m else 1.0
    return {
        "n": n,
        "p_at_1_before": float(a.mean()) if n else math.nan,
        "p_at_1_after": float(h.mean()) if n else math.nan,
        "change": float(h.mean() - a.mean()) if n else math.nan,
        "lost": lost,
        "gained": gained,
        "mcnemar_p": min(1.0, 2.0 * tail) if m else 1.0,
    }


def shared_bins(series: Sequence[Any], bins: int = 40) -> np.ndarray:
    """Bin edges spanning every finite value of every series (so histograms overlay)."""
    values = [_finite(s) for s in series]
    values = [v for v in values if v.size]
    if not values:
        return np.linspace(0.0, 1.0, bins + 1)
    joined = np.concatenate(values)
    lo, hi = float(joined.min()), float(joined.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def histogram_counts(
    series: Mapping[str, Any], bins: int | np.ndarray = 40
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Counts of each named series on one set of bin edges (NaNs ignored).

    ``bins`` is a number of equal bins spanning all series, or explicit edges. Returns
    ``(edges, {name: counts})``; as in numpy, the last bin includes its right edge.
    """
    edges = np.asarray(bins, dtype=np.float64) if np.ndim(bins) else shared_bins(list(series.values()), int(bins))
    counts = {name: np.histogram(_finite(values), bins=edges)[0] for name, values in series.items()}
    return edges, counts
