"""Alignment objectives: one registry, one small module each.

Every objective is an ``nn.Module`` whose ``forward`` takes a :class:`WordBatch` (the pooled
word vectors of a micro-batch) and delegates to a model-free function in
:mod:`xladjust.adjust.losses`. Its hyperparameters are a frozen dataclass built from the
config's ``objective_options`` mapping; :data:`OBJECTIVES` (in
:mod:`xladjust.adjust.objective_options`, without torch) feeds the CLI choices and config
validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from xladjust.adjust.losses import info_nce, mean_squared_distance
from xladjust.adjust.objective_options import (
    OBJECTIVES,
    ContrastiveOptions,
    L2Options,
    Mean,
    Negatives,
    ObjectiveSpec,
    Partner,
)
from xladjust.adjust.regularizers import ParameterAnchor


@dataclass
class WordBatch:
    """Pooled word vectors of one micro-batch, each ``(n, d)`` float32.

    ``target``/``source``/``source_frozen`` are row-aligned: row k holds the two words of
    aligned link k (target language, English). ``source_all`` holds every English word of
    the batch's sentences (for regularizers), ``source_all_frozen`` the frozen model's.
    Fields an objective does not declare a need for are None.
    """

    target: Tensor
    source: Tensor | None = None
    source_frozen: Tensor | None = None
    source_all: Tensor | None = None
    source_all_frozen: Tensor | None = None
    # When a micro-batch is forwarded in chunks: the links and English words of the whole
    # micro-batch, so that a chunk's mean terms are its share of the whole's (None: this batch's)
    links_total: int | None = None
    words_total: int | None = None


@dataclass
class ObjectiveOutput:
    loss: Tensor  # scalar to minimize
    parts: dict[str, Tensor]  # detached components, for logging


class Objective(nn.Module):
    """Base class: declares which vectors it needs so the loop computes nothing more."""

    needs_trainable_source: bool = True  # English words through the trainable model
    needs_frozen_source: bool = False  # English words through the frozen model (cached once)
    needs_anchor: bool = False  # θ₀ for a parameter-space regularizer
    # the loss is a sum of per-link and per-word terms over the batch (divided by the
    # batch's totals): a batch forwarded in chunks gives the same gradient
    decomposable: bool = False

    def attach_anchor(self, anchor: ParameterAnchor) -> None:
        self.anchor = anchor

    def forward(self, words: WordBatch) -> ObjectiveOutput:  # pragma: no cover - abstract
        raise NotImplementedError


# --- l2 (Cao et al. 2020) -------------------------------------------------------------

class L2Objective(Objective):
    """Squared-distance alignment with an English anchor (Cao, Kitaev & Klein, 2020,
    *Multilingual Alignment of Contextual Word Representations*, ICLR).

    For aligned word pairs ``(t_k, s_k)`` (target word, English partner) and every English
    word ``e_m`` of the batch's sentences::

        L = (1/K) Σ_k ||f(t_k) − g(s_k)||²  +  λ (1/M) Σ_m ||f(e_m) − f₀(e_m)||²

    where ``f`` is the trainable model, ``f₀`` the frozen initial model and ``g`` is ``f₀``
    (``partner: frozen``) or ``f`` (``partner: trainable``, as in Efimov et al.'s code). The
    regularizer keeps English vectors where they were. Both terms are means, so the loss
    does not grow with the batch. With ``mean: components`` both are divided by the hidden
    size d as well (``F.mse_loss``, the reference code's scale): alone, a constant factor
    that Adam's update all but ignores; added to another loss (continual learning), it sets
    the term's weight against that loss.
    """

    decomposable = True

    def __init__(self, options: L2Options):
        super().__init__()
        self.options = options
        frozen_partner = options.partner is Partner.FROZEN
        self.needs_trainable_source = options.reg_weight > 0 or not frozen_partner
        self.needs_frozen_source = options.reg_weight > 0 or frozen_partner

    def forward(self, words: WordBatch) -> ObjectiveOutput:
        partner = words.source_frozen if self.options.partner is Partner.FROZEN else words.source
        assert partner is not None, "the loop must provide the partner vectors this objective declared"
        per_component = self.options.mean is Mean.COMPONENTS
        align = mean_squared_distance(words.target, partner, words.links_total, per_component)
        parts = {"align": align.detach()}
        loss = align
        if self.options.reg_weight > 0:
            assert words.source_all is not None and words.source_all_frozen is not None
            reg = mean_squared_distance(words.source_all, words.source_all_frozen, words.words_total, per_component)
            parts["reg"] = reg.detach()
            loss = loss + self.options.reg_weight * reg
        return ObjectiveOutput(loss, parts)


# --- contrastive (Wu & Dredze 2020) ---------------------------------------------------

class ContrastiveObjective(Objective):
    """Contrastive alignment (Wu & Dredze, 2020, *Do Explicit Alignments Robustly Improve
    Multilingual Encoders?*, EMNLP).

    Aligned pairs ``(s_k, t_k)`` in the micro-batch pass through a projection head
    ``h(x) = W₂ ReLU(W₁ x)`` (d→d→128, trained with the model, discarded on save); with
    cosine similarity over temperature ``τ``::

        L = InfoNCE(h(f(s)), h(f(t)); τ)  +  μ ||θ − θ₀||₂

    where InfoNCE is :func:`~xladjust.adjust.losses.info_nce` with negatives from the
    other language (weak) or both languages (strong), and ``θ₀`` the initial encoder
    parameters (the norm, not its square; its gradient is zero at θ = θ₀).
    """

    needs_trainable_source = True
    needs_frozen_source = False

    def __init__(self, options: ContrastiveOptions, hidden_size: int):
        super().__init__()
        self.options = options
        self.needs_anchor = options.reg_weight > 0
        self.head = nn.Sequential(
            nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, options.projection_dim)
        )

    def forward(self, words: WordBatch) -> ObjectiveOutput:
        assert words.source is not None, "the loop must provide trainable source vectors"
        strong = self.options.negatives is Negatives.STRONG
        nce = info_nce(self.head(words.source), self.head(words.target), self.options.temperature, strong)
        parts = {"nce": nce.detach()}
        loss = nce
        if self.needs_anchor:
            reg = self.anchor.distance()
            parts["reg"] = reg.detach()
            loss = loss + self.options.reg_weight * reg
        return ObjectiveOutput(loss, parts)


# --- registry -------------------------------------------------------------------------

def l2_objective(options: L2Options, hidden_size: int) -> L2Objective:
    return L2Objective(options)


def contrastive_objective(options: ContrastiveOptions, hidden_size: int) -> ContrastiveObjective:
    return ContrastiveObjective(options, hidden_size)


def build_objective(name: str, options: dict[str, Any] | Any, hidden_size: int) -> Objective:
    """The objective ``name`` with ``options`` (a mapping or its typed options)."""
    spec = OBJECTIVES.entry(name)
    typed = options if isinstance(options, spec.options) else spec.build_options(options)
    return spec.build(typed, hidden_size)


__all__ = [
    "OBJECTIVES", "ContrastiveObjective", "ContrastiveOptions", "L2Objective", "L2Options",
    "Mean", "Negatives", "Objective", "ObjectiveOutput", "ObjectiveSpec", "Partner", "WordBatch",
    "build_objective",
]
