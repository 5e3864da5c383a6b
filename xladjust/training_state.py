"""Resumable training state on disk, shared by every training loop (adjust, tasks).

A checkpoint is ``RUN/checkpoints/step-NNNNNNNN/`` holding:

- ``GROUP.safetensors`` for each named group of tensors the loop saves (``trainable``:
  the trainable parameters, frozen ones are reloaded from the model spec; ``objective``,
  ``extra``, ``best``: whatever else the loop needs);
- ``optimizer-K.pt``: optimizer states (tensors and numbers only, read back with
  ``torch.load(weights_only=True)``, which never runs pickled code);
- ``rng.safetensors``: every process's torch RNG states;
- ``trainer.json``: the loop's counters and data position, scheduler states, and what a
  resume must match: ``inputs`` (content hashes of the input files), ``fingerprints``
  (e.g. of the config) and ``world_size`` (see :func:`verify_same_run`);
- ``files.json``: the SHA-256 of every other file, so a damaged checkpoint is refused
  rather than half-loaded.

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

from xladjust.config import shorten
from xladjust.errors import InputError
from xladjust.io import (
    atomic_dir,
    is_complete,
    mark_complete,
    read_json,
    sha256_file,
    write_json_atomic,
)

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
GEOMETRY_FILE = "geometry.jsonl"  # the curves of a run with probe_every (xladjust.probes.geometry)
TRAINER_FILE = "trainer.json"
FILES_FILE = "files.json"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


@dataclass
class TrainingState:
    """What a checkpoint holds, loaded."""

    path: Path
    tensors: dict[str, dict[str, Any]]  # group name -> tensors
    optimizers: list[dict[str, Any]]
    rng: dict[str, Any]
    trainer: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.trainer["step"])


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
    tensors: dict[str, dict[str, Any]],
    optimizers: list[Any],
    rng: dict[str, Any],
    trainer: dict[str, Any],
    keep: int = 1,
) -> Path:
    """Write the checkpoint of ``step`` atomically; keep the newest ``keep``.
    Empty tensor groups are not written."""
    import torch
    from safetensors.torch import save_file

    path = checkpoint_path(run_dir, step)
    with atomic_dir(path) as tmp:
        for group, values in tensors.items():
            if values:
                save_file(_contiguous(values), str(tmp / f"{group}.safetensors"))
        for k, optimizer in enumerate(optimizers):
            torch.save(optimizer.state_dict(), tmp / f"optimizer-{k}.pt")
        save_file(_contiguous(rng), str(tmp / "rng.safetensors"))
        write_json_atomic(tmp / TRAINER_FILE, {**trainer, "step": step})
        hashes = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        write_json_atomic(tmp / FILES_FILE, hashes)
        mark_complete(tmp)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint written: %s", path)
    return path


def load_training_state(path: Path) -> TrainingState:
    """Read a checkpoint after checking every file against ``files.json``."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    try:
        hashes = read_json(path / FILES_FILE)
        for name, digest in hashes.items():
            if sha256_file(path / name) != digest:
                raise ValueError(f"{name} does not match its recorded SHA-256")
        tensors = {p.name.removesuffix(".safetensors"): load_file(str(p))
                   for p in sorted(path.glob("*.safetensors")) if p.name != "rng.safetensors"}
        optimizers = []
        k = 0
        while (path / f"optimizer-{k}.pt").exists():
            optimizers.append(torch.load(path / f"optimizer-{k}.pt", map_location="cpu", weights_only=True))
            k += 1
        rng = load_file(str(path / "rng.safetensors"))
        trainer = read_json(path / TRAINER_FILE)
    except Exception as exc:  # torch.load, safetensors and json raise many types on a damaged file
        raise InputError(f"checkpoint {path} is damaged or unreadable ({shorten(str(exc))}); delete it to "
                         "resume from an older one, or start afresh") from exc
    return TrainingState(path, tensors, optimizers, rng, trainer)


def verify_same_run(saved: TrainingState, *, inputs: dict[str, str], fingerprints: dict[str, str],
                    world_size: int) -> None:
    """Refuse to resume from a loaded ``saved`` state unless it was written by the same
    run: the same input contents (``inputs``: name → SHA-256), the same ``fingerprints``
    (e.g. of the config) and the same number of processes. Every loop's post-load check goes
    through it; the files themselves are checked before loading by
    :func:`xladjust.resume.verify_checkpoint_files`."""
    for what, expected, recorded in (("input", inputs, saved.trainer.get("inputs", {})),
                                     ("", fingerprints, saved.trainer.get("fingerprints", {}))):
        for key in sorted(set(expected) | set(recorded)):
            if expected.get(key) != recorded.get(key):
                name = f"{what} {key}".strip()
                raise InputError(
                    f"cannot resume from {saved.path}: the {name} differs from the interrupted run's; "
                    "rerun with the same config and inputs, or start afresh"
                )
    if saved.trainer.get("world_size") != world_size:
        raise InputError(
            f"cannot resume from {saved.path}: it was written by {saved.trainer.get('world_size')} "
            f"process(es), this run has {world_size}; resume with the same launch setup"
        )


def remove_checkpoints(run_dir: Path) -> None:
    shutil.rmtree(Path(run_dir) / CHECKPOINTS_DIR, ignore_errors=True)


def _contiguous(tensors: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
