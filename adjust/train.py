"""The training loop: micro-batches → accumulated gradients → one optimizer step.

Runs under ``accelerate`` (CPU, one GPU, or several processes from ``accelerate launch``
with the same code): the prepared :class:`~xladjust.adjust.forward.AlignmentModel`
handles device placement, autocast and gradient synchronization; gradients of the
non-final micro-batches of a step are not synchronized (``no_sync``). Losses are means
over a micro-batch's links, divided by the number of micro-batches in the step, so the
optimizer sees the mean over the step. With ``max_grad_norm`` set, gradients are clipped
by their global norm (sparse embedding gradients included); without it the norm is not
computed. The scheduler advances once per optimizer step.

Every ``log_every`` steps a JSON line goes to ``metrics.jsonl``; every
``checkpoint_every`` steps the full training state is written (see
:mod:`xladjust.adjust.checkpoint`). The data order is a pure function of the seed and
the step (see :mod:`xladjust.adjust.batching`), so restoring weights, optimizer and
scheduler states, the RNG and the step counter resumes the very same run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from xladjust.adjust.batching import Step, collate_pairs, cut_batches
from xladjust.adjust.config import AdjustConfig
from xladjust.adjust.dataset import Example
from xladjust.adjust.forward import batch_inputs
from xladjust.adjust.objectives import Objective
from xladjust.adjust.regularizers import ParameterAnchor
from xladjust.finite import check_finite_loss, check_finite_weights
from xladjust.interrupts import check_interrupted
from xladjust.io import atomic_path
from xladjust.progress import progress as progress_bar
from xladjust.training_common import gather_rng, reduce_record, restore_rng, scheduler_state
from xladjust.training_state import TrainingState, save_training_state, verify_same_run

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


@dataclass
class LoopState:
    """Counters that a checkpoint carries."""

    step: int = 0
    pairs: int = 0  # sentence pairs seen (all processes)
    tokens: int = 0  # non-padding subwords forwarded (all processes)
    seconds: float = 0.0  # time spent in training steps
    losses: list[float] = field(default_factory=list)  # per optimizer step

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoopState:
        return cls(**{k: data[k] for k in ("step", "pairs", "tokens", "seconds", "losses")})


@dataclass
class Loop:
    """Everything the loop touches, set up by :mod:`xladjust.adjust.run`."""

    config: AdjustConfig
    accelerator: Any
    module: Any  # the prepared AlignmentModel
    objective: Objective  # unwrapped
    encoder: torch.nn.Module  # unwrapped
    optimizers: list[Any]
    schedulers: list[Any]
    examples: list[Example]
    steps: list[Step]
    cache: Tensor | None
    cache_offsets: np.ndarray | None
    anchor: ParameterAnchor | None
    pad_id: int
    run_dir: Path
    fingerprints: dict[str, str]
    lengths: np.ndarray | None = None  # padded-width cost of each example (set on first use)

    @property
    def params(self) -> list[torch.nn.Parameter]:
        return [p for opt in self.optimizers for group in opt.param_groups for p in group["params"]]


def run_loop(loop: Loop, state: LoopState, on_step: Any = None) -> LoopState:
    """Train from ``state.step`` to the end of the plan; return the final counters.
    ``on_step(step, encoder, last)``, if given, is called on the main process at the start
    and after every optimizer step (the geometry curves of :mod:`xladjust.probes.geometry`)."""
    acc = loop.accelerator
    cfg = loop.config
    metrics = MetricsLog(loop.run_dir / METRICS_FILE, enabled=acc.is_main_process)
    metrics.truncate(state.step)
    bar = progress_bar(total=len(loop.steps), initial=state.step, desc="adjust", unit="step",
                       enabled=cfg.progress and acc.is_main_process, leave=True)
    window: list[dict[str, float]] = []
    loop.module.train(cfg.dropout)  # without dropout: eval mode, gradients flow all the same
    hook = on_step if acc.is_main_process else None
    if hook is not None:
        hook(state.step, loop.encoder, state.step == len(loop.steps))
    try:
        for index in range(state.step, len(loop.steps)):
            started = time.perf_counter()
            check_interrupted()  # a signal whose exception something swallowed stops the run here
            record = train_step(loop, loop.steps[index])
            check_finite_loss(record["loss"], index + 1, "adjust")  # a diverged run stops here
            elapsed = time.perf_counter() - started
            state.step = index + 1
            state.pairs += int(record["pairs"])
            state.tokens += int(record["tokens"])
            state.seconds += elapsed
            state.losses.append(record["loss"])
            window.append({**record, "seconds": elapsed})
            rate = record["pairs"] / elapsed if elapsed > 0 else 0.0
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.4f}", pairs_s=f"{rate:.1f}")
            if state.step % cfg.log_every == 0 or state.step == len(loop.steps):
                metrics.write(_summarize(window, state, loop))
                window = []
            if (cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0
                    and state.step < len(loop.steps)):
                check_finite_weights(loop.encoder, f"adjust, step {state.step}", hint=_DIVERGED)
                save_checkpoint(loop, state)
            if hook is not None:
                hook(state.step, loop.encoder, state.step == len(loop.steps))
    finally:
        if bar is not None:
            bar.close()
    check_finite_weights(loop.encoder, "adjust, after the last step", hint=_DIVERGED)
    return state


_DIVERGED = "the run diverged and was stopped (nothing was marked complete); lower the learning rate"


def train_step(loop: Loop, step: Step) -> dict[str, float]:
    """One optimizer step over ``step``'s micro-batches; returns what it measured."""
    acc = loop.accelerator
    n = len(step.micro_batches)
    loss_sum = 0.0
    parts_sum: dict[str, float] = {}
    pairs = tokens = 0
    device = acc.device
    with_source = loop.objective.needs_trainable_source
    for k, indices in enumerate(step.micro_batches):
        chunks = forward_chunks(loop, indices)
        totals: dict[str, int] = {}
        if len(chunks) > 1:  # each chunk's loss is its share of the micro-batch's
            chosen = [loop.examples[int(i)] for i in indices]
            totals = {"links_total": sum(len(e.links) for e in chosen),
                      "words_total": sum(e.src.n_words for e in chosen)}
        for j, part in enumerate(chunks):
            batch = collate_pairs(loop.examples, part, with_source=with_source,
                                  cache_offsets=loop.cache_offsets, pad_id=loop.pad_id)
            inputs = {**batch_inputs(batch, loop.cache, loop.objective, device), **totals}
            if loop.anchor is not None:
                loop.anchor.mark(inputs["ids"])
            last = k == n - 1 and j == len(chunks) - 1
            sync = contextlib.nullcontext() if last else acc.no_sync(loop.module)
            with sync:
                loss, parts = loop.module(**inputs)
                acc.backward(loss / n)
            loss_sum += float(loss.detach())
            for name, value in parts.items():
                parts_sum[name] = parts_sum.get(name, 0.0) + float(value)
            pairs += batch.n_pairs
            tokens += batch.packed.n_tokens
    if acc.scaler is not None:
        acc.unscale_gradients()
    grad_norm = clip_gradients(loop.params, loop.config.max_grad_norm)
    for optimizer in loop.optimizers:
        optimizer.step()
    if not acc.optimizer_step_was_skipped:
        for scheduler in loop.schedulers:
            scheduler.step()
    for optimizer in loop.optimizers:
        optimizer.zero_grad(set_to_none=True)
    record = {"loss": loss_sum / n, **{name: v / n for name, v in parts_sum.items()},
              "pairs": float(pairs), "tokens": float(tokens)}
    if grad_norm is not None:
        record["grad_norm"] = grad_norm
    return reduce_record(acc, record, summed=("pairs", "tokens"))


