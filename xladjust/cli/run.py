"""``xladjust run``: a config file of any kind ``validate`` accepts, with ``KEY=VALUE``
overrides: a whole pipeline (:mod:`xladjust.pipeline`), or one stage's config
(:mod:`xladjust.pipeline.single`)."""

# What a command runs is imported inside it: --help imports no torch (tests/test_help_imports.py).

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from xladjust.cli.options import example, is_quiet, overwrite_option
from xladjust.config import apply_overrides, build_config, config_class, load_yaml
from xladjust.errors import ConfigError
from xladjust.extras import require
from xladjust.lazy import load
from xladjust.stages import STAGES, command_name


@click.command("run", epilog=example("xladjust run configs/demo.yaml --dry-run seed=1 adjust.lr=3e-5"))
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; run nothing.")
@overwrite_option()
@click.pass_context
def run_command(ctx: click.Context, config_file: Path, overrides: tuple[str, ...], dry_run: bool,
                overwrite: bool) -> None:
    """Run CONFIG_FILE: a pipeline (align, adjust, probe, transfer, report) or one stage's
    config (kind: align, adjust, probe or finetune).

    KEY=VALUE overrides set config keys before validation (dotted for nested keys,
    a number for a list item: adjust.lr=3e-5, pairs.0.name=es; values are YAML)."""
    data = apply_overrides(load_yaml(config_file), overrides)
    kind = str(data.pop("kind", "pipeline"))
    cfg = build_config(config_class(kind), data, where=str(config_file))
    if kind == "pipeline":
        if overwrite:
            raise ConfigError("--overwrite is for one stage's config; a pipeline reruns the stages that are out of "
                              "date itself")
        _run_pipeline(ctx, cfg, dry_run)
        return
    entry = STAGES[command_name(kind) or kind]
    if dry_run:
        click.echo(f"{config_file}: valid {type(cfg).__name__}; would write {cfg.out}")
        return
    require(entry.extras, f"xladjust run (kind: {kind})")
    out = load(entry.runner)(cfg, progress=not is_quiet(ctx), overwrite=overwrite)
    click.echo(f"written to {out}")


def _run_pipeline(ctx: click.Context, cfg: Any, dry_run: bool) -> None:
    from xladjust.pipeline import run_pipeline
    from xladjust.pipeline.tables import study_tables, summary_table

    if not dry_run:
        require(pipeline_extras(cfg), "xladjust run (kind: pipeline)")
    start = time.perf_counter()
    results = run_pipeline(cfg, dry_run=dry_run, progress=not is_quiet(ctx), echo=click.echo)
    if dry_run:
        click.echo(f"plan valid: {len(results)} stages")
        return
    ran = [r for r in results if r[1] == "ran"]
    click.echo(f"done: {len(ran)} stage(s) ran, {len(results) - len(ran)} up to date "
               f"({sum(r[2] for r in ran):.0f} s); wall time {time.perf_counter() - start:.0f} s; outputs in {cfg.out}")
    table = summary_table(cfg)
    if table:
        click.echo(table)
    for text in study_tables(cfg):
        click.echo("\n" + text)


def pipeline_extras(cfg: Any) -> tuple[str, ...]:
    """The extras (:mod:`xladjust.extras`) the stages of pipeline ``cfg`` need."""
    needs = []
    if cfg.probe is not None or cfg.landscape is not None:
        needs.append("probes")
    if cfg.transfer or cfg.landscape is not None:
        needs += ["tasks", "report"]
    return tuple(needs)
