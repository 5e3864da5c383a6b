"""The adjust stage on the offline model and real en-es data (sized down for CI).

The full-size check (5,000 pairs, one epoch, FLORES devtest) is run by hand; this test
trains on a few hundred eflomal-aligned pairs and checks the same direction: on held-out
FLORES sentences aligned the same way, aligned words move closer at the last layer, and
by more than unrelated words do.
"""

from __future__ import annotations

import json

import pytest
from helpers_adjust import align_parallel, aligned_distances, read_lines

from xladjust.adjust import AdjustConfig, adjust
from xladjust.align.corpus import read_pairs
from xladjust.config import build_config
from xladjust.models import OFFLINE_SPEC, load_model

TRAIN_LINES = 800  # aligned together with the held-out lines; the first TRAIN_PAIRS usable ones train
TRAIN_PAIRS = 128
HELD_OUT = 60


@pytest.mark.slow
def test_l2_brings_aligned_words_closer_on_held_out_sentences(offline_model, shared_data, tmp_path):
    en = read_lines(shared_data / "parallel" / "en-es" / "train.en", TRAIN_LINES)
    es = read_lines(shared_data / "parallel" / "en-es" / "train.es", TRAIN_LINES)
    en += read_lines(shared_data / "flores" / "devtest.en", HELD_OUT)
    es += read_lines(shared_data / "flores" / "devtest.es", HELD_OUT)
    corpora = align_parallel(en, es, "en", "es", {"train": (0, TRAIN_LINES),
                                                  "flores": (TRAIN_LINES, TRAIN_LINES + HELD_OUT)}, tmp_path)
    held_out = read_pairs(corpora["flores"])
    before = aligned_distances(offline_model.model, offline_model.tokenizer, held_out)

    config = build_config(AdjustConfig, {
        "aligned": [str(corpora["train"])], "out": str(tmp_path / "run"), "model": OFFLINE_SPEC,
        "objective": "l2", "max_pairs": TRAIN_PAIRS, "lr": 1e-4, "progress": False,
    })
    out = adjust(config)
    adjusted = load_model(str(out), device="cpu")
    after = aligned_distances(adjusted.model, adjusted.tokenizer, held_out)

    related_fall = 1 - after["related"] / before["related"]
    unrelated_fall = 1 - after["unrelated"] / before["unrelated"]
    assert related_fall >= 0.15, (before, after)
    assert unrelated_fall < related_fall, (before, after)
    manifest = json.loads((out / "xladjust.json").read_text())
    assert manifest["data"]["pairs"] == TRAIN_PAIRS
    assert manifest["training"]["mixed_precision"] in ("bf16", "no")
    assert manifest["metrics"]["steps"] == TRAIN_PAIRS // 16
    _loads_complete_and_keeps_the_pooler(out, offline_model.model)


def _loads_complete_and_keeps_the_pooler(out, vanilla) -> None:
    """The adjusted offline checkpoint loads in ``AutoModel`` with no missing,
    unexpected or newly initialized weight, and its pooler is the vanilla one bit for bit."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(out, output_loading_info=True, trust_remote_code=False)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    source = load_file(str(vanilla.config._name_or_path) + "/model.safetensors")
    for key in ("pooler.dense.weight", "pooler.dense.bias"):
        assert torch.equal(model.state_dict()[key], source[key]), key
