"""Fair checkpoints: the source's pooler survives adjust bit for bit, an
adjusted checkpoint loads in AutoModel with nothing missing, and vanilla and adjusted get
the same pooler in a task model. A source without a pooler (the offline model) gets none.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import build_wordpiece_tokenizer
from helpers_adjust import write_sample_corpus
from helpers_cli import run_cli
from safetensors.torch import load_file


def build_pooled_checkpoint(directory: Path) -> Path:
    """A tiny BERT that has a *pretrained* pooler: distinctive values, not an init."""
    from transformers import BertConfig, BertModel

    tokenizer = build_wordpiece_tokenizer()
    torch.manual_seed(5)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    model = BertModel(config, add_pooling_layer=True)
    with torch.no_grad():
        model.pooler.dense.weight.copy_(torch.linspace(-1.5, 1.5, 32 * 32).reshape(32, 32))
        model.pooler.dense.bias.fill_(0.375)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def pooled(tmp_path_factory) -> Path:
    return build_pooled_checkpoint(tmp_path_factory.mktemp("pooled") / "src")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_sample_corpus(tmp_path_factory.mktemp("pooler-corpus") / "aligned")


def adjust(model: Path, corpus: Path, out: Path, capsys) -> Path:
    code, _, err = run_cli(["-q", "adjust", "--model", str(model), "--aligned", str(corpus), "--out", str(out),
                            "--max-steps", "2", "--batch-size", "4", "--precision", "fp32", "--lr", "1e-2",
                            "--embeddings", "train"], capsys)
    assert code == 0, err
    return out


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


@pytest.fixture(scope="module")
def adjusted(pooled, corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pooled-adjusted") / "run"
    from xladjust.cli import main

    main(["-q", "adjust", "--model", str(pooled), "--aligned", str(corpus), "--out", str(out),
          "--max-steps", "2", "--batch-size", "4", "--precision", "fp32", "--lr", "1e-2", "--embeddings", "train"])
    assert (out / ".complete").is_file()
    return out


def test_loader_keeps_the_pooler_and_freezes_it(pooled):
    from xladjust.models import load_model

    loaded = load_model(str(pooled), device="cpu", for_training=True)
    assert loaded.model.pooler is not None
    assert torch.equal(loaded.model.pooler.dense.bias, torch.full((32,), 0.375))
    assert not any(p.requires_grad for p in loaded.model.pooler.parameters())
    assert all(p.requires_grad for n, p in loaded.model.named_parameters() if not n.startswith("pooler."))


def test_adjust_keeps_the_source_pooler_bit_for_bit(pooled, adjusted):
    src, out = weights(pooled), weights(adjusted)
    assert set(out) == set(src)  # every weight the source has, nothing added
    for key in ("pooler.dense.weight", "pooler.dense.bias"):
        assert torch.equal(out[key], src[key]), key
    # the adjustment did train: a trained layer moved
    assert not torch.equal(out["encoder.layer.1.output.dense.weight"], src["encoder.layer.1.output.dense.weight"])


def test_adjusted_checkpoint_loads_in_automodel_with_nothing_missing(adjusted):
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(str(adjusted), output_loading_info=True)
    assert list(info["missing_keys"]) == [] and list(info["unexpected_keys"]) == []
    assert list(info["mismatched_keys"]) == []


def test_vanilla_and_adjusted_get_the_source_pooler_in_a_task_model(pooled, adjusted):
    from xladjust.tasks.base import EncodeOptions
    from xladjust.tasks.model import init_task_model
    from xladjust.tasks.registry import get_task

    src = weights(pooled)
    nli = get_task("nli")
    for spec in (pooled, adjusted):
        tm = init_task_model(str(spec), nli, EncodeOptions(max_length=32), seed=3, device="cpu")
        pooler = tm.model.bert.pooler.dense
        assert torch.equal(pooler.weight.detach(), src["pooler.dense.weight"]), spec
        assert torch.equal(pooler.bias.detach(), src["pooler.dense.bias"]), spec


def test_a_source_without_pooler_gets_none_and_both_get_the_same_seeded_one(tiny_checkpoints, corpus, tmp_path,
                                                                             capsys):
    from xladjust.tasks.base import EncodeOptions
    from xladjust.tasks.model import init_task_model
    from xladjust.tasks.registry import get_task

    source = tiny_checkpoints["wordpiece"]
    out = adjust(source, corpus, tmp_path / "run", capsys)
    assert not any("pooler" in k for k in weights(out))
    assert set(weights(out)) == set(weights(source))
    nli = get_task("nli")
    poolers = [init_task_model(str(spec), nli, EncodeOptions(max_length=32), seed=3, device="cpu")
               .model.bert.pooler.dense.weight.detach() for spec in (source, out)]
    assert torch.equal(poolers[0], poolers[1])


def test_untrained_weights_stay_bit_identical_with_frozen_embeddings(pooled, corpus, tmp_path, capsys):
    out = tmp_path / "frozen"
    code, _, err = run_cli(["-q", "adjust", "--model", str(pooled), "--aligned", str(corpus), "--out", str(out),
                            "--max-steps", "2", "--batch-size", "4", "--precision", "fp32", "--embeddings", "freeze"],
                           capsys)
    assert code == 0, err
    src, new = weights(pooled), weights(out)
    for key in ("embeddings.word_embeddings.weight", "pooler.dense.weight", "pooler.dense.bias"):
        assert torch.equal(new[key], src[key]), key


def test_a_token_level_head_keeps_the_source_pooler_in_its_checkpoint(pooled, tmp_path):
    """NER has no use for the pooler; the fine-tuned checkpoint still carries it, unchanged."""
    from helpers_tasks import write_ner
    from transformers import AutoModel

    from xladjust.config import build_config
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune

    train = write_ner(tmp_path / "ner.tsv", 20, 0)
    cfg = build_config(FinetuneConfig, {"task": "ner", "model": str(pooled), "train": [str(train)],
                                        "out": str(tmp_path / "ner"), "max_steps": 2, "batch_size": 8,
                                        "precision": "fp32", "progress": False})
    out = finetune(cfg)
    src, tuned = weights(pooled), weights(out)
    for key in ("pooler.dense.weight", "pooler.dense.bias"):
        assert torch.equal(tuned[f"bert.{key}"], src[key]), key
    encoder, info = AutoModel.from_pretrained(str(out), output_loading_info=True)
    assert list(info["missing_keys"]) == []
    assert torch.equal(encoder.pooler.dense.bias.detach(), src["pooler.dense.bias"])
