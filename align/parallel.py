"""An ordered, bounded, chunked map over worker processes.

``imap_chunks`` keeps at most ``2 * workers`` chunks in flight, so a corpus streams
through the workers without being read into memory ahead of them (``Pool.imap`` reads its
whole input eagerly). Results come back in input order. With one worker the function runs
in this process. Workers are started with ``spawn`` (safe next to threads, torch or
OpenMP in the parent); the worker function and its initializer must be importable, and
a script that reaches this code must guard its entry point with
``if __name__ == "__main__":`` (spawned workers import the main module, as for any
``multiprocessing`` code). ``workers=1`` never starts a process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def imap_chunks(
    fn: Callable[[list[T]], R],
    items: Iterable[T],
    *,
    workers: int,
    chunk_size: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[R]:
    """``fn`` applied to consecutive chunks of ``items``, results in order."""
    chunks = chunked(items, chunk_size)
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from (fn(chunk) for chunk in chunks)
        return
    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(workers, initializer=initializer, initargs=initargs)
    try:
        pending: deque[Any] = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(fn, (chunk,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
