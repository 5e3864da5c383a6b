"""A module in eval mode for the length of a block: one way for every pass that must not
draw dropout masks (embedding, caching frozen vectors, probing during training, the
continual term's pass). Gradients still flow unless the block turns them off."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def eval_mode(module: Any) -> Iterator[None]:
    """``module`` and its submodules in eval mode inside the block; afterwards each
    submodule is back in its own earlier mode."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
