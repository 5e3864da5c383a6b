"""Nearest-neighbour retrieval by cosine and by CSLS, through faiss.

Retrieval sets are two arrays ``x`` (n, hidden) and ``y`` (n, hidden) whose rows are
translations: ``x[i]``'s gold partner is ``y[i]``. Accuracy (P@1) is the share of queries
whose nearest neighbour on the other side is their partner, in both directions.

CSLS (Conneau et al. 2018, "Word translation without parallel data") discounts hubs:

    CSLS(x, y) = 2 cos(x, y) − r_y(x) − r_x(y)

where ``r_y(x)`` is the mean cosine of ``x`` to its k nearest neighbours among the ``y``
side and ``r_x(y)`` the same for ``y`` among the ``x`` side. The CSLS neighbour of a query
is found exactly with faiss in two steps. ``r_y(x)`` is constant per query and does not
change its ranking, so the neighbour maximizes ``2 cos(x, y) − r_x(y)``. First among the
query's ``candidates`` nearest keys by cosine (from the same search that gives ``r``): a key
outside them has ``cos(x, y) ≤ c`` (the last candidate's cosine), so if the best candidate
scores at least ``2 c − min r_x`` it is the neighbour. Only the queries where that bound
does not settle it get a full search, on extended vectors: the query ``[2 x̂, 1]`` against
keys ``[ŷ, −r_x(y)]`` scores ``2 cos(x, y) − r_x(y)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xladjust.extras import import_extra

DIRECTIONS = ("src_to_tgt", "tgt_to_src")


def _faiss() -> Any:
    return import_extra("faiss", "probes", "retrieval")


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, contiguous); all-zero rows stay zero."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def inner_product_search(queries: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` keys with the largest inner product for each query (faiss flat index):
    scores and indices, best first, each ``(n_queries, k)``."""
    faiss = _faiss()
    keys = np.ascontiguousarray(keys, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, keys.shape[0])
    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(keys)
    scores, ids = index.search(queries, k)
    return scores, ids


def csls_from_similarity(sim: np.ndarray, k: int) -> np.ndarray:
    """The full CSLS matrix from a cosine matrix ``sim[i, j] = cos(x_i, y_j)`` (numpy,
    for small sets and tests; :func:`retrieve` computes the same ranking with faiss)."""
    sim = np.asarray(sim, dtype=np.float64)
    k_y = min(k, sim.shape[1])
    k_x = min(k, sim.shape[0])
    r_y_of_x = np.sort(sim, axis=1)[:, ::-1][:, :k_y].mean(axis=1)
    r_x_of_y = np.sort(sim, axis=0)[::-1, :][:k_x, :].mean(axis=0)
    return 2.0 * sim - r_y_of_x[:, None] - r_x_of_y[None, :]


def retrieval_accuracy(predicted: Any, gold: Any) -> float:
    """Share of queries whose predicted index equals the gold index (P@1)."""
    predicted = np.asarray(predicted).ravel()
    gold = np.asarray(gold).ravel()
    if predicted.shape != gold.shape:
        raise ValueError(f"{predicted.size} predictions for {gold.size} gold items")
    if predicted.size == 0:
        return float("nan")
    return float(np.mean(predicted == gold))


def retrieve(
    x: np.ndarray, y: np.ndarray, k: int = 10, csls: bool = True, candidates: int = 32
) -> dict[str, dict[str, np.ndarray]]:
    """Nearest neighbours of every row of ``x`` among ``y`` and vice versa.

    Returns ``{"cosine": {"src_to_tgt": idx, "tgt_to_src": idx}, "csls": {...}}`` where
    ``idx[i]`` is the index of query ``i``'s neighbour on the other side (``csls`` only
    when asked; ``k`` is its neighbourhood size, ``candidates`` the cosine shortlist that
    usually settles it, see the module doc).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"retrieval needs two (n, hidden) arrays of equal width, got {x.shape} and {y.shape}")
    xn, yn = normalize_rows(x), normalize_rows(y)
    width = max(k, candidates) if csls else 1
    sim_xy, ids_xy = inner_product_search(xn, yn, width)
    sim_yx, ids_yx = inner_product_search(yn, xn, width)
    out = {"cosine": {"src_to_tgt": ids_xy[:, 0].copy(), "tgt_to_src": ids_yx[:, 0].copy()}}
    if csls:
        r_y_of_x = sim_xy[:, :k].mean(axis=1)  # each x's mean similarity to its k nearest y
        r_x_of_y = sim_yx[:, :k].mean(axis=1)
        out["csls"] = {
            "src_to_tgt": _csls_nearest(xn, yn, sim_xy, ids_xy, r_x_of_y),
            "tgt_to_src": _csls_nearest(yn, xn, sim_yx, ids_yx, r_y_of_x),
        }
    return out


def _csls_nearest(
    queries: np.ndarray, keys: np.ndarray, sims: np.ndarray, ids: np.ndarray, key_penalty: np.ndarray
) -> np.ndarray:
    """argmax over keys of ``2 cos(q, key) − key_penalty[key]`` (unit rows in), settled on
    the cosine shortlist ``(sims, ids)`` where the bound allows, else by a full search."""
    scores = 2.0 * sims - key_penalty[ids]
    best = scores.argmax(axis=1)
    found = ids[np.arange(len(ids)), best].copy()
    if ids.shape[1] >= keys.shape[0]:
        return found  # the shortlist holds every key
    bound = 2.0 * sims[:, -1] - key_penalty.min()
    unsure = np.flatnonzero(scores[np.arange(len(ids)), best] < bound)
    if unsure.size:
        q = np.hstack([2.0 * queries[unsure], np.ones((unsure.size, 1), dtype=np.float32)])
        kk = np.hstack([keys, -key_penalty[:, None].astype(np.float32)])
        found[unsure] = inner_product_search(q, kk, 1)[1][:, 0]
    return found


def retrieval_hits(
    x: np.ndarray, y: np.ndarray, k: int = 10, csls: bool = True, candidates: int = 32
) -> dict[str, dict[str, np.ndarray]]:
    """Per query, whether its neighbour is its gold partner (``x[i] ↔ y[i]``): boolean
    vectors per method and direction, the unit of paired tests between checkpoints."""
    gold = np.arange(x.shape[0])
    return {method: {d: np.asarray(idx) == gold for d, idx in by_direction.items()}
            for method, by_direction in retrieve(x, y, k, csls, candidates).items()}


def scores_of_hits(hits: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """P@1 per method and direction from :func:`retrieval_hits`, plus their ``mean``."""
    out: dict[str, dict[str, float]] = {}
    for method, by_direction in hits.items():
        scores = {d: float(np.mean(h)) if h.size else float("nan") for d, h in by_direction.items()}
        scores["mean"] = float(np.mean([scores[d] for d in DIRECTIONS]))
        out[method] = scores
    return out


def retrieval_scores(
    x: np.ndarray, y: np.ndarray, k: int = 10, csls: bool = True, candidates: int = 32
) -> dict[str, dict[str, float]]:
    """P@1 per method and direction for gold pairs ``x[i] ↔ y[i]``, plus their ``mean``."""
    return scores_of_hits(retrieval_hits(x, y, k, csls, candidates))
