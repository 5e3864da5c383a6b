"""Task models: a head on any encoder spec, and fine-tuned checkpoints on disk.

A fine-tuned checkpoint is a Hugging Face directory (config, safetensors weights,
tokenizer) plus ``xladjust.json``, which names the task and its encoding options. Its
encoder loads as a model spec (``xladjust.models.load_model(DIR)`` reads it with
``AutoModel``, ignoring the head), so probes can measure it before and after fine-tuning.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust.errors import ModelError
from xladjust.io import read_json
from xladjust.tasks.base import EncodeOptions, Task
from xladjust.tasks.registry import get_task

log = logging.getLogger(__name__)

META_FILE = "xladjust.json"


@dataclass
class TaskModel:
    """A task head model with its tokenizer, task and encoding options."""

    model: Any  # transformers.PreTrainedModel with a task head
    tokenizer: Any
    task: Task
    options: EncodeOptions
    path: str | None = None

    @property
    def encoder(self) -> Any:
        """The encoder under the head (``BertModel`` for BERT-family checkpoints)."""
        return self.model.base_model


def _tokenizer(source: str, spec: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the tokenizer of {spec!r}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"model {spec!r} has no fast tokenizer; tasks need offsets and word ids")
    return tokenizer


def init_task_model(spec: str, task: Task, options: EncodeOptions, *, seed: int = 0,
                    device: str | None = None) -> TaskModel:
    """A new ``task`` head (initialized from ``seed``) on the encoder named by ``spec``."""
    import torch

    from xladjust.models import _quiet_transformers, default_device, materialize

    source = materialize(spec)
    _quiet_transformers()
    tokenizer = _tokenizer(source, spec)
    torch.manual_seed(seed)
    try:
        model = task.auto_model_class().from_pretrained(
            source, use_safetensors=True, trust_remote_code=False, ignore_mismatched_sizes=True,
            **task.model_kwargs(),
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot put a {task.name} head on {spec!r}: {exc}") from exc
    model.to(torch.device(device) if device else default_device())
    return TaskModel(model=model, tokenizer=tokenizer, task=task, options=options, path=source)


def load_task_model(path: str | Path, *, device: str | None = None, **overrides: Any) -> TaskModel:
    """Load a fine-tuned checkpoint written by :func:`save_task_model` (eval mode).

    ``overrides`` replace encoding options (e.g. ``max_length``) for evaluation.
    """
    import torch

    from xladjust.models import _quiet_transformers, default_device

    directory = Path(path)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise ModelError(
            f"{directory} is not a fine-tuned task checkpoint ({META_FILE} is missing); "
            "write one with 'xladjust finetune'"
        )
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or "task" not in meta or "options" not in meta:
        raise ModelError(f"{meta_path} does not describe a task checkpoint (no 'task'/'options')")
    if not (directory / "config.json").is_file():
        raise ModelError(f"{directory} holds results only (saved without --save-model); no model to load")
    task = get_task(meta["task"])
    options = dataclasses.replace(EncodeOptions(**meta["options"]), **overrides)
    _quiet_transformers()
    tokenizer = _tokenizer(str(directory), str(directory))
    try:
        model = task.auto_model_class().from_pretrained(directory, use_safetensors=True, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load task checkpoint {directory}: {exc}") from exc
    model.to(torch.device(device) if device else default_device())
    model.eval()
    return TaskModel(model=model, tokenizer=tokenizer, task=task, options=options, path=str(directory))


def save_task_model(tm: TaskModel, directory: Path) -> None:
    """Write weights (safetensors) and tokenizer into ``directory`` (not ``xladjust.json``)."""
    tm.model.save_pretrained(directory, safe_serialization=True)
    tm.tokenizer.save_pretrained(directory)


def task_meta(tm: TaskModel) -> dict[str, Any]:
    """The part of ``xladjust.json`` that :func:`load_task_model` needs."""
    return {"task": tm.task.name, "options": dataclasses.asdict(tm.options)}
