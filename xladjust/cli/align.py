"""``xladjust align`` (the group's own action) and ``xladjust align evaluate``.

Thin: options become a config dict (over an optional ``--config`` YAML file), the typed
config is built and validated, one library function runs, the result is formatted.
Choices are read from the registries.
"""

# What a command runs is imported inside it: --help imports no torch (tests/test_help_imports.py).

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from xladjust.align.backends import ALIGNERS
from xladjust.align.config import (
    PRESETS,
    AlignConfig,
    AlignerSpec,
    EflomalOptions,
    EmbeddingOptions,
    EvaluateConfig,
    FastAlignOptions,
    InputSpec,
    Symmetrizer,
)
from xladjust.align.gold import SPLITS
from xladjust.align.similarity import METHODS
from xladjust.align.symmetrize import HEURISTICS
from xladjust.cli import types as ct
from xladjust.cli.options import (
    SectionedCommand,
    SectionedGroup,
    deprecated_alias,
    device_option,
    is_quiet,
    precision_option,
)
from xladjust.config import load_kind
from xladjust.pooling import Pooling

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class SeedList(click.ParamType):
    """A comma-separated list of integer seeds, e.g. ``0,1,2``."""

    name = "SEEDS"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return tuple(int(part) for part in str(value).split(","))
        except ValueError:
            from xladjust.errors import ConfigError

            raise ConfigError(f"--seeds {value!r} is not a comma-separated list of integers such as 0,1,2") from None
# Defaults shown in --help come from the configs themselves.
# defaults shown in the help; bf16 is given so that building them asks torch nothing
_AS, _FA, _EF, _IN = AlignerSpec(embedding=EmbeddingOptions(precision="bf16")), FastAlignOptions(), EflomalOptions(), InputSpec()
_EM = _AS.embedding


def _onoff(flag: bool) -> str:
    return "on" if flag else "off"


# option name -> path in the config dict; only options given on the command line are set.
ALIGNER_KEYS: dict[str, tuple[str, ...]] = {
    "aligner": ("aligner", "name"),
    "symmetrize": ("aligner", "symmetrize"),
    "symmetrize_with": ("aligner", "symmetrize_with"),
    "one_to_one": ("aligner", "one_to_one"),
    "fast_align": ("aligner", "fast_align", "binary"),
    "atools": ("aligner", "fast_align", "atools"),
    "iterations": ("aligner", "fast_align", "iterations"),
    "favor_diagonal": ("aligner", "fast_align", "favor_diagonal"),
    "optimize_tension": ("aligner", "fast_align", "optimize_tension"),
    "variational_bayes": ("aligner", "fast_align", "variational_bayes"),
    "diagonal_tension": ("aligner", "fast_align", "diagonal_tension"),
    "fast_align_alpha": ("aligner", "fast_align", "alpha"),
    "p0": ("aligner", "fast_align", "p0"),
    "no_null": ("aligner", "fast_align", "no_null"),
    "lowercase": ("aligner", "fast_align", "lowercase"),
    "fast_align_threads": ("aligner", "fast_align", "threads"),
    "eflomal_model": ("aligner", "eflomal", "model"),
    "samplers": ("aligner", "eflomal", "samplers"),
    "rel_iterations": ("aligner", "eflomal", "rel_iterations"),
    "null_prior": ("aligner", "eflomal", "null_prior"),
    "model": ("aligner", "embedding", "model"),
    "layer": ("aligner", "embedding", "layer"),
    "method": ("aligner", "embedding", "method"),
    "threshold": ("aligner", "embedding", "threshold"),
    "temperature": ("aligner", "embedding", "temperature"),
    "pooling": ("aligner", "embedding", "pooling"),
    "distortion": ("aligner", "embedding", "distortion"),
    "batch_size": ("aligner", "embedding", "batch_size"),
    "precision": ("aligner", "embedding", "precision"),
    "device": ("aligner", "embedding", "device"),
    "embedding_threads": ("aligner", "embedding", "threads"),
    "combine_statistical": ("aligner", "combined", "statistical"),
    "combine_symmetrize": ("aligner", "combined", "statistical_symmetrize"),
    "workers": ("workers",),
    "seed": ("seed",),
    "work_dir": ("work_dir",),
}


