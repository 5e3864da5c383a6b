"""Subword → word pooling, the one definition every stage uses.

Words are mapped to subwords with the fast tokenizer's ``word_ids()`` (WordPiece and
SentencePiece alike). A word's vector pools its subword vectors: ``mean`` over all of
them (a bare SentencePiece ``▁`` included), or its ``first``/``last`` subword that is not
a bare ``▁``.

A pooling plan is three flat arrays (token position, word index, weight) whose weighted
sum pools subwords into words, so a whole batch pools with one tensor operation
(:func:`pool_words`). Pooled words are numbered compactly: only the words that have
subwords, in order; ``word_map`` gives each input word's pooled index, or -1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from xladjust.errors import InputError

if TYPE_CHECKING:
    from torch import Tensor

SENTENCEPIECE_SPACE = "\u2581"


class Pooling(str, Enum):
    MEAN = "mean"
    FIRST = "first"
    LAST = "last"

    @classmethod
    def parse(cls, value: str | Pooling) -> Pooling:
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise InputError(f"unknown pooling {value!r}; choose one of: {choices}") from None


def sentencepiece_space_id(tokenizer: Any) -> int | None:
    """Id of the bare SentencePiece word-start piece ``▁``, if the vocabulary has it."""
    token_id = tokenizer.convert_tokens_to_ids(SENTENCEPIECE_SPACE)
    return None if token_id is None or token_id == tokenizer.unk_token_id else int(token_id)


@dataclass(frozen=True)
class PoolingPlan:
    """How one tokenized sentence's subwords pool into its words."""

    token: np.ndarray  # (p,) int64 token positions
    word: np.ndarray  # (p,) int64 pooled-word indices
    weight: np.ndarray  # (p,) float32, summing to 1 per word
    n_words: int  # pooled words
    word_map: np.ndarray  # (n_input_words,) int64: pooled index of each input word, -1 if none


def pooling_plan(ids: np.ndarray, word_ids: np.ndarray, n_input_words: int, pooling: Pooling,
                 space_id: int | None) -> PoolingPlan:
    """The plan for one sentence; ``word_ids`` is -1 for tokens that belong to no word
    (special tokens, or the subwords of a word left out on purpose)."""
    content = word_ids >= 0
    counts = np.bincount(word_ids[content], minlength=n_input_words)
    has_tokens = counts > 0
    word_map = np.where(has_tokens, np.cumsum(has_tokens) - 1, -1).astype(np.int64)

    positions = np.flatnonzero(content)
    words = word_ids[positions]
    if pooling is Pooling.MEAN:
        tok, wrd = positions, words
        weight = 1.0 / counts[words]
    else:
        keep = np.ones(len(positions), dtype=bool)
        if space_id is not None:
            keep = ~((ids[positions] == space_id) & (counts[words] > 1))
        # a word made only of bare pieces (never in practice) falls back to all of them
        keep |= np.isin(words, np.setdiff1d(words, words[keep]))
        cand_pos, cand_words = positions[keep], words[keep]
        if pooling is Pooling.LAST:
            cand_pos, cand_words = cand_pos[::-1], cand_words[::-1]
        _, first = np.unique(cand_words, return_index=True)
        tok, wrd = cand_pos[first], cand_words[first]
        weight = np.ones(len(tok))
    return PoolingPlan(tok.astype(np.int64), word_map[wrd], weight.astype(np.float32), int(has_tokens.sum()),
                       word_map)


def pool_words(hidden: Tensor, token_index: Tensor, word_index: Tensor, weight: Tensor, n_words: int) -> Tensor:
    """Word vectors ``(n_words, hidden)`` from ``hidden`` (``(B, T, H)`` or ``(B·T, H)``).

    ``token_index`` indexes the flattened tokens, ``word_index`` the output rows; both
    ``(p,)`` int64, ``weight`` ``(p,)``. Computed in ``hidden``'s dtype. ``index_add`` has
    a gather as its backward, so gradients reach exactly the subwords that were pooled.
    """
    flat = hidden.reshape(-1, hidden.shape[-1])
    picked = flat.index_select(0, token_index) * weight.to(flat.dtype).unsqueeze(1)
    return flat.new_zeros(n_words, flat.shape[1]).index_add(0, word_index, picked)
