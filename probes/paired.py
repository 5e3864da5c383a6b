"""Paired comparisons between checkpoints on the same triples and the same retrieval queries."""

from __future__ import annotations

from typing import Any

import numpy as np

from xladjust.probes.distances import Distance
from xladjust.probes.registry import ProbeResult
from xladjust.probes.retrieval import DIRECTIONS
from xladjust.probes.stats import mcnemar_exact, measures_change, paired_comparison

QUANTITIES = ("delta", "related", "unrelated")


def compare_distances(
    reference: ProbeResult, other: ProbeResult, primary_layer: int, n_resamples: int = 1000, seed: int = 0,
    clusters: Any = None,
) -> dict[str, Any]:
    """Per layer and distance, the paired change ``other − reference`` of Δ, d(w, r) and
    d(w, u) over the triples valid in both. The primary layer gets the full test (paired
    bootstrap with its p, effect sizes, Wilcoxon as a description); other layers get it
    without bootstrap. ``measures`` holds, at the primary layer and cosine distance, the
    change of every measure (:func:`~xladjust.probes.stats.measures_change`; the scale-free
    share of Δ > 0 and ratio d(w,u)/d(w,r) first). ``clusters`` gives each triple's
    sentence, the unit the bootstrap resamples."""
    layers_ref = reference.metrics["layers"]
    layers_other = other.metrics["layers"]
    shared = [layer for layer in layers_ref if layer in layers_other]
    by_layer: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for layer in shared:
        k_ref, k_other = layers_ref.index(layer), layers_other.index(layer)
        by_layer[str(layer)] = {}
        for dist in Distance:
            by_layer[str(layer)][dist.value] = {
                q: paired_comparison(
                    reference.per_item[f"{dist.value}.{q}"][k_ref],
                    other.per_item[f"{dist.value}.{q}"][k_other],
                    n_resamples if layer == primary_layer else 0,
                    seed,
                    clusters,
                )
                for q in QUANTITIES
            }
    out: dict[str, Any] = {"layers": shared, "primary_layer": primary_layer, "by_layer": by_layer}
    if primary_layer in shared:
        k_ref, k_other = layers_ref.index(primary_layer), layers_other.index(primary_layer)
        cos = Distance.COSINE.value
        out["measures"] = measures_change(
            reference.per_item[f"{cos}.related"][k_ref], reference.per_item[f"{cos}.unrelated"][k_ref],
            other.per_item[f"{cos}.related"][k_other], other.per_item[f"{cos}.unrelated"][k_other],
            clusters=clusters, n_resamples=n_resamples, seed=seed)
    return out


def delta_change(reference: ProbeResult, other: ProbeResult, layer: int, distance: str = "cosine") -> np.ndarray:
    """Per-triple change of Δ (``other − reference``) at ``layer``; NaN where either is."""
    k_ref = reference.metrics["layers"].index(layer)
    k_other = other.metrics["layers"].index(layer)
    key = f"{distance}.delta"
    return other.per_item[key][k_other] - reference.per_item[key][k_ref]


def compare_word_retrieval(reference: ProbeResult, other: ProbeResult, layer: int, *, clusters: Any = None,
                           n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The P@1 change ``other − reference`` at ``layer``, per method (cosine, CSLS) and
    direction, and for both directions pooled (``mean``: every query of both directions,
    P@1 their mean), on the queries valid for both checkpoints: the exact McNemar test on
    per-query hit/miss (queries as independent), and ``bootstrap``, a paired bootstrap of
    the same change over ``clusters`` (each link's sentence; the queries of one sentence
    share its context) with its interval, p, standard error and MDE."""
    k_ref = reference.metrics["layers"].index(layer)
    k_other = other.metrics["layers"].index(layer)
    out: dict[str, Any] = {"layer": layer}
    units = None if clusters is None else np.asarray(clusters)
    for method in ("cosine", "csls"):
        ref = {d: reference.per_item[f"{method}.{d}"][k_ref] for d in DIRECTIONS}
        oth = {d: other.per_item[f"{method}.{d}"][k_other] for d in DIRECTIONS}
        ref["mean"] = np.concatenate([ref[d] for d in DIRECTIONS])
        oth["mean"] = np.concatenate([oth[d] for d in DIRECTIONS])
        tests = {}
        for d in (*DIRECTIONS, "mean"):
            ids = None if units is None else (np.concatenate([units] * len(DIRECTIONS)) if d == "mean" else units)
            tests[d] = mcnemar_exact(ref[d], oth[d])
            boot = paired_comparison(ref[d], oth[d], n_resamples, seed, ids)
            tests[d]["bootstrap"] = {k: boot[k] for k in ("unit", "n_units", "bootstrap_ci_low", "bootstrap_ci_high",
                                                          "bootstrap_p", "bootstrap_se", "mde")}
        out[method] = tests
    return out