# Headings of align's --help, by the config section an option sets.
SECTIONS = {"input": "Input options", "fast_align": "fast_align options", "eflomal": "eflomal options",
            "embedding": "Embedding aligner options", "extra": "Extra parallel text (statistical aligners)",
            "src_lang": "Input options", "tgt_lang": "Input options", "out": "Output options",
            "pharaoh": "Output options", "gold_text": "Gold alignments", "gold": "Gold alignments",
            "one_indexed": "Gold alignments"}


def report_option() -> Decorator:
    """``--out FILE`` of align evaluate and align tune: the report as JSON (the table is
    printed either way)."""
    return click.option("--out", "report_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Also write the report as JSON to this file (the table is printed either way).",
                        **deprecated_alias("--json"))


def embedding_threads_option() -> Decorator:
    """``--embedding-threads``: torch threads of the embedding aligner's forward passes."""
    return click.option("--embedding-threads", type=ct.POSITIVE_THREADS.in_config(), default=None,
                        help="Torch threads of the embedding aligner's forward passes. [default: the command's "
                             "threads, or 1 when the CPU is busy]",
                        **deprecated_alias("--torch-threads"))


def aligner_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``align`` and ``align evaluate``: the aligner and its settings."""
    opts: list[Decorator] = [
        click.option("--aligner", type=click.Choice(list(ALIGNERS)), default=None,
                     help=f"Aligner backend. [default: {_AS.name}]"),
        click.option("--symmetrize", type=click.Choice(list(HEURISTICS)), default=None,
                     help=f"Symmetrization heuristic. [default: {_AS.symmetrize.value}]"),
        click.option("--symmetrize-with", type=click.Choice([s.value for s in Symmetrizer]), default=None,
                     help="What runs the --symmetrize heuristic: atools when found (auto), always atools, or always "
                          f"the built-in code (the same links). [default: {_AS.symmetrize_with.value}]",
                     **deprecated_alias("--symmetrizer")),
        click.option("--one-to-one", is_flag=True, default=None, help="Keep only 1-to-1 links."),
        click.option("--fast-align", type=click.Path(path_type=str), default=None,
                     help="fast_align executable (else $FAST_ALIGN, then PATH)."),
        click.option("--atools", type=click.Path(path_type=str), default=None,
                     help="atools executable (else $ATOOLS, beside fast_align, then PATH)."),
        click.option("--iterations", type=ct.SMALL.in_config(), default=None, help=f"fast_align -I. [default: {_FA.iterations}]"),
        click.option("--favor-diagonal/--no-favor-diagonal", default=None, help=f"fast_align -d. [default: {_onoff(_FA.favor_diagonal)}]"),
        click.option("--optimize-tension/--no-optimize-tension", default=None, help=f"fast_align -o. [default: {_onoff(_FA.optimize_tension)}]"),
        click.option("--variational-bayes/--no-variational-bayes", default=None, help=f"fast_align -v. [default: {_onoff(_FA.variational_bayes)}]"),
        click.option("--diagonal-tension", type=ct.POSITIVE.in_config(), default=None, help=f"fast_align -T. [default: {_FA.diagonal_tension}]"),
        click.option("--fast-align-alpha", type=ct.POSITIVE.in_config(), default=None,
                     help=f"fast_align -a (VB prior). [default: {_FA.alpha}]", **deprecated_alias("--fa-alpha")),
        click.option("--p0", type=ct.FINITE.in_config(), default=None, help=f"fast_align -q (null probability). [default: {_FA.p0}]"),
        click.option("--no-null", is_flag=True, default=None, help="fast_align -N (no null word)."),
        click.option("--lowercase/--no-lowercase", default=None,
                     help=f"Lowercase fast_align's input; links stay on the original words (eflomal always "
                          f"lowercases). [default: {_onoff(_FA.lowercase)}]"),
        click.option("--fast-align-threads", type=ct.THREADS.in_config(), default=None,
                     help="OpenMP threads of each fast_align process (one per direction, both at once), apart "
                          "from the command's own threads. [default: cores / 2]",
                     **deprecated_alias("--aligner-threads", "--threads")),
        click.option("--eflomal-model", type=ct.int_range(1, 3, "an eflomal model"), default=None,
                     help=f"eflomal model: 1 IBM1, 2 +HMM, 3 +fertility. [default: {_EF.model}]"),
        click.option("--samplers", type=ct.SMALL.in_config(), default=None, help=f"eflomal samplers. [default: {_EF.samplers}]"),
        click.option("--rel-iterations", type=ct.POSITIVE.in_config(), default=None, help=f"eflomal relative iterations. [default: {_EF.rel_iterations}]"),
        click.option("--null-prior", type=ct.FINITE.in_config(), default=None, help=f"eflomal null prior. [default: {_EF.null_prior}]"),
        click.option("--model", default=None, help=f"Embedding aligner's model spec. [default: {_EM.model}]"),
        click.option("--layer", type=ct.LAYER.in_config(), default=None,
                     help="Embedding aligner's hidden layer. [default: 7 of 12, else 7/12 of the depth]"),
        click.option("--method", type=click.Choice(list(METHODS)), default=None,
                     help=f"Embedding aligner's extraction method. [default: {_EM.method}]"),
        click.option("--threshold", type=ct.FINITE.in_config(), default=None,
                     help="Probability threshold of softmax, entmax and ot. [default: the method's own: softmax 0.3, "
                          "entmax 0, ot 0.1]"),
        click.option("--temperature", type=ct.POSITIVE.in_config(), default=None,
                     help=f"Temperature on the cosine for softmax, entmax and ot. [default: {_EM.temperature}]"),
        click.option("--pooling", type=click.Choice([p.value for p in Pooling]), default=None,
                     help=f"Subword pooling. [default: {_EM.pooling}]"),
        click.option("--distortion", type=ct.FINITE.in_config(), default=None, help=f"Diagonal prior for the embedding aligner. [default: {_EM.distortion}]"),
        click.option("--batch-size", type=ct.BATCH.in_config(), default=None, help=f"Embedding batch size. [default: {_EM.batch_size}]"),
        precision_option(),
        device_option(),
        embedding_threads_option(),
        click.option("--combine-statistical", type=click.Choice(["eflomal", "fast_align"]), default=None,
                     help="Combined aligner: its statistical half. [default: eflomal]"),
        click.option("--combine-symmetrize", type=click.Choice(list(HEURISTICS)), default=None,
                     help="Combined aligner: how the statistical half's two directions are joined first "
                          "(--symmetrize then joins statistical and embedding links). [default: intersect]"),
        click.option("--workers", type=ct.THREADS.in_config(), default=None, help="Worker processes. [default: one per core]"),
        click.option("--seed", type=ct.SEED.in_config(), default=None, help=f"Seed recorded in the signature. [default: {AlignConfig.seed}]"),
        click.option("--work-dir", type=click.Path(path_type=str), default=None, help="Scratch directory."),
        click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
                     help="YAML config; options given here override it."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


def _config_data(config_file: Path | None, kind: str) -> dict[str, Any]:
    if config_file is None:
        return {}
    return load_kind(config_file, kind)


def _apply(data: dict[str, Any], kwargs: dict[str, Any], keys: dict[str, tuple[str, ...]]) -> None:
    for name, path in keys.items():
        if kwargs.get(name) is not None:
            _set(data, path, kwargs[name])


def option_section(param: click.Parameter) -> str | None:
    """The heading of an option in align's help: its backend, else input or output."""
    path = ALIGNER_KEYS.get(param.name or "") or INPUT_KEYS.get(param.name or "") or EVAL_KEYS.get(param.name or "")
    if path is None:
        return None
    if path[0] == "aligner" and len(path) == 3:
        return SECTIONS.get(path[1])
    return SECTIONS.get(path[0], "Aligner options" if path[0] == "aligner" else None)


