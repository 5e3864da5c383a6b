"""Statistics shared by every stage and by the claim verdicts: the cluster bootstrap, Holm's
correction, the TOST equivalence test and the minimum detectable effect.

Every function takes arrays or numbers and returns numbers, so each can be checked on
hand-made inputs. Randomness (the bootstrap) goes through an explicit seed.

- **Cluster bootstrap** (:func:`cluster_bootstrap`): items that share a unit (the triples of
  one sentence) are not independent, so the unit is resampled, not the item. Each resample
  draws ``C`` clusters with replacement out of ``C``; a statistic that is a function of
  column sums (a mean, a share, a ratio of means) is evaluated on the drawn clusters'
  summed columns. With every item its own cluster this is the ordinary bootstrap.
- **Percentile interval and bootstrap p** (:func:`percentile_interval`,
  :func:`bootstrap_p`): the interval is the ``(1 − level)/2`` and ``(1 + level)/2``
  quantiles of the draws; the two-sided p is ``min(1, 2·min(share ≤ 0, share ≥ 0))``, so
  p < 0.05 exactly when the 95% percentile interval leaves out 0: the test printed is the
  test of the estimate whose interval is printed.
- **Holm** (:func:`holm`): sort the m p-values ascending, p₍₁₎ ≤ … ≤ p₍ₘ₎; the adjusted
  p₍ᵢ₎ is ``max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎)``; rejecting where the adjusted p < α
  keeps the family-wise error rate at α.
- **TOST** (:func:`tost`): two one-sided tests of H₀: effect ≤ −margin and H₀: effect ≥
  +margin with the estimate's standard error (normal, or t with ``df``); p_TOST is the
  larger of the two one-sided p, and p_TOST < α is the same as the (1 − 2α) interval
  lying inside (−margin, +margin).
- **Minimum detectable effect** (:func:`minimum_detectable_effect`): the true effect a
  two-sided test at level α detects with the given power when the estimate's standard
  error is ``se``: ``(z₁₋α/₂ + z_power)·se`` (2.80·se at α = 0.05, 80% power), with t
  quantiles on ``df`` degrees of freedom when the error comes from few seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_BLOCK = 1 << 22  # cluster draws held at once (bounds memory)

SumStatistic = Callable[[np.ndarray], np.ndarray]  # column sums (R, k) -> statistic (R,)


def cluster_sums(columns: Any, clusters: Any | None = None) -> np.ndarray:
    """Per-cluster sums ``(C, k)`` of item columns ``(n, k)``; clusters in order of first
    appearance. ``clusters`` None: every item is its own cluster."""
    x = np.asarray(columns, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if clusters is None:
        return x
    ids = np.asarray(clusters).ravel()
    if ids.size != x.shape[0]:
        raise ValueError(f"{ids.size} cluster ids for {x.shape[0]} items")
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)  # cluster k in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    out = np.zeros((order.size, x.shape[1]))
    np.add.at(out, rank[inverse], x)
    return out


def cluster_bootstrap(columns: Any, clusters: Any | None, statistic: SumStatistic, *,
                      n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """``n_resamples`` draws of ``statistic`` over resampled clusters.

    ``columns`` ``(n, k)`` holds per-item values whose sums define the statistic (for a
    mean: the value and a column of ones); ``statistic`` maps summed columns ``(R, k)`` to
    ``(R,)`` (or several statistics at once, ``(R, m)``, from the same draws). Each draw
    takes C clusters with replacement out of the C clusters."""
    sums = cluster_sums(columns, clusters)
    n_clusters = sums.shape[0]
    if n_clusters == 0 or n_resamples < 1:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    per_block = max(1, _BLOCK // n_clusters)
    blocks = []
    for start in range(0, n_resamples, per_block):
        size = min(n_resamples, start + per_block) - start
        idx = rng.integers(0, n_clusters, size=(size, n_clusters))
        flat = (np.arange(size)[:, None] * n_clusters + idx).ravel()
        counts = np.bincount(flat, minlength=size * n_clusters).reshape(size, n_clusters)
        with np.errstate(invalid="ignore", divide="ignore"):
            blocks.append(np.asarray(statistic(counts.astype(np.float64) @ sums), dtype=np.float64))
    return np.concatenate(blocks)


def percentile_interval(draws: Any, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap draws (NaNs ignored); ``(nan, nan)`` if none."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(d, [tail, 1.0 - tail])
    return (float(lo), float(hi))


def bootstrap_p(draws: Any) -> float:
    """Two-sided p that the bootstrapped quantity is 0: ``min(1, 2·min(share ≤ 0, share ≥ 0))``."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan
    return min(1.0, 2.0 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0))))


