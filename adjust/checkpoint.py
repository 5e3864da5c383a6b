"""Resumable training state, written atomically every N optimizer steps.

A checkpoint is ``RUN/checkpoints/step-NNNNNNNN/`` holding:

- ``trainable.safetensors``: the encoder's trainable parameters (frozen ones are reloaded
  from the model spec) and ``objective.safetensors``: the objective's own parameters;
- ``optimizer-K.pt``: optimizer states (tensors and numbers only, read back with
  ``torch.load(weights_only=True)``, which never runs pickled code);
- ``rng.safetensors``: every process's torch RNG states (dropout) and the set of embedding
  rows updated so far (sparse updates);
- ``trainer.json``: step, counters, per-step losses, scheduler states, and the fingerprints
  of the data and config that a resume must match.

It is built in a temporary directory, marked complete, and renamed into place; older
checkpoints beyond ``keep`` are removed afterwards.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from xladjust.config import shorten
from xladjust.errors import InputError
from xladjust.io import atomic_dir, is_complete, mark_complete, read_json, write_json_atomic

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


@dataclass
class TrainingState:
    """What a checkpoint holds, loaded."""

    path: Path
    trainable: dict[str, Tensor]
    objective: dict[str, Tensor]
    optimizers: list[dict[str, Any]]
    rng: dict[str, Tensor]
    trainer: dict[str, Any]


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / f"step-{step:08d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and p.is_dir() and is_complete(p)]
    return sorted(found, key=lambda p: p.name)


def save_training_state(
    run_dir: Path,
    step: int,
    *,
    trainable: dict[str, Tensor],
    objective: dict[str, Tensor],
    optimizers: list[Any],
    rng: dict[str, Tensor],
    trainer: dict[str, Any],
    keep: int = 1,
) -> Path:
    """Write the checkpoint of ``step`` atomically; keep the newest ``keep``."""
    from safetensors.torch import save_file

    path = checkpoint_path(run_dir, step)
    with atomic_dir(path) as tmp:  # a full disk becomes one line naming the checkpoint
        save_file(_contiguous(trainable), str(tmp / "trainable.safetensors"))
        if objective:
            save_file(_contiguous(objective), str(tmp / "objective.safetensors"))
        for k, optimizer in enumerate(optimizers):
            torch.save(optimizer.state_dict(), tmp / f"optimizer-{k}.pt")
        save_file(_contiguous(rng), str(tmp / "rng.safetensors"))
        write_json_atomic(tmp / "trainer.json", trainer)
        mark_complete(tmp)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint written: %s", path)
    return path


def load_training_state(path: Path) -> TrainingState:
    from safetensors.torch import load_file

    path = Path(path)
    try:
        trainable = load_file(str(path / "trainable.safetensors"))
        objective_file = path / "objective.safetensors"
        objective = load_file(str(objective_file)) if objective_file.exists() else {}
        optimizers = []
        k = 0
        while (path / f"optimizer-{k}.pt").exists():
            optimizers.append(torch.load(path / f"optimizer-{k}.pt", map_location="cpu", weights_only=True))
            k += 1
        rng = load_file(str(path / "rng.safetensors"))
        trainer = read_json(path / "trainer.json")
    except Exception as exc:  # torch.load and safetensors raise several types on a damaged file
        raise InputError(f"checkpoint {path} is unreadable ({shorten(str(exc))}); delete it to resume from an "
                         "older one, or start afresh with --overwrite") from exc
    return TrainingState(path, trainable, objective, optimizers, rng, trainer)


TRAINER_KEYS = ("step", "pairs", "tokens", "seconds", "losses", "epoch", "schedulers", "fingerprints", "world_size")


def verify_checkpoint(path: Path, *, run_dir: Path, recorded_inputs: dict[str, str] | None, inputs: dict[str, str],
                      n_optimizers: int, has_objective: bool, labels: dict[str, str] | None = None) -> None:
    """Before loading: the inputs' contents are unchanged and the checkpoint and the run's
    ``metrics.jsonl`` are whole (see :func:`xladjust.resume.verify_resume`)."""
    from xladjust.adjust.train import METRICS_FILE
    from xladjust.resume import verify_resume

    files = ["trainable.safetensors", "rng.safetensors", *(f"optimizer-{k}.pt" for k in range(n_optimizers))]
    if has_objective:
        files.append("objective.safetensors")
    verify_resume(path, recorded_inputs=recorded_inputs, inputs=inputs, labels=labels, files=files,
                  json_keys={"trainer.json": TRAINER_KEYS}, jsonl=[Path(run_dir) / METRICS_FILE])


def check_state(state: TrainingState, trainable: set[str], n_optimizers: int, n_schedulers: int) -> None:
    """After loading: the checkpoint holds exactly the tensors and states this run trains."""
    missing = sorted(trainable - set(state.trainable))
    extra = sorted(set(state.trainable) - trainable)
    if missing or extra:
        what = f"lacks tensor {missing[0]!r}" if missing else f"has tensor {extra[0]!r} this model does not train"
        more = len(missing) + len(extra) - 1
        raise InputError(f"checkpoint {state.path} is damaged: it {what}" + (f" (and {more} more)" if more else "")
                         + "; delete it to resume from an older one, or start afresh with --overwrite")
    if len(state.optimizers) != n_optimizers or len(state.trainer.get("schedulers", [])) != n_schedulers:
        raise InputError(f"checkpoint {state.path} holds {len(state.optimizers)} optimizer state(s) for "
                         f"{n_optimizers} optimizer(s); delete it to resume from an older one, or start afresh "
                         "with --overwrite")


def remove_checkpoints(run_dir: Path) -> None:
    shutil.rmtree(Path(run_dir) / CHECKPOINTS_DIR, ignore_errors=True)


def _contiguous(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