INPUT_KEYS: dict[str, tuple[str, ...]] = {
    "src": ("input", "src"), "tgt": ("input", "tgt"), "joint": ("input", "joint"), "tsv": ("input", "tsv"),
    "hf": ("input", "hf"), "hf_split": ("input", "hf_split"), "tokenize": ("input", "tokenize"),
    "normalize_punct": ("input", "normalize_punct"), "max_words": ("input", "max_words"),
    "strict": ("input", "strict"), "max_pairs": ("input", "max_pairs"),
    "src_lang": ("src_lang",), "tgt_lang": ("tgt_lang",), "out": ("out",), "pharaoh": ("pharaoh",),
    "self_train": ("self_train", "rounds"), "self_train_steps": ("self_train", "steps"), "preset": ("preset",),
    "overwrite": ("overwrite",),
}


@click.group("align", cls=SectionedGroup, sections=option_section, invoke_without_command=True,
             no_args_is_help=True)
@click.option("--src-lang", default=None, help="Source language code (the one tasks train in), e.g. en.")
@click.option("--tgt-lang", default=None, help="Target language code, e.g. es.")
@click.option("--src", type=click.Path(path_type=str), default=None, help="Source side: one sentence per line.")
@click.option("--tgt", type=click.Path(path_type=str), default=None, help="Target side, line-aligned with --src.")
@click.option("--joint", type=click.Path(path_type=str), default=None, help="One file of 'src ||| tgt' lines.",
              **deprecated_alias("--bitext"))