def forward_chunks(loop: Loop, indices: np.ndarray) -> list[np.ndarray]:
    """The pairs of a micro-batch cut into forward passes of at most ``forward_tokens``
    padded subwords (in order; a longer single pair is a chunk of its own). Only for
    objectives whose loss adds up over chunks; others forward the micro-batch whole."""
    budget = loop.config.forward_tokens
    if budget is None or not loop.objective.decomposable:
        return [indices]
    if loop.lengths is None:
        loop.lengths = np.array([e.length for e in loop.examples])
    rows = 2 if loop.objective.needs_trainable_source else 1
    return cut_batches(indices, loop.lengths, len(indices), budget, rows)


def clip_gradients(params: list[torch.nn.Parameter], max_norm: float | None) -> float | None:
    """Scale gradients so their global L2 norm is at most ``max_norm``; return the norm
    before clipping, or None without clipping (the norm is then not computed: over a dense
    embedding gradient it costs as much as a sixth of the step). Sparse gradients are
    coalesced (duplicate rows summed) first."""
    if max_norm is None:
        return None
    dense: list[Tensor] = []
    norms: list[Tensor] = []
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            norms.append(torch.linalg.vector_norm(p.grad._values(), dtype=torch.float32))
        else:
            dense.append(p.grad)
    if dense:  # one batched call instead of one kernel per tensor
        norms.extend(n.float() for n in torch._foreach_norm(dense))
    if not norms:
        return 0.0
    norm = float(torch.linalg.vector_norm(torch.stack(norms)))
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        if dense:
            torch._foreach_mul_(dense, scale)
        for p in params:
            if p.grad is not None and p.grad.is_sparse:
                p.grad.mul_(scale)
    return norm


