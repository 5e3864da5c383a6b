"""``xladjust config``: the config files shipped with the package, listed and copied out,
so that ``xladjust run`` works from an installed wheel as from a checkout."""

# What a command runs is imported inside it: --help imports no torch (tests/test_help_imports.py).

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from xladjust.cli.options import example, overwrite_option
from xladjust.errors import ConfigError, OutputError


def shipped_configs() -> dict[str, resources.abc.Traversable]:
    """NAME (path under the configs folder, without ``.yaml``) -> the file."""
    found: dict[str, resources.abc.Traversable] = {}

    def walk(folder: resources.abc.Traversable, prefix: str) -> None:
        for item in sorted(folder.iterdir(), key=lambda t: t.name):
            if item.is_dir() and not item.name.startswith(("_", ".")):
                walk(item, f"{prefix}{item.name}/")
            elif item.name.endswith(".yaml"):
                found[prefix + item.name[: -len(".yaml")]] = item

    walk(resources.files("xladjust.configs"), "")
    return found


def describe(text: str) -> str:
    """The first comment line of a config file: what it is."""
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


@click.group("config", epilog=example("xladjust config copy demo my-demo.yaml"))
def config_group() -> None:
    """The config files shipped with xladjust: list them, copy one out to edit and run."""


@config_group.command("list", epilog=example("xladjust config list | grep efimov2022"))
def list_command() -> None:
    """Name and first line of every shipped config."""
    configs = shipped_configs()
    width = max(len(name) for name in configs)
    for name, item in configs.items():
        click.echo(f"{name:<{width}}  {describe(item.read_text(encoding='utf-8'))}")


@config_group.command("copy", epilog=example("xladjust config copy efimov2022-offline runs/study.yaml"))
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path))
@overwrite_option()
def copy_command(name: str, dest: Path, overwrite: bool) -> None:
    """Copy the shipped config NAME to DEST (a file, or a folder to put NAME.yaml in).
    Paths inside it are relative to where you run it, as in the repository's configs/."""
    from xladjust.io import write_text_atomic
    from xladjust.outputs import claim_output

    configs = shipped_configs()
    if name.removesuffix(".yaml") not in configs:
        raise ConfigError(f"no shipped config {name!r}; 'xladjust config list' names them: {', '.join(configs)}")
    name = name.removesuffix(".yaml")
    target = dest / f"{Path(name).name}.yaml" if dest.is_dir() else dest
    if target.exists() and not overwrite:
        raise OutputError(f"{target} exists; pass --overwrite to replace it or choose another DEST")
    with claim_output(target, command="config copy", file=True, flag="DEST"):
        write_text_atomic(target, configs[name].read_text(encoding="utf-8"))
    click.echo(f"copied {name} to {target}")
