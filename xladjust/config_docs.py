"""``docs/config.md``: the reference of every config key, generated from the typed configs.

Each config kind of :data:`xladjust.stages.STAGES` (and every dataclass nested in
one) becomes a table of its keys: type (enum choices spelled out), default, and a
one-line meaning: the field's trailing comment in the class, else the sentence of the
class docstring that names it, else the help of the command option of the same name.
Regenerate with

    python -m xladjust.config_docs docs/config.md

``tests/test_config_docs.py`` fails when the committed file is not current.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import io
import re
import sys
import tokenize
import typing
from pathlib import Path
from typing import Any

from xladjust.lazy import load
from xladjust.stages import command_of_kind, config_kinds
from xladjust.training_common import auto_bf16, auto_precision

# The command whose options' help is the fallback meaning of a kind's keys.
COMMANDS = command_of_kind()
HEADER = """# Config reference

Every key of every config file, generated from the typed configs by
`python -m xladjust.config_docs docs/config.md` (do not edit by hand). A config file names
its kind with `kind:`; `xladjust validate FILE` checks one without running it. Nested
sections are their own tables below their kind. "required" keys have no default.
"""


def field_comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` of each field in ``cls``'s source (or the comment lines
    right above the field when there is no trailing one)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    pending: list[str] = []
    line_field: dict[int, str] = {}
    for lineno, line in enumerate(source.splitlines(), start=1):
        m = re.match(r"^    (\w+)\s*:", line)
        if m:
            line_field[lineno] = m.group(1)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        text = tok.string.lstrip("#").strip()
        row = tok.start[0]
        if row in line_field and tok.start[1] > 4:
            comments[line_field[row]] = text
        elif tok.start[1] == 4:
            pending.append(text)
            nxt = row + 1
            if nxt in line_field:
                comments.setdefault(line_field[nxt], " ".join(pending))
                pending = []
        else:
            pending = []
    return comments


def docstring_meanings(cls: type) -> dict[str, str]:
    """The first sentence of ``cls``'s docstring that names a field as ``field``."""
    doc = " ".join((inspect.getdoc(cls) or "").split())
    sentences = re.split(r"(?<=[.;])\s+(?=[A-Z`(])", doc)
    found: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        hit = next((x for x in sentences if f"``{f.name}``" in x), None)
        if hit is not None:
            found[f.name] = hit.replace("``", "`")
    return found


def option_help(kind: str | None) -> dict[str, str]:
    """``key -> help`` of the kind's command options (``--max-steps`` documents ``max_steps``)."""
    if kind not in COMMANDS:
        return {}
    try:
        command = load(COMMANDS[kind])
    except (ImportError, AttributeError):
        return {}
    helps: dict[str, str] = {}
    for param in getattr(command, "params", []):
        text = re.sub(r"\s*\[default: [^\]]*\]", "", " ".join((getattr(param, "help", None) or "").split()))
        if not text:
            continue
        for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
            name = opt.lstrip("-").replace("-", "_")
            helps.setdefault(name.removeprefix("no_"), text)
        helps.setdefault(param.name or "", text)
    return helps


def meanings(cls: type, kind: str | None) -> dict[str, str]:
    """Each field's one line: its comment, else its docstring sentence, else its CLI help."""
    found = {**option_help(kind), **docstring_meanings(cls), **field_comments(cls)}
    return {f.name: found[f.name] for f in dataclasses.fields(cls) if found.get(f.name)}


def _type_text(hint: Any, raw: str) -> str:
    enums = [a for a in _walk(hint) if isinstance(a, type) and issubclass(a, enum.Enum)]
    if enums:
        choices = ", ".join(f"`{e.value}`" for e in enums[0])
        return f"{_cell(raw)}: {choices}"
    return _cell(raw)


def _cell(text: str) -> str:
    """Text for a table cell: pipes escaped, one line."""
    return " ".join(str(text).split()).replace("``", "`").replace("|", "\\|")


def _walk(hint: Any) -> list[Any]:
    out = [hint]
    for arg in typing.get_args(hint):
        out += _walk(arg)
    return out


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is auto_bf16:
        return "auto: true where the device multiplies bf16 natively"
    elif f.default_factory is auto_precision:
        return "`auto`: bf16 where the device multiplies bf16 natively, else fp32"
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
    else:
        return "required"
    if isinstance(value, enum.Enum):
        value = value.value
    if dataclasses.is_dataclass(value):
        return "see below"
    text = "null" if value is None else repr(value) if not isinstance(value, bool) else str(value).lower()
    return f"`{text}`"


def _nested(hint: Any) -> list[type]:
    return [a for a in _walk(hint) if isinstance(a, type) and dataclasses.is_dataclass(a)]


def class_table(cls: type, title: str, seen: set[type], kind: str | None = None) -> list[str]:
    """The table of ``cls``'s keys, then the tables of the dataclasses nested in it."""
    seen.add(cls)
    hints = typing.get_type_hints(cls)
    comments = meanings(cls, kind)
    doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
    lines = [title, "", *([doc.replace("``", "`"), ""] if doc else []), "| key | type | default | meaning |",
             "|:---|:---|:---|:---|"]
    nested: list[type] = []
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name, f.type)
        raw = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        meaning = comments.get(f.name, "")
        lines.append(f"| `{f.name}` | {_type_text(hint, raw)} | {_default(f)} | {_cell(meaning)} |")
        nested += [n for n in _nested(hint) if n not in seen and n not in nested]
    lines.append("")
    lines += renamed_keys_line(cls)
    for n in nested:
        lines += class_table(n, f"### `{n.__name__}`", seen, kind)
    return lines


def renamed_keys_line(cls: type) -> list[str]:
    """The keys ``cls`` renamed to the words of the command line (old keys still load, with
    a deprecation warning, for one release), as a line under its table."""
    renamed = getattr(cls, "RENAMED_KEYS", {})
    if not renamed:
        return []
    pairs = []
    for old, rule in renamed.items():
        if isinstance(rule, str):
            pairs.append(f"`{old}` → `{rule}`")
        else:
            values = ", ".join(f"`{_yaml_word(k)}` → `{v}`" for k, v in rule.values.items())
            pairs.append(f"`{old}` → `{rule.new}` ({values})")
    return [f"Renamed keys (the old key still loads for one release, with a deprecation warning): "
            f"{'; '.join(pairs)}.", ""]


def _yaml_word(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def render() -> str:
    lines = [HEADER]
    seen: set[type] = set()
    for kind, target in config_kinds(files_only=False).items():
        cls = load(target)
        lines += class_table(cls, f"## `{kind}` ({cls.__name__})", seen, kind)
    return "\n".join(lines).rstrip() + "\n"


def undocumented() -> list[str]:
    """``Class.key`` of every key without a one-line meaning."""
    missing = []
    seen: set[type] = set()
    queue = [(load(t), k) for k, t in config_kinds(files_only=False).items()]
    while queue:
        cls, kind = queue.pop(0)
        if cls in seen:
            continue
        seen.add(cls)
        found = meanings(cls, kind)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name not in found:
                missing.append(f"{cls.__name__}.{f.name}")
            queue += [(n, kind) for n in _nested(hints.get(f.name, f.type))]
    return missing


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
