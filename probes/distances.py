"""Distances between word vectors and the paired difference of a triple.

A triple is (w, r, u): a source word ``w``, its related (aligned) target word ``r`` and an
unrelated target word ``u``. Its paired difference is

    Δ = d(w, u) − d(w, r)

positive when the related word is the closer one. Both distances of the design are
provided: cosine distance ``1 − cos`` and Euclidean. All functions are row-wise over
arrays whose last axis is the hidden dimension, so one call covers every layer.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

import numpy as np


class Distance(str, Enum):
    COSINE = "cosine"
    EUCLIDEAN = "euclidean"


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 − cos(a, b)`` along the last axis; NaN where either vector is all zeros."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    dots = np.sum(a * b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), np.nan)
    return 1.0 - np.clip(cos, -1.0, 1.0)


def euclidean_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``‖a − b‖₂`` along the last axis."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.linalg.norm(diff, axis=-1)


DISTANCES: dict[Distance, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    Distance.COSINE: cosine_distance,
    Distance.EUCLIDEAN: euclidean_distance,
}


def paired_difference(d_related: np.ndarray, d_unrelated: np.ndarray) -> np.ndarray:
    """Δ = d(w, u) − d(w, r): positive when the related word is closer."""
    return np.asarray(d_unrelated, dtype=np.float64) - np.asarray(d_related, dtype=np.float64)


def triple_distances(
    w: np.ndarray, r: np.ndarray, u: np.ndarray, distance: Distance | str = Distance.COSINE
) -> dict[str, np.ndarray]:
    """``related`` d(w, r), ``unrelated`` d(w, u) and ``delta`` Δ for stacked triples.

    ``w``, ``r`` and ``u`` have the same shape ``(..., n_triples, hidden)`` (any leading
    axes, e.g. layers); the results have shape ``(..., n_triples)``.
    """
    fn = DISTANCES[Distance(distance)]
    d_rel = fn(w, r)
    d_unrel = fn(w, u)
    return {"related": d_rel, "unrelated": d_unrel, "delta": paired_difference(d_rel, d_unrel)}
