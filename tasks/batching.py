"""Batching for task models: dynamic padding, length grouping, gradient-free inference.

Features are plain dicts of Python lists (``input_ids``, optional ``token_type_ids``,
and targets such as ``labels``); they are padded per batch, never to a global length.
Training batches are grouped by length within shuffled mega-batches, so padding stays
small while the order stays random; inference batches are sorted by length.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from xladjust.finite import check_finite_outputs
from xladjust.progress import progress as progress_bar
from xladjust.training_common import bf16_or_auto

TARGET_KEYS = ("labels", "start_positions", "end_positions")
MEGA_BATCHES = 50  # a training mega-batch holds this many batches, sorted by length


def collate(features: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Pad a batch of features into tensors; token-level labels pad with -100."""
    import torch

    width = max(len(f["input_ids"]) for f in features)
    n = len(features)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    batch: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
    has_types = "token_type_ids" in features[0]
    if has_types:
        batch["token_type_ids"] = torch.zeros((n, width), dtype=torch.long)
    for b, f in enumerate(features):
        length = len(f["input_ids"])
        ids[b, :length] = torch.tensor(f["input_ids"], dtype=torch.long)
        mask[b, :length] = 1
        if has_types:
            batch["token_type_ids"][b, :length] = torch.tensor(f["token_type_ids"], dtype=torch.long)
    for key in TARGET_KEYS:
        if key not in features[0]:
            continue
        values = [f[key] for f in features]
        if isinstance(values[0], list):
            padded = torch.full((n, width), -100, dtype=torch.long)
            for b, v in enumerate(values):
                padded[b, : len(v)] = torch.tensor(v, dtype=torch.long)
            batch[key] = padded
        else:
            batch[key] = torch.tensor(values, dtype=torch.long)
    return batch


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The part of a collated batch that goes into the model (targets stay out)."""
    return {k: v for k, v in batch.items() if k not in TARGET_KEYS}


def epoch_rng(seed: int, epoch: int, buffer: int = 0) -> random.Random:
    """The generator of one buffer's batch order in one epoch: a pure function of its
    arguments, so a resumed run rebuilds the very same order from the step counter."""
    return random.Random(f"{seed}:{epoch}:{buffer}")


def train_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of batches: shuffle, sort within mega-batches by length, shuffle batches.
    Always ``ceil(len(lengths) / batch_size)`` batches (only the last mega-batch can end
    in a short one)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch_size * MEGA_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: -lengths[i])
        batches.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def inference_batches(lengths: Sequence[int], batch_size: int, max_tokens: int = 16384) -> Iterator[list[int]]:
    """Indices sorted by length, cut into batches of at most ``batch_size`` items and
    ``max_tokens`` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) >= batch_size or lengths[i] * (len(batch) + 1) > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def run_model(
    model: Any,
    features: Sequence[dict[str, Any]],
    pad_id: int,
    outputs: Sequence[str],
    *,
    token_level: bool,
    batch_size: int = 64,
    bf16: bool | None = None,
    progress: bool = False,
    desc: str = "predicting",
) -> list[dict[str, np.ndarray]]:
    """Run ``model`` without gradients; per feature, the named outputs as float32 arrays:
    trimmed to the feature's length when ``token_level``, else one row per feature."""
    import torch

    device = next(model.parameters()).device
    lengths = [len(f["input_ids"]) for f in features]
    results: list[dict[str, np.ndarray]] = [{} for _ in features]
    batches = list(inference_batches(lengths, batch_size))
    autocast = bf16_or_auto(bf16)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for idx in progress_bar(batches, desc=desc, unit="batch", enabled=progress):
                batch = collate([features[i] for i in idx], pad_id)
                inputs = {k: v.to(device) for k, v in model_inputs(batch).items()}
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
                    out = model(**inputs)
                scored = {name: out[name].float() for name in outputs}
                check_finite_outputs(scored.items(), "evaluation")
                for name, tensor in scored.items():
                    values = tensor.cpu().numpy()
                    for b, i in enumerate(idx):
                        results[i][name] = values[b, : lengths[i]] if token_level else values[b]
    finally:
        model.train(was_training)
    return results