@click.option("--tsv", type=click.Path(path_type=str), default=None, help="A TSV file: source<TAB>target.")
@click.option("--hf", default=None, help="A datasets name NAME[:CONFIG] (needs network or a cache).")
@click.option("--hf-split", default=None, help=f"Split of --hf. [default: {_IN.hf_split}]")
@click.option("--tokenize/--no-tokenize", default=None,
              help="Moses-tokenize (--no-tokenize: text is pre-tokenized). [default: tokenize]")
@click.option("--normalize-punct", is_flag=True, default=None, help="Moses punctuation normalization first.")
@click.option("--max-words", type=ct.LENGTH.in_config(), default=None, help=f"Skip pairs with a side longer than this many words (1 to 65,536). [default: {_IN.max_words}]")
@click.option("--strict", is_flag=True, default=None, help="Empty or over-long sides are errors, not skipped.")
@click.option("--max-pairs", type=ct.COUNT.in_config(), default=None,
              help="Use only the first N sentence pairs (lines) of the corpus.", **deprecated_alias("--limit"))
@click.option("--out", type=click.Path(path_type=str), default=None, help="Output directory (aligned corpus).")
@click.option("--pharaoh/--no-pharaoh", default=None, help="Also write links.pharaoh. [default: on]")
@click.option("--overwrite", is_flag=True, default=None,
              help="Replace an aligned corpus already in --out (without it, a finished one is refused).")
@click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
              help="Embedding aligner: fast (plain extraction) or quality (with self-training rounds, several "
                   "times slower); options given here override it. [default: fast]")
@click.option("--self-train", type=ct.COUNT.in_config(), default=None, metavar="K",
              help="Embedding aligner: K rounds of align -> adjust the encoder on the links -> re-align; "
                   "rounds kept in OUT.self-train/. [default: 0]")
@click.option("--self-train-steps", type=ct.COUNT.in_config(), default=None,
              help="Adjust optimizer steps per self-training round. [default: 200]")
