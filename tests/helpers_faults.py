"""Damaged and hostile checkpoints for the fault-injection suites.

Each builder writes a directory from the tiny conftest encoder with one defect: code that
asks to run (``auto_map`` and a module that writes a marker file when imported), a NaN
weight, weights that overflow, a truncated or incomplete ``model.safetensors``, a tokenizer
that is not one or that outgrows the embedding matrix, too few positions, and fine-tuned
task checkpoints with a damaged ``xladjust.json``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

NLI_META = {"task": "nli", "options": {"max_length": 32, "doc_stride": 128, "max_question_length": 64,
                                       "max_answer_length": 30, "label_subwords": "first"}}


def sha256_tree(*paths: Path) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or directories)."""
    out: dict[str, str] = {}
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _config(directory: Path) -> dict:
    return json.loads((directory / "config.json").read_text())


def _write_config(directory: Path, config: dict) -> None:
    (directory / "config.json").write_text(json.dumps(config, indent=2))


def copy_checkpoint(source: Path, directory: Path) -> Path:
    shutil.copytree(source, directory)
    return directory


def remote_code(source: Path, directory: Path, marker: Path, *, known_type: bool = False,
                in_tokenizer: bool = False, task: bool = True) -> Path:
    """A checkpoint whose config (or tokenizer config) maps to its own module ``evilcode``,
    which writes ``marker`` the moment it is imported."""
    copy_checkpoint(source, directory)
    (directory / "evilcode.py").write_text(
        f"open({str(marker)!r}, 'w').write('checkpoint code ran')\n"
        "from transformers import BertConfig, BertModel, PreTrainedTokenizerFast\n"
        "class EvilConfig(BertConfig):\n    model_type = 'evilbert'\n"
        "class EvilModel(BertModel):\n    config_class = EvilConfig\n"
        "class EvilTokenizer(PreTrainedTokenizerFast):\n    pass\n"
    )
    if in_tokenizer:
        path = directory / "tokenizer_config.json"
        tok = json.loads(path.read_text())
        tok["auto_map"] = {"AutoTokenizer": [None, "evilcode.EvilTokenizer"]}
        tok["tokenizer_class"] = "EvilTokenizer"
        path.write_text(json.dumps(tok))
    else:
        config = _config(directory)
        if not known_type:
            config["model_type"] = "evilbert"
        config["auto_map"] = {"AutoConfig": "evilcode.EvilConfig", "AutoModel": "evilcode.EvilModel",
                              "AutoModelForSequenceClassification": "evilcode.EvilModel"}
        _write_config(directory, config)
    if task:
        (directory / "xladjust.json").write_text(json.dumps(NLI_META))
    return directory


def edit_weights(source: Path, directory: Path, edit) -> Path:
    """A copy of ``source`` whose tensors went through ``edit(dict) -> dict``."""
    from safetensors.torch import load_file, save_file

    copy_checkpoint(source, directory)
    tensors = load_file(str(directory / "model.safetensors"))
    save_file(edit(dict(tensors)), str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def nan_weight(source: Path, directory: Path) -> Path:
    def edit(t):
        key = next(k for k in sorted(t) if k.endswith("query.weight"))
        t[key] = t[key].clone()
        t[key][0, 0] = float("nan")
        return t

    return edit_weights(source, directory, edit)


def overflowing(source: Path, directory: Path) -> Path:
    """Finite weights whose forward pass overflows to inf/NaN."""
    def edit(t):
        key = next(k for k in sorted(t) if k.endswith("embeddings.LayerNorm.weight"))
        t[key] = t[key].clone().fill_(3e38)
        return t

    return edit_weights(source, directory, edit)


def missing_tensor(source: Path, directory: Path) -> Path:
    def edit(t):
        t.pop(next(k for k in sorted(t) if k.endswith("layer.1.output.dense.weight")))
        return t

    return edit_weights(source, directory, edit)


def truncated_weights(source: Path, directory: Path) -> Path:
    copy_checkpoint(source, directory)
    path = directory / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return directory


def not_a_tokenizer(source: Path, directory: Path) -> Path:
    """``tokenizer.json`` is valid JSON, but not a tokenizer."""
    copy_checkpoint(source, directory)
    (directory / "tokenizer.json").write_text(json.dumps({"version": "1.0", "hello": ["world"]}))
    return directory


def broken_config(source: Path, directory: Path) -> Path:
    copy_checkpoint(source, directory)
    text = (directory / "config.json").read_text()
    (directory / "config.json").write_text(text[: len(text) // 2])
    return directory


def rebuilt(source: Path, directory: Path, **config_changes) -> Path:
    """A fresh random model with ``config_changes`` (fewer positions, a smaller embedding
    matrix) beside ``source``'s full tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(**{**_config(source), **config_changes})
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).exists():
            shutil.copy2(source / name, directory / name)
    return directory


def task_checkpoint(source: Path, directory: Path, *, nan: bool = False) -> Path:
    """A fine-tuned-looking NLI checkpoint (encoder + random head) with ``xladjust.json``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    labels = ("entailment", "neutral", "contradiction")
    config = BertConfig(**{**_config(source), "num_labels": 3, "id2label": dict(enumerate(labels)),
                           "label2id": {v: k for k, v in enumerate(labels)}})
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    if nan:
        with torch.no_grad():
            model.classifier.weight[0, 0] = float("inf")
    model.save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(directory)
    (directory / "xladjust.json").write_text(json.dumps(NLI_META))
    return directory


def with_meta(source: Path, directory: Path, text: str) -> Path:
    copy_checkpoint(source, directory)
    (directory / "xladjust.json").write_text(text)
    return directory
