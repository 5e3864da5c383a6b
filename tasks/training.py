"""A small fine-tuning loop: AdamW, linear warmup and decay in optimizer steps, bf16
autocast, length-grouped dynamic batches, dev-based model selection, an optional extra loss.

The loop is deliberately plain so that continual learning can add its term per step and
so every speed lever of a CPU applies (bf16 autocast, no padding beyond the batch's
longest sequence, no gradient for frozen parameters). The best dev state of the
trainable parameters is kept in memory and restored at the end.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xladjust.tasks.base import pad_id_of
from xladjust.tasks.batching import collate, model_inputs, train_batches
from xladjust.tasks.model import TaskModel

log = logging.getLogger(__name__)

ExtraLoss = Callable[[int], tuple[Any, dict[str, float]]]
"""Called once per optimizer step with the step number; returns (loss tensor, logged parts)."""


@dataclass(frozen=True)
class TrainSettings:
    epochs: float
    batch_size: int
    learning_rate: float
    seed: int
    max_steps: int | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    bf16: bool = True
    eval_every: int | None = None  # None: at the end of every epoch
    progress: bool = False
    max_grad_norm: float = 1.0


@dataclass
class TrainResult:
    steps: int
    best_step: int
    best_score: float | None
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


def total_steps(n_features: int, settings: TrainSettings) -> int:
    """Optimizer steps of a run: ``max_steps`` or ``epochs`` × batches per epoch."""
    if settings.max_steps is not None:
        return settings.max_steps
    per_epoch = math.ceil(n_features / settings.batch_size)
    return max(1, math.ceil(settings.epochs * per_epoch))


def linear_schedule(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warmup over ``warmup`` steps, then linear decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _snapshot(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def train(
    tm: TaskModel,
    features: Sequence[dict[str, Any]],
    settings: TrainSettings,
    *,
    dev_score: Callable[[], float] | None = None,
    extra_loss: ExtraLoss | None = None,
    extra_params: Sequence[Any] = (),
) -> TrainResult:
    """Fine-tune ``tm.model`` on ``features``; select the step with the best ``dev_score``.

    ``extra_loss`` is added to the task loss at every step; ``extra_params`` (e.g. an
    objective's projection head) are optimized too but not saved or restored.
    """
    import torch

    if not features:
        raise ValueError("no training features")
    model = tm.model
    device = next(model.parameters()).device
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    steps = total_steps(len(features), settings)
    warmup = round(settings.warmup_ratio * steps)
    groups = _param_groups(model, settings.weight_decay)
    if extra_params:
        groups.append({"params": list(extra_params), "weight_decay": settings.weight_decay})
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    trainable = [p for group in groups for p in group["params"]]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: linear_schedule(s, warmup, steps))
    pad_id = pad_id_of(tm.tokenizer)
    lengths = [len(f["input_ids"]) for f in features]
    per_epoch = math.ceil(len(features) / settings.batch_size)
    eval_every = settings.eval_every or per_epoch
    log.info("training %s: %d features, %d steps (batch %d, %d warmup), eval every %d steps",
             tm.task.name, len(features), steps, settings.batch_size, warmup, eval_every)

    result = TrainResult(steps=steps, best_step=steps, best_score=None, seconds=0.0)
    best_state: dict[str, Any] | None = None
    start = time.perf_counter()
    bar = _bar(steps, settings.progress, f"fine-tuning {tm.task.name}")
    window: list[float] = []
    parts_window: dict[str, list[float]] = {}
    step = 0
    model.train()
    try:
        while step < steps:
            for idx in train_batches(lengths, settings.batch_size, rng):
                if step >= steps:
                    break
                batch = {k: v.to(device) for k, v in collate([features[i] for i in idx], pad_id).items()}
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=settings.bf16):
                    outputs = model(**model_inputs(batch))
                    loss = tm.task.loss(outputs, batch)
                    if extra_loss is not None:
                        extra, parts = extra_loss(step)
                        loss = loss + extra
                        for k, v in parts.items():
                            parts_window.setdefault(k, []).append(v)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                window.append(float(loss.detach()))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{sum(window[-20:]) / len(window[-20:]):.4f}")
                if step % eval_every == 0 or step == steps:
                    entry: dict[str, Any] = {"step": step, "loss": sum(window) / len(window),
                                             "lr": scheduler.get_last_lr()[0]}
                    entry.update({k: sum(v) / len(v) for k, v in parts_window.items()})
                    window, parts_window = [], {}
                    if dev_score is not None:
                        score = dev_score()
                        model.train()
                        entry["dev"] = score
                        if result.best_score is None or score > result.best_score:
                            result.best_score, result.best_step = score, step
                            best_state = _snapshot(model) if step < steps else None
                    result.history.append(entry)
                    log.info("step %d: %s", step, ", ".join(f"{k} {v:.4g}" for k, v in entry.items() if k != "step"))
    finally:
        if bar is not None:
            bar.close()
        model.eval()
    if best_state is not None and result.best_step != steps:
        with torch.no_grad():
            params = dict(model.named_parameters())
            for name, value in best_state.items():
                params[name].copy_(value)
        log.info("restored the best dev state from step %d (dev %.4f)", result.best_step, result.best_score)
    result.seconds = time.perf_counter() - start
    return result


def _bar(total: int, enabled: bool, desc: str) -> Any:
    from xladjust.progress import progress

    return progress(total=total, desc=desc, unit="step", enabled=enabled, leave=True)
