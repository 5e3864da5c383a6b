"""Continual learning: the adjust stage's alignment objective added to the task loss.

Each optimizer step draws ``pairs_per_step`` sentence pairs from an aligned corpus, runs
the task model's encoder over them (with gradients) and adds ``weight`` × the adjust
objective's loss to the task loss. The objective is built from the adjust stage's registry
(:data:`xladjust.adjust.objectives.OBJECTIVES`) with its regularizer weight set to
``regularizer_weight / weight``, so for ``l2`` the added term is exactly

    weight · (1/Kd) Σ_k ‖f(t_k) − f₀(s_k)‖²  +  regularizer_weight · (1/Md) Σ_m ‖f(e_m) − f₀(e_m)‖²

over the step's K linked word pairs and M English words of d vector components, i.e.
``weight · F.mse_loss(align) + regularizer_weight · F.mse_loss(reg)`` as in Efimov et al.'s
code (weight 0.01, regularizer 1, 16 pairs). That per-component mean is the continual
default of ``l2``'s ``mean`` option (the adjust stage's default, ``words``, sums over the
components: beside a task loss that term is d times heavier, 384× on the offline model). The anchor f₀ is explicit: ``start``, the encoder as it is
before the first fine-tuning update (the checkpoint fine-tuning starts from), or another
model spec. Its English word vectors are computed once, before training, for the whole
pool of pairs the steps draw from (the adjust stage's frozen-target cache), without
dropout. The term's own pass runs without dropout too (unless ``dropout``), so the
regularizer is zero at the anchor and grows only as the encoder drifts. Pairs,
links (1-to-1, identical strings dropped), subword pooling (mean) and collation are the
adjust stage's, so the two stages align words the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.adjust.objective_options import OBJECTIVES
from xladjust.errors import ConfigError, InputError
from xladjust.models import load_model
from xladjust.modes import eval_mode
from xladjust.pooling import Pooling

# 'xladjust finetune --help' imports this module (for the objectives' names): the adjust
# stage's modules the term is built from are imported inside the functions that build it
# (several import torch at their top).

log = logging.getLogger(__name__)


def objective_names() -> list[str]:
    """Alignment objectives available for continual learning (the adjust stage's)."""
    return list(OBJECTIVES)


CONTINUAL_OPTION_DEFAULTS: dict[str, dict[str, Any]] = {"l2": {"mean": "components"}}
"""Objective options continual learning sets unless the config does: the scale of the
paper's loss, so that its weights (0.01, 1) mean what they meant there."""


def objective_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the continual defaults of objective ``name`` filled in."""
    return {**CONTINUAL_OPTION_DEFAULTS.get(name, {}), **options}


def objective_problems(name: str, options: dict[str, Any], anchor: str) -> list[str]:
    """Problems with an objective and its options, reported before a model loads."""
    if name not in OBJECTIVES:
        return [f"unknown objective {name!r}; known: {', '.join(OBJECTIVES)}"]
    if "reg_weight" in options:
        return ["set the regularizer's weight with regularizer_weight, not objective_options.reg_weight"]
    problems = [f"objective_options: {p}" for p in OBJECTIVES.entry(name).option_problems({**options, "reg_weight": 1.0})]
    if anchor != "start" and name != "l2":
        problems.append(f"anchor {anchor!r}: objective {name!r} regularizes toward the starting parameters; "
                        "only 'l2' accepts another anchor model")
    return problems


def pool_pairs(corpus: str | Path | Sequence[str | Path], size: int, seed: int) -> list[Any]:
    """Up to ``size`` usable pairs (the adjust stage's link rules), a seeded sample in corpus
    order; from several corpora, an even share of ``size`` from each, corpus after corpus."""
    if not isinstance(corpus, (str, Path)):
        corpora = list(corpus)
        share = -(-size // len(corpora))
        return [p for i, c in enumerate(corpora) for p in _pool_one(c, share, seed + 1000 * i)]
    return _pool_one(corpus, size, seed)


def _pool_one(corpus: str | Path, size: int, seed: int) -> list[Any]:
    from xladjust.adjust.pairs import read_pairs_at, scan_corpus

    scan = scan_corpus(corpus, drop_identical=True, max_words=None)
    if scan.stats.pairs_usable == 0:
        raise InputError(f"aligned corpus {corpus} has no usable links: {scan.stats.describe()}")
    usable = scan.usable
    if len(usable) > size:
        usable = np.sort(np.random.default_rng([seed, 11]).choice(usable, size=size, replace=False))
    found = read_pairs_at(corpus, usable)
    return [found[int(i)] for i in usable]


def pair_examples(pairs: Sequence[Any], tokenizer: Any, max_length: int) -> list[Any]:
    """Adjust-stage training examples of ``pairs``: subword ids, pooling plans, pooled links.
    Pairs over ``max_length`` subwords or without a link between words with subwords are skipped."""
    from xladjust.adjust.dataset import Example
    from xladjust.adjust.features import encode_sentences
    from xladjust.adjust.pairs import select_links

    src = encode_sentences(tokenizer, [p.src for p in pairs], Pooling.MEAN, special_tokens=False)
    tgt = encode_sentences(tokenizer, [p.tgt for p in pairs], Pooling.MEAN, special_tokens=False)
    examples = []
    for index, (pair, s, t) in enumerate(zip(pairs, src, tgt, strict=True)):
        if max(s.n_tokens, t.n_tokens) > max_length:
            continue
        kept, _, _ = select_links(pair, drop_identical=True)
        links = np.asarray(kept, dtype=np.int64).reshape(-1, 2)
        mapped = np.stack([s.word_map[links[:, 0]], t.word_map[links[:, 1]]], axis=1)
        mapped = mapped[(mapped >= 0).all(axis=1)]
        if len(mapped):
            examples.append(Example(src=s, tgt=t, links=mapped, corpus=0, index=index))
    if not examples:
        raise InputError(f"none of the {len(pairs)} aligned pairs has a usable link within {max_length} subwords")
    return examples


class ContinualTerm:
    """The per-step extra loss: ``weight`` × the objective's loss on a batch of pairs.

    ``model`` is an adjust-stage ``AlignmentModel`` sharing the task model's encoder;
    ``cache``/``cache_offsets`` hold the anchor's English word vectors of ``examples``.
    Pairs are drawn in a seeded random order, each once per pass over the pool.
    """

    def __init__(self, model: Any, examples: Sequence[Any], cache: Any, cache_offsets: np.ndarray, *,
                 weight: float, pairs_per_step: int, pad_id: int, seed: int, dropout: bool = False):
        self.model, self.examples = model, list(examples)
        self.cache, self.cache_offsets = cache, cache_offsets
        self.weight, self.pairs_per_step, self.pad_id = weight, pairs_per_step, pad_id
        self.dropout = dropout
        self._rng = np.random.default_rng([seed, 13])
        self._order: list[int] = []

    def parameters(self) -> list[Any]:
        """Trainable parameters of the objective itself (a contrastive projection head)."""
        return [p for p in self.model.objective.parameters() if p.requires_grad]

    def state_dict(self) -> dict[str, Any]:
        """The drawing state (JSON-ready), so a resumed run draws the same pairs."""
        return {"rng": self._rng.bit_generator.state, "order": list(self._order)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["rng"]
        self._order = [int(i) for i in state["order"]]

    def draw(self) -> np.ndarray:
        picked: list[int] = []
        while len(picked) < min(self.pairs_per_step, len(self.examples)):
            if not self._order:
                self._order = [int(i) for i in self._rng.permutation(len(self.examples))]
            picked.append(self._order.pop())
        return np.asarray(picked, dtype=np.int64)

    def __call__(self, step: int) -> tuple[Any, dict[str, float]]:
        from xladjust.adjust.batching import collate_pairs
        from xladjust.adjust.forward import batch_inputs

        objective = self.model.objective
        device = next(self.model.encoder.parameters()).device
        batch = collate_pairs(self.examples, self.draw(), with_source=objective.needs_trainable_source,
                              cache_offsets=self.cache_offsets if objective.needs_frozen_source else None,
                              pad_id=self.pad_id)
        with contextlib.nullcontext() if self.dropout else eval_mode(self.model.encoder):
            loss, parts = self.model(**batch_inputs(batch, self.cache, objective, device))
        return self.weight * loss, {k: float(v) for k, v in parts.items()}


def build_continual(cfg: Any, encoder: Any, tokenizer: Any, pairs: Sequence[Any], *, bf16: bool, seed: int,
                    progress: bool = False) -> ContinualTerm:
    """A :class:`ContinualTerm` for ``encoder`` from a ``ContinualConfig``; computes the
    anchor's English word vectors now, so call it before the first update."""
    import torch

    from xladjust.adjust.forward import AlignmentModel
    from xladjust.adjust.objectives import build_objective
    from xladjust.adjust.regularizers import ParameterAnchor
    from xladjust.adjust.targets import frozen_source_vectors
    from xladjust.embeddings import model_max_length, resolve_layers

    if cfg.weight <= 0:
        raise ConfigError("continual.weight must be positive")
    num_layers = int(encoder.config.num_hidden_layers)
    layer = resolve_layers(cfg.layer, num_layers)[0]
    options = {**objective_options(cfg.objective, cfg.objective_options),
               "reg_weight": cfg.regularizer_weight / cfg.weight}
    objective = build_objective(cfg.objective, options, int(encoder.config.hidden_size))
    device = next(encoder.parameters()).device
    objective.to(device)
    if objective.needs_anchor:
        objective.attach_anchor(ParameterAnchor([p for p in encoder.parameters() if p.requires_grad]))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    examples = pair_examples(pairs, tokenizer, model_max_length(encoder, tokenizer))
    cache, offsets = None, None
    if objective.needs_frozen_source:
        anchor_model = encoder
        if cfg.anchor != "start":
            anchor_model = load_model(cfg.anchor, device=str(device)).model
            if int(anchor_model.config.hidden_size) != int(encoder.config.hidden_size):
                raise ConfigError(f"anchor {cfg.anchor!r} has another hidden size than the model")

        def autocast() -> contextlib.AbstractContextManager[Any]:
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)

        cache, offsets = frozen_source_vectors(anchor_model, examples, layer=layer, num_layers=num_layers,
                                               pad_id=pad_id, device=device, autocast=autocast, progress=progress)
    log.info("continual learning: %s %s on %d pairs (layer %d), %g x alignment + %g x regularizer toward %s, "
             "dropout %s", cfg.objective, {k: v for k, v in options.items() if k != "reg_weight"}, len(examples),
             layer, cfg.weight, cfg.regularizer_weight, cfg.anchor, "on" if cfg.dropout else "off")
    model = AlignmentModel(encoder, objective, layer, num_layers)
    return ContinualTerm(model, examples, cache, offsets, weight=cfg.weight, pairs_per_step=cfg.pairs_per_step,
                         pad_id=pad_id, seed=seed, dropout=cfg.dropout)
