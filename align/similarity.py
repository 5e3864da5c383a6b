"""Word alignment from a similarity matrix: the embedding aligner's extraction methods.

Pure numpy functions over ``sim`` of shape (source words, target words); each returns
sorted (i, j) links. Similarities are expected in [0, 1] (``(1 + cos) / 2``, as SimAlign
uses); ``-inf`` marks a pair that must not be linked (a word without a vector).

Selection rules (SimAlign; Jalili Sabet et al., 2020):

- ``argmax``: link i and j when j is i's most similar target word *and* i is j's most
  similar source word (mutual best match);
- ``itermax``: argmax, then repeat on the words still unaligned: a pair whose two words
  are both aligned is excluded, a pair with exactly one aligned word has its similarity
  scaled by ``alpha`` (0.9), and new mutual best matches are added; stop after
  ``max_iterations`` rounds in all, when a side has no unaligned word left, or when a round
  adds nothing;
- ``match``: a maximum-weight bipartite matching (Hungarian algorithm).

Probability rules, each with a ``threshold`` and a ``temperature`` τ on the cosine
(``cos = 2 sim - 1``): a source→target distribution per source word (rows) and a
target→source one per target word (columns); a link is kept when *both* probabilities
exceed the threshold:

- ``softmax`` (Dou & Neubig 2021, awesome-align): row and column softmax of ``cos / τ``;
- ``entmax``: the same with 1.5-entmax (Peters et al. 2019), a sparse softmax whose
  exact solution is found by sorting;
- ``ot``: entropic optimal transport (the XLM-Align aligner, Chi et al. 2021): the
  Sinkhorn plan ``T`` between uniform word masses for the cost ``-cos`` with entropy
  weight τ, computed in the log domain; rows of ``T`` normalized give the source→target
  probabilities, columns the target→source ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


def _finite_block(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of ``sim`` that hold at least one finite similarity."""
    finite = np.isfinite(sim)
    return finite.any(axis=1), finite.any(axis=0)


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(top, axis=axis) + np.log(np.sum(np.exp(x - top), axis=axis))


def softmax_probabilities(scores: np.ndarray, axis: int) -> np.ndarray:
    """Softmax of ``scores`` along ``axis``; ``-inf`` entries get 0."""
    return np.exp(scores - np.expand_dims(_logsumexp(scores, axis), axis))


def entmax15(scores: np.ndarray, axis: int) -> np.ndarray:
    """1.5-entmax of ``scores`` along ``axis`` (Peters et al. 2019), exactly, by sorting.

    ``p = max(z/2 - τ*, 0)^2`` with ``τ*`` the unique threshold that makes ``p`` sum to 1;
    ``-inf`` entries get 0.
    """
    z = np.moveaxis(scores, axis, -1) / 2.0
    finite = np.isfinite(z)
    top = np.max(np.where(finite, z, -np.inf), axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    z = np.where(finite, z - top, -1e6)  # far below any threshold: never in the support
    ordered = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1)
    mean = np.cumsum(ordered, axis=-1) / k
    mean_sq = np.cumsum(ordered**2, axis=-1) / k
    delta = (1.0 - k * (mean_sq - mean**2)) / k
    tau = mean - np.sqrt(np.clip(delta, 0.0, None))
    support = np.sum(tau <= ordered, axis=-1, keepdims=True)
    tau_star = np.take_along_axis(tau, np.maximum(support - 1, 0), axis=-1)
    p = np.clip(z - tau_star, 0.0, None) ** 2
    return np.moveaxis(p, -1, axis)


def sinkhorn_plan(scores: np.ndarray, iterations: int = 100, tol: float = 1e-6) -> np.ndarray:
    """The entropic OT plan between uniform masses for the kernel ``exp(scores)`` (log domain).

    ``T = diag(u) exp(scores) diag(v)`` with row sums ``1/m`` and column sums ``1/n``.
    """
    m, n = scores.shape
    log_a, log_b = -np.log(m), -np.log(n)
    f, g = np.zeros(m), np.zeros(n)
    for _ in range(iterations):
        f = log_a - _logsumexp(scores + g[None, :], axis=1)
        g_new = log_b - _logsumexp(scores + f[:, None], axis=0)
        done = np.max(np.abs(g_new - g)) < tol
        g = g_new
        if done:
            break
    return np.exp(scores + f[:, None] + g[None, :])


