"""The frozen model's English word vectors, computed once per sentence and cached.

Objectives that compare against the frozen model (``l2``'s partner and regularizer) read
these rows instead of running a frozen copy every step. They are computed from the
model *before* its first update, under ``torch.inference_mode()`` in eval mode (no
dropout), with the run's autocast, in length-sorted batches; the cache lives in CPU memory
(``4 · words · hidden`` bytes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xladjust.adjust.batching import cut_batches, pack_sentences
from xladjust.adjust.dataset import Example
from xladjust.adjust.forward import packed_words
from xladjust.modes import eval_mode
from xladjust.progress import progress as progress_bar

log = logging.getLogger(__name__)


def source_offsets(examples: Sequence[Example]) -> np.ndarray:
    """First cache row of each example's source words (row order = example order)."""
    offsets = np.zeros(len(examples) + 1, dtype=np.int64)
    np.cumsum([e.src.n_words for e in examples], out=offsets[1:])
    return offsets


def frozen_source_vectors(
    model: Any,
    examples: Sequence[Example],
    *,
    layer: int,
    num_layers: int,
    pad_id: int,
    device: torch.device,
    batch_size: int = 64,
    max_tokens: int = 16384,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    progress: bool = False,
) -> tuple[Tensor, np.ndarray]:
    """Cache ``(n_source_words, hidden)`` float32 on the CPU, and each example's first row."""
    offsets = source_offsets(examples)
    hidden = int(model.config.hidden_size)
    cache = torch.zeros(int(offsets[-1]), hidden, dtype=torch.float32)
    log.info("caching frozen vectors of %d English words (%.0f MB)", len(cache), cache.numel() * 4 / 2**20)
    lengths = np.array([e.src.n_tokens for e in examples])
    batches = cut_batches(np.argsort(lengths, kind="stable"), lengths, batch_size, max_tokens, 1)
    with eval_mode(model), torch.inference_mode(), autocast():
        for batch in progress_bar(batches, desc="frozen targets", unit="batch", enabled=progress):
            packed = pack_sentences([examples[int(i)].src for i in batch], pad_id)
            vectors = packed_words(model, packed, layer, num_layers, device)
            rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in batch])
            cache[torch.from_numpy(rows)] = vectors.float().cpu()
    return cache, offsets[:-1]


