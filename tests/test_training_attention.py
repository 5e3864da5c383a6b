"""The attention kernel of training forward passes: math under CPU bf16 autocast on short rows."""

from __future__ import annotations

import contextlib

import torch
from torch.profiler import ProfilerActivity, profile
from transformers import AutoModel

from xladjust.training_common import MATH_ATTENTION_MAX_WIDTH, training_attention


def _flash_enabled_inside(width: int, bf16: bool) -> bool:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16), training_attention("cpu", width):
        return torch.backends.cuda.flash_sdp_enabled()


def test_math_backend_only_for_short_rows_under_cpu_bf16_autocast():
    assert not _flash_enabled_inside(MATH_ATTENTION_MAX_WIDTH, bf16=True)
    assert _flash_enabled_inside(MATH_ATTENTION_MAX_WIDTH + 1, bf16=True)  # long rows: flash is faster
    assert _flash_enabled_inside(16, bf16=False)  # fp32: unchanged
    with torch.autocast("cpu", dtype=torch.bfloat16), training_attention("cuda", 16):
        assert torch.backends.cuda.flash_sdp_enabled()  # other devices: unchanged
    assert torch.backends.cuda.flash_sdp_enabled()  # restored on exit


def test_a_model_held_in_bf16_gets_the_same_choice_without_autocast():
    with training_attention("cpu", 16, torch.bfloat16):
        assert not torch.backends.cuda.flash_sdp_enabled()
    with training_attention("cpu", MATH_ATTENTION_MAX_WIDTH + 1, torch.bfloat16):
        assert torch.backends.cuda.flash_sdp_enabled()
    with training_attention("cpu", 16, torch.float32):
        assert torch.backends.cuda.flash_sdp_enabled()


def _ops_and_grads(model, ids, mask, use_context: bool) -> tuple[set[str], list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ctx = training_attention("cpu", ids.shape[-1]) if use_context else contextlib.nullcontext()
            with ctx:
                hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        hidden.float().pow(2).mean().backward()
    return {e.key for e in prof.key_averages()}, [p.grad.clone() for p in model.encoder.parameters()]


def test_a_training_step_skips_the_cpu_flash_kernel_and_keeps_its_gradients(tiny_checkpoints):
    model = AutoModel.from_pretrained(tiny_checkpoints["wordpiece"]).eval()  # no dropout: flash is eligible
    torch.manual_seed(0)
    ids = torch.randint(5, 50, (4, 12))
    mask = torch.ones_like(ids)
    mask[1:, 8:] = 0
    flash_ops, flash_grads = _ops_and_grads(model, ids, mask, use_context=False)
    math_ops, math_grads = _ops_and_grads(model, ids, mask, use_context=True)
    assert any("flash_attention" in op for op in flash_ops)
    assert not any("flash_attention" in op for op in math_ops)
    for a, b in zip(flash_grads, math_grads, strict=True):
        assert torch.allclose(a, b, rtol=0.05, atol=0.05 * float(a.abs().max()) + 1e-6)
