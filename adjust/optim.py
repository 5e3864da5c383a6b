"""Optimizers, the learning-rate schedule, and how the embedding matrix trains.

The schedule is defined in optimizer steps: linear warmup over ``warmup`` steps, then
constant or linear decay to zero at ``total``. :func:`lr_factor` is the pure rule;
``LambdaLR`` applies it once per optimizer step.

The input word-embedding matrix (most of a multilingual encoder's parameters) always gets
a sparse gradient when it trains, and :class:`RowAdam` keeps Adam's moment estimates only
for the rows that have had a gradient so far. A row that never occurred in a batch has zero
moments and a zero gradient, so Adam leaves it exactly where it is; holding state and
doing work only for the other rows therefore changes nothing in the result:

- ``embeddings: sparse`` — the update of :class:`torch.optim.SparseAdam` (a row's moments
  advance only on steps where it occurs);
- ``embeddings: train`` — the dense Adam update of every row seen so far, with a zero
  gradient on steps where it does not occur, which is what dense Adam does to the whole
  matrix (it needs no weight decay on the matrix: with decay every row moves every step,
  and the matrix is then trained densely).
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import torch
from torch import Tensor, nn

from xladjust.adjust.config import (
    AdjustConfig,
    EmbeddingUpdates,
    OptimizerKernel,
    OptimizerName,
    Schedule,
)

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


def configure_embeddings(encoder: nn.Module, mode: EmbeddingUpdates, weight_decay: float = 0.0) -> nn.Parameter | None:
    """Apply ``mode`` to the input word-embedding matrix; return it when :class:`RowAdam`
    trains it (sparse gradients), None when it is frozen or trained by the dense optimizer."""
    embedding = encoder.get_input_embeddings()
    if mode is EmbeddingUpdates.FREEZE:
        embedding.weight.requires_grad_(False)
        return None
    if mode is EmbeddingUpdates.TRAIN and (weight_decay > 0 or not isinstance(embedding, nn.Embedding)):
        return None  # dense gradient, dense optimizer
    if not isinstance(embedding, nn.Embedding):
        raise TypeError(f"sparse embedding updates need an nn.Embedding, not {type(embedding).__name__}")
    embedding.sparse = True
    return embedding.weight


def make_optimizers(module: nn.Module, config: AdjustConfig, sparse: nn.Parameter | None) -> list[torch.optim.Optimizer]:
    """AdamW/Adam over the dense trainable parameters (no weight decay on biases and norms),
    plus :class:`RowAdam` over an embedding matrix with sparse gradients."""
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad or p is sparse:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    cls = torch.optim.AdamW if config.optimizer is OptimizerName.ADAMW else torch.optim.Adam
    betas = (config.adam_beta1, config.adam_beta2)
    kernel = _kernel_kwargs(decay + no_decay, config.optimizer_kernel)
    optimizers: list[torch.optim.Optimizer] = [
        cls(groups, lr=config.lr, betas=betas, eps=config.adam_eps, **kernel)]
    if sparse is not None:
        dense = config.embeddings is EmbeddingUpdates.TRAIN
        optimizers.append(RowAdam([sparse], lr=config.lr, betas=betas, eps=config.adam_eps, dense=dense))
    return optimizers


def _kernel_kwargs(params: list[nn.Parameter], kernel: OptimizerKernel) -> dict[str, Any]:
    """torch's Adam implementation: ``fused`` (one kernel per tensor, no temporaries; CPU or
    CUDA float tensors, else the per-tensor loop), ``foreach`` (batched over tensors: fast,
    but temporaries as large as all parameters) or ``loop`` (one tensor at a time)."""
    if kernel is OptimizerKernel.FUSED:
        ok = params and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return {"fused": True} if ok else {"foreach": False}
    return {"foreach": kernel is OptimizerKernel.FOREACH}


class RowAdam(torch.optim.Optimizer):
    """Adam over matrices with sparse row gradients, with state for the rows seen so far.

    ``dense=False``: the update of :class:`torch.optim.SparseAdam` (only the rows in the
    gradient move; a row's moments advance only when it occurs). ``dense=True``: the update
    of :class:`torch.optim.Adam` without weight decay, applied to every row seen so far
    (zero gradient where the row is absent); rows never seen have zero moments, which dense
    Adam leaves unchanged, so the result is dense Adam's. Either way the moment buffers hold
    ``seen rows × columns`` values instead of the whole matrix.

    State per matrix: ``step``, ``rows`` (the matrix row of each state slot, in the order
    first seen), ``exp_avg`` and ``exp_avg_sq`` (one line per slot; the buffers grow by
    doubling and may hold unused lines past ``len(rows)``).
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, dense: bool = False):
        if not lr > 0 or not eps >= 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid RowAdam settings: lr {lr}, betas {betas}, eps {eps}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "dense": dense})
        self._slots: dict[int, Tensor] = {}  # id(param) -> slot of each matrix row (-1: none)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise RuntimeError("RowAdam needs sparse row gradients (nn.Embedding(sparse=True))")
                self._update(p, p.grad.coalesce(), group)
        return loss

    def _update(self, p: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, eps = float(group["lr"]), group["eps"]
        rows, values = grad._indices()[0], grad._values()
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["rows"] = torch.zeros(0, dtype=torch.long, device=p.device)
            state["exp_avg"] = p.new_zeros((0, *p.shape[1:]))
            state["exp_avg_sq"] = p.new_zeros((0, *p.shape[1:]))
        slots = self._assign_slots(p, rows)
        state["step"] += 1
        step = state["step"]
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        if group["dense"]:
            used = len(state["rows"])
            full = values.new_zeros((used, *values.shape[1:]))
            full[slots] = values
            m, v = exp_avg[:used], exp_avg_sq[:used]
            m.lerp_(full, 1 - beta1)
            v.mul_(beta2).addcmul_(full, full, value=1 - beta2)
            denom = (v.sqrt() / math.sqrt(bias_correction2)).add_(eps)
            p.index_add_(0, state["rows"], (m / denom).mul_(-lr / bias_correction1))
            return
        old_m, old_v = exp_avg[slots], exp_avg_sq[slots]
        update_m = values.sub(old_m).mul_(1 - beta1)
        update_v = values.pow(2).sub_(old_v).mul_(1 - beta2)
        exp_avg[slots] = old_m + update_m
        exp_avg_sq[slots] = old_v + update_v
        numer = update_m.add_(old_m)
        denom = update_v.add_(old_v).sqrt_().add_(eps)
        step_size = lr * math.sqrt(bias_correction2) / bias_correction1
        p.index_add_(0, rows, -step_size * numer.div_(denom))

    def _assign_slots(self, p: Tensor, rows: Tensor) -> Tensor:
        """State slots of ``rows`` (unique), giving the rows seen for the first time new ones."""
        state = self.state[p]
        table = self._slots.get(id(p))
        if table is None:
            table = torch.full((p.shape[0],), -1, dtype=torch.long, device=p.device)
            table[state["rows"]] = torch.arange(len(state["rows"]), device=p.device)
            self._slots[id(p)] = table
        fresh = rows[table[rows] < 0]
        if len(fresh):
            used = len(state["rows"])
            table[fresh] = torch.arange(used, used + len(fresh), device=p.device)
            state["rows"] = torch.cat([state["rows"], fresh])
            need = used + len(fresh)
            if need > len(state["exp_avg"]):
                capacity = max(need, 2 * len(state["exp_avg"]))
                for key in ("exp_avg", "exp_avg_sq"):
                    grown = state[key].new_zeros((capacity, *state[key].shape[1:]))
                    grown[:used] = state[key][:used]
                    state[key] = grown
        return table[rows]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Optimizer.load_state_dict casts every state tensor but "step" to the parameter's
        # dtype; the row indices must stay integers.
        rows = {k: s["rows"] for k, s in state_dict["state"].items() if "rows" in s}
        stripped = {**state_dict, "state": {k: {n: v for n, v in s.items() if n != "rows"}
                                            for k, s in state_dict["state"].items()}}
        super().load_state_dict(stripped)
        params = [p for group in self.param_groups for p in group["params"]]
        for k, r in rows.items():
            self.state[params[int(k)]]["rows"] = r.to(device=params[int(k)].device, dtype=torch.long)
        self._slots.clear()

    def state_bytes(self) -> int:
        """Bytes held by the moment buffers (for logs and benchmarks)."""
        return sum(t.numel() * t.element_size() for s in self.state.values()
                   for key, t in s.items() if key in ("exp_avg", "exp_avg_sq"))


def make_schedulers(optimizers: list[torch.optim.Optimizer], config: AdjustConfig, total: int) -> tuple[list[Any], int]:
    """One ``LambdaLR`` per optimizer with :func:`lr_factor`; also returns the warmup steps."""
    warmup = warmup_steps(config, total)
    rule = functools.partial(lr_factor, warmup=warmup, total=total, schedule=config.schedule)
    return [torch.optim.lr_scheduler.LambdaLR(opt, rule) for opt in optimizers], warmup
