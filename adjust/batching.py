"""Length-bucketed micro-batches, the optimizer-step plan, and collation into tensors.

Every epoch's order is a pure function of (seed, epoch), so the whole plan is rebuilt
identically on resume and the data-order state is just the step counter. Within an epoch,
pairs are shuffled, cut into buckets of ``bucket_batches`` batches, sorted by length inside
a bucket and cut into micro-batches under ``batch_size`` pairs and ``max_tokens`` padded
subwords; the micro-batches are then shuffled. Padding stays small without sorting the
whole epoch by length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xladjust.adjust.dataset import Example
from xladjust.adjust.features import SentenceFeatures

BUCKET_BATCHES = 50


def bucketed_batches(
    lengths: np.ndarray,
    batch_size: int,
    max_tokens: int,
    rows_per_pair: int,
    rng: np.random.Generator,
    bucket_batches: int = BUCKET_BATCHES,
) -> list[np.ndarray]:
    """Shuffled micro-batches of example indices; see module doc.

    A micro-batch's cost is ``rows_per_pair · pairs · longest`` padded subwords; a single
    pair longer than ``max_tokens`` still forms a batch of its own.
    """
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    span = max(1, batch_size * bucket_batches)
    batches: list[np.ndarray] = []
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(cut_batches(chunk, lengths, batch_size, max_tokens, rows_per_pair))
    return [batches[i] for i in rng.permutation(len(batches))]


def cut_batches(indices: np.ndarray, lengths: np.ndarray, batch_size: int, max_tokens: int, rows: int) -> list[np.ndarray]:
    """Cut ``indices`` (in the given order) into batches of at most ``batch_size`` items and
    ``rows · items · longest`` ≤ ``max_tokens`` padded subwords."""
    out: list[np.ndarray] = []
    current: list[int] = []
    width = 0
    for i in indices:
        wider = max(width, int(lengths[i]))
        if current and (len(current) >= batch_size or wider * rows * (len(current) + 1) > max_tokens):
            out.append(np.asarray(current, dtype=np.int64))
            current, wider = [], int(lengths[i])
        current.append(int(i))
        width = wider
    if current:
        out.append(np.asarray(current, dtype=np.int64))
    return out


@dataclass(frozen=True)
class Step:
    """One optimizer step: its epoch and this process's micro-batches."""

    epoch: int
    micro_batches: list[np.ndarray]


def plan_steps(
    lengths: np.ndarray,
    *,
    seed: int,
    batch_size: int,
    max_tokens: int,
    rows_per_pair: int,
    grad_accum: int,
    epochs: int | None,
    max_steps: int | None,
    world_size: int = 1,
    rank: int = 0,
) -> list[Step]:
    """All optimizer steps of a run, for process ``rank`` of ``world_size``.

    Each step takes ``grad_accum · world_size`` consecutive micro-batches of an epoch
    (the last step of an epoch may take fewer); process ``r`` gets every ``world_size``-th
    of them. With several processes an epoch's micro-batches beyond a multiple of
    ``world_size`` are left out, so that all processes step together. Runs ``epochs``
    epochs, or as many as ``max_steps`` needs.
    """
    if epochs is None and max_steps is None:
        raise ValueError("give epochs or max_steps")
    group = grad_accum * world_size
    steps: list[Step] = []
    epoch = 0
    while (epochs is None or epoch < epochs) and (max_steps is None or len(steps) < max_steps):
        rng = np.random.default_rng([seed, 7, epoch])
        batches = bucketed_batches(lengths, batch_size, max_tokens, rows_per_pair, rng)
        batches = batches[: len(batches) - len(batches) % world_size]
        if not batches:
            raise ValueError("fewer micro-batches than processes: use more pairs or fewer processes")
        for start in range(0, len(batches), group):
            mine = batches[start : start + group][rank::world_size]
            steps.append(Step(epoch, mine))
        epoch += 1
    return steps[:max_steps] if max_steps is not None else steps


@dataclass
class Packed:
    """Sentences padded into one array, with the flat pooling plan of all their words."""

    ids: np.ndarray  # (rows, width) int64
    mask: np.ndarray  # (rows, width) int64
    pool_token: np.ndarray  # flat token index into rows·width
    pool_word: np.ndarray  # index into all pooled words of the rows
    pool_weight: np.ndarray
    word_offsets: np.ndarray  # (rows + 1,): row r's words are word_offsets[r]:word_offsets[r+1]

    @property
    def n_words(self) -> int:
        return int(self.word_offsets[-1])

    @property
    def n_tokens(self) -> int:
        return int(self.mask.sum())


def pack_sentences(sentences: Sequence[SentenceFeatures], pad_id: int) -> Packed:
    """Pad ``sentences`` to the longest and shift their pooling plans into one flat plan."""
    width = max(s.n_tokens for s in sentences)
    rows = len(sentences)
    ids = np.full((rows, width), pad_id, dtype=np.int64)
    mask = np.zeros((rows, width), dtype=np.int64)
    word_offsets = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum([s.n_words for s in sentences], out=word_offsets[1:])
    tokens, words, weights = [], [], []
    for r, s in enumerate(sentences):
        ids[r, : s.n_tokens] = s.ids
        mask[r, : s.n_tokens] = 1
        tokens.append(s.pool_token + r * width)
        words.append(s.pool_word + word_offsets[r])
        weights.append(s.pool_weight)
    return Packed(ids, mask, np.concatenate(tokens), np.concatenate(words), np.concatenate(weights), word_offsets)


@dataclass
class PairBatch:
    """A micro-batch of sentence pairs as arrays: target rows first, then source rows."""

    packed: Packed
    n_pairs: int
    link_target: np.ndarray  # (K,) pooled-word index of each link's target word
    link_source: np.ndarray | None  # (K,) ... source word (None: source not forwarded)
    source_words: np.ndarray | None  # (M,) every source pooled word
    cache_link_source: np.ndarray | None  # (K,) frozen-cache rows of the links' source words
    cache_source: np.ndarray | None  # (M,) frozen-cache rows of every source word


def collate_pairs(
    examples: Sequence[Example],
    indices: np.ndarray,
    *,
    with_source: bool,
    cache_offsets: np.ndarray | None,
    pad_id: int,
) -> PairBatch:
    """Collate examples ``indices``; ``cache_offsets[e]`` is example e's first cache row."""
    chosen = [examples[int(i)] for i in indices]
    b = len(chosen)
    sentences = [e.tgt for e in chosen] + ([e.src for e in chosen] if with_source else [])
    packed = pack_sentences(sentences, pad_id)
    off = packed.word_offsets
    link_target = np.concatenate([off[k] + e.links[:, 1] for k, e in enumerate(chosen)])
    link_source = source_words = None
    if with_source:
        link_source = np.concatenate([off[b + k] + e.links[:, 0] for k, e in enumerate(chosen)])
        source_words = np.arange(off[b], off[2 * b], dtype=np.int64)
    cache_link = cache_all = None
    if cache_offsets is not None:
        starts = [int(cache_offsets[int(i)]) for i in indices]
        cache_link = np.concatenate([s + e.links[:, 0] for s, e in zip(starts, chosen, strict=True)])
        cache_all = np.concatenate([np.arange(s, s + e.src.n_words) for s, e in zip(starts, chosen, strict=True)])
    return PairBatch(packed, b, link_target, link_source, source_words, cache_link, cache_all)
