"""Self-training of the embedding aligner: align → adjust the encoder on those links →
re-align with the adjusted encoder, for K rounds (``xladjust align --self-train K``).

Round ``r`` (0 ≤ r < K) aligns the corpus with model ``M_r`` (``M_0`` is the configured
model) and adjusts ``M_r`` on those links with the adjust stage (the contrastive objective
of Wu & Dredze 2020 by default, at the aligner's own layer), giving ``M_{r+1}``. The adjust
stage comes after this one, so its round function is passed in from the layer above
(:func:`xladjust.adjust.selftrain.adjust_round`), and so is the align function. After the
last round the corpus is aligned once more with ``M_K`` into ``out``. The folder
``<out>.self-train/round-r/`` holds what belongs to the encoder after ``r`` rounds:
``model/`` is ``M_r`` (from round 1 on; ``M_0`` is the configured model) and ``aligned/``
the corpus aligned with it (up to round ``K-1``; ``M_K``'s is ``out``). The final
manifest's ``self_training`` lists each round's model, aligned corpus, link count and
adjust run. Any gold evaluation of the
rounds is done apart (``xladjust align evaluate --model ROUND_MODEL``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xladjust.align.config import AlignConfig
from xladjust.errors import ConfigError

log = logging.getLogger(__name__)


def rounds_dir(out: Path) -> Path:
    return out.parent / f"{out.name}.self-train"


def self_train(config: AlignConfig, *, align: Callable[..., Any], adjust_round: Callable[..., Path],
               progress: bool = False) -> Any:
    """Run ``config.self_train.rounds`` rounds; return the final round's AlignResult.

    ``align(config, progress=, extra_manifest=)`` aligns one corpus (``align_corpus``);
    ``adjust_round(aligned, out, model=, layer=, options=, seed=, progress=)`` adjusts
    the round's model on its links and returns the new model's folder."""
    opts = config.self_train
    if config.aligner.name != "embedding":
        raise ConfigError(f"--self-train needs --aligner embedding (the links come from the encoder being "
                          f"adjusted), not {config.aligner.name}")
    base = rounds_dir(Path(config.out))
    model = config.aligner.embedding.model
    layer = config.aligner.embedding.layer
    history: list[dict[str, Any]] = []
    for r in range(opts.rounds):
        aligned = base / f"round-{r}" / "aligned"  # aligned with M_r
        result = align(_with_model(config, model, aligned), progress=progress)
        counts = result.manifest["counts"]
        if layer is None:
            layer = result.manifest["aligner"]["layer"]
        log.info("self-training round %d: %d links from %s; adjusting", r, counts["links"], model)
        adjusted = adjust_round(aligned, base / f"round-{r + 1}" / "model", model=model, layer=layer, options=opts,
                                seed=config.seed + r, progress=progress)
        history.append({"round": r, "model": str(model), "aligned": str(aligned), "links": counts["links"],
                        "links_per_sentence": result.manifest["statistics"]["links_per_sentence"],
                        "adjusted": str(adjusted)})
        model = str(adjusted)
    final = {"round": opts.rounds, "model": str(model), "aligned": str(config.out)}
    extra = {"self_training": {"rounds": opts.rounds, "options": dataclasses.asdict(opts), "layer": layer,
                               "history": [*history, final]}}
    return align(_with_model(config, model, Path(config.out)), progress=progress, extra_manifest=extra)


def _with_model(config: AlignConfig, model: str, out: Path) -> AlignConfig:
    """One pass of the rounds: a round's folder belongs to this run and is replaced; ``out``
    was judged before the first round."""
    embedding = dataclasses.replace(config.aligner.embedding, model=str(model))
    aligner = dataclasses.replace(config.aligner, embedding=embedding)
    return dataclasses.replace(config, out=out, aligner=aligner, overwrite=True,
                               self_train=dataclasses.replace(config.self_train, rounds=0))
