"""Statistics of an aligned corpus, gathered while its pairs stream past.

- ``links_per_sentence``: mean number of links per sentence pair;
- ``one_to_one_word_share``: share of all words (both sides) that take part in a 1-to-1
  link, i.e. a link whose source and target word each have exactly one link;
- ``identical_link_share``: share of links joining two identical strings (names,
  numbers, punctuation: a high share means the aligner leans on copies);
- ``unaligned_word_share``: share of all words without any link.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from xladjust.align.links import Link


class AlignmentStats:
    """Accumulate statistics pair by pair; :meth:`result` gives the summary."""

    def __init__(self) -> None:
        self.pairs = 0
        self.links = 0
        self.words = 0
        self.src_words = 0
        self.tgt_words = 0
        self.one_to_one_words = 0
        self.identical_links = 0
        self.unaligned_words = 0
        self.max_links = 0

    def add(self, src: Sequence[str], tgt: Sequence[str], links: Sequence[Link]) -> None:
        self.pairs += 1
        self.links += len(links)
        self.max_links = max(self.max_links, len(links))
        self.src_words += len(src)
        self.tgt_words += len(tgt)
        self.words += len(src) + len(tgt)
        src_count = Counter([i for i, _ in links])
        tgt_count = Counter([j for _, j in links])
        one_to_one = identical = 0
        for i, j in links:
            if src_count[i] == 1 and tgt_count[j] == 1:
                one_to_one += 1
            if src[i] == tgt[j]:
                identical += 1
        self.one_to_one_words += 2 * one_to_one
        self.identical_links += identical
        self.unaligned_words += (len(src) - len(src_count)) + (len(tgt) - len(tgt_count))

    def merge(self, other: AlignmentStats) -> None:
        """Add another accumulator's counts (e.g. from a worker process)."""
        for name, value in vars(other).items():
            setattr(self, name, max(self.max_links, value) if name == "max_links" else getattr(self, name) + value)

    def result(self) -> dict[str, Any]:
        def share(a: int, b: int) -> float:
            return round(a / b, 6) if b else 0.0

        return {
            "links_per_sentence": share(self.links, self.pairs),
            "max_links_per_sentence": self.max_links,
            "one_to_one_word_share": share(self.one_to_one_words, self.words),
            "identical_link_share": share(self.identical_links, self.links),
            "unaligned_word_share": share(self.unaligned_words, self.words),
            "src_words": self.src_words,
            "tgt_words": self.tgt_words,
        }
