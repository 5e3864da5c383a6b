"""Training features in memory or streamed from disk, as one epoch's micro-batches.

A :class:`TrainSet` is a sequence of *buffers* of features. Each epoch, every buffer's
features are shuffled, grouped by length within mega-batches and cut into batches
(:func:`~xladjust.tasks.batching.train_batches` with :func:`~xladjust.tasks.batching.epoch_rng`
of the seed, the epoch and the buffer's index); the epoch yields buffer 0's batches, then
buffer 1's, and so on. The order is a pure function of (seed, epoch), so a resumed run
reaches micro-batch ``k`` of an epoch again by skipping: whole buffers without reading
their features, then batches inside one buffer.

- :meth:`TrainSet.in_memory`: all features form one buffer (the whole set is shuffled).
- :meth:`TrainSet.streamed`: examples are read from the source files in order, in
  buffers of ``buffer_examples``, and encoded one buffer at a time, so memory holds one
  buffer of features however large the training set. Shuffling and length grouping stay
  within a buffer: shuffle a file once beforehand if its order is not random. A first
  pass encodes every buffer once to count its features (the schedule needs the total)
  and note the token ids they contain. With one buffer holding every example, a
  streamed set gives the in-memory order.

:attr:`TrainSet.token_ids` are every input token id of the features, so the loop can
update only the embedding rows training touches (:mod:`xladjust.tasks.embedding_rows`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from xladjust.errors import InputError
from xladjust.tasks.batching import epoch_rng, train_batches

Features = list[dict[str, Any]]


@dataclass
class TrainSet:
    """Features as buffers (see module doc). ``read(k)`` yields the buffers from the
    ``k``-th on (earlier ones skipped without encoding); ``sizes`` are their feature counts."""

    batch_size: int
    seed: int
    sizes: list[int]
    read: Callable[[int], Iterator[Features]]
    token_ids: frozenset[int]  # every input token id of the features
    streamed: bool = False

    @property
    def n_features(self) -> int:
        return sum(self.sizes)

    @property
    def n_batches(self) -> int:
        """Micro-batches per epoch."""
        return sum(math.ceil(n / self.batch_size) for n in self.sizes)

    @classmethod
    def in_memory(cls, features: Features, batch_size: int, seed: int) -> TrainSet:
        return cls(batch_size, seed, [len(features)], lambda k: iter([features][k:]), _token_ids(features))

    @classmethod
    def streamed_from(cls, examples: Callable[[], Iterable[Any]], encode: Callable[[list[Any]], Features], *,
                      buffer_examples: int, batch_size: int, seed: int) -> TrainSet:
        """Buffers of ``buffer_examples`` examples from ``examples()`` (called once per
        pass), encoded by ``encode``; a buffer that encodes to no feature is left out."""

        def chunks() -> Iterator[list[Any]]:
            it = iter(examples())
            while chunk := list(itertools.islice(it, buffer_examples)):
                yield chunk

        counts, ids = [], set()
        for chunk in chunks():
            features = encode(chunk)
            counts.append(len(features))
            ids |= _token_ids(features)
        keep = [i for i, n in enumerate(counts) if n > 0]

        def read(k: int) -> Iterator[Features]:
            wanted = set(keep[k:])
            for i, chunk in enumerate(chunks()):
                if i in wanted:
                    yield encode(chunk)

        return cls(batch_size, seed, [counts[i] for i in keep], read, frozenset(ids), streamed=True)

    def micro_batches(self, epoch: int, start: int = 0) -> Iterator[Features]:
        """Epoch ``epoch``'s micro-batches from the ``start``-th (0-based) on."""
        per_buffer = [math.ceil(n / self.batch_size) for n in self.sizes]
        first = 0
        while first < len(per_buffer) and start >= per_buffer[first]:
            start -= per_buffer[first]
            first += 1
        for b, features in enumerate(self.read(first), start=first):
            if len(features) != self.sizes[b]:
                raise InputError(f"training buffer {b} changed size ({self.sizes[b]} -> {len(features)} "
                                   "features) between passes; the training data changed on disk")
            lengths = [len(f["input_ids"]) for f in features]
            batches = train_batches(lengths, self.batch_size, epoch_rng(self.seed, epoch, b))
            for idx in batches[start:]:
                yield [features[i] for i in idx]
            start = 0


def _token_ids(features: Features) -> frozenset[int]:
    return frozenset(int(i) for f in features for i in f["input_ids"])
