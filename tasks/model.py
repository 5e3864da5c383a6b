"""Task models: a head on any encoder spec, and fine-tuned checkpoints on disk.

A fine-tuned checkpoint is a Hugging Face directory (config, safetensors weights,
tokenizer) plus ``xladjust.json``, which names the task and its encoding options. Its
encoder loads as a model spec (``xladjust.models.load_model(DIR)`` reads it with
``AutoModel``, ignoring the head), so probes can measure it before and after fine-tuning.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.errors import ModelError, XladjustError
from xladjust.io import read_json
from xladjust.models import (
    load_config,
    load_pretrained,
    load_tokenizer,
    materialize,
    position_limit,
    resolve_device,
    unused_source_weights,
)
from xladjust.outputs import check_complete_run
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
    kept: dict[str, Any] = field(default_factory=dict)  # source weights the head model leaves unused


    @property
    def encoder(self) -> Any:
        """The encoder under the head (``BertModel`` for BERT-family checkpoints)."""
        return self.model.base_model


def init_task_model(spec: str, task: Task, options: EncodeOptions, *, seed: int = 0,
                    device: str | None = None) -> TaskModel:
    """A new ``task`` head (initialized from ``seed``) on the encoder named by ``spec``.

    Every encoder weight comes from the checkpoint (its pooler included when it has one),
    so two checkpoints of one architecture get the same treatment: only the head, and a
    pooler that neither checkpoint has, are new, and both are drawn from ``seed``.
    """
    import torch

    dev = resolve_device(device)
    source = materialize(spec)
    config = load_config(source, spec)
    options = _fit_length(options, task, config, spec)
    tokenizer = load_tokenizer(source, spec, config=config)
    torch.manual_seed(seed)
    model = load_pretrained(
        task.auto_model_class(), source, spec, what=f"encoder for a {task.name} head", new_head=True,
        ignore_mismatched_sizes=True, **task.model_kwargs(),
    )
    kept = unused_source_weights(source, model)
    model.to(dev)
    return TaskModel(model=model, tokenizer=tokenizer, task=task, options=options, path=source, kept=kept)


def _fit_length(options: EncodeOptions, task: Task, config: Any, spec: str) -> EncodeOptions:
    """The task's default ``max_length`` capped at the model's positions (logged); a
    ``max_length`` chosen beyond them is an error."""
    limit = position_limit(config)
    if options.max_length > limit and options.max_length == task.defaults.max_length:
        log.info("model %s has %d positions: inputs are cut at %d subwords, not at the %s default %d",
                    spec, limit, limit, task.name, options.max_length)
        return dataclasses.replace(options, max_length=limit)
    _check_length(options, config, spec)
    return options


def _check_length(options: EncodeOptions, config: Any, spec: str) -> None:
    limit = position_limit(config)
    if options.max_length > limit:
        raise ModelError(
            f"max_length {options.max_length} exceeds the {limit} positions model {spec!r} has "
            f"(max_position_embeddings); pass --max-length {limit} or less"
        )


def read_task_meta(directory: Path) -> tuple[Task, dict[str, Any]]:
    """The task and encoding options recorded in a fine-tuned checkpoint's ``xladjust.json``,
    checked field by field (a cut or edited file is one error line, not a traceback)."""
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise ModelError(
            f"{directory} is not a fine-tuned task checkpoint ({META_FILE} is missing); "
            "write one with 'xladjust finetune'"
        )
    try:
        meta = read_json(meta_path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{meta_path} is unreadable or cut short ({exc}); write the checkpoint again") from None
    if not isinstance(meta, dict) or "task" not in meta or "options" not in meta:
        raise ModelError(f"{meta_path} does not describe a task checkpoint (no 'task'/'options')")
    if not isinstance(meta["task"], str):
        raise ModelError(f"{meta_path}: 'task' must be a task name, got {str(meta['task'])[:80]!r}")
    try:
        task = get_task(meta["task"])
    except XladjustError as exc:
        raise ModelError(f"{meta_path}: {exc}") from None
    options = meta["options"]
    fields = {f.name: f for f in dataclasses.fields(EncodeOptions)}
    if not isinstance(options, dict):
        raise ModelError(f"{meta_path}: 'options' must be a mapping of encoding options")
    unknown = sorted(str(k)[:40] for k in options if k not in fields)
    if unknown:
        raise ModelError(f"{meta_path}: unknown encoding option(s) {', '.join(unknown)} "
                         f"(known: {', '.join(fields)}); the file was edited or comes from another tool")
    if "max_length" not in options:
        raise ModelError(f"{meta_path}: 'options' lacks max_length")
    for name, value in options.items():
        expected = int if name != "label_subwords" else str
        if isinstance(value, bool) or not isinstance(value, expected) or (expected is int and value < 1):
            raise ModelError(f"{meta_path}: option {name} must be a positive integer"
                             if expected is int else f"{meta_path}: option {name} must be a string")
    return task, options


def load_task_model(path: str | Path, *, device: str | None = None, **overrides: Any) -> TaskModel:
    """Load a fine-tuned checkpoint written by :func:`save_task_model` (eval mode).

    ``overrides`` replace encoding options (e.g. ``max_length``) for evaluation.
    """

    dev = resolve_device(device)
    directory = Path(path)
    check_complete_run(directory, "checkpoint")
    task, options_data = read_task_meta(directory)
    if not (directory / "config.json").is_file():
        raise ModelError(f"{directory} holds results only (saved without --save-model); no model to load")
    options = dataclasses.replace(EncodeOptions(**options_data), **overrides)
    source = str(directory)
    config = load_config(source)
    _check_length(options, config, source)
    tokenizer = load_tokenizer(source, config=config)
    model = load_pretrained(task.auto_model_class(), source, what="task checkpoint")
    model.to(dev)
    model.eval()
    return TaskModel(model=model, tokenizer=tokenizer, task=task, options=options, path=str(directory))


def save_task_model(tm: TaskModel, directory: Path) -> None:
    """Write weights (safetensors) and tokenizer into ``directory`` (not ``xladjust.json``).

    Source weights the head does not use (the pooler under a token-level head) are written
    beside the model's own, unchanged, so the checkpoint keeps every weight of its source.
    """
    tm.model.save_pretrained(directory, safe_serialization=True)
    tm.tokenizer.save_pretrained(directory)
    weights = Path(directory) / "model.safetensors"
    if tm.kept and weights.is_file():
        from safetensors.torch import load_file, save_file

        tensors = load_file(str(weights))
        tensors.update({k: v.contiguous() for k, v in tm.kept.items() if k not in tensors})
        save_file(tensors, str(weights), metadata={"format": "pt"})


def task_meta(tm: TaskModel) -> dict[str, Any]:
    """The part of ``xladjust.json`` that :func:`load_task_model` needs."""
    return {"task": tm.task.name, "options": dataclasses.asdict(tm.options)}
