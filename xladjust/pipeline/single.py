"""One stage's config file run on its own (``xladjust run FILE`` whose ``kind:`` is a
stage's), composed as the stage's own command composes it: self-training gets the adjust
round, adjust and finetune get the geometry probe hook. :data:`xladjust.stages.STAGES`
names each kind's runner here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xladjust.adjust import adjust
from xladjust.adjust.selftrain import adjust_round
from xladjust.align.pipeline import align_corpus
from xladjust.probes.geometry import adjust_hook, finetune_hook
from xladjust.probes.run import run_probes
from xladjust.tasks.finetune import finetune


def run_align(cfg: Any, *, progress: bool, overwrite: bool) -> Path:
    return align_corpus(cfg, progress=progress, adjust_round=adjust_round).out


def run_adjust(cfg: Any, *, progress: bool, overwrite: bool) -> Path:
    from dataclasses import replace

    cfg = replace(cfg, progress=progress, overwrite=cfg.overwrite or overwrite)
    return adjust(cfg, on_step=adjust_hook(cfg))


def run_probe(cfg: Any, *, progress: bool, overwrite: bool) -> Path:
    return run_probes(cfg, progress=progress, overwrite=overwrite)


def run_finetune(cfg: Any, *, progress: bool, overwrite: bool) -> Path:
    from dataclasses import replace

    cfg = replace(cfg, progress=progress, overwrite=cfg.overwrite or overwrite)
    return finetune(cfg, on_step=finetune_hook(cfg))