def bootstrap_se(draws: Any) -> float:
    """Standard error of the estimate: the standard deviation of its bootstrap draws."""
    d = np.asarray(draws, dtype=np.float64)
    d = d[np.isfinite(d)]
    return float(d.std(ddof=1)) if d.size > 1 else math.nan


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values in the input's order (NaN stays NaN and does not count)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    if np.any((p[valid] < 0) | (p[valid] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[valid].tolist()}")
    m = valid.size
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (m - i) * float(p[k])))
        out[k] = running
    return out.tolist()


def _quantile(q: float, df: float | None) -> float:
    from scipy.stats import norm, t

    return float(norm.ppf(q)) if df is None else float(t.ppf(q, df))


def _upper_tail(x: float, df: float | None) -> float:
    from scipy.stats import norm, t

    return float(norm.sf(x)) if df is None else float(t.sf(x, df))


def tost(estimate: float, se: float, margin: float, *, alpha: float = 0.05,
         df: float | None = None) -> dict[str, Any]:
    """Two one-sided tests of equivalence within ``(−margin, +margin)``.

    Returns ``p`` (the TOST p: the larger one-sided p), ``p_lower`` (H₀: effect ≤ −margin),
    ``p_upper`` (H₀: effect ≥ +margin), the (1 − 2α) interval, and ``outcome``:
    ``equivalent`` (p < α: the interval lies inside the margins), ``not equivalent`` (the
    interval lies wholly outside them, beyond one margin), else ``inconclusive``."""
    if not margin > 0:
        raise ValueError(f"the equivalence margin must be positive, got {margin}")
    if not (math.isfinite(estimate) and math.isfinite(se) and se >= 0):
        return {"p": math.nan, "p_lower": math.nan, "p_upper": math.nan, "ci_low": math.nan,
                "ci_high": math.nan, "margin": margin, "outcome": "inconclusive"}
    if se == 0:
        inside = -margin < estimate < margin
        p_lower = 0.0 if estimate > -margin else 1.0
        p_upper = 0.0 if estimate < margin else 1.0
        low = high = estimate
    else:
        p_lower = _upper_tail((estimate + margin) / se, df)
        p_upper = _upper_tail((margin - estimate) / se, df)
        half = _quantile(1.0 - alpha, df) * se
        low, high = estimate - half, estimate + half
        inside = max(p_lower, p_upper) < alpha
    if inside:
        outcome = "equivalent"
    elif low >= margin or high <= -margin:
        outcome = "not equivalent"
    else:
        outcome = "inconclusive"
    return {"p": max(p_lower, p_upper), "p_lower": p_lower, "p_upper": p_upper, "ci_low": low,
            "ci_high": high, "margin": margin, "outcome": outcome}


def minimum_detectable_effect(se: float, *, alpha: float = 0.05, power: float = 0.8,
                              df: float | None = None) -> float:
    """The smallest true effect a two-sided test at ``alpha`` detects with ``power``, given
    the estimate's standard error: ``(q(1 − α/2) + q(power))·se`` (normal, or t on ``df``)."""
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha} and {power}")
    if not math.isfinite(se) or se < 0:
        return math.nan
    return (_quantile(1.0 - alpha / 2.0, df) + _quantile(power, df)) * se


def seed_standard_error(per_seed_differences: Sequence[float]) -> tuple[float, int]:
    """Standard error of the mean per-seed difference, ``sd/√n``, and its degrees of
    freedom ``n − 1`` (NaN and 0 with fewer than two seeds)."""
    d = np.asarray(per_seed_differences, dtype=np.float64).ravel()
    d = d[np.isfinite(d)]
    if d.size < 2:
        return math.nan, 0
    return float(d.std(ddof=1) / math.sqrt(d.size)), int(d.size - 1)


MIN_FINETUNE_SEEDS = 5  # fewer: the seed spread is barely estimated and sign-flip p cannot reach 0.05
MIN_ADJUST_SEEDS = 2  # fewer: the variance between adjustment runs is not measured at all


def seed_warnings(finetune_seeds: int | None, adjust_seeds: dict[str, int] | None = None) -> list[str]:
    """Warnings for a comparison with too few fine-tuning seeds (under
    :data:`MIN_FINETUNE_SEEDS`; None: no fine-tuning compared) or an adjusted arm with too
    few adjustment seeds (under :data:`MIN_ADJUST_SEEDS`)."""
    out = []
    if finetune_seeds is not None and finetune_seeds < MIN_FINETUNE_SEEDS:
        out.append(f"only {finetune_seeds} fine-tuning seed(s): at least {MIN_FINETUNE_SEEDS} are needed for the "
                   "seed-level tests to estimate the seed spread; read the intervals as lower bounds")
    for arm, n in sorted((adjust_seeds or {}).items()):
        if n < MIN_ADJUST_SEEDS:
            out.append(f"{arm}: only {n} adjustment seed(s): at least {MIN_ADJUST_SEEDS} are needed before a "
                       "difference can be attributed to the adjustment rather than to one adjustment run")
    return out
