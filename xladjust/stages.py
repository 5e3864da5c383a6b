"""The one table of the commands and config kinds: :data:`STAGES`.

Each row names, as ``"module:attr"`` strings loaded on use (:func:`xladjust.lazy.load`),
a subcommand of ``xladjust`` and, where it reads a config file, the config class and the
``kind:`` that names it. The CLI lists its subcommands from here, ``xladjust validate``
and ``xladjust run`` find config classes here (:data:`xladjust.config.CONFIG_KINDS`), and
the config reference (:mod:`xladjust.config_docs`) documents every kind here, with the
command whose option help explains its keys. A new stage adds one row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    command: str  # "module:attr" of the click command or group
    summary: str  # one line in 'xladjust --help'
    config: str | None = None  # "module:Class" of its config, if it reads one
    kind: str | None = None  # the config's 'kind:' (default: the command's name)
    file_kind: bool = True  # whether a config file may name the kind (False: only nested in another)
    extras: tuple[str, ...] = ()  # optional installs it needs (xladjust.extras), checked before it runs
    runner: str | None = None  # "module:function" that 'xladjust run' calls on a config file of this kind


STAGES: dict[str, Entry] = {
    "model": Entry("xladjust.cli.core:model_group", "Prepare and verify model checkpoints."),
    "embed": Entry("xladjust.cli.core:embed_command", "Contextual word vectors for pre-tokenized sentences."),
    "validate": Entry("xladjust.cli.core:validate_command", "Check a config file without running it."),
    "align": Entry("xladjust.cli.align:align_group", "Word-align a parallel corpus; evaluate alignments.",
                   "xladjust.align.config:AlignConfig", runner="xladjust.pipeline.single:run_align"),
    "adjust": Entry("xladjust.cli.adjust:adjust_command", "Adjust an encoder on an aligned corpus.",
                    "xladjust.adjust.config:AdjustConfig", runner="xladjust.pipeline.single:run_adjust"),
    "probe": Entry("xladjust.cli.probe:probe_command", "Word distances, paired differences and retrieval.",
                   "xladjust.probes.config:ProbeConfig", extras=("probes",),
                   runner="xladjust.pipeline.single:run_probe"),
    "finetune": Entry("xladjust.cli.tasks:finetune_command", "Fine-tune a checkpoint on a task.",
                      "xladjust.tasks.config:FinetuneConfig", extras=("tasks",),
                      runner="xladjust.pipeline.single:run_finetune"),
    "evaluate": Entry("xladjust.cli.tasks:evaluate_command", "Evaluate a fine-tuned checkpoint zero-shot.",
                      extras=("tasks",)),
    "transfer": Entry("xladjust.cli.tasks:transfer_command", "Fine-tune and compare checkpoints over seeds.",
                      "xladjust.tasks.config:TransferConfig", file_kind=False, extras=("tasks",)),
    "interpolate": Entry("xladjust.cli.landscape:interpolate_command",
                         "Evaluate along the line between two checkpoints.", extras=("tasks", "probes")),
    "flatness": Entry("xladjust.cli.landscape:flatness_command", "Error along random directions around a checkpoint.",
                      extras=("tasks", "probes")),
    "compare": Entry("xladjust.cli.compare:compare_command", "One report over many run directories.",
                     extras=("report",)),
    "push": Entry("xladjust.push:push_command", "Upload a checkpoint with its model card to the Hugging Face hub."),
    "run": Entry("xladjust.cli.run:run_command", "Run a config file: a whole pipeline, or one stage's config.",
                 "xladjust.pipeline:PipelineConfig", kind="pipeline"),
    "config": Entry("xladjust.cli.configs:config_group", "List and copy the config files shipped with xladjust."),
}


def config_kinds(*, files_only: bool = True) -> dict[str, str]:
    """``kind -> "module:Class"`` of every config kind (``files_only``: those a config
    file may name), those first."""
    rows = sorted(STAGES.items(), key=lambda row: not row[1].file_kind)
    return {entry.kind or name: entry.config for name, entry in rows
            if entry.config is not None and (entry.file_kind or not files_only)}


def command_name(kind: str) -> str | None:
    """The subcommand that runs configs of ``kind`` (``pipeline`` -> ``run``), or None."""
    return next((name for name, entry in STAGES.items() if entry.config and (entry.kind or name) == kind), None)


def command_of_kind() -> dict[str, str]:
    """``kind -> "module:attr"`` of the command whose options' help explains its keys."""
    return {entry.kind or name: entry.command for name, entry in STAGES.items() if entry.config is not None}