@aligner_options
@click.pass_context
def align_group(ctx: click.Context, config_file: Path | None, **kwargs: Any) -> None:
    """Word-align a parallel corpus into an aligned corpus (pairs.jsonl + manifest.json).

    \b
    xladjust align --src-lang en --tgt-lang es --src train.en --tgt train.es \\
        --aligner eflomal --symmetrize grow-diag-final-and --out runs/align-en-es

    Subcommand: 'xladjust align evaluate' scores an aligner against gold alignments.
    """
    if ctx.invoked_subcommand is not None:
        return
    from xladjust.align.pipeline import align_corpus
    from xladjust.config import build_config

    data = _config_data(config_file, "align")
    _apply(data, kwargs, INPUT_KEYS)
    _apply(data, kwargs, ALIGNER_KEYS)
    config = build_config(AlignConfig, data, where=str(config_file) if config_file else "align options")
    from xladjust.adjust.selftrain import adjust_round

    result = align_corpus(config, progress=not is_quiet(ctx), adjust_round=adjust_round)
    m = result.manifest
    counts, stats = m["counts"], m["statistics"]
    sym = m["aligner"].get("symmetrization", {})
    click.echo(f"aligned corpus: {result.out}")
    click.echo(f"aligner:        {m['aligner']['name']}"
               + (f" + {sym['heuristic']} ({sym['symmetrizer']})" if "heuristic" in sym else ""))
    click.echo(f"pairs:          {counts['pairs']} of {counts['lines']} lines "
               f"(skipped: {counts['skipped_empty']} empty, {counts['skipped_long']} too long, "
               f"{counts['tokenized_empty']} empty after tokenizing)")
    click.echo(f"links:          {counts['links']} ({stats['links_per_sentence']:.2f} per pair; "
               f"{stats['one_to_one_word_share']:.1%} of words in 1-to-1 links; "
               f"{stats['identical_link_share']:.1%} identical-string links)")
    click.echo(f"time:           {result.timings['total']:.1f} s")


EVAL_KEYS: dict[str, tuple[str, ...]] = {
    "gold_text": ("gold_text",), "gold": ("gold",), "one_indexed": ("one_indexed",),
    "drop_invalid_gold": ("drop_invalid_gold",), "split": ("split",), "seeds": ("seeds",),
    "all_heuristics": ("all_heuristics",),
    "src_lang": ("src_lang",), "tgt_lang": ("tgt_lang",),
    "extra": ("extra", "joint"), "extra_src": ("extra", "src"), "extra_tgt": ("extra", "tgt"),
    "extra_tsv": ("extra", "tsv"), "extra_max_pairs": ("extra", "max_pairs"), "extra_max_words": ("extra", "max_words"),
    "tokenize_extra": ("extra", "tokenize"),
}


@align_group.command("evaluate", cls=SectionedCommand, sections=option_section)
@click.option("--gold-text", type=click.Path(path_type=str), default=None,
              help="Gold sentences: pre-tokenized 'src ||| tgt' lines.")
@click.option("--gold", type=click.Path(path_type=str), default=None,
              help="Gold links: one line of i-j (sure) / ipj (possible) per sentence.")
@click.option("--zero-indexed", "one_indexed", flag_value=False, default=None,
              help="Gold links count from 0 (default: from 1).")
@click.option("--drop-invalid-gold", is_flag=True, default=None,
              help="Drop gold links to NULL (index 0, as WPT files write them) or past the sentence, and count them.")
@click.option("--split", type=click.Choice(list(SPLITS)), default=None,
              help="Score all gold sentences, or the fixed dev or test part (every third sentence is dev). [default: all]")
@click.option("--all-heuristics", is_flag=True, default=None,
              help="Also score every other symmetrization heuristic of the two directions (extra rows).")
@click.option("--seeds", type=SeedList(), default=None,
              help="Several seeds, e.g. 0,1,2: an aligner that samples (eflomal) runs once per seed; AER as mean ± sd.")
@click.option("--src-lang", default=None, help="Source language (to tokenize the extra text).")
@click.option("--tgt-lang", default=None, help="Target language (to tokenize the extra text).")
@click.option("--extra", type=click.Path(path_type=str), default=None,
              help="Extra parallel text for statistical aligners: a 'src ||| tgt' file.")
@click.option("--extra-src", type=click.Path(path_type=str), default=None, help="Extra text, source side.")
@click.option("--extra-tgt", type=click.Path(path_type=str), default=None, help="Extra text, target side.")
@click.option("--extra-tsv", type=click.Path(path_type=str), default=None, help="Extra text as a TSV.")
@click.option("--extra-max-pairs", type=ct.COUNT.in_config(), default=None, help="Use only the first N extra pairs.",
              **deprecated_alias("--extra-limit"))
@click.option("--extra-max-words", type=ct.LENGTH.in_config(), default=None, help=f"Skip extra pairs with a side longer than this many words (1 to 65,536). [default: {_IN.max_words}]")
@click.option("--tokenize-extra/--no-tokenize-extra", default=None, help="Moses-tokenize the extra text. [default: on]")
@click.option("--predicted", type=click.Path(path_type=Path), default=None,
              help="Score these alignments (Pharaoh file or aligned corpus) instead of running an aligner.")
