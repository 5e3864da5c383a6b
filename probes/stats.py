"""Statistics of paired differences: summaries, bootstrap intervals, paired tests,
histogram counts on shared bins.

Every function takes arrays and returns numbers, so each figure in a probe report can be
checked by hand. Randomness (bootstrap) goes through an explicit seed.

The triples of one sentence share its context, so they are not independent: intervals and
tests take the sentence of each triple (``clusters``) and resample sentences, not triples
(:func:`xladjust.stats.cluster_bootstrap`); without ``clusters`` every triple is its own
unit. The primary geometry measures are scale-free (:data:`MEASURES`): the share of
triples with Δ > 0 and the ratio of mean distances d(w,u)/d(w,r); the absolute Δ is
secondary, because it shrinks when the whole space contracts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from xladjust.stats import (
    bootstrap_p,
    bootstrap_se,
    cluster_bootstrap,
    minimum_detectable_effect,
    percentile_interval,
)


def _finite(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def bootstrap_means(values: Any, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of ``n_resamples`` resamples (with replacement, same size) of ``values``."""
    arr = _finite(values)
    if arr.size == 0 or n_resamples < 1:
        return np.zeros(0)
    return cluster_bootstrap(np.stack([arr, np.ones_like(arr)], axis=1), None, _mean_of_sums,
                             n_resamples=n_resamples, seed=seed)


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


MEASURES = {
    "share_delta_positive": "share of triples with Δ > 0 (the related word closer)",
    "ratio": "d(w,u) / d(w,r), mean unrelated over mean related distance",
    "mean_delta": "mean Δ = d(w,u) − d(w,r)",
    "mean_related": "mean d(w,r)",
    "mean_unrelated": "mean d(w,u)",
}
PRIMARY_MEASURES = ("share_delta_positive", "ratio")  # scale-free; the rest are secondary


def _triple_columns(rel: np.ndarray, unrel: np.ndarray) -> np.ndarray:
    """Per-triple columns whose sums give every measure: [Δ > 0, d(w,r), d(w,u), 1]."""
    return np.stack([(unrel - rel > 0).astype(np.float64), rel, unrel, np.ones_like(rel)], axis=1)


def _measures_of_sums(sums: np.ndarray) -> np.ndarray:
    """The measures of :data:`MEASURES`, in its order, from summed columns ``(R, 4)``."""
    positive, rel, unrel, n = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([positive / n, unrel / rel, (unrel - rel) / n, rel / n, unrel / n], axis=1)


def _units(clusters: Any, keep: np.ndarray) -> tuple[np.ndarray | None, int, str]:
    if clusters is None:
        return None, int(keep.sum()), "triple"
    ids = np.asarray(clusters).ravel()
    if ids.size != keep.size:
        raise ValueError(f"{ids.size} sentence ids for {keep.size} triples")
    ids = ids[keep]
    return ids, int(np.unique(ids).size), "sentence"


def summarize_triples(
    d_related: Any, d_unrelated: Any, n_resamples: int = 1000, seed: int = 0, clusters: Any = None
) -> dict[str, Any]:
    """Mean and median of d(w, r), d(w, u) and Δ = d(w, u) − d(w, r), the share of Δ > 0,
    the ratio of mean distances d(w,u)/d(w,r), and bootstrap 95% intervals of the share,
    the ratio and the mean Δ. ``clusters`` gives each triple's sentence: the bootstrap then
    resamples sentences (see the module docstring). Triples with a NaN distance are skipped."""
    rel = np.asarray(d_related, dtype=np.float64)
    unrel = np.asarray(d_unrelated, dtype=np.float64)
    keep = np.isfinite(rel) & np.isfinite(unrel)
    units, n_units, unit = _units(clusters, keep)
    rel, unrel = rel[keep], unrel[keep]
    delta = unrel - rel
    n = int(delta.size)
    draws = cluster_bootstrap(_triple_columns(rel, unrel), units, _measures_of_sums,
                              n_resamples=n_resamples, seed=seed) if n else np.zeros(0)
    names = list(MEASURES)

    def interval(name: str) -> tuple[float, float]:
        return percentile_interval(draws[:, names.index(name)]) if draws.size else (math.nan, math.nan)

    def stat(fn: Any, arr: np.ndarray) -> float:
        return float(fn(arr)) if n else math.nan

    mean_rel = stat(np.mean, rel)
    out: dict[str, Any] = {
        "n": n,
        "n_units": n_units,
        "unit": unit,
        "mean_related": mean_rel,
        "median_related": stat(np.median, rel),
        "mean_unrelated": stat(np.mean, unrel),
        "median_unrelated": stat(np.median, unrel),
        "mean_delta": stat(np.mean, delta),
        "median_delta": stat(np.median, delta),
        "share_delta_positive": float(np.mean(delta > 0)) if n else math.nan,
        "ratio": stat(np.mean, unrel) / mean_rel if n and mean_rel != 0 else math.nan,
    }
    for name in ("share_delta_positive", "ratio", "mean_delta"):
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = interval(name)
    return out


