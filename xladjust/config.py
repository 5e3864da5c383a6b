"""Typed configs: frozen dataclasses built from dicts (YAML or CLI), validated up front.

:func:`build_config` turns a mapping into a config dataclass and reports *every*
problem at once (unknown keys, missing or mistyped values, bad enum values), before any
model loads. A config class may define ``check(self) -> list[str]`` for cross-field rules.

Config files name their kind with a top-level ``kind:`` key (``align``, ``adjust``,
``pipeline``, ...); :data:`CONFIG_KINDS` maps each kind to its class, so
``xladjust validate FILE`` checks any of them.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import types
import typing
from pathlib import Path
from typing import Any

from xladjust.errors import ConfigError

# kind -> "module:Class"; each class is a dataclass accepted by build_config.
CONFIG_KINDS: dict[str, str] = {
    "align": "xladjust.align.config:AlignConfig",
    "adjust": "xladjust.adjust.config:AdjustConfig",
    "probe": "xladjust.probes.config:ProbeConfig",
    "finetune": "xladjust.tasks.config:FinetuneConfig",
    "pipeline": "xladjust.pipeline:PipelineConfig",
}


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {p} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of keys to values, not a {type(data).__name__}")
    return data


def config_class(kind: str) -> type:
    if kind not in CONFIG_KINDS:
        raise ConfigError(f"unknown config kind {kind!r}; known kinds: {', '.join(sorted(CONFIG_KINDS))}")
    module, _, name = CONFIG_KINDS[kind].partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ConfigError(f"config kind {kind!r} is not available in this version of xladjust") from None


def validate_file(path: str | Path, kind: str | None = None) -> Any:
    """Load and validate a config file; return the typed config."""
    data = load_yaml(path)
    kind = kind or data.pop("kind", None)
    if kind is None:
        raise ConfigError(f"config file {path} has no 'kind:' key; use one of: {', '.join(sorted(CONFIG_KINDS))}")
    data.pop("kind", None)
    return build_config(config_class(str(kind)), data, where=str(path))


def build_config(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``; raise one ConfigError listing every problem."""
    from xladjust.bounds import config_problems

    problems: list[str] = []
    obj = _build(cls, data, where, problems)
    if not problems:  # numeric bounds (xladjust.bounds, shared with the CLI's option types)
        problems.extend(config_problems(obj, where))
        if hasattr(obj, "check"):
            problems.extend(f"{where}: {p}" for p in obj.check())
    if problems:
        raise ConfigError(problems)
    return obj


def _build(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a mapping, got {type(data).__name__}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            problems.append(f"{where}: unknown key {key!r} (known: {', '.join(sorted(fields))})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}", problems)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            problems.append(f"{where}: missing required key {name!r}")
    if problems:
        return None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
        return None


def _convert(tp: Any, value: Any, where: str, problems: list[str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            trial: list[str] = []
            out = _convert(option, value, where, trial)
            if not trial:
                return out
        problems.append(f"{where}: {value!r} is not a valid {_type_name(tp)}")
        return None
    if origin is typing.Literal:
        if value not in args:
            problems.append(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            problems.append(f"{where}: {value!r} is not one of {', '.join(repr(m.value) for m in tp)}")
            return None
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where, problems)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            problems.append(f"{where}: expected a list, got {value!r}")
            return None
        inner = args[0] if args else Any
        items = [_convert(inner, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping, got {value!r}")
            return None
        inner = args[1] if len(args) == 2 else Any
        return {k: _convert(inner, v, f"{where}.{k}", problems) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{where}: expected a number, got {value!r}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            problems.append(f"{where}: expected a path, got {value!r}")
            return None
        return Path(value)
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def config_to_dict(cfg: Any) -> Any:
    """A JSON-friendly copy of a config: nested dataclasses as dicts, enums as their
    values, paths as strings, dict keys as strings. The one serializer behind every
    stage's run record and signature."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, enum.Enum):
        return cfg.value
    if isinstance(cfg, Path):
        return str(cfg)
    if isinstance(cfg, (list, tuple)):
        return [config_to_dict(x) for x in cfg]
    if isinstance(cfg, dict):
        return {str(k): config_to_dict(v) for k, v in cfg.items()}
    return cfg
