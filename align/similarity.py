"""Word alignment from a similarity matrix (SimAlign; Jalili Sabet et al., 2020).

Pure numpy functions over ``sim`` of shape (source words, target words); each returns
sorted (i, j) links. Similarities are expected in [0, 1] (``(1 + cos) / 2``, as SimAlign
uses); ``-inf`` marks a pair that must not be linked (a word without a vector).

- ``argmax``: link i and j when j is i's most similar target word *and* i is j's most
  similar source word (mutual best match);
- ``itermax``: argmax, then repeat on the words still unaligned: a pair whose two words
  are both aligned is excluded, a pair with exactly one aligned word has its similarity
  scaled by ``alpha`` (0.9), and new mutual best matches are added; stop after
  ``max_iterations`` rounds in all, when a side has no unaligned word left, or when a round
  adds nothing;
- ``match``: a maximum-weight bipartite matching (Hungarian algorithm).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xladjust.errors import ConfigError

Link = tuple[int, int]


def cosine_similarity01(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(1 + cos(x_i, y_j)) / 2`` for rows of ``x`` (m, d) and ``y`` (n, d)."""
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return (1.0 + xn @ yn.T) / 2.0


def apply_distortion(sim: np.ndarray, ratio: float) -> np.ndarray:
    """Scale similarities by ``1 - ratio * (i/m - j/n)^2``, favouring the diagonal."""
    if ratio == 0.0 or sim.size == 0:
        return sim
    m, n = sim.shape
    pos_x = (np.arange(m) / max(m, 1))[:, None]
    pos_y = (np.arange(n) / max(n, 1))[None, :]
    return sim * (1.0 - ratio * (pos_x - pos_y) ** 2)


def _mutual_best(sim: np.ndarray) -> np.ndarray:
    """Boolean (m, n) matrix of mutual row/column maxima among finite entries."""
    out = np.zeros(sim.shape, dtype=bool)
    if sim.size == 0:
        return out
    rows = np.arange(sim.shape[0])
    best_col = sim.argmax(axis=1)
    best_row = sim.argmax(axis=0)
    mutual = best_row[best_col] == rows
    finite = np.isfinite(sim[rows, best_col])
    keep = mutual & finite
    out[rows[keep], best_col[keep]] = True
    return out


def _to_links(mask: np.ndarray) -> list[Link]:
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(mask), strict=True)]


def argmax_links(sim: np.ndarray) -> list[Link]:
    return _to_links(_mutual_best(sim))


def itermax_links(sim: np.ndarray, max_iterations: int = 2, alpha: float = 0.9) -> list[Link]:
    aligned = _mutual_best(sim)
    for _ in range(max_iterations - 1):
        src_done = aligned.any(axis=1)
        tgt_done = aligned.any(axis=0)
        if src_done.all() or tgt_done.all():
            break
        n_done = src_done[:, None].astype(np.int8) + tgt_done[None, :].astype(np.int8)
        weight = np.where(n_done == 0, 1.0, alpha)
        masked = np.where(n_done == 2, -np.inf, sim * weight)
        new = _mutual_best(masked) & ~aligned
        if not new.any():
            break
        aligned |= new
    return _to_links(aligned)


def match_links(sim: np.ndarray) -> list[Link]:
    from scipy.optimize import linear_sum_assignment

    if sim.size == 0:
        return []
    cost = np.where(np.isfinite(sim), -sim, 1e9)
    rows, cols = linear_sum_assignment(cost)
    return sorted((int(i), int(j)) for i, j in zip(rows, cols, strict=True) if np.isfinite(sim[i, j]))


# The registry: the embedding aligner's ``method`` choices read from it.
METHODS: dict[str, Callable[[np.ndarray], list[Link]]] = {
    "argmax": argmax_links,
    "itermax": itermax_links,
    "match": match_links,
}


def align_by_similarity(sim: np.ndarray, method: str) -> list[Link]:
    try:
        fn = METHODS[method]
    except KeyError:
        raise ConfigError(f"unknown embedding alignment method {method!r}; choose one of: {', '.join(METHODS)}") from None
    return fn(sim)