@report_option()
@aligner_options
@click.pass_context
def evaluate_command(ctx: click.Context, config_file: Path | None, predicted: Path | None, report_file: Path | None,
                     **kwargs: Any) -> None:
    """Score an aligner (AER, precision, recall, F1) against gold alignments.

    \b
    xladjust align evaluate --gold-text en-fr.src-tgt --gold en-fr.gold \\
        --extra-src train.en --extra-tgt train.fr --src-lang en --tgt-lang fr --aligner eflomal
    """
    from xladjust.config import build_config, config_to_dict
    from xladjust.outputs import leaf_strings

    if predicted is not None:
        if kwargs["gold_text"] is None or kwargs["gold"] is None:
            raise click.UsageError("--predicted needs --gold-text and --gold")
        with _report_claim(report_file, "align evaluate", [predicted, kwargs["gold_text"], kwargs["gold"]]):
            _score_predicted(predicted, report_file, kwargs)
        return
    data = _config_data(config_file, "align-evaluate")
    _apply(data, kwargs, EVAL_KEYS)
    _apply(data, kwargs, ALIGNER_KEYS)
    config = build_config(EvaluateConfig, data, where=str(config_file) if config_file else "evaluate options")
    with _report_claim(report_file, "align evaluate", [config_file, *leaf_strings(config_to_dict(config))]):
        _evaluate(ctx, config, report_file)


def _report_claim(report_file: Path | None, command: str, inputs: list[Any]) -> Any:
    """The claim on a ``--out`` report file (:func:`xladjust.outputs.claim_output`): not
    an input, not inside a run folder; nothing when no report file is asked for."""
    import contextlib

    from xladjust.outputs import claim_output

    if report_file is None:
        return contextlib.nullcontext()
    return claim_output(report_file, command=command, inputs=inputs, file=True, flag="--out")


def _score_predicted(predicted: Path, report_file: Path | None, kwargs: dict[str, Any]) -> None:
    from xladjust.align.gold import GoldDrops
    from xladjust.align.scoring import score_predictions
    from xladjust.io import write_json_atomic

    one_indexed = kwargs["one_indexed"] is not False
    drops = GoldDrops()
    scores = score_predictions(predicted, Path(kwargs["gold_text"]), Path(kwargs["gold"]), one_indexed,
                               bool(kwargs["drop_invalid_gold"]), kwargs["split"] or "all", drops)
    if drops.total:
        click.echo(f"gold: {drops.describe()}")
    click.echo(_score_table({str(predicted): scores}, str(predicted)))
    if report_file is not None:
        write_json_atomic(report_file, {"predicted": str(predicted), "scores": scores.to_dict(),
                                     "dropped_gold_links": drops.to_dict()})


def _evaluate(ctx: click.Context, config: Any, report_file: Path | None) -> None:
    from xladjust.align.scoring import score_aligner
    from xladjust.io import write_json_atomic

    report = score_aligner(config, progress=not is_quiet(ctx))
    sym = report.aligner.get("symmetrization", {})
    click.echo(f"aligner {report.aligner['name']}"
               + (f" ({sym['heuristic']})" if "heuristic" in sym else "")
               + f": {report.n_gold} gold pairs + {report.n_extra} extra pairs, {report.seconds:.1f} s")
    if report.dropped.get("null") or report.dropped.get("out_of_range"):
        click.echo(f"gold: dropped {report.dropped['null']} NULL (index 0) and {report.dropped['out_of_range']} "
                   f"out-of-range gold links on {report.dropped['lines']} lines")
    if report.split != "all":
        click.echo(f"scored: the {report.split} split, {report.n_scored} of {report.n_gold} gold pairs")
    click.echo(_score_table(report.scores, report.primary))
    if len(report.seed_runs) > 1:
        summary = report.seed_summary()
        click.echo(f"over {len(report.seed_runs)} seeds ({', '.join(str(s) for s, _ in report.seed_runs)}): "
                   + ", ".join(f"{k} {v['mean']:.4f} ± {v['sd']:.4f}" for k, v in summary.items()))
    if report_file is not None:
        write_json_atomic(report_file, report.to_dict())