def measures_change(
    before_related: Any, before_unrelated: Any, after_related: Any, after_unrelated: Any, *,
    clusters: Any = None, n_resamples: int = 1000, seed: int = 0,
) -> dict[str, Any]:
    """Change ``after − before`` of every measure of :data:`MEASURES` on the same triples.

    Per measure: the value before and after, the change, its percentile 95% interval, the
    two-sided bootstrap p of the same change (:func:`xladjust.stats.bootstrap_p`; p < 0.05
    exactly when the interval leaves out 0), its standard error (the draws' standard
    deviation) and the minimum detectable effect at 80% power. One set of draws serves all
    measures; with ``clusters`` they resample sentences. Triples with a NaN on either side
    are skipped."""
    arrays = [np.asarray(x, dtype=np.float64) for x in (before_related, before_unrelated,
                                                        after_related, after_unrelated)]
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"paired arrays differ in shape: {[a.shape for a in arrays]}")
    keep = np.all([np.isfinite(a) for a in arrays], axis=0)
    units, n_units, unit = _units(clusters, keep)
    rb, ub, ra, ua = (a[keep] for a in arrays)
    columns = np.concatenate([_triple_columns(rb, ub), _triple_columns(ra, ua)], axis=1)

    def change(sums: np.ndarray) -> np.ndarray:
        return _measures_of_sums(sums[:, 4:]) - _measures_of_sums(sums[:, :4])

    before = _measures_of_sums(columns[:, :4].sum(0, keepdims=True))[0]
    after = _measures_of_sums(columns[:, 4:].sum(0, keepdims=True))[0]
    draws = cluster_bootstrap(columns, units, change, n_resamples=n_resamples, seed=seed) \
        if rb.size else np.zeros((0, len(MEASURES)))
    out: dict[str, Any] = {"n": int(rb.size), "n_units": n_units, "unit": unit, "n_resamples": n_resamples,
                           "primary": list(PRIMARY_MEASURES)}
    for k, name in enumerate(MEASURES):
        d = draws[:, k] if draws.size else np.zeros(0)
        low, high = percentile_interval(d)
        se = bootstrap_se(d)
        out[name] = {"before": float(before[k]), "after": float(after[k]), "change": float(after[k] - before[k]),
                     "ci_low": low, "ci_high": high, "p": bootstrap_p(d), "se": se,
                     "mde": minimum_detectable_effect(se)}
    return out


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
    before: Any, after: Any, n_resamples: int = 1000, seed: int = 0, clusters: Any = None
) -> dict[str, Any]:
    """Compare per-item values of two checkpoints on the same items (``after − before``).

    Returns the mean and median change, a paired bootstrap 95% interval of the mean change
    with the two-sided bootstrap p of that same mean (the printed test), its standard error
    and minimum detectable effect at 80% power; with ``clusters`` (each triple's sentence)
    the bootstrap resamples sentences. Also, as descriptions of the per-item changes that
    treat items as independent (so not the test to print beside the mean): the Wilcoxon
    signed-rank test with its rank-biserial effect size, and Cohen's d_z. Items with a NaN
    on either side are skipped.
    """
    a = np.asarray(before, dtype=np.float64)
    b = np.asarray(after, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    units, n_units, unit = _units(clusters, keep)
    diff = b[keep] - a[keep]
    n = int(diff.size)
    out: dict[str, Any] = {
        "n": n,
        "n_units": n_units,
        "unit": unit,
        "mean_change": float(diff.mean()) if n else math.nan,
        "median_change": float(np.median(diff)) if n else math.nan,
        "share_increased": float(np.mean(diff > 0)) if n else math.nan,
        "share_unchanged": float(np.mean(diff == 0)) if n else math.nan,
        "rank_biserial": rank_biserial(diff),
        "cohens_dz": cohens_dz(diff),
    }
    out.update(wilcoxon_test(diff))
    means = cluster_bootstrap(np.stack([diff, np.ones_like(diff)], axis=1), units, _mean_of_sums,
                              n_resamples=n_resamples, seed=seed) if n else np.zeros(0)
    lo, hi = percentile_interval(means)
    se = bootstrap_se(means)
    out.update(bootstrap_ci_low=lo, bootstrap_ci_high=hi, bootstrap_p=bootstrap_p(means), bootstrap_se=se,
               mde=minimum_detectable_effect(se))
    return out


def _mean_of_sums(sums: np.ndarray) -> np.ndarray:
    return sums[:, 0] / sums[:, 1]


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
