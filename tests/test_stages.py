"""The one STAGES table: every row loads, and the CLI, validate and the config
reference read their lists from it."""

from __future__ import annotations

import dataclasses

import click
import pytest

from xladjust.cli import cli
from xladjust.config import CONFIG_KINDS
from xladjust.config_docs import COMMANDS
from xladjust.errors import ConfigError
from xladjust.lazy import lazy_exports, load
from xladjust.stages import STAGES, command_name, config_kinds


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_row_loads_a_command_and_its_config_class(name):
    entry = STAGES[name]
    assert isinstance(load(entry.command), click.Command)
    if entry.config is not None:
        assert dataclasses.is_dataclass(load(entry.config))


def test_the_cli_validate_and_the_docs_read_the_table():
    assert set(cli.list_commands(click.Context(cli))) == set(STAGES)
    assert CONFIG_KINDS == config_kinds() and "pipeline" in CONFIG_KINDS and "transfer" not in CONFIG_KINDS
    assert set(COMMANDS) == set(config_kinds(files_only=False))
    assert command_name("pipeline") == "run" and command_name("embed") is None


def test_a_config_of_another_kind_names_the_command_to_run_it(tmp_path):
    from xladjust.config import load_kind

    path = tmp_path / "c.yaml"
    path.write_text("kind: pipeline\nout: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'pipeline' config; this command needs kind: adjust \(run it with 'xladjust run'\)"):
        load_kind(path, "adjust")
    assert load_kind(path, "pipeline") == {"out": "x"}


def test_the_loader_refuses_a_target_without_attr_and_exports_fail_by_name():
    with pytest.raises(ValueError, match="not 'module:attr'"):
        load("xladjust.stages")
    getattr_ = lazy_exports("pkg", {"STAGES": "xladjust.stages"})
    assert getattr_("STAGES") is STAGES
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'nope'"):
        getattr_("nope")
