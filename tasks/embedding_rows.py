"""AdamW on the rows of the input word-embedding matrix that training can touch, with the
same math as AdamW on the whole matrix.

The word-embedding matrix is most of a multilingual encoder's parameters (82% of the
offline model's: 250k rows), but a fine-tuning set uses a few thousand of its rows. With
the dense update every step pays for all of them: a zero-filled 250k-row gradient, then
AdamW reading and writing the weights and both moments of every row. For a row that
never appears in the training features the gradient is always 0, so both moments stay 0
and AdamW's step ``lr · m̂ / (√v̂ + ε)`` is exactly 0: the only change to that row is the
decoupled weight decay, ``θ ← θ · (1 − lr_t · wd)`` at each step t. So:

- the rows the training features contain (``rows``) are a separate parameter, updated by
  the same AdamW (same group, learning rate, schedule, betas, ε and weight decay), and
  copied back into the matrix after each step;
- the embedding module emits a sparse gradient, whose rows are gathered into that
  parameter's gradient (gradient clipping sees the same norm: the other rows' gradient
  is 0);
- every other row gets the product of the weight-decay factors, applied lazily
  (:meth:`RowUpdates.flush`) before anything reads the whole matrix: a dev evaluation, a
  snapshot, a checkpoint, a step hook, and the end of training.

The result equals the dense update up to floating-point rounding of the decay product
(``tests/test_embedding_rows.py`` compares them). It applies when the training features
are known before training (:attr:`~xladjust.tasks.trainset.TrainSet.token_ids`), on one process, with no extra loss term (a
continual term reads other text and may anchor every parameter) and a trainable matrix.
"""

from __future__ import annotations

from typing import Any


class RowUpdates:
    """Training-time state of the row-restricted update of ``module``'s weight (an
    ``nn.Embedding``) over the token ids ``rows``."""

    def __init__(self, module: Any, rows: Any):
        import torch

        weight = module.weight
        self.module, self.weight = module, weight
        self.rows = torch.as_tensor(rows, dtype=torch.long, device=weight.device).unique(sorted=True)
        self.position = torch.full((weight.shape[0],), -1, dtype=torch.long, device=weight.device)
        self.position[self.rows] = torch.arange(len(self.rows), device=weight.device)
        self.param = torch.nn.Parameter(weight.detach()[self.rows].clone())
        self.decay = 1.0  # product of the weight-decay factors not yet applied to the other rows
        self._was_sparse = bool(module.sparse)
        module.sparse = True

    def gather_grad(self) -> None:
        """Move the matrix's sparse gradient into :attr:`param`'s (after backward)."""
        import torch

        grad = self.weight.grad
        self.weight.grad = None
        if grad is None:
            self.param.grad = torch.zeros_like(self.param)
            return
        grad = grad.coalesce()
        ids, values = grad.indices()[0], grad.values()
        where = self.position[ids]
        if bool((where < 0).any()):
            missing = ids[where < 0][:5].tolist()
            raise RuntimeError(f"token ids {missing} received a gradient but are not among the training rows")
        dense = torch.zeros_like(self.param)
        dense.index_add_(0, where, values.to(dense.dtype))
        self.param.grad = dense

    def after_step(self, lr: float, weight_decay: float) -> None:
        """Copy the updated rows into the matrix; record the other rows' weight decay."""
        import torch

        with torch.no_grad():
            self.weight.index_copy_(0, self.rows, self.param.detach())
        self.decay *= 1.0 - lr * weight_decay

    def flush(self) -> None:
        """Apply the pending weight decay to the rows outside :attr:`rows`."""
        import torch

        if self.decay == 1.0:
            return
        with torch.no_grad():
            self.weight.mul_(self.decay)
            self.weight.index_copy_(0, self.rows, self.param.detach())
        self.decay = 1.0

    def reload(self) -> None:
        """Take :attr:`param` from the matrix again (after the matrix was restored from a
        checkpoint)."""
        import torch

        with torch.no_grad():
            self.param.copy_(self.weight.detach()[self.rows])
        self.decay = 1.0

    def close(self) -> None:
        """Flush and give the module its dense gradient back."""
        self.flush()
        self.module.sparse = self._was_sparse


def training_rows(token_ids: Any, pad_id: int, extra_ids: Any = ()) -> list[int]:
    """The rows to update: the training features' token ids, the pad id (a padded
    position's gradient is masked but can reach its row) and ``extra_ids`` (special
    tokens)."""
    return sorted({int(pad_id), *(int(i) for i in extra_ids), *(int(i) for i in token_ids)})
