"""Typed configs: frozen dataclasses built from dicts (YAML or CLI), validated up front.

:func:`build_config` turns a mapping into a config dataclass and reports *every*
problem at once (unknown keys, missing or mistyped values, bad enum values), before any
model loads. A config class may define ``check(self) -> list[str]`` for cross-field rules.

Config files name their kind with a top-level ``kind:`` key (``align``, ``adjust``,
``pipeline``, ...); :data:`CONFIG_KINDS` maps each kind to its class, so
``xladjust validate FILE`` checks any of them.

A config key takes the word of its command-line option. A class lists the keys it renamed
in ``RENAMED_KEYS`` (old key -> new key, or :class:`Renamed` where the value changed form
too); :func:`build_config` reads an old key as the new one and logs one deprecation line,
for one release.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from xladjust.bounds import config_problems
from xladjust.errors import ConfigError, InputError
from xladjust.io import sha256_json
from xladjust.lazy import load
from xladjust.stages import command_name, config_kinds

log = logging.getLogger(__name__)

# each class is a dataclass accepted by build_config
CONFIG_KINDS: dict[str, str] = config_kinds()  # kind -> "module:Class", from the one STAGES table


MAX_YAML_NODES = 100_000  # values a config may expand to, aliases followed (a nested-alias bomb is refused)
MAX_YAML_DEPTH = 100  # nesting of mappings and lists; deeper is refused before the tree is built
MAX_YAML_BYTES = 4_000_000  # size of a config document
MAX_INT_DIGITS = 40  # an integer literal longer than this is no setting (int64 has 19 digits)
MAX_SHOWN = 60  # characters of a value echoed into an error message


def shorten(value: Any, limit: int = MAX_SHOWN, *, raw: bool = False) -> str:
    """``repr(value)`` (``str`` with ``raw``) cut to ``limit`` characters, for error messages."""
    text = str(value) if raw else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config: the one loader behind every command's ``--config`` and
    ``xladjust validate``. Scalars follow the YAML 1.2 core schema (``5e-5`` is a float,
    ``010`` is 10, ``1:30`` and ``no`` are strings, ``true``/``false`` the only booleans),
    where PyYAML follows YAML 1.1; a key given twice is an error naming it and its line;
    the document is bounded in size (:data:`MAX_YAML_BYTES`), nesting
    (:data:`MAX_YAML_DEPTH`) and expanded aliases (:data:`MAX_YAML_NODES`)."""
    import yaml

    text = _read_config_text(Path(path))
    p = Path(path)
    try:
        data = parse_yaml(text, f"config file {p}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = shorten(getattr(exc, "problem", None) or exc, 200, raw=True)
        raise ConfigError(f"config file {p} is not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of keys to values, not a {type(data).__name__}")
    return data


def _read_config_text(p: Path) -> str:
    """The text of config file ``p``, refused with one line when it is missing, not a
    regular file (a folder, a FIFO, a device such as /dev/zero), too large or not UTF-8."""
    import stat

    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {p} cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"config file {p} is a folder; give the path of a YAML file")
    if not stat.S_ISREG(mode):
        what = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else \
            "not a regular file"
        raise ConfigError(f"config file {p} is {what}; give the path of a YAML file")
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config file {p} cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"config file {p} is larger than {MAX_YAML_BYTES // 1_000_000} MB; a config is a "
                          "few settings (is it the right file?)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_yaml(text: str, where: str = "config") -> Any:
    """Parse YAML text with the rules of :func:`load_yaml` (ConfigError on a broken rule,
    prefixed with ``where``: "config file PATH", "--option KEY")."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{where}: the YAML text is longer than {MAX_YAML_BYTES} characters")
    _check_depth(text, where)
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {}, 0)
        if size > MAX_YAML_NODES:
            raise ConfigError(f"{where}: its aliases expand to more than {MAX_YAML_NODES} values; "
                              "write the values out instead of nesting aliases")
        try:
            data = loader.construct_document(node)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if loader.duplicates:
            raise ConfigError([f"{where}: {d}" for d in loader.duplicates])
        return data
    finally:
        loader.dispose()


def _check_depth(text: str, where: str) -> None:
    """Refuse a document nested deeper than :data:`MAX_YAML_DEPTH` from its parser events
    (PyYAML's parser keeps its own stack; building the tree of such a document recurses
    once per level and ends in a RecursionError)."""
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise ConfigError(f"{where}: line {event.start_mark.line + 1} nests mappings or lists "
                                  f"deeper than {MAX_YAML_DEPTH} levels; a config needs a few")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _expanded_size(node: Any, memo: dict[int, int], depth: int) -> int:
    """How many values ``node`` stands for with every alias expanded (memoized, so a
    bomb is measured without expanding it)."""
    import yaml

    key = id(node)
    if key in memo:
        return memo[key]
    if depth > 200:
        raise ConfigError("config nests deeper than 200 levels")
    memo[key] = MAX_YAML_NODES + 1  # a node reached again while measuring it: a cycle
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo, depth + 1) for v in node.value)
    else:
        size = 1
    memo[key] = min(size, MAX_YAML_NODES + 1)
    return memo[key]


_LOADER: Any = None


def _loader_class() -> Any:
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import re

    import yaml

    class ConfigLoader(yaml.SafeLoader):
        def __init__(self, stream: Any):
            super().__init__(stream)
            self.duplicates: list[str] = []

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: the base class reports it
                if first is not None:
                    self.duplicates.append(f"key {shorten(key)} appears twice (lines {first} and {line}); keep one")
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except (ValueError, TypeError, AttributeError, OverflowError) as exc:  # an explicit tag's value
                tag = str(node.tag).rsplit(":", 1)[-1]
                raise ConfigError(f"line {node.start_mark.line + 1}: {shorten(node.value)} is not a valid {tag} "
                                  f"({shorten(str(exc), 100, raw=True)})") from None

        def construct_yaml_int(self, node: Any) -> int:
            # YAML 1.2: 010 is ten (no octal without 0o), no sexagesimal 1:30, no underscores
            text = self.construct_scalar(node)
            sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
            if len(digits) > MAX_INT_DIGITS:
                raise ConfigError(f"line {node.start_mark.line + 1}: an integer of {len(digits)} digits is no "
                                  "setting; give a number of at most 19 digits")
            base = {"0o": 8, "0x": 16}.get(digits[:2], 10)
            return sign * int(digits[2:] if base != 10 else digits, base)

        def construct_yaml_bool(self, node: Any) -> bool:
            return self.construct_scalar(node).lower() == "true"

    # The YAML 1.2 core schema's implicit types, in place of PyYAML's YAML 1.1 ones (which
    # read 010 as 8, 1:30 as 90, no/on/y as booleans, 2024-01-02 as a date and need a dot
    # in 5e-5). Everything else is a string.
    core = {
        "tag:yaml.org,2002:bool": (r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        "tag:yaml.org,2002:int": (r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
        "tag:yaml.org,2002:float": (r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
                                         |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", "-+0123456789."),
        "tag:yaml.org,2002:null": (r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        "tag:yaml.org,2002:merge": (r"^(?:<<)$", "<"),
    }
    ConfigLoader.yaml_implicit_resolvers = {}
    for tag, (pattern, first) in core.items():
        ConfigLoader.add_implicit_resolver(tag, re.compile(pattern, re.X), list(first))
    ConfigLoader.add_constructor("tag:yaml.org,2002:int", ConfigLoader.construct_yaml_int)
    ConfigLoader.add_constructor("tag:yaml.org,2002:bool", ConfigLoader.construct_yaml_bool)
    _LOADER = ConfigLoader
    return _LOADER


def expand_path(value: str | os.PathLike[str], where: str = "path") -> Path:
    """The one conversion of a user-given path: ``~`` and ``$VAR``/``${VAR}`` are expanded
    everywhere (a variable that is not set is an error, never a literal ``$VAR`` folder)."""
    text = os.fspath(value)
    home = os.path.expanduser(text)
    if home.startswith("~"):
        user = home.split("/", 1)[0]
        raise ConfigError(f"{where}: {shorten(text)} starts with {shorten(user, raw=True)}, but there is no such user "
                          "home here; write the path out")
    expanded = os.path.expandvars(home)
    if "$" in expanded:
        import re

        unset = re.search(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", expanded)
        if unset and unset.group(1) not in os.environ:
            raise ConfigError(f"{where}: {shorten(text)} uses ${unset.group(1)}, which is not set; set it or "
                              "write the path out")
    return Path(expanded)


def config_class(kind: str) -> type:
    if kind not in CONFIG_KINDS:
        raise ConfigError(f"unknown config kind {kind!r}; known kinds: {', '.join(sorted(CONFIG_KINDS))}")
    try:
        return load(CONFIG_KINDS[kind])
    except (ImportError, AttributeError):
        raise ConfigError(f"config kind {kind!r} is not available in this version of xladjust") from None


def parse_list(text: str, convert: Callable[[str], Any], what: str, example: str) -> list[Any]:
    """A comma-separated list (blank items skipped), each item through ``convert``; a
    one-line InputError naming ``what`` and showing ``example`` when an item does not
    convert."""
    try:
        return [convert(item) for item in str(text).split(",") if item.strip()]
    except ValueError:
        raise InputError(f"bad {what} {text!r}; use a comma-separated list like {example}") from None


def load_kind(path: str | Path, kind: str) -> dict[str, Any]:
    """The mapping of config file ``path`` for a command that reads ``kind`` configs: its
    ``kind:`` key, when present, must say ``kind`` (and is dropped)."""
    data = load_yaml(path)
    found = data.pop("kind", kind)
    if found != kind:
        command = command_name(str(found))
        hint = f" (run it with 'xladjust {command}')" if command else ""
        raise ConfigError(f"{path} is a {found!r} config; this command needs kind: {kind}{hint}")
    return data


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``data`` with each ``KEY=VALUE`` override set (a copy). ``KEY`` is a dotted path into
    the config (``adjust.lr``, ``pairs.0.name``: a number indexes a list); ``VALUE`` is
    YAML, read with the rules of config files (``0.5``, ``true``, ``[1, 2]``, ``null``).
    Whether the key exists and the value fits is the config's own check, afterwards."""
    import copy

    import yaml

    out = copy.deepcopy(data)
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts):
            raise ConfigError(f"override {item!r} is not KEY=VALUE (KEY dotted, e.g. adjust.lr=3e-5)")
        try:
            value = parse_yaml(text, f"override {key}")
        except yaml.YAMLError as exc:
            problem = str(exc).splitlines()[0]
            raise ConfigError(f"override {key}: {text!r} is not a YAML value ({problem})") from None
        node: Any = out
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {key}: {where} indexes a list of {len(node)} items; "
                                      f"use 0 to {len(node) - 1}")
                part = int(part)  # type: ignore[assignment]
            elif not isinstance(node, dict):
                raise ConfigError(f"override {key}: {'.'.join(parts[:depth])} is a value, not a section")
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and node.get(part) is None:
                    node[part] = {}
                node = node[part]
    return out


