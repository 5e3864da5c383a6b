"""Symmetrization of two directional word alignments: pure functions over link sets.

``forward`` holds the links of the source→target model, ``reverse`` those of the
target→source model, both as (source index, target index) pairs. The heuristics follow
Koehn et al. (2003) exactly as fast_align's ``atools`` implements them, so that the
built-in results are identical to ``atools -i FORWARD -j REVERSE -c HEURISTIC``:

- ``intersect`` / ``union``: set intersection / union;
- ``grow-diag``: start from the intersection; then sweep the union points not yet
  aligned in (i, j) order, adding a point when its source or its target word is still
  unaligned and one of its eight neighbours is aligned; sweep again until a sweep adds
  nothing (points added earlier in a sweep count for later points of the same sweep);
- ``grow-diag-final``: grow-diag, then one pass over the forward links and one over the
  reverse links (each in (i, j) order) adding a link when its source *or* target word is
  unaligned;
- ``grow-diag-final-and``: as grow-diag-final, but a link is added only when *both* its
  words are unaligned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum

from xladjust.registry import Entry, Registry

Link = tuple[int, int]
LinkSet = set[Link]


class Heuristic(str, Enum):
    """Symmetrization heuristics; the values are atools' command names."""

    INTERSECT = "intersect"
    UNION = "union"
    GROW_DIAG = "grow-diag"
    GROW_DIAG_FINAL = "grow-diag-final"
    GROW_DIAG_FINAL_AND = "grow-diag-final-and"

    @classmethod
    def parse(cls, value: str | Heuristic) -> Heuristic:
        """``value`` as a heuristic; an unknown name is the registry's one-line error."""
        if isinstance(value, cls):
            return value
        return cls(HEURISTICS.entry(value).name)


def intersect(forward: Iterable[Link], reverse: Iterable[Link]) -> list[Link]:
    return sorted(set(forward) & set(reverse))


def union(forward: Iterable[Link], reverse: Iterable[Link]) -> list[Link]:
    return sorted(set(forward) | set(reverse))


class _Grid:
    """The growing alignment with per-side alignment flags."""

    def __init__(self, start: Iterable[Link]):
        self.links: LinkSet = set()
        self.src_aligned: set[int] = set()
        self.tgt_aligned: set[int] = set()
        for link in start:
            self.add(link)

    def add(self, link: Link) -> None:
        self.links.add(link)
        self.src_aligned.add(link[0])
        self.tgt_aligned.add(link[1])

    def one_or_both_unaligned(self, i: int, j: int) -> bool:
        return i not in self.src_aligned or j not in self.tgt_aligned

    def neither_aligned(self, i: int, j: int) -> bool:
        return i not in self.src_aligned and j not in self.tgt_aligned

    def has_aligned_neighbour(self, i: int, j: int) -> bool:
        """Whether one of the eight neighbours of (i, j) is aligned (unrolled: hot loop)."""
        links = self.links
        return ((i - 1, j) in links or (i + 1, j) in links or (i, j - 1) in links or (i, j + 1) in links
                or (i - 1, j - 1) in links or (i - 1, j + 1) in links or (i + 1, j - 1) in links
                or (i + 1, j + 1) in links)

    def grow_diag(self, candidates: LinkSet) -> None:
        pending = sorted(candidates - self.links)
        while pending:
            remaining = []
            for i, j in pending:
                if (i not in self.src_aligned or j not in self.tgt_aligned) and self.has_aligned_neighbour(i, j):
                    self.add((i, j))
                else:
                    remaining.append((i, j))
            if len(remaining) == len(pending):
                break
            pending = remaining

    def final(self, links: Iterable[Link], predicate: Callable[[int, int], bool]) -> None:
        for i, j in sorted(set(links)):
            if (i, j) not in self.links and predicate(i, j):
                self.add((i, j))


def grow_diag(forward: Iterable[Link], reverse: Iterable[Link]) -> list[Link]:
    fwd, rev = set(forward), set(reverse)
    grid = _Grid(fwd & rev)
    grid.grow_diag(fwd | rev)
    return sorted(grid.links)


def _grow_diag_then_final(forward: Iterable[Link], reverse: Iterable[Link], and_: bool) -> list[Link]:
    fwd, rev = set(forward), set(reverse)
    grid = _Grid(fwd & rev)
    grid.grow_diag(fwd | rev)
    predicate = grid.neither_aligned if and_ else grid.one_or_both_unaligned
    grid.final(fwd, predicate)
    grid.final(rev, predicate)
    return sorted(grid.links)


def grow_diag_final(forward: Iterable[Link], reverse: Iterable[Link]) -> list[Link]:
    return _grow_diag_then_final(forward, reverse, and_=False)


def grow_diag_final_and(forward: Iterable[Link], reverse: Iterable[Link]) -> list[Link]:
    return _grow_diag_then_final(forward, reverse, and_=True)


# The registry: CLI choices and config validation read from it.
HEURISTICS: Registry[Entry] = Registry("symmetrization heuristic", [
    Entry(Heuristic.INTERSECT.value, "xladjust.align.symmetrize:intersect", "links of both directions (Cao et al. 2020)"),
    Entry(Heuristic.UNION.value, "xladjust.align.symmetrize:union", "links of either direction"),
    Entry(Heuristic.GROW_DIAG.value, "xladjust.align.symmetrize:grow_diag",
          "the intersection, grown into the union's neighbouring links"),
    Entry(Heuristic.GROW_DIAG_FINAL.value, "xladjust.align.symmetrize:grow_diag_final",
          "grow-diag, then each direction's links with an unaligned source or target word"),
    Entry(Heuristic.GROW_DIAG_FINAL_AND.value, "xladjust.align.symmetrize:grow_diag_final_and",
          "grow-diag, then each direction's links with both words unaligned (Wu & Dredze 2020)"),
])


def symmetrize(forward: Iterable[Link], reverse: Iterable[Link], heuristic: str | Heuristic) -> list[Link]:
    """Combine forward and reverse links with ``heuristic``; returns sorted links."""
    return HEURISTICS.get(Heuristic.parse(heuristic).value)(forward, reverse)


def one_to_one(links: Iterable[Link]) -> list[Link]:
    """Keep only links whose source and target words each take part in exactly one link
    (the 1-to-1 links used by Cao et al. 2020); sorted, duplicates counted once. The one
    rule for every stage: adjust trains on these links and the probes build triples on them."""
    links = sorted(set(map(tuple, links)))
    src_count: dict[int, int] = {}
    tgt_count: dict[int, int] = {}
    for i, j in links:
        src_count[i] = src_count.get(i, 0) + 1
        tgt_count[j] = tgt_count.get(j, 0) + 1
    return [(i, j) for i, j in links if src_count[i] == 1 and tgt_count[j] == 1]
