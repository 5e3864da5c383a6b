"""The fine-tuning loop on ``accelerate``: micro-batches → accumulated gradients → one
AdamW step, linear warmup and decay in optimizer steps, mixed precision, dev-based model
selection, an optional extra loss (continual learning), resumable checkpoints.

One code path runs on a CPU, one GPU, or several processes from ``accelerate launch`` /
``torchrun`` (DDP; see :mod:`xladjust.training_common`). An optimizer step takes
``grad_accum × processes`` consecutive micro-batches of the epoch (the last step of an
epoch may take fewer); process ``r`` gets every ``processes``-th, so one process with
``grad_accum = k`` computes what ``k`` processes compute with ``grad_accum = 1``. With
several processes the epoch's micro-batches beyond a multiple of their number are left
out so all step together. A step's task loss is the mean of its micro-batches' mean
losses; the extra loss is added once per step (on the last micro-batch). Gradients of
the non-final micro-batches are not synchronized (``no_sync``).

The data order is a pure function of the seed and the epoch (see
:mod:`xladjust.tasks.trainset`), so restoring the trainable weights, the optimizer and
scheduler states, every process's RNG, the extra term's state, the best dev snapshot and
the step counter resumes the very same run (:mod:`xladjust.training_state`). The best
dev state of the trainable parameters is kept in memory and restored at the end; the
dev score is computed on the main process and shared.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from xladjust.errors import InputError
from xladjust.finite import check_finite_loss, check_finite_weights
from xladjust.interrupts import check_interrupted
from xladjust.progress import progress as progress_bar
from xladjust.resume import verify_same_settings
from xladjust.tasks.base import pad_id_of
from xladjust.tasks.batching import collate, model_inputs
from xladjust.tasks.embedding_rows import RowUpdates, training_rows
from xladjust.tasks.model import TaskModel
from xladjust.tasks.trainset import TrainSet
from xladjust.training_common import (
    bf16_field,
    broadcast_value,
    fast_adam_kwargs,
    gather_rng,
    make_accelerator,
    reduce_record,
    restore_rng,
    scheduler_state,
    training_attention,
)
from xladjust.training_state import (
    list_checkpoints,
    load_training_state,
    save_training_state,
    verify_same_run,
)

log = logging.getLogger(__name__)


class ExtraTerm(Protocol):
    """A loss added once per optimizer step (e.g. :class:`~xladjust.tasks.continual.ContinualTerm`)."""

    model: Any  # the nn.Module whose parameters the term uses (trained with the task model)

    def __call__(self, step: int) -> tuple[Any, dict[str, float]]: ...  # (loss tensor, logged parts)

    def parameters(self) -> list[Any]: ...  # its own trainable parameters, optimized too, not saved

    def state_dict(self) -> dict[str, Any]: ...  # JSON-ready state a resumed run restores

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class TrainSettings:
    epochs: float
    batch_size: int
    learning_rate: float
    seed: int
    max_steps: int | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    bf16: bool = bf16_field()  # bfloat16 autocast
    eval_every: int | None = None  # None: at the end of every epoch
    progress: bool = False
    max_grad_norm: float | None = 1.0
    grad_accum: int = 1  # micro-batches per optimizer step and process


@dataclass(frozen=True)
class Checkpointing:
    """Where and when the loop writes resumable state, and what a resume must match."""

    run_dir: Path
    every: int | None  # optimizer steps between checkpoints; None: never
    resume: bool = False
    inputs: dict[str, str] = field(default_factory=dict)  # name -> SHA-256 of the content
    fingerprints: dict[str, str] = field(default_factory=dict)  # e.g. {"config": sha256}
    keep: int = 1
    settings: dict[str, Any] = field(default_factory=dict)  # the fingerprinted config, to name what differs


@dataclass
class TrainResult:
    steps: int
    best_step: int
    best_score: float | None
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    features_seen: int = 0  # training features forwarded, all processes
    resumed_from: int | None = None  # the checkpoint step this invocation started from


def steps_per_epoch(n_batches: int, grad_accum: int, world_size: int = 1) -> int:
    """Optimizer steps in an epoch of ``n_batches`` micro-batches (see module doc)."""
    usable = n_batches - n_batches % world_size
    return math.ceil(usable / (grad_accum * world_size))


def total_steps(n_features: int, settings: TrainSettings, world_size: int = 1) -> int:
    """Optimizer steps of a run: ``max_steps`` or ``epochs`` × steps per epoch."""
    if settings.max_steps is not None:
        return settings.max_steps
    per_epoch = steps_per_epoch(math.ceil(n_features / settings.batch_size), settings.grad_accum, world_size)
    return max(1, math.ceil(settings.epochs * per_epoch))


def linear_schedule(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warmup over ``warmup`` steps, then linear decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def make_task_accelerator(*, bf16: bool, cpu: bool = False) -> Any:
    """The accelerator of a fine-tuning run: with ``bf16``, bf16 autocast on a CPU (as
    before accelerate) and on a GPU that supports it, fp16 with a scaler on an older GPU."""
    import torch

    on_gpu = torch.cuda.is_available() and not cpu
    precision = "fp32" if not bf16 else ("auto" if on_gpu else "bf16")
    return make_accelerator(cpu=cpu, precision=precision)


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _row_updates(tm: TaskModel, data: TrainSet, extra: ExtraTerm | None, world: int) -> RowUpdates | None:
    """The row-restricted update of the input embeddings (:mod:`xladjust.tasks.embedding_rows`)
    where it gives the dense update's result: one process, no extra term, a trainable
    matrix; None elsewhere."""
    module = tm.model.get_input_embeddings()
    if extra is not None or world != 1 or not module.weight.requires_grad:
        return None
    return RowUpdates(module, training_rows(data.token_ids, pad_id_of(tm.tokenizer), tm.tokenizer.all_special_ids))


def _snapshot(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _module_class() -> Any:
    import torch

    class TrainModule(torch.nn.Module):
        """Task model and extra term as one module, so DDP sees every parameter once."""

        def __init__(self, tm: TaskModel, extra: ExtraTerm | None):
            super().__init__()
            self.model = tm.model
            self.task = tm.task
            self.extra_model = extra.model if extra is not None else None
            self.extra = extra

        def forward(self, batch: dict[str, Any], step: int | None) -> tuple[Any, Any, dict[str, float]]:
            inputs = model_inputs(batch)
            ids = inputs["input_ids"]
            with training_attention(ids.device.type, ids.shape[-1]):
                outputs = self.model(**inputs)
            task_loss = self.task.loss(outputs, batch)
            if self.extra is None or step is None:
                return task_loss, None, {}
            extra, parts = self.extra(step)
            return task_loss, extra, parts

    return TrainModule


@dataclass
class _State:
    """The loop's counters (a checkpoint's ``trainer.json``)."""

    step: int = 0
    seconds: float = 0.0
    features: int = 0
    best_score: float | None = None
    best_step: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    window: list[float] = field(default_factory=list)
    parts_window: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _State:
        return cls(**{k: data[k] for k in cls().__dict__})


def train(
    tm: TaskModel,
    data: TrainSet,
    settings: TrainSettings,
    *,
    accelerator: Any = None,
    dev_score: Callable[[], float] | None = None,
    extra: ExtraTerm | None = None,
    checkpointing: Checkpointing | None = None,
    on_step: Callable[..., None] | None = None,
) -> TrainResult:
    """Fine-tune ``tm.model`` on ``data``; select the step with the best ``dev_score``
    (called on the main process only). Resumes from the newest checkpoint when
    ``checkpointing.resume`` and one exists. ``on_step(step, encoder, last)``, if given, is
    called on the main process at the start and after every optimizer step."""
    import torch

    if data.n_features == 0:
        raise ValueError("no training features")
    acc = accelerator if accelerator is not None else make_task_accelerator(bf16=settings.bf16)
    world = acc.num_processes
    n_batches = data.n_batches - data.n_batches % world
    if n_batches == 0:
        raise InputError(f"{data.n_batches} training batch(es) for {world} processes; use more data, a smaller "
                         "batch size or fewer processes")
    group = settings.grad_accum * world
    per_epoch = steps_per_epoch(data.n_batches, settings.grad_accum, world)
    steps = settings.max_steps or max(1, math.ceil(settings.epochs * per_epoch))
    warmup = round(settings.warmup_ratio * steps)
    torch.manual_seed(settings.seed)
    groups = _param_groups(tm.model, settings.weight_decay)
    extra_params = list(extra.parameters()) if extra is not None else []
    if extra_params:
        groups.append({"params": extra_params, "weight_decay": settings.weight_decay})
    rows = _row_updates(tm, data, extra, world)
    if rows is not None:  # the embedding matrix's touched rows stand in for it (tasks.embedding_rows)
        for g in groups:
            g["params"] = [rows.param if p is rows.weight else p for p in g["params"]]
    trainable = [p for g in groups for p in g["params"]]
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate, **fast_adam_kwargs(trainable))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: linear_schedule(s, warmup, steps))
    module, optimizer = acc.prepare(_module_class()(tm, extra), optimizer)
    eval_every = settings.eval_every or per_epoch

    state, best_state, resumed_from = _State(), None, None
    if checkpointing is not None and checkpointing.resume:
        restored = _resume(acc, checkpointing, tm, extra, extra_params, optimizer, scheduler, steps, rows)
        if restored is not None:
            state, best_state = restored
            resumed_from = state.step
    log.info("training %s: %d features, %d steps (batch %d x %d micro-batches x %d process(es), %d warmup), "
             "eval every %d steps, precision %s%s", tm.task.name, data.n_features, steps, settings.batch_size,
             settings.grad_accum, world, warmup, eval_every, acc.mixed_precision,
             f", AdamW on the {len(rows.rows)} embedding rows the features use" if rows is not None else "")

    pad_id = pad_id_of(tm.tokenizer)
    bar = progress_bar(total=steps, desc=f"fine-tuning {tm.task.name}", unit="step", initial=state.step, leave=True,
                       enabled=settings.progress and acc.is_main_process)
    module.train()
    hook = on_step if acc.is_main_process else None
    if hook is not None:
        hook(state.step, tm.encoder, state.step >= steps)
    flush = rows.flush if rows is not None else lambda: None
    try:
        for chunk in _steps(data, state.step, per_epoch, group, n_batches):
            check_interrupted()  # a signal whose exception something swallowed stops the run here
            started = time.perf_counter()
            mine = chunk[acc.process_index :: world]
            loss, parts = _train_step(acc, module, optimizer, scheduler, trainable, mine, pad_id,
                                      state.step if extra is not None else None, settings.max_grad_norm, rows)
            state.step += 1
            check_finite_loss(loss, state.step, f"fine-tuning {tm.task.name}")
            state.seconds += time.perf_counter() - started
            state.features += sum(len(b) for b in chunk)
            state.window.append(loss)
            for k, v in parts.items():
                state.parts_window.setdefault(k, []).append(v)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{sum(state.window[-20:]) / len(state.window[-20:]):.4f}")
            if state.step % eval_every == 0 or state.step == steps:
                flush()
                best_state = _log_and_select(acc, tm, state, scheduler, dev_score, steps, best_state)
                module.train()
            if checkpointing is not None and checkpointing.every and state.step % checkpointing.every == 0 \
                    and state.step < steps:
                flush()
                epoch, offset = divmod(state.step, per_epoch)
                position = {"epoch": epoch, "next_micro_batch": offset * group, "micro_batches_per_epoch": n_batches}
                _save_checkpoint(acc, checkpointing, tm, extra, extra_params, optimizer, scheduler, state, best_state,
                                 position, len(rows.rows) if rows is not None else None)
            if hook is not None:
                flush()
                hook(state.step, tm.encoder, state.step >= steps)
            if state.step >= steps:
                break
    finally:
        if bar is not None:
            bar.close()
        if rows is not None:
            rows.close()
        tm.model.eval()
    best_step = state.best_step if state.best_step is not None else steps
    if best_state is not None and best_step != steps:
        with torch.no_grad():
            params = dict(tm.model.named_parameters())
            for name, value in best_state.items():
                params[name].copy_(value)
        log.info("restored the best dev state from step %d (dev %.4f)", best_step, state.best_score)
    check_finite_weights(tm.model, f"fine-tuning {tm.task.name}, after the last step",
                         hint="the run diverged and was stopped (nothing was saved); lower the learning rate")
    return TrainResult(steps=steps, best_step=best_step, best_score=state.best_score, seconds=state.seconds,
                       history=state.history, features_seen=state.features, resumed_from=resumed_from)


def _steps(data: TrainSet, start: int, per_epoch: int, group: int, n_batches: int) -> Iterator[list[Any]]:
    """Every optimizer step's micro-batches (all processes') from step ``start`` on."""
    epoch, offset = divmod(start, per_epoch)
    while True:
        first = offset * group
        batches = itertools.islice(data.micro_batches(epoch, first), max(0, n_batches - first))
        chunk: list[Any] = []
        for batch in batches:
            chunk.append(batch)
            if len(chunk) == group:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        epoch, offset = epoch + 1, 0


def _train_step(acc: Any, module: Any, optimizer: Any, scheduler: Any, trainable: list[Any], mine: list[Any],
                pad_id: int, extra_step: int | None, max_grad_norm: float | None,
                rows: RowUpdates | None = None) -> tuple[float, dict[str, float]]:
    """One optimizer step over this process's micro-batches; returns the step's loss
    (task mean + extra) and the logged parts (the extra term's, and the gradient norm
    before clipping when clipping is on), averaged over processes."""
    n = len(mine)
    task_sum = extra_value = 0.0
    parts: dict[str, float] = {}
    for k, features in enumerate(mine):
        last = k == n - 1
        batch = {key: v.to(acc.device) for key, v in collate(features, pad_id).items()}
        with contextlib.nullcontext() if last else acc.no_sync(module):
            task_loss, extra_loss, extra_parts = module(batch, extra_step if last else None)
            total = task_loss / n if extra_loss is None else task_loss / n + extra_loss
            acc.backward(total)
        task_sum += float(task_loss.detach())
        if extra_loss is not None:
            extra_value, parts = float(extra_loss.detach()), extra_parts
    if rows is not None:
        rows.gather_grad()
        group = next(g for g in optimizer.param_groups if any(p is rows.param for p in g["params"]))
        lr, decay = group["lr"], group["weight_decay"]  # this step's, before the scheduler moves it
    if max_grad_norm is not None:  # the norm before clipping is logged: clipping scales every term alike
        parts = {**parts, "grad_norm": float(acc.clip_grad_norm_(trainable, max_grad_norm))}
    optimizer.step()
    if not acc.optimizer_step_was_skipped:
        if rows is not None:
            rows.after_step(lr, decay)
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    record = reduce_record(acc, {"loss": task_sum / n + extra_value, **parts})
    return record.pop("loss"), record


def _log_and_select(acc: Any, tm: TaskModel, state: _State, scheduler: Any, dev_score: Callable[[], float] | None,
                    steps: int, best_state: dict[str, Any] | None) -> dict[str, Any] | None:
    """Close the logging window; score dev (main process) and keep the best snapshot."""
    entry: dict[str, Any] = {"step": state.step, "loss": sum(state.window) / len(state.window),
                             "lr": scheduler.get_last_lr()[0]}
    entry.update({k: sum(v) / len(v) for k, v in state.parts_window.items()})
    state.window, state.parts_window = [], {}
    if dev_score is not None:
        score = broadcast_value(acc, dev_score() if acc.is_main_process else None)
        entry["dev"] = score
        if state.best_score is None or score > state.best_score:
            state.best_score, state.best_step = score, state.step
            best_state = _snapshot(tm.model) if state.step < steps else None
    state.history.append(entry)
    log.info("step %d: %s", state.step, ", ".join(f"{k} {v:.4g}" for k, v in entry.items() if k != "step"))
    return best_state


def _save_checkpoint(acc: Any, ck: Checkpointing, tm: TaskModel, extra: ExtraTerm | None, extra_params: list[Any],
                     optimizer: Any, scheduler: Any, state: _State, best_state: dict[str, Any] | None,
                     position: dict[str, int], embedding_rows: int | None = None) -> None:
    """Write the training state (main process; every process waits). ``position`` is
    where the data order stands (informative: the step determines it); ``embedding_rows``
    how many rows of the embedding matrix the optimizer holds (None: the whole matrix)."""
    rng = gather_rng(acc)
    if acc.is_main_process:
        trainer = {**state.to_json(), "data_position": position, "embedding_rows": embedding_rows,
                   "scheduler": scheduler_state(scheduler),
                   "extra": extra.state_dict() if extra is not None else None,
                   "inputs": ck.inputs, "fingerprints": ck.fingerprints, "settings": ck.settings,
                   "world_size": acc.num_processes}
        trainable = {n: p for n, p in tm.model.named_parameters() if p.requires_grad}
        tensors = {"trainable": trainable, "extra": {str(i): p for i, p in enumerate(extra_params)},
                   "best": best_state or {}}
        save_training_state(ck.run_dir, state.step, tensors=tensors, optimizers=[optimizer], rng=rng,
                            trainer=trainer, keep=ck.keep)
    acc.wait_for_everyone()


def check_resumable(saved: Any, ck: Checkpointing, world_size: int) -> None:
    """The one resume check of fine-tuning runs: same inputs, config and processes (a
    setting that differs is named, when the interrupted run recorded its settings)."""
    if ck.settings and isinstance(saved.trainer.get("settings"), dict):
        verify_same_settings(saved.path, saved.trainer["settings"], ck.settings)
    verify_same_run(saved, inputs=ck.inputs, fingerprints=ck.fingerprints, world_size=world_size)


def _resume(acc: Any, ck: Checkpointing, tm: TaskModel, extra: ExtraTerm | None, extra_params: list[Any],
            optimizer: Any, scheduler: Any, steps: int,
            rows: RowUpdates | None = None) -> tuple[_State, dict[str, Any] | None] | None:
    """Load the newest checkpoint into the set-up loop, or None when there is none yet."""
    import torch

    found = list_checkpoints(ck.run_dir)
    if not found:
        log.warning("no checkpoint in %s yet: starting the run from the beginning", ck.run_dir)
        return None
    saved = load_training_state(found[-1])
    check_resumable(saved, ck, acc.num_processes)
    params = dict(tm.model.named_parameters())
    trainable = saved.tensors.get("trainable", {})
    expected = {n for n, p in params.items() if p.requires_grad}
    if set(trainable) != expected:
        raise InputError(f"cannot resume from {saved.path}: it holds other trainable parameters than this run's")
    held = saved.trainer.get("embedding_rows")
    if held != (len(rows.rows) if rows is not None else None):
        raise InputError(f"cannot resume from {saved.path}: its optimizer holds "
                         f"{'the whole embedding matrix' if held is None else f'{held} embedding rows'}, this run "
                         f"{'the whole matrix' if rows is None else f'{len(rows.rows)} rows'} (another version or "
                         "other training data); start the run again without resume")
    with torch.no_grad():
        for name, tensor in trainable.items():
            params[name].copy_(tensor)
        for i, p in enumerate(extra_params):
            p.copy_(saved.tensors["extra"][str(i)])
    if rows is not None:
        rows.reload()
    optimizer.load_state_dict(saved.optimizers[0])
    scheduler.load_state_dict(saved.trainer["scheduler"])
    if extra is not None and saved.trainer.get("extra") is not None:
        extra.load_state_dict(saved.trainer["extra"])
    restore_rng(acc, saved.rng)
    state = _State.from_json(saved.trainer)
    best = saved.tensors.get("best") or None
    if best is not None:
        device = next(tm.model.parameters()).device
        best = {k: v.to(device) for k, v in best.items()}
    log.info("resuming from %s (step %d of %d)", saved.path, state.step, steps)
    return state, best