def validate_file(path: str | Path, kind: str | None = None, overrides: Sequence[str] = ()) -> Any:
    """Load and validate a config file with its ``KEY=VALUE`` overrides
    (:func:`apply_overrides`); return the typed config. Every problem is reported at once
    (ConfigError with all of them)."""
    data = apply_overrides(load_yaml(path), overrides)
    kind = kind or data.pop("kind", None)
    if kind is None:
        raise ConfigError(f"config file {path} has no 'kind:' key; use one of: {', '.join(sorted(CONFIG_KINDS))}")
    data.pop("kind", None)
    return build_config(config_class(str(kind)), data, where=str(path))


def build_config(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``; raise one ConfigError listing every problem.
    A class with an ``expand(data)`` static method (a stage's presets) has ``data``
    expanded first, so a preset works alike in config files, ``--config``, ``run`` and
    pipelines.

    A field whose value is bad is replaced by its default for the numeric bounds
    (:mod:`xladjust.bounds`, shared with the CLI's option types) and the cross-field
    ``check()``, so those rules are reported together with the type problems."""
    expand = getattr(cls, "expand", None)  # a stage's presets: keys filled in before the fields are read
    if expand is not None and isinstance(data, dict):
        data = expand(data)
    problems: list[str] = []
    obj = _build(cls, data, where, problems)
    if obj is not None:
        problems.extend(config_problems(obj, where))
        if hasattr(obj, "check"):
            problems.extend(f"{where}: {p}" for p in obj.check())
    if problems:
        raise ConfigError(problems)
    return obj


class Renamed(NamedTuple):
    """A renamed config key whose value changed form too: ``values`` maps each old value
    to the new key's (``cpu: true`` is ``device: cpu``)."""

    new: str
    values: dict[Any, Any]


_WARNED: set[tuple[str, str]] = set()  # (where, old key): each deprecation is logged once


def renamed_keys(cls: type, data: dict[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """``data`` with the old keys of ``cls.RENAMED_KEYS`` under their new names (a copy
    when one is there), each logged once as deprecated; an old key given together with its
    new one, or an old value the new key has no word for, is a problem."""
    renamed: dict[str, str | Renamed] = getattr(cls, "RENAMED_KEYS", {})
    if not any(old in data for old in renamed):
        return data
    out = dict(data)
    for old, rule in renamed.items():
        if old not in out:
            continue
        new = rule if isinstance(rule, str) else rule.new
        value = out.pop(old)
        if new in out:
            problems.append(f"{where}: {old!r} is the old name of {new!r}; give only {new!r}")
            continue
        if isinstance(rule, Renamed):
            found = [v for k, v in rule.values.items() if type(k) is type(value) and k == value]
            if not found:
                problems.append(f"{where}.{old}: {shorten(value)} is not one of "
                                f"{', '.join(map(repr, rule.values))}; write {new!r} instead")
                continue
            value = found[0]
        if (where, old) not in _WARNED:
            _WARNED.add((where, old))
            shown = f"{new}: {value}" if isinstance(rule, Renamed) else new
            log.warning("%s: config key %r is deprecated and will be removed in the next release; use %r",
                        where, old, shown)
        out[new] = value
    return out


def _build(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    """``cls`` from ``data``, problems appended; None only when it cannot be built at all
    (not a mapping, a required key missing or bad). A bad key with a default keeps the
    default, so callers can go on checking the rest."""
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a mapping, got {type(data).__name__}")
        return None
    data = renamed_keys(cls, data, where, problems)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            problems.append(f"{where}: unknown key {shorten(key)} (known: {', '.join(sorted(fields))})")
    kwargs: dict[str, Any] = {}
    buildable = True
    for name, field in fields.items():
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if name in data:
            before = len(problems)
            value = _convert(hints[name], data[name], f"{where}.{name}", problems)
            if len(problems) == before or _built_items(value):
                kwargs[name] = value  # (a list of sections built despite a bad key in one)
            elif required:
                buildable = False
        elif required:
            problems.append(f"{where}: missing required key {name!r}")
            buildable = False
    if not buildable:
        return None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {shorten(exc, 300, raw=True)}")
        return None


def _built_items(value: Any) -> bool:
    """A non-empty list of config sections, each built (their problems are reported)."""
    return (isinstance(value, list) and bool(value)
            and all(dataclasses.is_dataclass(v) and not isinstance(v, type) for v in value))


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
        problems.append(f"{where}: {shorten(value)} is not a valid {_type_name(tp)}")
        return None
    if origin is typing.Literal:
        if value not in args:
            problems.append(f"{where}: {shorten(value)} is not one of {', '.join(map(repr, args))}")
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            problems.append(f"{where}: {shorten(value)} is not one of {', '.join(repr(m.value) for m in tp)}")
            return None
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where, problems)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            problems.append(f"{where}: expected a list, got {shorten(value)}")
            return None
        inner = args[0] if args else Any
        items = [_convert(inner, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping, got {shorten(value)}")
            return None
        inner = args[1] if len(args) == 2 else Any
        return {k: _convert(inner, v, f"{where}.{k}", problems) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{where}: expected true or false, got {shorten(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: expected an integer, got {shorten(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{where}: expected a number, got {shorten(value)}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string, got {shorten(value)}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            problems.append(f"{where}: expected a path, got {shorten(value)}")
            return None
        try:
            return expand_path(value, where)
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def result_keys(cfg: Any, *also: str) -> dict[str, Any]:
    """``cfg`` as :func:`config_to_dict` without the keys that steer how a run proceeds
    but not what it computes (its class's ``RUN_CONTROL_KEYS``) and without ``also``:
    what a resumed or reused run must agree on."""
    skip = {*getattr(type(cfg), "RUN_CONTROL_KEYS", ()), *also}
    return {key: value for key, value in config_to_dict(cfg).items() if key not in skip}


def result_fingerprint(cfg: Any, *also: str) -> str:
    """The hash of :func:`result_keys`."""
    return sha256_json(result_keys(cfg, *also))


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
