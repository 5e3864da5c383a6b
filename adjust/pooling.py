"""Differentiable word pooling: subword vectors → word vectors with one tensor operation.

A pooling plan (see :mod:`xladjust.adjust.features`) is a list of (token, word, weight)
triples over a padded batch flattened to ``(batch · length, hidden)``; the word vectors
are ``W[w] = Σ weight · H[token]`` over the triples of word ``w``. ``index_add`` has a
gather as its backward, so gradients reach exactly the subwords that were pooled.
"""

from __future__ import annotations

from torch import Tensor


def pool_words(hidden: Tensor, token_index: Tensor, word_index: Tensor, weight: Tensor, n_words: int) -> Tensor:
    """Word vectors ``(n_words, hidden)`` from ``hidden`` (``(B, T, H)`` or ``(B·T, H)``).

    ``token_index`` indexes the flattened tokens, ``word_index`` the output rows; both
    ``(p,)`` int64, ``weight`` ``(p,)``. Computed in ``hidden``'s dtype.
    """
    flat = hidden.reshape(-1, hidden.shape[-1])
    picked = flat.index_select(0, token_index) * weight.to(flat.dtype).unsqueeze(1)
    return flat.new_zeros(n_words, flat.shape[1]).index_add(0, word_index, picked)
