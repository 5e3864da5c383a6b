"""Related and unrelated word pairs from an aligned bitext.

From each sentence pair only 1-to-1 links are used: a source word linked to exactly one
target word that is linked to no other source word. Each such link (one source-word
occurrence) yields one triple (w, r, u): ``w`` the source word, ``r`` its aligned target
word and ``u`` an *unrelated* target word, drawn with a seeded generator

- ``same-sentence`` (default): from the same translated sentence, which controls for
  context;
- ``other-sentence``: from the translation of another sentence.

``u`` is never aligned to ``w``, and never the same string as ``r`` or ``w`` (compared
case-insensitively). Tokens made only of punctuation or symbols are left out of links and
candidates unless asked for. The triples depend on the bitext and the seed only, so every
checkpoint is measured on the same triples and comparisons are paired.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from xladjust.align.corpus import AlignedPair
from xladjust.align.symmetrize import one_to_one

OTHER_SENTENCE_TRIES = 20  # random other sentences tried before a word gets no triple


class Unrelated(str, Enum):
    """Where the unrelated word of a triple comes from."""

    SAME_SENTENCE = "same-sentence"
    OTHER_SENTENCE = "other-sentence"


def is_punctuation(word: str) -> bool:
    """True for a token made only of punctuation or symbol characters."""
    return bool(word) and all(unicodedata.category(ch)[0] in "PS" for ch in word)


@dataclass(frozen=True)
class WordLinks:
    """Usable 1-to-1 links of a bitext: sentence index, source and target word index."""

    sentence: np.ndarray
    src: np.ndarray
    tgt: np.ndarray

    def __len__(self) -> int:
        return int(self.sentence.size)


@dataclass(frozen=True)
class Triples:
    """One (w, r, u) triple per row: w = ``src`` of pair ``sentence``, r = its target word
    ``related``, u = target word ``unrelated`` of pair ``unrelated_sentence``."""

    sentence: np.ndarray
    src: np.ndarray
    related: np.ndarray
    unrelated_sentence: np.ndarray
    unrelated: np.ndarray

    def __len__(self) -> int:
        return int(self.sentence.size)


def usable_links(pairs: Sequence[AlignedPair], keep_punctuation: bool = False) -> tuple[WordLinks, dict[str, int]]:
    """The 1-to-1 links of every pair (without punctuation tokens unless kept), and
    counts: ``pairs``, ``links``, ``one_to_one``, ``punctuation_dropped``, ``usable``."""
    rows: list[tuple[int, int, int]] = []
    counts = Counter(pairs=len(pairs))
    for s, pair in enumerate(pairs):
        counts["links"] += len(set(pair.links))
        for i, j in one_to_one(pair.links):
            counts["one_to_one"] += 1
            if not keep_punctuation and (is_punctuation(pair.src[i]) or is_punctuation(pair.tgt[j])):
                counts["punctuation_dropped"] += 1
                continue
            rows.append((s, i, j))
    counts["usable"] = len(rows)
    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    links = WordLinks(sentence=arr[:, 0].copy(), src=arr[:, 1].copy(), tgt=arr[:, 2].copy())
    names = ("pairs", "links", "one_to_one", "punctuation_dropped", "usable")
    return links, {name: int(counts[name]) for name in names}


def _candidates(tgt: Sequence[str], exclude: set[str], skip: int, keep_punctuation: bool) -> list[int]:
    return [
        k for k, word in enumerate(tgt)
        if k != skip and word.casefold() not in exclude and (keep_punctuation or not is_punctuation(word))
    ]


def sample_triples(
    pairs: Sequence[AlignedPair],
    links: WordLinks,
    mode: Unrelated | str = Unrelated.SAME_SENTENCE,
    seed: int = 0,
    keep_punctuation: bool = False,
) -> Triples:
    """One triple per usable link, its unrelated word drawn with ``seed`` (see module doc).

    A link with no possible unrelated word (a one-word translation, say) gets no triple.
    """
    mode = Unrelated(mode)
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int, int, int]] = []
    for s, i, j in zip(links.sentence.tolist(), links.src.tolist(), links.tgt.tolist(), strict=True):
        pair = pairs[s]
        exclude = {pair.src[i].casefold(), pair.tgt[j].casefold()}
        if mode is Unrelated.SAME_SENTENCE:
            cands = _candidates(pair.tgt, exclude, j, keep_punctuation)
            if cands:
                rows.append((s, i, j, s, cands[int(rng.integers(len(cands)))]))
            continue
        if len(pairs) < 2:
            continue
        for _ in range(OTHER_SENTENCE_TRIES):
            other = int(rng.integers(len(pairs) - 1))
            other += other >= s  # any sentence but s
            cands = _candidates(pairs[other].tgt, exclude, -1, keep_punctuation)
            if cands:
                rows.append((s, i, j, other, cands[int(rng.integers(len(cands)))]))
                break
    arr = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
    return Triples(*(arr[:, c].copy() for c in range(5)))
