"""The training set: sentence pairs drawn from the aligned corpora, tokenized once.

:func:`scan_corpora` applies the word-level rules of :mod:`xladjust.adjust.pairs` to
every corpus without a tokenizer (so corpus errors surface before a model loads);
:func:`draw_examples` samples each corpus's quota with the run's seed, in a seeded
random order, tokenizes the drawn pairs, and skips pairs over the subword limit, drawing
further pairs in their place.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.adjust.config import AdjustConfig
from xladjust.adjust.features import SentenceFeatures, encode_sentences, pseudo_word_links
from xladjust.adjust.pairs import CorpusScan, quotas, read_pairs_at, scan_corpus, select_links
from xladjust.align.corpus import PAIRS_FILE
from xladjust.errors import InputError
from xladjust.io import sha256_file

log = logging.getLogger(__name__)

_MAX_CHUNK = 50_000  # pairs read and tokenized per pass over a corpus


@dataclass(frozen=True)
class Example:
    """One sentence pair ready for training."""

    src: SentenceFeatures  # English (source) side
    tgt: SentenceFeatures  # target-language side
    links: np.ndarray  # (k, 2) int64 pooled-word indices (source, target); pseudo-words last
    corpus: int  # index into the run's corpora
    index: int  # pair index inside its corpus

    @property
    def length(self) -> int:
        """Subwords of the longer side (the padded width this pair needs)."""
        return max(self.src.n_tokens, self.tgt.n_tokens)


@dataclass
class AdjustData:
    examples: list[Example]
    scans: list[CorpusScan]
    hashes: dict[str, str]  # corpus pairs file -> sha256

    @property
    def n_links(self) -> int:
        return int(sum(len(e.links) for e in self.examples))

    def fingerprint(self) -> str:
        """Identifies the drawn pairs and their order (a resumed run must match it)."""
        ids = [[e.corpus, e.index] for e in self.examples]
        return hashlib.sha256(json.dumps(ids).encode()).hexdigest()


def scan_corpora(config: AdjustConfig) -> list[CorpusScan]:
    """Check every corpus and apply the word-level rules; fail on a corpus with no usable links."""
    scans = []
    for directory in config.aligned:
        scan = scan_corpus(directory, config.drop_identical, config.max_words)
        if scan.stats.pairs_usable == 0:
            raise InputError(
                f"aligned corpus {directory} has no usable links: {scan.stats.describe()}. Check the "
                "aligner output, or relax drop_identical / max_words"
            )
        log.info("%s: %d usable pairs (%s)", directory, scan.stats.pairs_usable, scan.stats.describe())
        scans.append(scan)
    return scans


def draw_examples(config: AdjustConfig, scans: list[CorpusScan], tokenizer: Any, max_length: int) -> AdjustData:
    """Draw each corpus's quota of pairs (seeded) and tokenize them; see module doc."""
    wanted = quotas([s.stats.pairs_usable for s in scans], config.max_pairs, config.mix)
    if config.max_pairs is not None and sum(wanted) < config.max_pairs:
        log.warning("max_pairs is %d but only %d usable pairs are available", config.max_pairs, sum(wanted))
    examples: list[Example] = []
    for c, (scan, quota) in enumerate(zip(scans, wanted, strict=True)):
        if quota == 0:
            log.warning("%s: no pairs drawn (max_pairs %s over %d corpora)", scan.directory, config.max_pairs,
                        len(scans))
            continue
        drawn = _draw_corpus(config, c, scan, quota, tokenizer, max_length)
        if not drawn:
            raise InputError(
                f"aligned corpus {scan.directory} has no usable pairs within the subword limit "
                f"({max_length}): {scan.stats.pairs_too_many_subwords} too long, "
                f"{scan.stats.links_without_subwords} links to words without subwords. "
                "Raise max_subwords or lower max_words"
            )
        if len(drawn) < quota:
            log.warning("%s: drew %d of %d pairs (the rest are over the subword limit)",
                        scan.directory, len(drawn), quota)
        scan.stats.pairs_selected = len(drawn)
        scan.stats.links_selected = int(sum(_word_links(e, config.special_tokens) for e in drawn))
        examples.extend(drawn)
    hashes = {str(Path(s.directory) / PAIRS_FILE): sha256_file(Path(s.directory) / PAIRS_FILE) for s in scans}
    return AdjustData(examples, scans, hashes)


def _word_links(example: Example, special_tokens: bool) -> int:
    return len(example.links) - (2 if special_tokens else 0)


def _draw_corpus(config: AdjustConfig, c: int, scan: CorpusScan, quota: int, tokenizer: Any,
                 max_length: int) -> list[Example]:
    rng = np.random.default_rng([config.seed, c])
    order = rng.permutation(scan.usable)
    drawn: list[Example] = []
    pos = 0
    while len(drawn) < quota and pos < len(order):
        need = quota - len(drawn)
        take = order[pos : pos + min(_MAX_CHUNK, int(need * 1.1) + 16)]
        pos += len(take)
        pairs = read_pairs_at(scan.directory, take)
        batch = [pairs[int(i)] for i in take]
        src = encode_sentences(tokenizer, [p.src for p in batch], config.pooling, config.special_tokens)
        tgt = encode_sentences(tokenizer, [p.tgt for p in batch], config.pooling, config.special_tokens)
        for index, pair, s, t in zip(take, batch, src, tgt, strict=True):
            if max(s.n_tokens, t.n_tokens) > max_length:
                scan.stats.pairs_too_many_subwords += 1
                continue
            links = _pooled_links(pair, s, t, config.drop_identical, scan)
            if len(links) == 0:
                continue
            if config.special_tokens:
                links = np.concatenate([links, pseudo_word_links(s, t)])
            drawn.append(Example(src=s, tgt=t, links=links, corpus=c, index=int(index)))
            if len(drawn) == quota:
                break
    return drawn


def _pooled_links(pair: Any, src: SentenceFeatures, tgt: SentenceFeatures, drop_identical: bool,
                  scan: CorpusScan) -> np.ndarray:
    kept, _, _ = select_links(pair, drop_identical)
    links = np.asarray(kept, dtype=np.int64).reshape(-1, 2)
    mapped = np.stack([src.word_map[links[:, 0]], tgt.word_map[links[:, 1]]], axis=1)
    ok = (mapped >= 0).all(axis=1)
    scan.stats.links_without_subwords += int((~ok).sum())
    return mapped[ok]
