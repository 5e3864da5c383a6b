"""Encoder forward passes that end in pooled word vectors, and the module that trains.

:class:`AlignmentModel` joins the trainable encoder and the objective in one module, so a
single ``accelerate``/DDP wrapper synchronizes both (a contrastive projection head
included). Its forward takes one collated micro-batch (:func:`batch_inputs`): it runs the
encoder once over the batch's rows (target sentences, then the English ones when the
objective uses trainable English vectors), pools subwords into words with one tensor
operation, and hands the objective the vectors it declared; frozen English vectors come
from the cache (:mod:`xladjust.adjust.targets`), never from a second model. The
objective runs outside autocast, in float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from xladjust.adjust.batching import Packed, PairBatch
from xladjust.adjust.objectives import Objective, WordBatch
from xladjust.errors import ConfigError
from xladjust.pooling import pool_words
from xladjust.training_common import training_attention
from xladjust.truncate import first_layers


def hidden_states(model: Any, ids: Tensor, mask: Tensor, layer: int, num_layers: int) -> Tensor:
    """Hidden states ``(B, T, H)`` at ``layer`` (0 = embeddings, ``num_layers`` = last), fp32."""
    if layer == num_layers:
        return model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    with first_layers(model, layer):  # the layers above are not computed
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    return out.hidden_states[layer].float()


def packed_words(model: Any, packed: Packed, layer: int, num_layers: int, device: torch.device) -> Tensor:
    """Pooled vectors ``(packed.n_words, H)`` of every word in ``packed``."""
    hidden = hidden_states(model, _tensor(packed.ids, device), _tensor(packed.mask, device), layer, num_layers)
    return pool_words(hidden, _tensor(packed.pool_token, device), _tensor(packed.pool_word, device),
                      _tensor(packed.pool_weight, device), packed.n_words)


class AlignmentModel(nn.Module):
    """The trainable encoder plus the objective; ``forward`` returns ``(loss, parts)``."""

    def __init__(self, encoder: nn.Module, objective: Objective, layer: int, num_layers: int):
        super().__init__()
        self.encoder = encoder
        self.objective = objective
        self.layer = layer
        self.num_layers = num_layers

    def forward(
        self,
        ids: Tensor,
        mask: Tensor,
        pool_token: Tensor,
        pool_word: Tensor,
        pool_weight: Tensor,
        n_words: int,
        link_target: Tensor,
        link_source: Tensor | None = None,
        source_words: Tensor | None = None,
        source_frozen: Tensor | None = None,
        source_all_frozen: Tensor | None = None,
        links_total: int | None = None,
        words_total: int | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        with training_attention(ids.device.type, ids.shape[-1]):
            hidden = hidden_states(self.encoder, ids, mask, self.layer, self.num_layers)
        words = pool_words(hidden, pool_token, pool_word, pool_weight, n_words)
        batch = WordBatch(target=words.index_select(0, link_target),
                          source_frozen=source_frozen, source_all_frozen=source_all_frozen,
                          links_total=links_total, words_total=words_total)
        if link_source is not None and source_words is not None:
            batch.source = words.index_select(0, link_source)
            batch.source_all = words.index_select(0, source_words)
        with torch.autocast(device_type=ids.device.type, enabled=False):
            out = self.objective(batch)
        return out.loss, out.parts


def batch_inputs(batch: PairBatch, cache: Tensor | None, objective: Objective, device: torch.device) -> dict[str, Any]:
    """Keyword arguments of :meth:`AlignmentModel.forward` for one collated micro-batch."""
    p = batch.packed
    inputs: dict[str, Any] = {
        "ids": _tensor(p.ids, device), "mask": _tensor(p.mask, device),
        "pool_token": _tensor(p.pool_token, device), "pool_word": _tensor(p.pool_word, device),
        "pool_weight": _tensor(p.pool_weight, device), "n_words": p.n_words,
        "link_target": _tensor(batch.link_target, device),
    }
    if objective.needs_trainable_source:
        assert batch.link_source is not None and batch.source_words is not None
        inputs["link_source"] = _tensor(batch.link_source, device)
        inputs["source_words"] = _tensor(batch.source_words, device)
    if objective.needs_frozen_source:
        assert cache is not None and batch.cache_link_source is not None and batch.cache_source is not None
        inputs["source_frozen"] = _rows(cache, batch.cache_link_source, device)
        inputs["source_all_frozen"] = _rows(cache, batch.cache_source, device)
    return inputs


def _rows(cache: Tensor, rows: np.ndarray, device: torch.device) -> Tensor:
    return cache.index_select(0, torch.from_numpy(rows)).to(device)


def _tensor(array: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(array).to(device)


def enable_gradient_checkpointing(encoder: Any) -> None:
    """Recompute each layer's activations during backward instead of keeping them: activation
    memory falls to about one layer's, for about one more forward pass per step. The math is
    unchanged (dropout masks are replayed from the saved RNG state)."""
    if not getattr(encoder, "supports_gradient_checkpointing", False):
        raise ConfigError(f"{type(encoder).__name__} does not support gradient checkpointing; "
                          "set gradient_checkpointing: false")
    if hasattr(encoder, "activation_checkpointing_enable"):  # transformers >= 5 renamed it
        encoder.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
