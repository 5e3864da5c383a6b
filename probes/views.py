"""A checkpoint's embeddings of the probe inputs, computed once and shared by all probes.

:class:`CheckpointEmbedder` embeds word lists and raw sentences with one loaded model and
remembers the result by content, so a side shared by several inputs (the English side of
FLORES in every en-XX bitext) runs through the model once. :func:`iter_views` hands each
input's view to the probes and forgets embeddings no later input needs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xladjust.embeddings import Pooling, WordEmbeddings, embed_sentences, embed_words
from xladjust.io import sha256_json
from xladjust.probes.inputs import Bitext, SentenceSet
from xladjust.training_common import bf16_or_auto

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BitextView:
    """Word vectors of both sides of a bitext at ``layers``."""

    bitext: Bitext
    layers: tuple[int, ...]
    src: WordEmbeddings
    tgt: WordEmbeddings

    def _gather(self, emb: WordEmbeddings, k: int, sentence: np.ndarray, word: np.ndarray) -> np.ndarray:
        return emb.vectors[k, emb.offsets[sentence] + word]

    def _valid(self, emb: WordEmbeddings, sentence: np.ndarray, word: np.ndarray) -> np.ndarray:
        return emb.valid[emb.offsets[sentence] + word]

    def triple_vectors(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(w, r, u)`` vectors ``(n_triples, hidden)`` at ``layers[k]``."""
        t = self.bitext.triples
        return (
            self._gather(self.src, k, t.sentence, t.src),
            self._gather(self.tgt, k, t.sentence, t.related),
            self._gather(self.tgt, k, t.unrelated_sentence, t.unrelated),
        )

    def triple_valid(self) -> np.ndarray:
        """Triples whose three words all got a vector."""
        t = self.bitext.triples
        return (self._valid(self.src, t.sentence, t.src) & self._valid(self.tgt, t.sentence, t.related)
                & self._valid(self.tgt, t.unrelated_sentence, t.unrelated))

    def link_vectors(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Source and target vectors ``(n_links, hidden)`` of the usable links at ``layers[k]``."""
        links = self.bitext.links
        return (self._gather(self.src, k, links.sentence, links.src),
                self._gather(self.tgt, k, links.sentence, links.tgt))

    def link_valid(self) -> np.ndarray:
        links = self.bitext.links
        return self._valid(self.src, links.sentence, links.src) & self._valid(self.tgt, links.sentence, links.tgt)


@dataclass(frozen=True)
class SentenceView:
    """Mean-pooled sentence vectors ``(n_layers, n, hidden)`` of both sides of a set."""

    sentences: SentenceSet
    layers: tuple[int, ...]
    src: np.ndarray
    tgt: np.ndarray


class CheckpointEmbedder:
    """Embeds inputs with one loaded model; each distinct input is embedded once."""

    def __init__(
        self,
        loaded: Any,
        *,
        layers: tuple[int, ...],
        sentence_layers: tuple[int, ...],
        pooling: Pooling = Pooling.MEAN,
        batch_size: int = 64,
        bf16: bool | None = None,
        sentence_prefix: str = "",
        progress: bool = False,
    ):
        self.loaded = loaded
        self.layers = layers
        self.sentence_layers = sentence_layers
        self.pooling = pooling
        self.batch_size = batch_size
        self.bf16 = bf16_or_auto(bf16)
        self.sentence_prefix = sentence_prefix
        self.progress = progress
        self._memo: dict[str, Any] = {}
        self.invalid_words = 0

    @staticmethod
    def key(kind: str, items: Sequence[Any]) -> str:
        return f"{kind}:{sha256_json(list(items))}"

    def words(self, sentences: list[list[str]]) -> WordEmbeddings:
        key = self.key("words", sentences)
        if key not in self._memo:
            emb = embed_words(
                self.loaded.model, self.loaded.tokenizer, sentences, layers=self.layers,
                pooling=self.pooling, batch_size=self.batch_size, bf16=self.bf16, progress=self.progress,
            )
            self.invalid_words += int((~emb.valid).sum())
            self._memo[key] = emb
        return self._memo[key]

    def sentences(self, texts: list[str]) -> np.ndarray:
        key = self.key("sentences", texts)
        if key not in self._memo:
            _, vectors = embed_sentences(
                self.loaded.model, self.loaded.tokenizer, texts, layers=self.sentence_layers,
                prefix=self.sentence_prefix, batch_size=self.batch_size, bf16=self.bf16,
                progress=self.progress,
            )
            self._memo[key] = vectors
        return self._memo[key]

    def forget(self, key: str) -> None:
        self._memo.pop(key, None)


def _input_keys(item: Bitext | SentenceSet) -> tuple[str, str]:
    if isinstance(item, Bitext):
        return (CheckpointEmbedder.key("words", [p.src for p in item.pairs]),
                CheckpointEmbedder.key("words", [p.tgt for p in item.pairs]))
    return CheckpointEmbedder.key("sentences", item.src), CheckpointEmbedder.key("sentences", item.tgt)


def iter_views(
    embedder: CheckpointEmbedder, inputs: Sequence[Bitext | SentenceSet]
) -> Iterator[tuple[Bitext | SentenceSet, BitextView | SentenceView]]:
    """Each input with its view; embeddings are dropped once no later input needs them."""
    remaining = Counter(key for item in inputs for key in set(_input_keys(item)))
    for item in inputs:
        view: BitextView | SentenceView
        if isinstance(item, Bitext):
            src = embedder.words([p.src for p in item.pairs])
            tgt = embedder.words([p.tgt for p in item.pairs])
            view = BitextView(item, embedder.layers, src, tgt)
        else:
            view = SentenceView(item, embedder.sentence_layers, embedder.sentences(item.src),
                                embedder.sentences(item.tgt))
        yield item, view
        for key in set(_input_keys(item)):
            remaining[key] -= 1
            if remaining[key] == 0:
                embedder.forget(key)