def direction_probabilities(sim: np.ndarray, kind: str, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Source→target (rows) and target→source (columns) probabilities of ``sim`` by
    ``kind`` (``softmax``, ``entmax`` or ``ot``); 0 where ``sim`` is ``-inf``."""
    forward = np.zeros(sim.shape)
    reverse = np.zeros(sim.shape)
    rows, cols = _finite_block(sim)
    if not rows.any():
        return forward, reverse
    block = sim[np.ix_(rows, cols)]
    scores = np.where(np.isfinite(block), (2.0 * block - 1.0) / temperature, -np.inf)
    if kind == "ot":
        plan = sinkhorn_plan(scores)
        fwd = plan / np.maximum(plan.sum(axis=1, keepdims=True), 1e-300)
        rev = plan / np.maximum(plan.sum(axis=0, keepdims=True), 1e-300)
    else:
        fn = entmax15 if kind == "entmax" else softmax_probabilities
        fwd, rev = fn(scores, axis=1), fn(scores, axis=0)
    finite = np.isfinite(block)
    forward[np.ix_(rows, cols)] = np.where(finite, fwd, 0.0)
    reverse[np.ix_(rows, cols)] = np.where(finite, rev, 0.0)
    return forward, reverse


def threshold_links(forward: np.ndarray, reverse: np.ndarray, threshold: float) -> list[Link]:
    """Links whose probabilities in both directions exceed ``threshold``."""
    return _to_links((forward > threshold) & (reverse > threshold))


def _both_directions(sim: np.ndarray, threshold: float, temperature: float, kind: str) -> list[Link]:
    return threshold_links(*direction_probabilities(sim, kind, temperature), threshold)


DEFAULT_TEMPERATURE = 0.1


def softmax_links(sim: np.ndarray, threshold: float = 0.3, temperature: float = DEFAULT_TEMPERATURE) -> list[Link]:
    return _both_directions(sim, threshold, temperature, "softmax")


def entmax_links(sim: np.ndarray, threshold: float = 0.0, temperature: float = DEFAULT_TEMPERATURE) -> list[Link]:
    return _both_directions(sim, threshold, temperature, "entmax")


def ot_links(sim: np.ndarray, threshold: float = 0.1, temperature: float = DEFAULT_TEMPERATURE) -> list[Link]:
    return _both_directions(sim, threshold, temperature, "ot")


@dataclass(frozen=True)
class Method:
    """One extraction method: its function and whether it takes a threshold and temperature."""

    fn: Callable[..., list[Link]]
    probabilistic: bool  # takes threshold and temperature
    default_threshold: float | None = None
    summary: str = ""


# The registry: the embedding aligner's ``method`` choices, the CLI and the tuner read from it.
METHODS: dict[str, Method] = {
    "argmax": Method(argmax_links, False, summary="mutual best match (SimAlign)"),
    "itermax": Method(itermax_links, False, summary="argmax, then again on unaligned words (SimAlign)"),
    "match": Method(match_links, False, summary="maximum-weight bipartite matching (SimAlign)"),
    # softmax's default threshold is the dev choice with the embedding aligner's default temperature, 0.03
    "softmax": Method(softmax_links, True, 0.3, "both directions' softmax above a threshold (awesome-align)"),
    "entmax": Method(entmax_links, True, 0.0, "both directions' 1.5-entmax above a threshold"),
    "ot": Method(ot_links, True, 0.1, "entropic optimal transport plan, both directions above a threshold (XLM-Align)"),
}


def align_by_similarity(sim: np.ndarray, method: str, threshold: float | None = None,
                        temperature: float = DEFAULT_TEMPERATURE) -> list[Link]:
    """Links of ``sim`` by ``method``; ``threshold`` (None: the method's default) and
    ``temperature`` apply to the probability methods only."""
    try:
        entry = METHODS[method]
    except KeyError:
        raise ConfigError(f"unknown embedding alignment method {method!r}; choose one of: {', '.join(METHODS)}") from None
    if sim.size == 0:
        return []
    if not entry.probabilistic:
        return entry.fn(sim)
    return entry.fn(sim, threshold=entry.default_threshold if threshold is None else threshold,
                    temperature=temperature)
