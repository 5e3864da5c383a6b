"""The adjust step of the embedding aligner's self-training (``xladjust align --self-train K``).

Self-training lives in the align stage, which comes before adjust, so it cannot import
this stage: the layer above (the CLI, the pipeline) passes :func:`adjust_round` to
:func:`xladjust.align.selftrain.self_train`.
"""

from __future__ import annotations

from pathlib import Path

from xladjust.adjust.config import AdjustConfig
from xladjust.adjust.run import adjust
from xladjust.align.config import SelfTrainOptions


def adjust_round(aligned: Path, out: Path, *, model: str, layer: int, options: SelfTrainOptions, seed: int,
                 progress: bool) -> Path:
    """Adjust ``model`` at ``layer`` on one round's aligned corpus into ``out``; return ``out``."""
    return adjust(AdjustConfig(
        aligned=[aligned], out=out, model=model, objective=options.objective, layer=layer,
        max_steps=options.steps, batch_size=options.batch_size, lr=options.lr, max_pairs=options.max_pairs,
        seed=seed, overwrite=True, progress=progress, checkpoint_every=None))
