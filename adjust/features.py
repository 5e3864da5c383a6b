"""Sentence pairs → subword ids and word-pooling plans, computed once before training.

Words are mapped to subwords with the fast tokenizer's ``word_ids()`` on pre-split words
(WordPiece and SentencePiece alike), as in :mod:`xladjust.embeddings`, and pooled the same
way: ``mean`` over all of a word's subwords (a bare SentencePiece ``▁`` included), or its
``first``/``last`` subword that is not a bare ``▁``. A plan is three flat arrays (token
position, word index, weight) whose weighted sum pools subwords into words, so the
training step pools a whole batch with one tensor operation.

Pooled words are numbered compactly: the words that have subwords, in order, then the
tokenizer's own leading and trailing special tokens (``[CLS]``/``[SEP]``, ``<s>``/``</s>``)
as pseudo-words when requested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xladjust.embeddings import SENTENCEPIECE_SPACE, Pooling
from xladjust.errors import ModelError

_CHUNK = 1024  # sentences per tokenizer call


@dataclass(frozen=True)
class SentenceFeatures:
    """One sentence's subword ids and the plan that pools them into words."""

    ids: np.ndarray  # (n_tokens,) int64, special tokens included
    pool_token: np.ndarray  # (p,) int64 token positions
    pool_word: np.ndarray  # (p,) int64 pooled-word indices
    pool_weight: np.ndarray  # (p,) float32 weights (sum to 1 per word)
    n_words: int  # pooled words
    word_map: np.ndarray  # (n_input_words,) int64: pooled index of each input word, -1 if none

    @property
    def n_tokens(self) -> int:
        return len(self.ids)


def check_fast_tokenizer(tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            "this model's tokenizer is not a fast tokenizer; xladjust maps words to subwords with "
            "word_ids(). Save a fast tokenizer (tokenizer.json) beside the model"
        )


def sentencepiece_space_id(tokenizer: Any) -> int | None:
    """Id of the bare SentencePiece word-start piece ``▁``, if the vocabulary has it."""
    token_id = tokenizer.convert_tokens_to_ids(SENTENCEPIECE_SPACE)
    return None if token_id is None or token_id == tokenizer.unk_token_id else int(token_id)


def encode_sentences(
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    pooling: Pooling,
    special_tokens: bool,
) -> list[SentenceFeatures]:
    """Tokenize pre-split sentences (no truncation) and build their pooling plans."""
    check_fast_tokenizer(tokenizer)
    space_id = sentencepiece_space_id(tokenizer)
    out: list[SentenceFeatures] = []
    for start in range(0, len(sentences), _CHUNK):
        chunk = [list(s) for s in sentences[start : start + _CHUNK]]
        enc = tokenizer(chunk, is_split_into_words=True, add_special_tokens=True, truncation=False)
        for i, words in enumerate(chunk):
            wids = np.array([-1 if w is None else w for w in enc.word_ids(i)], dtype=np.int64)
            ids = np.asarray(enc["input_ids"][i], dtype=np.int64)
            out.append(pooling_plan(ids, wids, len(words), pooling, space_id, special_tokens))
    return out


def pooling_plan(
    ids: np.ndarray,
    word_ids: np.ndarray,
    n_input_words: int,
    pooling: Pooling,
    space_id: int | None,
    special_tokens: bool,
) -> SentenceFeatures:
    """The pooling plan of one tokenized sentence; ``word_ids`` is -1 for special tokens."""
    content = word_ids >= 0
    counts = np.bincount(word_ids[content], minlength=n_input_words)
    has_tokens = counts > 0
    word_map = np.where(has_tokens, np.cumsum(has_tokens) - 1, -1).astype(np.int64)
    n_words = int(has_tokens.sum())

    positions = np.flatnonzero(content)
    words = word_ids[positions]
    bare = np.zeros(len(positions), dtype=bool)
    if space_id is not None:
        bare = (ids[positions] == space_id) & (counts[words] > 1)
    if pooling is Pooling.MEAN:
        tok, wrd = positions, words
        weight = 1.0 / counts[words]
    else:
        keep = ~bare
        # a word made only of bare pieces (never in practice) falls back to all of them
        only_bare = np.setdiff1d(words, words[keep])
        keep |= np.isin(words, only_bare)
        cand_pos, cand_words = positions[keep], words[keep]
        if pooling is Pooling.LAST:
            cand_pos, cand_words = cand_pos[::-1], cand_words[::-1]
        _, first = np.unique(cand_words, return_index=True)
        tok, wrd = cand_pos[first], cand_words[first]
        weight = np.ones(len(tok))
    pool_token = [tok]
    pool_word = [word_map[wrd]]
    pool_weight = [weight]
    if special_tokens:
        cls_pos, sep_pos = _special_positions(word_ids)
        pool_token.append(np.array([cls_pos, sep_pos]))
        pool_word.append(np.array([n_words, n_words + 1]))
        pool_weight.append(np.ones(2))
        n_words += 2
    return SentenceFeatures(
        ids=ids,
        pool_token=np.concatenate(pool_token).astype(np.int64),
        pool_word=np.concatenate(pool_word).astype(np.int64),
        pool_weight=np.concatenate(pool_weight).astype(np.float32),
        n_words=n_words,
        word_map=word_map,
    )


def _special_positions(word_ids: np.ndarray) -> tuple[int, int]:
    """Positions of the leading and trailing special tokens (the [CLS]/[SEP] roles)."""
    content = np.flatnonzero(word_ids >= 0)
    first_content = content[0] if len(content) else len(word_ids)
    last_content = content[-1] if len(content) else -1
    if first_content == 0 or last_content == len(word_ids) - 1:
        raise ModelError(
            "special_tokens is on but this tokenizer does not wrap sentences in special tokens "
            "(no [CLS]/<s> before or [SEP]/</s> after the words); set special_tokens false"
        )
    return 0, len(word_ids) - 1


def pseudo_word_links(src: SentenceFeatures, tgt: SentenceFeatures) -> np.ndarray:
    """Links [CLS]↔[CLS] and [SEP]↔[SEP] (the last two pooled words of each side)."""
    return np.array([[src.n_words - 2, tgt.n_words - 2], [src.n_words - 1, tgt.n_words - 1]], dtype=np.int64)