def _score_table(scores: dict[str, Any], primary: str) -> str:
    width = max(9, *(len(k) + 2 for k in scores))
    lines = [f"{'alignment':<{width}}  {'AER':>7}  {'precision':>9}  {'recall':>7}  {'F1':>7}  {'links':>7}"]
    for name, s in scores.items():
        mark = " *" if name == primary else ""
        lines.append(f"{name + mark:<{width}}  {s.aer:7.4f}  {s.precision:9.4f}  {s.recall:7.4f}  {s.f1:7.4f}  "
                     f"{s.predicted:7d}")
    return "\n".join(lines)


def _gold_dir(folder: Path) -> list[Any]:
    """The gold sets of ``folder``: each NAME.src-tgt that has a NAME.gold beside it."""
    from xladjust.align.tune import GoldSet
    from xladjust.errors import InputError

    sets = [GoldSet(text.name.removesuffix(".src-tgt"), text, text.with_suffix(".gold"))
            for text in sorted(folder.glob("*.src-tgt")) if text.with_suffix(".gold").is_file()]
    if not sets:
        raise InputError(f"--gold-dir {folder}: no NAME.src-tgt file with a NAME.gold beside it")
    return sets


def _numbers(value: str | None, kind: type, option: str) -> tuple[Any, ...] | None:
    if value is None:
        return None
    try:
        return tuple(kind(part) for part in value.split(","))
    except ValueError:
        from xladjust.errors import ConfigError

        raise ConfigError(f"{option} {value!r} is not a comma-separated list of {kind.__name__}s") from None


@align_group.command("tune")
@click.option("--gold-set", "gold_sets", type=(str, click.Path(path_type=str), click.Path(path_type=str)),
              multiple=True, metavar="NAME TEXT GOLD", help="A gold set: its name, 'src ||| tgt' text and links; repeat.")
@click.option("--gold-dir", type=click.Path(path_type=Path), default=None,
              help="A folder of gold sets: every NAME.src-tgt with its NAME.gold (the data pack's alignment-gold: "
                   "en-fr, ja-en, ro-en, zh-en), beside any --gold-set.")
@click.option("--zero-indexed", "one_indexed", flag_value=False, default=True, help="Gold links count from 0.")
@click.option("--drop-invalid-gold", is_flag=True, default=False, help="Drop NULL and out-of-range gold links.")
@click.option("--model", default=None, help=f"Model spec. [default: {_EM.model}]")
@click.option("--layers", default=None, help="Candidate layers, e.g. 6,7,8,9,10. [default: 6-10]")
@click.option("--methods", default=None, help=f"Candidate methods. [default: {','.join(METHODS)}]")
@click.option("--thresholds", default=None, help="Candidate thresholds of the probability methods.")
@click.option("--temperatures", default=None, help="Candidate temperatures of the probability methods.")
@click.option("--distortions", default=None, help="Candidate diagonal priors, e.g. 0,0.5. [default: 0]")
@click.option("--choose-by", "objective", type=click.Choice(["relative", "mean", "regret"]), default="relative",
              show_default=True,
              help="What the choice minimizes over the gold sets: the mean of each set's dev AER divided by that "
                   "set's best (relative: every set weighs the same), the mean dev AER, or the worst set's dev AER "
                   "above its own best (regret).")
@click.option("--reference", "references", multiple=True, metavar="SPEC",
              help="A configuration scored on dev and test beside the choice, never chosen, e.g. "
                   "layer=8,method=argmax or layer=6,method=softmax,threshold=0.3,temperature=0.03,distortion=0.25; "
                   "repeat.")
@click.option("--similarity-cache", "cache", type=click.Path(path_type=Path), default=None,
              help="Folder that keeps the gold sets' similarity matrices, reused by a later tune of the same "
                   "model, layers and gold text.")
