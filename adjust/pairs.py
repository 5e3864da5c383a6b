"""Which word links of an aligned corpus train the model, and which sentence pairs are drawn.

Pure rules on links and counts:

- only 1-to-1 links are kept: a link (i, j) whose source word i or target word j takes
  part in another link is dropped (many-to-one links have no single partner vector);
- links whose two words are the same string (numbers, names, punctuation) are dropped by
  default: they are aligned already and would dominate the loss;
- sentence pairs with a side longer than ``max_words`` are skipped;
- a pair with no link left is skipped.

Corpora are read with :func:`xladjust.align.corpus.iter_pairs` (which rejects malformed
and out-of-range links with file and line) in one streaming pass that keeps only the
indices of usable pairs, so a large corpus is never held in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.adjust.config import Mix
from xladjust.align.corpus import AlignedPair, check_aligned_corpus, iter_pairs
from xladjust.align.symmetrize import one_to_one


@dataclass
class SelectionStats:
    """Counts of what pair selection kept and dropped in one corpus."""

    pairs_read: int = 0
    links_read: int = 0
    links_not_one_to_one: int = 0
    links_identical: int = 0
    pairs_too_many_words: int = 0
    pairs_without_links: int = 0
    pairs_usable: int = 0  # after the word-level rules above
    pairs_too_many_subwords: int = 0  # found while drawing pairs (tokenized)
    links_without_subwords: int = 0
    pairs_selected: int = 0
    links_selected: int = 0  # word links (pseudo-word links not counted)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def describe(self) -> str:
        return (
            f"{self.pairs_read} pairs with {self.links_read} links read; dropped "
            f"{self.links_not_one_to_one} links that are not 1-to-1, {self.links_identical} between "
            f"identical strings; skipped {self.pairs_too_many_words} pairs over max_words and "
            f"{self.pairs_without_links} pairs left without links"
        )


def select_links(pair: AlignedPair, drop_identical: bool = True) -> tuple[list[tuple[int, int]], int, int]:
    """Usable links of one pair, and how many were dropped as not 1-to-1 / identical."""
    unique = sorted(set(pair.links))
    kept = one_to_one(unique)
    not_one_to_one = len(unique) - len(kept)
    identical = 0
    if drop_identical:
        before = len(kept)
        kept = [(i, j) for i, j in kept if pair.src[i] != pair.tgt[j]]
        identical = before - len(kept)
    return kept, not_one_to_one, identical


@dataclass
class CorpusScan:
    """An aligned corpus after the word-level rules: the indices of its usable pairs."""

    directory: Path
    manifest: dict[str, Any]
    usable: np.ndarray  # (n_usable,) int64 pair indices (0-based, blank lines skipped)
    stats: SelectionStats = field(default_factory=SelectionStats)


def scan_corpus(directory: str | Path, drop_identical: bool, max_words: int | None) -> CorpusScan:
    """Check a corpus and find its usable pairs in one streaming pass."""
    directory = Path(directory)
    manifest = check_aligned_corpus(directory)
    stats = SelectionStats()
    usable: list[int] = []
    for index, pair in enumerate(iter_pairs(directory)):
        stats.pairs_read += 1
        stats.links_read += len(pair.links)
        if max_words is not None and max(len(pair.src), len(pair.tgt)) > max_words:
            stats.pairs_too_many_words += 1
            continue
        kept, not_one_to_one, identical = select_links(pair, drop_identical)
        stats.links_not_one_to_one += not_one_to_one
        stats.links_identical += identical
        if not kept:
            stats.pairs_without_links += 1
            continue
        usable.append(index)
    stats.pairs_usable = len(usable)
    return CorpusScan(directory, manifest, np.asarray(usable, dtype=np.int64), stats)


def read_pairs_at(directory: str | Path, indices: Sequence[int]) -> dict[int, AlignedPair]:
    """The pairs at ``indices`` (as numbered by :func:`scan_corpus`), in one streaming pass."""
    wanted = set(int(i) for i in indices)
    found: dict[int, AlignedPair] = {}
    if not wanted:
        return found
    last = max(wanted)
    for index, pair in enumerate(iter_pairs(directory)):
        if index in wanted:
            found[index] = pair
        if index >= last:
            break
    return found


def quotas(usable: Sequence[int], max_pairs: int | None, mix: Mix) -> list[int]:
    """Pairs to draw from each corpus, given its usable-pair count.

    ``proportional``: all pairs, or ``max_pairs`` split in proportion to the counts
    (largest remainders). ``uniform``: the same number from each corpus (the smallest
    count when ``max_pairs`` is None; otherwise ``max_pairs / k``, capped by what a corpus
    has).
    """
    counts = [int(c) for c in usable]
    k = len(counts)
    total = sum(counts)
    if k == 0:
        return []
    if mix is Mix.UNIFORM:
        if max_pairs is None:
            return [min(counts)] * k
        shares = [max_pairs // k + (1 if c < max_pairs % k else 0) for c in range(k)]
        return [min(s, c) for s, c in zip(shares, counts, strict=True)]
    if max_pairs is None or max_pairs >= total or total == 0:
        return counts
    exact = [max_pairs * c / total for c in counts]
    out = [int(np.floor(x)) for x in exact]
    order = sorted(range(k), key=lambda c: (-(exact[c] - out[c]), c))
    for c in order[: max_pairs - sum(out)]:
        out[c] += 1
    return out
