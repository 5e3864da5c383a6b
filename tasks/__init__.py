"""Tasks: English fine-tuning and zero-shot evaluation (NLI, NER, QA).

Public API (imported lazily, so ``import xladjust.tasks`` stays cheap):

- :func:`finetune` (``FinetuneConfig`` → run directory) and :func:`transfer`
  (``TransferConfig`` → comparison table over models and seeds);
- :func:`evaluate_task_model` (a checkpoint directory or a loaded :class:`TaskModel`, a task, test
  sets → per-language :class:`EvalResult`), :func:`load_task_model`;
- :data:`TASKS` / :func:`get_task`, the task registry;
- :func:`compare_paired`, :func:`mean_std`, the significance helpers.
"""

from __future__ import annotations

from xladjust.lazy import lazy_exports

_EXPORTS = {
    "finetune": "xladjust.tasks.finetune",
    "transfer": "xladjust.tasks.transfer",
    "evaluate_task_model": "xladjust.tasks.evaluation",
    "EvalResult": "xladjust.tasks.evaluation",
    "metrics_table": "xladjust.tasks.evaluation",
    "load_task_model": "xladjust.tasks.model",
    "init_task_model": "xladjust.tasks.model",
    "TaskModel": "xladjust.tasks.model",
    "TASKS": "xladjust.tasks.registry",
    "get_task": "xladjust.tasks.registry",
    "FinetuneConfig": "xladjust.tasks.config",
    "TransferConfig": "xladjust.tasks.config",
    "ContinualConfig": "xladjust.tasks.config",
    "compare_paired": "xladjust.tasks.significance",
    "mean_std": "xladjust.tasks.significance",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
