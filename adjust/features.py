"""Sentence pairs → subword ids and word-pooling plans, computed once before training.

Words are mapped to subwords with the fast tokenizer's ``word_ids()`` on pre-split words
and pooled by :mod:`xladjust.pooling`, the same definition the probes use, so the
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

from xladjust.errors import ModelError
from xladjust.pooling import Pooling, pooling_plan, sentencepiece_space_id

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
            out.append(sentence_features(ids, wids, len(words), pooling, space_id, special_tokens))
    return out


def sentence_features(
    ids: np.ndarray,
    word_ids: np.ndarray,
    n_input_words: int,
    pooling: Pooling,
    space_id: int | None,
    special_tokens: bool,
) -> SentenceFeatures:
    """One tokenized sentence's features; ``word_ids`` is -1 for special tokens. With
    ``special_tokens`` the leading and trailing special tokens become two more pooled words."""
    plan = pooling_plan(ids, word_ids, n_input_words, pooling, space_id)
    pool_token, pool_word, pool_weight, n_words = [plan.token], [plan.word], [plan.weight], plan.n_words
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
        word_map=plan.word_map,
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
