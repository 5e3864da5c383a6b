"""``xladjust run``: a whole pipeline from one config file (:mod:`xladjust.pipeline`)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from xladjust.cli.options import example, is_quiet
from xladjust.pipeline import load_pipeline, run_pipeline
from xladjust.pipeline.tables import study_tables, summary_table


@click.command("run", epilog=example("xladjust run configs/demo.yaml --dry-run"))
@click.argument("pipeline_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; run nothing.")
@click.pass_context
def run_command(ctx: click.Context, pipeline_file: Path, dry_run: bool) -> None:
    """Run a whole pipeline (align, adjust, probe, transfer) from PIPELINE_FILE."""
    start = time.perf_counter()
    cfg = load_pipeline(pipeline_file)
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
