"""Optimizers, the learning-rate schedule, and how the embedding matrix trains.

The schedule is defined in optimizer steps: linear warmup over ``warmup`` steps, then
constant or linear decay to zero at ``total``. :func:`lr_factor` is the pure rule;
``LambdaLR`` applies it once per optimizer step.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import torch
from torch import nn

from xladjust.adjust.config import AdjustConfig, EmbeddingUpdates, OptimizerName, Schedule

log = logging.getLogger(__name__)

DEFAULT_WARMUP_RATIO = 0.1


def lr_factor(step: int, *, warmup: int, total: int, schedule: Schedule) -> float:
    """Multiplier of the peak learning rate for the optimizer step after ``step`` completed
    ones: ``(step + 1) / warmup`` during warmup, then 1 (constant) or
    ``(total − step) / (total − warmup)`` (linear)."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule is Schedule.CONSTANT or total <= warmup:
        return 1.0
    return max(0.0, (total - step) / (total - warmup))


def warmup_steps(config: AdjustConfig, total: int) -> int:
    if config.warmup_steps is not None:
        return min(config.warmup_steps, total)
    ratio = DEFAULT_WARMUP_RATIO if config.warmup_ratio is None else config.warmup_ratio
    return int(round(ratio * total))


def configure_embeddings(encoder: nn.Module, mode: EmbeddingUpdates) -> nn.Parameter | None:
    """Apply ``mode`` to the input word-embedding matrix; return it if it trains sparsely."""
    embedding = encoder.get_input_embeddings()
    if mode is EmbeddingUpdates.FREEZE:
        embedding.weight.requires_grad_(False)
        return None
    if mode is EmbeddingUpdates.SPARSE:
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"sparse embedding updates need an nn.Embedding, not {type(embedding).__name__}")
        embedding.sparse = True
        return embedding.weight
    return None


def make_optimizers(module: nn.Module, config: AdjustConfig, sparse: nn.Parameter | None) -> list[torch.optim.Optimizer]:
    """AdamW/Adam over the dense trainable parameters (no weight decay on biases and norms),
    plus SparseAdam over a sparsely updated embedding matrix."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad or p is sparse:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    cls = torch.optim.AdamW if config.optimizer is OptimizerName.ADAMW else torch.optim.Adam
    optimizers: list[torch.optim.Optimizer] = [cls(groups, lr=config.lr, **_fast_kwargs(decay + no_decay))]
    if sparse is not None:
        optimizers.append(torch.optim.SparseAdam([sparse], lr=config.lr))
    return optimizers


def _fast_kwargs(params: list[nn.Parameter]) -> dict[str, Any]:
    """Fused Adam kernels where every parameter allows them (CPU or CUDA, float types)."""
    ok = params and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return {"fused": True} if ok else {}


def make_schedulers(optimizers: list[torch.optim.Optimizer], config: AdjustConfig, total: int) -> tuple[list[Any], int]:
    """One ``LambdaLR`` per optimizer with :func:`lr_factor`; also returns the warmup steps."""
    warmup = warmup_steps(config, total)
    rule = functools.partial(lr_factor, warmup=warmup, total=total, schedule=config.schedule)
    return [torch.optim.lr_scheduler.LambdaLR(opt, rule) for opt in optimizers], warmup
