"""Run an encoder only as deep as the layer a caller reads.

The embedding aligner, the probes and adjustment at a middle layer read hidden state
``k`` of an ``n``-layer encoder; a plain forward pass still computes layers ``k+1 … n``
and throws them away (at the aligner's layer 6 of 12, half the work). Inside
:func:`first_layers` the encoder's stack of layers is cut to its first ``k`` for the
duration of the forward pass, then put back.

Only architectures whose hidden states are the layers' own outputs (post-layer-norm
BERT-style encoders: no final norm or projection after the last layer) are cut, so hidden
state ``k`` is the same computation either way; any other model runs whole, as before.
transformers 5 records hidden states with hooks that it attaches, at a model's first
forward pass, to the layers present then: a first pass that is cut would leave the upper
layers unrecorded for every later full pass. So the hooks are attached before any cut, and
where that cannot be done the model runs whole.

Dropout draws fewer random numbers when the upper layers are skipped, so a training run
*with dropout* at a middle layer follows a different (equally valid) random stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

# model_type -> attribute path of the layer stack (an nn.ModuleList)
_LAYER_STACKS = {
    "bert": "encoder.layer",
    "roberta": "encoder.layer",
    "xlm-roberta": "encoder.layer",
    "camembert": "encoder.layer",
    "electra": "encoder.layer",
    "distilbert": "transformer.layer",
}


def _layer_stack(model: Any) -> tuple[Any, str, nn.ModuleList] | None:
    """(owner, attribute, layers) of ``model``'s stack of layers, when its architecture is one
    that :func:`first_layers` may cut; else None."""
    path = _LAYER_STACKS.get(getattr(getattr(model, "config", None), "model_type", None))
    if path is None:
        return None
    owner = model
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part, None)
    layers = getattr(owner, name, None)
    return (owner, name, layers) if isinstance(layers, nn.ModuleList) else None


@contextmanager
def first_layers(model: Any, k: int) -> Iterator[None]:
    """Within the block, ``model`` runs only its first ``k`` layers (when it can be cut and
    ``1 <= k`` is below its depth); its layers are restored on exit, error or not."""
    stack = _layer_stack(model)
    if stack is None or not 1 <= k < len(stack[2]):
        yield
        return
    owner, name, layers = stack
    if not _recorders_attached(model):
        yield
        return
    owner._modules[name] = nn.ModuleList(list(layers)[:k])
    try:
        yield
    finally:
        owner._modules[name] = layers


def _recorders_attached(model: Any) -> bool:
    """Whether the model's hidden-state recorders (transformers >= 5) are on all its layers,
    attaching them if need be; True for versions that collect hidden states in the loop."""
    if not hasattr(type(model), "_can_record_outputs"):
        return True
    try:
        from transformers.utils.output_capturing import maybe_install_capturing_hooks
    except ImportError:
        return False
    maybe_install_capturing_hooks(model)
    return True