def _summarize(window: list[dict[str, float]], state: LoopState, loop: Loop) -> dict[str, Any]:
    seconds = sum(r["seconds"] for r in window)
    pairs = sum(r["pairs"] for r in window)
    skip = {"seconds", "pairs", "tokens"}
    keys = [k for k in window[-1] if k not in skip]
    out: dict[str, Any] = {"step": state.step, "epoch": loop.steps[state.step - 1].epoch}
    out.update({k: sum(r[k] for r in window) / len(window) for k in keys})
    out["lr"] = loop.optimizers[0].param_groups[0]["lr"]
    out["pairs_per_s"] = pairs / seconds if seconds > 0 else 0.0
    out["pairs"] = state.pairs
    out["train_seconds"] = round(state.seconds, 3)
    return out


# --- checkpoints ----------------------------------------------------------------------

def trainable_tensors(encoder: torch.nn.Module) -> dict[str, Tensor]:
    return {name: p for name, p in encoder.named_parameters() if p.requires_grad}


def save_checkpoint(loop: Loop, state: LoopState) -> Path | None:
    """Write the training state of ``state.step`` (main process; all processes wait)."""
    acc = loop.accelerator
    rng = gather_rng(acc)
    if loop.anchor is not None and loop.anchor.touched is not None:
        rng["touched_rows"] = loop.anchor.touched.cpu()
    path = None
    if acc.is_main_process:
        trainer = {
            **state.to_json(),
            # data order: the plan is a pure function of the seed and the drawn pairs (checked by
            # the data fingerprint); the next step to run is ``step``, in this epoch:
            "epoch": loop.steps[state.step - 1].epoch,
            "schedulers": [scheduler_state(s) for s in loop.schedulers],
            "fingerprints": loop.fingerprints,
            "world_size": acc.num_processes,
        }
        path = save_training_state(
            loop.run_dir, state.step,
            tensors={"trainable": trainable_tensors(loop.encoder), "objective": dict(loop.objective.state_dict())},
            optimizers=loop.optimizers, rng=rng, trainer=trainer,
            keep=loop.config.keep_checkpoints,
        )
    acc.wait_for_everyone()
    return path


def restore(loop: Loop, saved: TrainingState) -> LoopState:
    """Load a checkpoint into the set-up loop; check it belongs to the same run."""
    acc = loop.accelerator
    trainer = saved.trainer
    # input contents were checked before loading (verify_checkpoint), against run.json
    verify_same_run(saved, inputs={}, fingerprints=loop.fingerprints, world_size=acc.num_processes)
    params = dict(loop.encoder.named_parameters())
    with torch.no_grad():
        for name, tensor in saved.tensors["trainable"].items():
            params[name].copy_(tensor)
    loop.objective.load_state_dict(saved.tensors.get("objective", {}))
    for optimizer, state_dict in zip(loop.optimizers, saved.optimizers, strict=True):
        optimizer.load_state_dict(state_dict)
    for scheduler, state_dict in zip(loop.schedulers, trainer["schedulers"], strict=True):
        scheduler.load_state_dict(state_dict)
    if loop.anchor is not None and loop.anchor.touched is not None and "touched_rows" in saved.rng:
        loop.anchor.touched.copy_(saved.rng["touched_rows"].to(loop.anchor.touched.device))
    restore_rng(acc, saved.rng)
    return LoopState.from_json(trainer)








# --- metrics --------------------------------------------------------------------------

class MetricsLog:
    """``metrics.jsonl``: one JSON object per logged step, appended and flushed."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled

    def truncate(self, step: int) -> None:
        """Drop lines after ``step`` (a resumed run rewrites them)."""
        if not self.enabled or not self.path.exists():
            return
        keep = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        clean = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
        log.info("step %s: %s", record.get("step"), ", ".join(
            f"{k} {v:.4g}" for k, v in clean.items() if isinstance(v, float)))