@click.option("--pooling", type=click.Choice(["mean", "first", "last"]), default=None, help="Subword pooling.")
@click.option("--batch-size", type=int, default=None, help="Embedding batch size.")
@embedding_threads_option()
@precision_option(bf16_alias=False)
@device_option()
@report_option()
def tune_command(gold_sets: tuple[tuple[str, str, str], ...], gold_dir: Path | None, one_indexed: bool,
                 drop_invalid_gold: bool,
                 model: str | None, layers: str | None, methods: str | None, thresholds: str | None,
                 temperatures: str | None, distortions: str | None, objective: str, references: tuple[str, ...],
                 cache: Path | None, pooling: str | None, batch_size: int | None, embedding_threads: int | None,
                 precision: str | None, device: str | None, report_file: Path | None) -> None:
    """Choose the embedding aligner's layer, method and threshold on the dev split of gold
    sets (every third sentence), and report the choice on the test split.

    \b
    G=../shared/data/alignment-gold
    xladjust align tune --gold-set en-fr $G/en-fr.src-tgt $G/en-fr.gold \\
        --gold-set ro-en $G/ro-en.src-tgt $G/ro-en.gold
    """
    import dataclasses

    from xladjust.align.tune import Candidate, GoldSet, TuneConfig

    emb = {k: v for k, v in {"model": model, "pooling": pooling, "batch_size": batch_size,
                             "threads": embedding_threads, "precision": precision,
                             "device": device}.items() if v is not None}
    grid = {k: v for k, v in {"layers": _numbers(layers, int, "--layers"),
                              "methods": tuple(methods.split(",")) if methods else None,
                              "thresholds": _numbers(thresholds, float, "--thresholds"),
                              "temperatures": _numbers(temperatures, float, "--temperatures"),
                              "distortions": _numbers(distortions, float, "--distortions")}.items()
            if v is not None}
    sets = [GoldSet(*g) for g in gold_sets] + (_gold_dir(gold_dir) if gold_dir is not None else [])
    config = TuneConfig(tuple(sets), dataclasses.replace(EmbeddingOptions(), **emb),
                        one_indexed=one_indexed, drop_invalid_gold=drop_invalid_gold, objective=objective,
                        references=tuple(Candidate.parse(r) for r in references), cache=cache, **grid)
    with _report_claim(report_file, "align tune", [path for g in gold_sets for path in g[1:]] + [config.embedding.model]):
        _tune(config, report_file)


def _tune(config: Any, report_file: Path | None) -> None:
    from xladjust.align.tune import tune_extraction
    from xladjust.io import write_json_atomic

    report = tune_extraction(config)
    names = [g.name for g in config.gold_sets]
    sizes = ", ".join(f"{n}: {report.sizes[n]['dev']} dev / {report.sizes[n]['test']} test" for n in names)
    objective = config.objective
    click.echo(f"{len(report.searched)} candidates, chosen on the dev splits ({sizes}) by {objective} dev AER, "
               f"{report.seconds:.1f} s")
    head = f"{'method':<9} {'layer':>5} {'thr':>6} {'temp':>5} {'dist':>5} {objective:>7}"
    head += "".join(f"  {n + ' dev AER':>14}" for n in names)
    head += "".join(f"  {n + ' test P/R/AER':>24}" for n in names)
    click.echo(head)
    rows = sorted(report.best_per_method.items(), key=lambda kv: report.objective_value(kv[1]))
    rows += [("ref " + c.method, c) for c in report.references]
    for label, c in rows:
        line = (f"{label + (' *' if c == report.chosen else ''):<9} {c.layer:>5} "
                f"{'' if c.threshold is None else f'{c.threshold:g}':>6} "
                f"{'' if c.temperature is None else f'{c.temperature:g}':>5} {c.distortion:>5g} "
                f"{report.objective_value(c):7.4f}")
        line += "".join(f"  {report.dev[c][n].aer:14.4f}" for n in names)
        for n in names:
            s = report.test[c][n]
            line += f"  {s.precision:7.4f} {s.recall:7.4f} {s.aer:7.4f}"
        click.echo(line)
    click.echo(f"chosen: {report.chosen.flags()}")
    if report_file is not None:
        write_json_atomic(report_file, report.to_dict())
