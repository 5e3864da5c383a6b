"""The adjust loop's resumable state, in the format every loop shares
(:mod:`xladjust.training_state`, written atomically every N optimizer steps).

An adjust checkpoint ``RUN/checkpoints/step-NNNNNNNN/`` holds the tensor groups
``trainable`` (the encoder's trainable parameters; frozen ones are reloaded from the model
spec) and ``objective`` (the objective's own parameters), ``optimizer-K.pt``,
``rng.safetensors`` (every process's torch RNG states and the set of embedding rows
updated so far, for sparse updates), ``trainer.json`` (step, counters, per-step losses,
scheduler states, the fingerprints of data and config a resume must match) and
``files.json`` (the SHA-256 of every other file).

Saving, listing and loading are :mod:`xladjust.training_state`'s; this module adds what
only adjust checks: the files and trainer keys a checkpoint must
have before it is loaded, and that it holds exactly the tensors this run trains.
"""

from __future__ import annotations

from pathlib import Path

from xladjust.errors import InputError
from xladjust.resume import verify_checkpoint_files
from xladjust.training_state import FILES_FILE, TRAINER_FILE, TrainingState

TRAINER_KEYS = ("step", "pairs", "tokens", "seconds", "losses", "epoch", "schedulers", "fingerprints", "world_size")


def verify_checkpoint(path: Path, *, run_dir: Path, recorded_inputs: dict[str, str] | None, inputs: dict[str, str],
                      n_optimizers: int, has_objective: bool, labels: dict[str, str] | None = None) -> None:
    """Before loading: the inputs' contents are unchanged and the checkpoint and the run's
    ``metrics.jsonl`` are whole (see :func:`xladjust.resume.verify_checkpoint_files`)."""
    from xladjust.adjust.train import METRICS_FILE  # train imports torch at its top

    files = ["trainable.safetensors", "rng.safetensors", FILES_FILE,
             *(f"optimizer-{k}.pt" for k in range(n_optimizers))]
    if has_objective:
        files.append("objective.safetensors")
    verify_checkpoint_files(path, recorded_inputs=recorded_inputs, inputs=inputs, labels=labels, files=files,
                            json_keys={TRAINER_FILE: TRAINER_KEYS}, jsonl=[Path(run_dir) / METRICS_FILE])


def check_state(state: TrainingState, trainable: set[str], n_optimizers: int, n_schedulers: int) -> None:
    """After loading: the checkpoint holds exactly the tensors and states this run trains."""
    saved = set(state.tensors.get("trainable", {}))
    missing = sorted(trainable - saved)
    extra = sorted(saved - trainable)
    if missing or extra:
        what = f"lacks tensor {missing[0]!r}" if missing else f"has tensor {extra[0]!r} this model does not train"
        more = len(missing) + len(extra) - 1
        raise InputError(f"checkpoint {state.path} does not hold what this run trains: it {what}"
                         + (f" (and {more} more)" if more else "")
                         + "; resume with the settings and model of the interrupted run, or start afresh with "
                         "--overwrite")
    if len(state.optimizers) != n_optimizers or len(state.trainer.get("schedulers", [])) != n_schedulers:
        raise InputError(f"checkpoint {state.path} holds {len(state.optimizers)} optimizer state(s) for "
                         f"{n_optimizers} optimizer(s); resume with the settings of the interrupted run, or start "
                         "afresh with --overwrite")
