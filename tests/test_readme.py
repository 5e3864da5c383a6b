"""The README's command lines run as written: each parses with the real command line
(options, choices and value types), every data-pack file it names exists, and every
``runs/`` folder it reads was written by an earlier command of the same block."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from xladjust.cli import cli

REPO = Path(__file__).resolve().parents[1]


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[list[str]]:
    """The ``xladjust`` command lines of a block: continuations joined, comments dropped,
    ``VAR=value`` lines substituted into later lines."""
    variables: dict[str, str] = {}
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split("  #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if m := re.fullmatch(r"([A-Z_]+)=(\S+)", line):
            variables[m.group(1)] = m.group(2)
            continue
        for name, value in variables.items():
            line = line.replace(f"${name}", value)
        words = shlex.split(line)
        if words and words[0] == "xladjust":
            out.append(words[1:])
    return out


def parse(args: list[str]) -> click.Context:
    """Parse ``xladjust ARGS`` down to the subcommand that would run, running nothing."""
    ctx = cli.make_context("xladjust", list(args))
    command: click.Command = cli
    while isinstance(command, click.Group) and ctx.protected_args + ctx.args:
        name, *rest = ctx.protected_args + ctx.args
        sub = command.get_command(ctx, name)
        assert sub is not None, f"xladjust has no command {name!r}"
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return ctx


PIPELINE = commands(next(b for b in bash_blocks((REPO / "README.md").read_text(encoding="utf-8"))
                         if "1. align" in b))


def test_the_pipeline_block_is_read():
    assert [c[0] for c in PIPELINE[:4]] == ["align", "align", "align", "adjust"] and len(PIPELINE) >= 10


@pytest.mark.parametrize("args", PIPELINE, ids=[" ".join(c[:2]) for c in PIPELINE])
def test_each_command_parses_and_names_files_that_exist(args, shared_data):
    parse(args)
    for word in args:
        for value in word.split("=")[-1:]:
            if value.startswith("../shared/data/"):
                path = shared_data / value.removeprefix("../shared/data/")
                assert path.exists() or any(path.parent.glob(path.name + ".*")), value  # a file or a prefix


def test_every_runs_folder_read_was_written_before():
    written: set[str] = set()
    for args in PIPELINE:
        out = args[args.index("--out") + 1] if "--out" in args else None
        read = {w.split("=")[-1] for w in args if "runs/" in w.split("=")[-1]} - {out}
        assert read <= written, f"{' '.join(args)} reads {sorted(read - written)} before any command writes it"
        if out:
            written.add(out)
