"""CLI for landscape analyses: ``interpolate`` and ``flatness``."""

# What a command runs is imported inside it: --help imports no torch (tests/test_help_imports.py).

from __future__ import annotations

from pathlib import Path

import click

from xladjust.cli import types as ct
from xladjust.cli.options import (
    deprecated_alias,
    device_option,
    example,
    is_quiet,
    overwrite_option,
    precision_option,
    uses_bf16,
)
from xladjust.cli.tasks import PairsOption, parse_pairs
from xladjust.tasks.registry import task_names

_eval_options = [
    click.option("--task", default=None, type=click.Choice(task_names()),
                 help="Task of the checkpoints (default: read from them)."),
    click.option("--test", "evals", cls=PairsOption, required=True, metavar="LANG=FILE", old_names=("--eval",),
                 help="LANG=FILE test set; repeat per language (or several after one flag)."),
    click.option("--max-test-examples", "max_examples", type=ct.COUNT, default=None,
                 help="First N examples per test set.", **deprecated_alias("--max-examples")),
    click.option("--batch-size", type=ct.BATCH, default=64, show_default=True, help="Examples per forward pass."),
    precision_option(),
    device_option(),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Run directory to write."),
    overwrite_option(),
]


def _with(options):
    def deco(f):
        for option in reversed(options):
            f = option(f)
        return f

    return deco


def _settings(task, evals, max_examples, batch_size, precision, device):
    from xladjust.probes.landscape_run import EvalSettings

    tests = parse_pairs(evals, "--test", "LANG=FILE", "es=xnli/test-es.tsv")
    return EvalSettings(task=task, tests=tests, max_examples=max_examples,
                        batch_size=batch_size, bf16=uses_bf16(precision), device=device or "auto")


@click.command("interpolate", epilog=example(
    "xladjust interpolate --from runs/ft-vanilla/seed-1 --to runs/ft-adjusted/seed-1 --test es=xnli/test-es.tsv "
    "--bitext en-es=runs/heldout-es --out runs/interp"))
@click.option("--from", "from_", required=True, help="Checkpoint A (a fine-tuned task model directory).")
@click.option("--to", "to", required=True, help="Checkpoint B (same architecture and head).")
@click.option("--alphas", type=ct.ALPHAS, default="0:1:11", show_default=True, help="START:STOP:COUNT or a list 0,0.5,1.")
@click.option("--bitext", "probe_bitexts", multiple=True, metavar="NAME=DIR",
              help="NAME=DIR aligned held-out corpus: mean Δ and word retrieval of the encoder at each α.",
              **deprecated_alias("--probe-bitext"))
@click.option("--layer", "probe_layer", type=ct.LAYER, default=None,
              help="Encoder layer of the probes (default: the last).", **deprecated_alias("--probe-layer"))
@_with(_eval_options)
@click.pass_context
def interpolate_command(ctx, from_, to, alphas, probe_bitexts, probe_layer, task, evals, max_examples, batch_size,
                        precision, device, out, overwrite):
    """Evaluate θ(α) = (1 − α)·θ_A + α·θ_B along the line between two checkpoints."""
    import dataclasses

    from xladjust.probes.landscape import parse_alphas
    from xladjust.probes.landscape_run import interpolation_markdown, run_interpolation

    settings = dataclasses.replace(
        _settings(task, evals, max_examples, batch_size, precision, device),
        probe_bitexts=parse_pairs(probe_bitexts, "--bitext", "NAME=DIR", "en-es=runs/heldout-es"),
        probe_layer=probe_layer)
    summary = run_interpolation(from_, to, parse_alphas(alphas), settings, out, progress=not is_quiet(ctx),
                                overwrite=overwrite)
    click.echo(interpolation_markdown(summary))
    click.echo(f"written to {out}")


@click.command("flatness", epilog=example(
    "xladjust flatness --model runs/ft-adjusted/seed-1 --test es=xnli/test-es.tsv --radii 0,0.1,0.2 "
    "--out runs/flat"))
@click.option("--model", required=True, help="A fine-tuned task model directory.")
@click.option("--directions", type=ct.DIRECTIONS, default=5, show_default=True,
              help="Random directions around the checkpoint (filter-normalized unless --no-filter-norm).")
@click.option("--radii", type=ct.RADII, default="0,0.05,0.1,0.2", show_default=True, help="Comma-separated radii.")
@click.option("--seed", type=ct.SEED, default=0, show_default=True, help="Seed of the random directions.")
@click.option("--no-filter-norm", is_flag=True, help="Scale directions globally instead of per filter.")
@_with(_eval_options)
@click.pass_context
def flatness_command(ctx, model, directions, radii, seed, no_filter_norm, task, evals, max_examples, batch_size,
                     precision, device, out, overwrite):
    """Error at θ + r·d for random (filter-normalized) directions d around a checkpoint."""
    from xladjust.probes.landscape import parse_radii
    from xladjust.probes.landscape_run import flatness_markdown, run_flatness

    settings = _settings(task, evals, max_examples, batch_size, precision, device)
    summary = run_flatness(model, parse_radii(radii), directions, seed, settings, out,
                           filter_normalized=not no_filter_norm, progress=not is_quiet(ctx), overwrite=overwrite)
    click.echo(flatness_markdown(summary))
    click.echo(f"written to {out}")


