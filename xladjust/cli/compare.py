"""``xladjust compare``: one report over many run folders (:mod:`xladjust.report`)."""

from __future__ import annotations

from pathlib import Path

import click

from xladjust.cli.options import example, overwrite_option
from xladjust.report.gather import compare_runs


@click.command("compare", epilog=example("xladjust compare runs/probe runs/transfer runs/interp --out runs/report"))
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Report folder to write.")
@overwrite_option()
def compare_command(run_dirs, out, overwrite):
    """Gather probe, transfer, interpolate and flatness runs into one Markdown and HTML report."""
    summary = compare_runs(list(run_dirs), out, overwrite=overwrite)
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"report of {len(summary['runs'])} run(s): {out / 'report.md'} and {out / 'report.html'}")
