"""θ₀ for parameter-space regularizers: the trainable parameters as they were at step 0.

:class:`ParameterAnchor` keeps a copy of every trainable parameter and returns
``‖θ − θ₀‖₂`` through :func:`~xladjust.adjust.losses.parameter_distance` (a safe gradient
at θ = θ₀). A word-embedding matrix trained with sparse row updates enters only through
the rows that have occurred in a batch so far (the others still equal θ₀ and contribute
nothing), so its gradient stays sparse.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from xladjust.adjust.losses import parameter_distance


class ParameterAnchor:
    """Reference copies of ``params`` (dense) and, optionally, of a sparse embedding matrix."""

    def __init__(self, params: Sequence[torch.nn.Parameter], sparse_embedding: torch.nn.Parameter | None = None):
        self.params = list(params)
        self.refs = [p.detach().clone() for p in self.params]
        self.sparse_embedding = sparse_embedding
        self.sparse_ref: Tensor | None = None
        self.touched: Tensor | None = None
        if sparse_embedding is not None:
            self.sparse_ref = sparse_embedding.detach().clone()
            self.touched = torch.zeros(sparse_embedding.shape[0], dtype=torch.bool, device=sparse_embedding.device)

    def mark(self, input_ids: Tensor) -> None:
        """Record embedding rows used by a batch (they may differ from θ₀ from now on)."""
        if self.touched is not None:
            self.touched[input_ids.reshape(-1).to(self.touched.device)] = True

    def distance(self) -> Tensor:
        params: list[Tensor] = list(self.params)
        refs: list[Tensor] = list(self.refs)
        if self.sparse_embedding is not None and self.touched is not None and self.sparse_ref is not None:
            rows = self.touched.nonzero().squeeze(1)
            if len(rows):
                params.append(F.embedding(rows, self.sparse_embedding, sparse=True))
                refs.append(self.sparse_ref.index_select(0, rows))
        return parameter_distance(params, refs)
