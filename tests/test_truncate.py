"""Forward passes stop at the layer that is read, with the same hidden states and the same
training result as a full pass, and the model keeps all its layers afterwards."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import build_tiny_checkpoint
from helpers_adjust import without_dropout, write_sample_corpus
from safetensors.torch import load_file
from torch import nn

import xladjust.adjust.forward as forward_module
import xladjust.truncate as truncate_module
from xladjust.adjust import AdjustConfig, adjust
from xladjust.config import build_config
from xladjust.embeddings import embed_words
from xladjust.models import load_model
from xladjust.truncate import first_layers


def _count_layer_calls(model) -> list[int]:
    calls = [0] * len(model.encoder.layer)
    for i, layer in enumerate(model.encoder.layer):
        layer.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    return calls


@pytest.fixture()
def tiny(tmp_path):
    loaded = load_model(str(build_tiny_checkpoint(tmp_path / "m", "wordpiece")), device="cpu")
    loaded.model.eval()
    return loaded


def test_the_cut_pass_computes_only_the_layers_read_and_the_same_states(tiny):
    model = tiny.model
    ids = torch.tensor([[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]])
    mask = (ids != 0).long()
    with torch.inference_mode():
        full = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        calls = _count_layer_calls(model)
        with first_layers(model, 1):
            assert len(model.encoder.layer) == 1
            cut = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    assert calls == [1, 0]
    assert len(cut) == 2 and torch.equal(cut[1], full[1]) and torch.equal(cut[0], full[0])
    assert len(model.encoder.layer) == 2


def test_a_first_pass_that_is_cut_leaves_later_full_passes_whole(tiny):
    # transformers 5 attaches its hidden-state recorders at a model's first forward pass, to
    # the layers present then: a cut first pass must not leave the upper layer unrecorded
    model = tiny.model
    ids = torch.tensor([[2, 5, 6, 7, 3]])
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        with first_layers(model, 1):
            cut = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        full = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    assert len(full.hidden_states) == 3
    assert torch.equal(full.hidden_states[1], cut[1])
    assert torch.equal(full.hidden_states[2], full.last_hidden_state)
    assert not torch.equal(full.hidden_states[1], full.hidden_states[2])


def test_the_layers_come_back_after_an_error(tiny):
    layers = tiny.model.encoder.layer
    with pytest.raises(RuntimeError), first_layers(tiny.model, 1):
        raise RuntimeError("boom")
    assert tiny.model.encoder.layer is layers and len(layers) == 2


@pytest.mark.parametrize("k", [0, 2, 5])
def test_nothing_is_cut_at_the_last_layer_or_below_one(tiny, k):
    layers = tiny.model.encoder.layer
    with first_layers(tiny.model, k):
        assert tiny.model.encoder.layer is layers


def test_an_architecture_not_known_to_be_cut_safely_runs_whole():
    # a model type whose last hidden state may pass a final norm: never cut
    model = nn.Module()
    model.config = SimpleNamespace(model_type="t5")
    model.encoder = nn.Module()
    model.encoder.layer = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers = model.encoder.layer
    with first_layers(model, 1):
        assert model.encoder.layer is layers


def test_without_the_means_to_attach_the_recorders_nothing_is_cut(tiny, monkeypatch):
    # a transformers that records hidden states with hooks but has moved the function that
    # attaches them: a cut could corrupt later full passes, so the model runs whole
    import sys

    monkeypatch.setitem(sys.modules, "transformers.utils.output_capturing", None)
    layers = tiny.model.encoder.layer
    with first_layers(tiny.model, 1):
        assert tiny.model.encoder.layer is layers


def test_word_vectors_at_a_middle_layer_equal_the_full_pass(tiny, monkeypatch):
    sentences = [["the", "cat", "sat"], ["a", "dog"], ["el", "gato"]]
    calls = _count_layer_calls(tiny.model)
    cut = embed_words(tiny.model, tiny.tokenizer, sentences, layers=1)
    assert calls[1] == 0 and calls[0] > 0
    monkeypatch.setattr(truncate_module, "first_layers", lambda model, k: contextlib.nullcontext())
    full = embed_words(tiny.model, tiny.tokenizer, sentences, layers=1)
    assert calls[1] > 0
    np.testing.assert_array_equal(cut.vectors, full.vectors)
    assert cut.valid.all()


def test_adjusting_a_middle_layer_gives_the_weights_of_a_full_pass(tmp_path, monkeypatch):
    model_dir = without_dropout(build_tiny_checkpoint(tmp_path / "model", "wordpiece"))
    corpus = write_sample_corpus(tmp_path / "corpus")
    settings = {"aligned": [str(corpus)], "model": str(model_dir), "layer": 1, "max_steps": 3, "batch_size": 6,
                "lr": 1e-3, "precision": "fp32", "progress": False, "checkpoint_every": None}
    depths = []

    def recording(model, k):
        with first_layers(model, k):
            depths.append(len(model.encoder.layer))
            yield

    monkeypatch.setattr(forward_module, "first_layers", contextlib.contextmanager(recording))
    cut = adjust(build_config(AdjustConfig, {**settings, "out": str(tmp_path / "cut")}))
    assert depths and set(depths) == {1}  # every training (and frozen) pass ran one layer of two
    monkeypatch.setattr(forward_module, "first_layers", lambda model, k: contextlib.nullcontext())
    full = adjust(build_config(AdjustConfig, {**settings, "out": str(tmp_path / "full")}))
    ours, theirs = load_file(str(cut / "model.safetensors")), load_file(str(full / "model.safetensors"))
    start = load_file(str(model_dir / "model.safetensors"))
    assert max(float((ours[k] - start[k]).abs().max()) for k in ours) > 1e-4  # training moved the weights
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    # the layer above the one aligned is not trained either way, and is saved
    assert torch.equal(ours["encoder.layer.1.output.dense.weight"], start["encoder.layer.1.output.dense.weight"])
