"""Model-free loss functions of word vectors and parameters.

The objectives in :mod:`xladjust.adjust.objectives` are thin modules over these; each
function takes tensors and returns a scalar tensor, so it is tested on hand-made vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def mean_squared_distance(a: Tensor, b: Tensor, total: int | None = None, per_component: bool = False) -> Tensor:
    """Mean over rows of the squared Euclidean distance: ``(1/n) Σ_k ||a_k − b_k||²``.

    ``a`` and ``b`` are ``(n, d)``; an empty batch gives 0 (with a gradient path). With
    ``total`` the sum is divided by ``total`` instead of ``n`` (the rows are one chunk of a
    batch of ``total`` rows: the chunks' results add up to the batch's mean). With
    ``per_component`` the result is divided by ``d`` as well: the mean over rows *and*
    vector components, ``F.mse_loss(a, b)`` (Efimov et al.'s code).
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.shape[0] == 0:
        return (a.sum() + b.sum()) * 0.0
    rows = (a - b).pow(2).sum(dim=-1)
    mean = rows.mean() if total is None else rows.sum() / total
    return mean / a.shape[-1] if per_component else mean


def info_nce(a: Tensor, b: Tensor, temperature: float = 0.1, strong: bool = False) -> Tensor:
    """InfoNCE over aligned rows: row ``k`` of ``a`` and row ``k`` of ``b`` are positives.

    With cosine similarity ``s(x, y) = x·y / (|x| |y|)`` and temperature ``τ``:

    - weak (``strong=False``): each ``a_k`` is scored against every ``b`` and each ``b_k``
      against every ``a`` (negatives from the other language only);
      ``L = ½ [CE(S, I) + CE(Sᵀ, I)]`` with ``S_kl = s(a_k, b_l) / τ``;
    - strong: negatives come from both languages: ``a_k`` is scored against every ``b`` and
      every other ``a`` (and ``b_k`` likewise), the 2n-way NT-Xent loss.

    Returns the mean over all 2n anchors (0 for an empty batch).
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    n = a.shape[0]
    if n == 0:
        return (a.sum() + b.sum()) * 0.0
    za, zb = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    labels = torch.arange(n, device=a.device)
    if not strong:
        logits = za @ zb.T / temperature
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    z = torch.cat([za, zb])
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=a.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    return F.cross_entropy(logits, torch.cat([labels + n, labels]))


class _ParameterDistance(torch.autograd.Function):
    """``‖θ − θ₀‖₂`` over a list of tensors, with gradient ``(θ − θ₀)/‖θ − θ₀‖``.

    At ``θ = θ₀`` the norm is not differentiable; autograd through ``sqrt`` would give
    ``0 · ∞ = NaN``. This function returns the zero subgradient there instead.
    """

    @staticmethod
    def forward(ctx, refs: Sequence[Tensor], *params: Tensor) -> Tensor:  # type: ignore[override]
        # one tensor at a time, so at most one difference is alive besides the parameters
        norms = [torch.linalg.vector_norm((p.detach() - r).float()) for p, r in zip(params, refs, strict=True)]
        norm = torch.linalg.vector_norm(torch.stack(norms))
        ctx.refs = refs
        ctx.save_for_backward(norm, *params)
        return norm

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        norm, *params = ctx.saved_tensors
        if float(norm) == 0.0:
            return (None,) + (None,) * len(params)
        scale = grad / norm
        grads = tuple(((p.detach() - r) * scale).to(p.dtype) for p, r in zip(params, ctx.refs, strict=True))
        return (None, *grads)


def parameter_distance(params: Sequence[Tensor], refs: Sequence[Tensor]) -> Tensor:
    """Euclidean distance ``‖θ − θ₀‖₂`` between parameter lists (computed in float32).

    Safe at ``θ = θ₀``: the gradient there is zero, not NaN. ``refs`` receive no gradient.
    """
    if len(params) != len(refs):
        raise ValueError(f"{len(params)} parameters but {len(refs)} references")
    if not params:
        raise ValueError("no parameters to regularize")
    for p, r in zip(params, refs, strict=True):
        if p.shape != r.shape:
            raise ValueError(f"parameter shape {tuple(p.shape)} differs from reference {tuple(r.shape)}")
    return _ParameterDistance.apply(tuple(refs), *params)
