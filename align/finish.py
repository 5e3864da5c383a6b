"""The last pass of an align run: tokenized pairs + links → encoded aligned pairs.

It reads the tokenized bitext line by line together with either the final links (atools'
output, or a symmetric aligner's) or the two directional link files, which it then
symmetrizes with the built-in heuristics. Every link is checked against its sentence
(errors name the aligner's file and line), 1-to-1 links are kept on request, statistics
are gathered and each pair is serialized, in worker processes over chunks of lines;
results come back in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from xladjust.align.corpus import AlignedPair, EncodedPair, encode_pair
from xladjust.align.joint import parse_joint_words
from xladjust.align.links import check_range, parse_pharaoh
from xladjust.align.parallel import imap_chunks
from xladjust.align.stats import AlignmentStats
from xladjust.align.symmetrize import one_to_one, symmetrize
from xladjust.errors import ExternalToolError

CHUNK_SIZE = 1000
MIN_PAIRS_FOR_WORKERS = 5000  # below this, starting workers costs more than it saves


@dataclass(frozen=True)
class FinishSettings:
    tool: str  # the aligner's name, for messages
    bitext: str  # the tokenized bitext's path, for messages
    link_files: tuple[str, ...]  # final links, or (forward, reverse)
    heuristic: str | None  # symmetrize the two link files with this; None: the links are final
    one_to_one: bool = False


def _links(line: str, path: str, lineno: int, n_src: int, n_tgt: int, tool: str) -> list[tuple[int, int]]:
    where = f"{tool} output {path}:{lineno}"
    links = parse_pharaoh(line, where, ExternalToolError)
    check_range(links, n_src, n_tgt, where, ExternalToolError)
    return links


def finish_chunk(chunk: list[tuple[Any, ...]], settings: FinishSettings) -> tuple[list[EncodedPair], AlignmentStats]:
    """Encode a chunk of ``(line number, joint line, link line[, link line])`` items."""
    stats = AlignmentStats()
    out = []
    for lineno, joint_line, *link_lines in chunk:
        src, tgt = parse_joint_words(joint_line, f"{settings.bitext}:{lineno}")
        parsed = [_links(line, path, lineno, len(src), len(tgt), settings.tool)
                  for line, path in zip(link_lines, settings.link_files, strict=True)]
        links = symmetrize(parsed[0], parsed[1], settings.heuristic) if settings.heuristic else parsed[0]
        links = one_to_one(links) if settings.one_to_one else sorted(set(links))
        stats.add(src, tgt, links)
        out.append(encode_pair(AlignedPair(src=src, tgt=tgt, links=links)))
    return out, stats


def finish_pairs(bitext: Path, n_pairs: int, settings: FinishSettings, stats: AlignmentStats, *, workers: int = 1,
                 progress: Any = None) -> Iterator[EncodedPair]:
    """Encoded pairs in order; ``stats`` gathers their statistics as they stream."""
    if n_pairs < MIN_PAIRS_FOR_WORKERS:
        workers = 1
    with ExitStack() as stack:
        files = [stack.enter_context(open(p, encoding="utf-8")) for p in (bitext, *settings.link_files)]
        items = ((lineno, *lines) for lineno, lines in enumerate(zip(*files, strict=True), start=1))
        for encoded, part in imap_chunks(partial(finish_chunk, settings=settings), items, workers=workers,
                                         chunk_size=CHUNK_SIZE):
            stats.merge(part)
            if progress is not None:
                progress.update(len(encoded))
            yield from encoded
