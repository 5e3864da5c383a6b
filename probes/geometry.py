"""Geometry curves during training: d(w, r), d(w, u), Δ and word-retrieval P@1 on a
fixed held-out set of triples, every N optimizer steps, at step 0 and at the end.

:func:`adjust` and :func:`finetune` take an ``on_step(step, model, last, run_dir)`` hook
from their caller (the CLI or the pipeline), which builds it here with
:func:`adjust_hook` / :func:`finetune_hook`; the hook measures with the probes library
itself (the triples of :func:`xladjust.probes.inputs.load_bitext`, the distance and
word-retrieval probes of :func:`xladjust.probes.run.probe_checkpoint`). So the training
stages never import the probes, a later stage. The triples are built once, at
set-up, from a held-out aligned corpus that must not be one the run trains on, so every
row of a run (and a standalone ``xladjust probe`` of the same model on the same corpus)
is measured on the same words.

Rows go to ``geometry.jsonl`` in the run folder, one per step and layer:
``{"step", "layer", "d_related", "d_unrelated", "delta", "p_at_1", "p_at_1_cosine",
"n_triples", "n_words"}`` (cosine distances, means over the triples; P@1 is the mean of
both directions by CSLS, ``p_at_1_cosine`` the same by cosine).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xladjust.errors import ConfigError, InputError
from xladjust.io import atomic_path, sha256_file
from xladjust.models import LoadedModel, load_tokenizer, materialize
from xladjust.modes import eval_mode
from xladjust.probes.config import BitextSpec, CheckpointSpec, ProbeConfig
from xladjust.probes.run import prepare_inputs, probe_checkpoint
from xladjust.tasks.config import resolve_defaults
from xladjust.training_common import bf16_or_auto
from xladjust.training_state import GEOMETRY_FILE

log = logging.getLogger(__name__)

PROBES_USED = ("distances", "word-retrieval")
DEFAULT_MAX_SENTENCES = 500  # held-out sentence pairs probed (the first N of the corpus)


def geometry_probe_config(bitext: Path, *, layers: str | int | list[int] = "last", seed: int = 0,
                          max_sentences: int | None = DEFAULT_MAX_SENTENCES, batch_size: int = 64,
                          bf16: bool | None = None, out: Path | None = None) -> Any:
    """The :class:`~xladjust.probes.config.ProbeConfig` a geometry curve is measured with;
    a standalone probe with this config measures the same numbers."""
    return ProbeConfig(
        models=[CheckpointSpec("model", "model")], out=Path(out or "."), bitexts=[BitextSpec(Path(bitext))],
        probes=list(PROBES_USED), layers=layers, seed=seed, max_pairs=max_sentences,
        batch_size=batch_size, precision="bf16" if bf16_or_auto(bf16) else "fp32", resamples=1,
    )


def geometry_rows(run: Any, step: int) -> list[dict[str, Any]]:
    """``geometry.jsonl`` rows of one probed checkpoint (a ``CheckpointRun``) at ``step``."""
    (results,) = run.results.values()
    dist, retr = results["distances"].metrics, results["word-retrieval"].metrics
    rows = []
    for layer in dist["layers"]:
        cos = dist["by_layer"][str(layer)]["cosine"]
        ret = retr["by_layer"][str(layer)]
        rows.append({
            "step": int(step), "layer": int(layer), "d_related": cos["mean_related"],
            "d_unrelated": cos["mean_unrelated"], "delta": cos["mean_delta"],
            "p_at_1": ret["csls"]["mean"], "p_at_1_cosine": ret["cosine"]["mean"],
            "n_triples": dist["n_valid"], "n_words": retr["n_words"],
        })
    return rows


class GeometryTracker:
    """The ``on_step(step, model, last, run_dir)`` hook: probes at step 0, every ``every``
    steps and at the last step, and appends the rows to ``run_dir/geometry.jsonl`` (the
    folder the run builds in, which may be a staging folder; ``run_dir`` at set-up when
    the call names none).

    ``model`` is the encoder being trained (a task model passes its encoder); it is put in
    eval mode and probed under ``torch.inference_mode()``, then its train mode is restored.
    The training loop calls the hook on the main process only.
    """

    def __init__(self, every: int, config: Any, inputs: Any, tokenizer: Any, run_dir: Path):
        self.every = every
        self.config = config
        self.inputs = inputs
        self.tokenizer = tokenizer
        self.path = Path(run_dir) / GEOMETRY_FILE
        self._done: set[int] | None = None

    def due(self, step: int, last: bool) -> bool:
        return step == 0 or last or step % self.every == 0

    def __call__(self, step: int, model: Any, last: bool = False, run_dir: Path | None = None) -> None:
        if run_dir is not None:
            self.path = Path(run_dir) / GEOMETRY_FILE
        if self._done is None:
            self._done = self._keep_until(step)  # a resumed run rewrites the rows after its start
        if not self.due(step, last) or step in self._done:
            return
        started = time.perf_counter()
        rows = geometry_rows(self.probe(model), step)
        seconds = time.perf_counter() - started
        self._done.add(step)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(_clean(row)) + "\n")
        top = rows[-1]
        log.info("geometry at step %d (layer %d): d(w,r) %.4f, d(w,u) %.4f, delta %.4f, P@1 %.3f (%.1f s)",
                 step, top["layer"], top["d_related"], top["d_unrelated"], top["delta"], top["p_at_1"], seconds)

    def probe(self, model: Any) -> Any:
        """The distance and word-retrieval probes of ``model`` on the fixed triples."""
        import torch

        with eval_mode(model), torch.inference_mode():
            loaded = LoadedModel(model=model, tokenizer=self.tokenizer, spec="training", path="")
            return probe_checkpoint(loaded, self.inputs, self.config, name="model")

    def _keep_until(self, step: int) -> set[int]:
        if not self.path.is_file():
            return set()
        lines = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        keep = [line for line in lines if json.loads(line).get("step", 0) <= step]
        if len(keep) != len(lines):
            with atomic_path(self.path) as tmp:
                tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
        return {json.loads(line)["step"] for line in keep}


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else
                (None if isinstance(v, float) else v)) for k, v in row.items()}


def build_tracker(every: int | None, bitext: Path | str | None, *, model_spec: str | None = None,
                  tokenizer: Any = None, run_dir: Path, training: Sequence[Path | str] = (),
                  layers: str | int | list[int] = "last", seed: int = 0, bf16: bool | None = None) -> GeometryTracker | None:
    """The hook for a run, or None when ``every`` is unset. Reads the held-out corpus and
    builds its triples now (bad input fails before training starts); refuses a corpus
    that the run trains on. The tokenizer is ``tokenizer`` or that of ``model_spec``."""
    if every is None:
        return None
    if bitext is None:
        raise InputError("probe_every needs a held-out aligned corpus: pass --bitext DIR (align a "
                         "held-out slice that is not in the training data, e.g. the demo's heldout files)")
    held = Path(bitext).resolve()
    for path in training:
        if Path(path).resolve() == held:
            raise InputError(f"--bitext {bitext} is a training corpus of this run; geometry curves must "
                             "be measured on held-out pairs: align a held-out slice and pass that")
    config = geometry_probe_config(Path(bitext), layers=layers, seed=seed, bf16=bf16)
    inputs = prepare_inputs(config)
    _refuse_training_pairs(inputs, training)
    if tokenizer is None:
        tokenizer = load_tokenizer(materialize(model_spec or ""), model_spec)
    return GeometryTracker(every, config, inputs, tokenizer, Path(run_dir))


def _refuse_training_pairs(inputs: Any, training: Sequence[Path | str]) -> None:
    """A held-out corpus with the same pairs file as a training corpus is refused."""
    (bitext,) = inputs.bitexts
    for path in training:
        pairs = Path(path) / "pairs.jsonl"
        if pairs.is_file() and sha256_file(pairs) == bitext.sha256:
            raise InputError(f"--bitext {bitext.path} holds the same pairs as the training corpus {path}; "
                             "geometry curves must be measured on held-out pairs")


def adjust_hook(config: Any) -> GeometryTracker | None:
    """The ``on_step`` hook of an adjust run (an ``AdjustConfig``): None without
    ``probe_every``. The config is checked first, so its own errors come before the
    held-out corpus is read."""
    if config.probe_every is None:
        return None
    problems = config.check()
    if problems:
        raise ConfigError(problems)
    return build_tracker(config.probe_every, config.bitext, model_spec=config.model, run_dir=config.out,
                         training=config.aligned, layers=config.layer, seed=config.seed)


def finetune_hook(config: Any) -> GeometryTracker | None:
    """The ``on_step`` hook of a fine-tuning run (a ``FinetuneConfig``, measured on its
    encoder): None without ``probe_every``."""
    if config.probe_every is None:
        return None

    problems = config.check()
    if problems:
        raise ConfigError(problems)
    cfg = resolve_defaults(config)
    return build_tracker(cfg.probe_every, cfg.bitext, model_spec=cfg.model, run_dir=Path(cfg.out),
                         training=cfg.continual.corpora if cfg.continual else [], seed=cfg.seed, bf16=cfg.bf16)
