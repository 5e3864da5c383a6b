"""One CLI vocabulary: every option of every command is in the documented table,
old names are hidden aliases that still work and warn, every help has an example, and
docs/cli.md is current."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers_cli import run_cli

from xladjust.cli import cli
from xladjust.cli import vocab as cli_vocab
from xladjust.cli.options import AliasedOption, example

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
COMMANDS = list(cli_vocab.walk(cli))


def _help(path: str, capsys) -> str:
    code, out, err = run_cli([*path.split()[1:], "--help"], capsys)
    assert code == 0, err
    return out


def test_the_walk_reaches_every_command():
    paths = {path for path, _ in COMMANDS}
    assert {"xladjust", "xladjust align", "xladjust align evaluate", "xladjust model prepare", "xladjust transfer",
            "xladjust interpolate", "xladjust flatness", "xladjust probe", "xladjust adjust"} <= paths


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_every_option_is_in_the_vocabulary(path, capsys):
    command = dict(COMMANDS)[path]
    current, old = cli_vocab.option_names(command)
    known = cli_vocab.names()
    assert sorted(set(current) - known) == [], f"{path}: add these options to VOCABULARY in xladjust/cli/vocab.py"
    assert sorted(set(old) - set(cli_vocab.DEPRECATED)) == [], f"{path}: add these aliases to DEPRECATED"
    shown = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", _help(path, capsys)))
    assert not set(old) & {s for s in shown if s not in current}, f"{path}: a deprecated name shows in --help"


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_every_help_has_an_example(path, capsys):
    lines = [line.strip() for line in _help(path, capsys).splitlines()]
    assert any(line.startswith(path + " ") for line in lines), f"{path} --help shows no example command line"


def test_deprecated_names_point_at_current_ones():
    seen = {}
    for path, command in COMMANDS:
        for param in command.params:
            if isinstance(param, AliasedOption):
                for old in param.every_old_name:
                    seen[old] = param.replacement(old)
                    assert cli_vocab.DEPRECATED[old] == param.replacement(old), (path, old)
    assert set(seen) == set(cli_vocab.DEPRECATED)  # every documented alias exists


def test_committed_cli_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == cli_vocab.markdown(), (
        "docs/cli.md is stale: run  python -m xladjust.cli.vocab docs/cli.md")


def test_generator_writes_the_file(tmp_path):
    cli_vocab.main([str(tmp_path / "cli.md")])
    text = (tmp_path / "cli.md").read_text(encoding="utf-8")
    assert "| `--eval` | `--test` | flatness, interpolate |" in text
    assert "| `--fast-align-threads` |" in text


def _alias_command() -> click.Command:
    @click.command(epilog=example("demo --test es=F"))
    @click.option("--test", "tests", multiple=True, help="Test sets.", old_names=("--eval",), cls=AliasedOption)
    @click.option("--layer", type=int, default=None, help="One layer.", old_names=("--probe-layer",), cls=AliasedOption)
    @click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="A device.",
                  old_flags={"--cpu": "cpu"}, cls=AliasedOption)
    def demo(tests, layer, device):
        click.echo(f"{list(tests)} {layer} {device}")

    return demo


def test_an_alias_sets_the_same_option_and_warns_once(caplog):
    runner = CliRunner()
    with caplog.at_level(logging.WARNING, logger="xladjust.cli"):
        result = runner.invoke(_alias_command(), ["--eval", "es=A", "--test", "ru=B", "--eval", "xx=C",
                                                  "--probe-layer", "3", "--cpu"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "['es=A', 'ru=B', 'xx=C'] 3 cpu"
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["--eval is deprecated and will be removed in the next release; use --test",
                        "--probe-layer is deprecated and will be removed in the next release; use --layer",
                        "--cpu is deprecated and will be removed in the next release; use --device cpu"]


def test_an_old_flag_sets_its_value_and_the_new_option_still_wins_when_last():
    runner = CliRunner()
    assert runner.invoke(_alias_command(), ["--cpu"]).output.strip() == "[] None cpu"
    assert runner.invoke(_alias_command(), ["--cpu", "--device", "cuda"]).output.strip() == "[] None cuda"
    assert runner.invoke(_alias_command(), []).output.strip() == "[] None None"


def test_an_alias_is_hidden_from_help():
    out = CliRunner().invoke(_alias_command(), ["--help"]).output
    assert "--test TEXT" in out and "--eval" not in out and "--probe-layer" not in out and "--cpu" not in out
    assert "Example:\n    demo --test es=F" in out


def test_no_alias_no_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="xladjust.cli"):
        result = CliRunner().invoke(_alias_command(), ["--test", "es=A"])
    assert result.exit_code == 0 and caplog.records == []


def test_old_spellings_print_one_deprecation_line_each_on_stderr(tmp_path):
    """From the command line: an old option and old config keys still work, each with one
    warning line on stderr."""
    import subprocess
    import sys

    config = tmp_path / "probe.yaml"
    config.write_text("kind: probe\nmodels: [{name: a, spec: m}]\nbitexts: [{path: b}]\nout: o\n"
                      "bootstrap: 50\nbf16: false\n", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "xladjust.cli", "-q", *args], capture_output=True, text=True,
                              cwd=tmp_path, check=False)

    validated = run("validate", str(config))
    assert validated.returncode == 0, validated.stderr
    assert validated.stderr.splitlines() == [
        f"WARNING xladjust.config: {config}: config key 'bootstrap' is deprecated and will be removed in the next "
        "release; use 'resamples'",
        f"WARNING xladjust.config: {config}: config key 'bf16' is deprecated and will be removed in the next "
        "release; use 'precision: fp32'"]
    embedded = run("embed", "--input", "missing.txt", "--out", "v.npy", "--bf16")
    assert embedded.returncode == 2 and embedded.stderr.splitlines() == [
        "WARNING xladjust.cli: --bf16 is deprecated and will be removed in the next release; use --precision bf16",
        "xladjust: error: input file missing.txt does not exist"]


def test_bad_value_of_an_alias_names_the_current_option(capsys):
    code, _, err = run_cli(["flatness", "--model", "m", "--eval", "es=x", "--max-examples", "nan", "--out", "o"],
                           capsys)
    assert code == 2 and "--max-test-examples" in err and "--max-examples" not in err.split("error:")[-1]


def test_align_help_groups_options_by_backend(capsys):
    out = _help("xladjust align", capsys)
    headings = [line for line in out.splitlines() if line.endswith("options:")]
    assert headings[:6] == ["Input options:", "Output options:", "Aligner options:", "fast_align options:",
                            "eflomal options:", "Embedding aligner options:"]
    fast = out.index("fast_align options:")
    assert fast < out.index("--fast-align-threads") < out.index("eflomal options:") < out.index("--samplers")
    assert out.index("Embedding aligner options:") < out.index("--embedding-threads")


def test_choices_come_from_the_registries(capsys):
    from xladjust.tasks.continual import objective_names
    from xladjust.tasks.registry import task_names

    for path in ("xladjust interpolate", "xladjust flatness"):
        assert f"[{'|'.join(task_names())}]" in _help(path, capsys)
    assert "|".join(objective_names()) in _help("xladjust finetune", capsys)
    code, _, err = run_cli(["flatness", "--model", "m", "--task", "nope", "--test", "es=x", "--out", "o"], capsys)
    assert code == 2 and "nope" in err


def test_defaults_agree_across_commands():
    import dataclasses

    from xladjust.adjust.config import AdjustConfig
    from xladjust.align.config import AlignConfig
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.training_common import auto_bf16

    configs = {"xladjust adjust": AdjustConfig}  # commands whose unset options take the config's default
    seeds, precision, device = {}, {}, {}
    for path, command in COMMANDS:
        for param in command.params:
            if param.name == "seed" and not path.startswith("xladjust align"):
                default = param.default
                if path in configs:
                    default = next(f.default for f in dataclasses.fields(configs[path]) if f.name == "seed")
                seeds[path] = default
            if param.name == "precision":
                precision[path] = param.default
            if param.name == "device":
                device[path] = param.default
    assert set(seeds.values()) == {0} and len(seeds) >= 4, seeds
    assert AlignConfig.seed == 0 and next(f.default for f in dataclasses.fields(FinetuneConfig) if f.name == "seed") == 0
    assert set(precision.values()) == {None} and len(precision) >= 10, precision  # unset: auto
    assert set(device.values()) == {None} and len(device) >= 10, device  # unset: auto
    assert isinstance(auto_bf16(), bool)


ALIASES = [(path, param, old) for path, command in COMMANDS for param in command.params
           if isinstance(param, AliasedOption) for old in param.every_old_name]


@pytest.mark.parametrize(("path", "param", "old"), ALIASES, ids=[f"{p[9:]} {o}" for p, _, o in ALIASES])
def test_each_real_alias_sets_its_option_and_warns(path, param, old, caplog):
    """The old spelling and the new one parse to the same value; the old one logs the one
    deprecation line (on stderr when run from the command line)."""
    command = dict(COMMANDS)[path]
    ctx = click.Context(command, info_name=path.split()[-1])
    new = cli_vocab.DEPRECATED[old]
    if old in param.old_flags:
        old_args, new_args = [old], new.split()
    else:
        old_args, new_args = [old, "es=x"], [new, "es=x"]
    with caplog.at_level(logging.WARNING, logger="xladjust.cli"):
        values, _, _ = command.make_parser(ctx).parse_args(old_args)
    assert [r.getMessage() for r in caplog.records] == [
        f"{old} is deprecated and will be removed in the next release; use {new}"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="xladjust.cli"):
        expected, _, _ = command.make_parser(ctx).parse_args(new_args)
    assert values[param.name] == expected[param.name] and caplog.records == []


@pytest.mark.parametrize("fast", [True, False])
def test_unset_precision_follows_the_device_like_adjusts_auto(monkeypatch, fast):
    import torch

    from xladjust import training_common
    from xladjust.cli.options import precision_option, uses_bf16
    from xladjust.training_common import auto_bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(training_common, "cpu_has_fast_bf16", lambda: fast)

    @click.command()
    @precision_option()
    def demo(precision):
        click.echo(repr(uses_bf16(precision)))

    runner = CliRunner()
    assert auto_bf16() is fast
    assert runner.invoke(demo, []).output.strip() == repr(fast)
    assert runner.invoke(demo, ["--precision", "auto"]).output.strip() == repr(fast)
    assert runner.invoke(demo, ["--precision", "fp32"]).output.strip() == "False"
    assert runner.invoke(demo, ["--precision", "bf16"]).output.strip() == "True"
    assert runner.invoke(demo, ["--no-bf16"]).output.strip() == "False"  # the old flags, deprecated
    assert runner.invoke(demo, ["--bf16"]).output.strip() == "True"


def test_a_commands_threads_means_the_global_threads(monkeypatch):
    import torch

    from xladjust.cli import types as ct
    from xladjust.cli.options import threads_option

    @click.command()
    @threads_option(ct.POSITIVE_THREADS)
    def demo(threads):
        click.echo(repr(threads))

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        result = CliRunner().invoke(demo, ["--threads", "1"])
        assert result.output.strip() == "1"
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)
    assert CliRunner().invoke(demo, []).output.strip() == "None"


@pytest.mark.parametrize(("path", "flag", "name"), [("xladjust flatness", "--test", "evals"),
                                                    ("xladjust flatness", "--eval", "evals"),
                                                    ("xladjust transfer", "--model", "models"),
                                                    ("xladjust transfer", "--models", "models")])
def test_named_values_take_several_after_one_flag(path, flag, name):
    command = dict(COMMANDS)[path]
    ctx = click.Context(command, info_name=path.split()[-1])
    values, _, _ = command.make_parser(ctx).parse_args([flag, "a=X", "b=Y", flag, "c=Z"])
    assert list(values[name]) == ["a=X", "b=Y", "c=Z"]


@pytest.mark.parametrize("fast", [True, False])
def test_every_config_precision_default_follows_the_device(monkeypatch, fast):
    """A library or YAML config that names no precision gets bf16 autocast only where the
    device multiplies bf16 natively: on a CPU without it, bf16 matmuls run 55x slower than
    fp32, which once made a pipeline's fine-tunings take 30 minutes instead of 1.5."""
    import dataclasses

    import torch

    from xladjust import training_common
    from xladjust.align.config import EmbeddingOptions
    from xladjust.probes.config import ProbeConfig
    from xladjust.probes.landscape_run import EvalSettings
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.training import TrainSettings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(training_common, "cpu_has_fast_bf16", lambda: fast)
    from xladjust.training_common import Precision

    expected = Precision.BF16 if fast else Precision.FP32
    for config in (EmbeddingOptions, ProbeConfig, FinetuneConfig):  # config files: precision
        field = next(f for f in dataclasses.fields(config) if f.name == "precision")
        assert field.default_factory is training_common.auto_precision, config
    for settings in (EvalSettings, TrainSettings):  # library settings: a bf16 flag
        field = next(f for f in dataclasses.fields(settings) if f.name == "bf16")
        assert field.default_factory is training_common.auto_bf16, settings
    assert TrainSettings(epochs=1, batch_size=1, learning_rate=1e-5, seed=0).bf16 is fast
    assert EmbeddingOptions().precision is expected and EmbeddingOptions().bf16 is fast
    assert EmbeddingOptions(precision="auto").precision is expected  # auto is decided when the config is made
    assert EmbeddingOptions(precision="fp32").bf16 is False and EmbeddingOptions(precision="bf16").bf16 is True


def test_fp16_is_adjusts_only_and_the_old_bf16_key_still_loads():
    from xladjust.align.config import EmbeddingOptions
    from xladjust.config import build_config
    from xladjust.errors import ConfigError

    assert build_config(EmbeddingOptions, {"bf16": False}).precision.value == "fp32"
    assert build_config(EmbeddingOptions, {"bf16": True}).precision.value == "bf16"
    with pytest.raises(ConfigError, match="precision fp16 is adjust's only"):
        build_config(EmbeddingOptions, {"precision": "fp16"})


@pytest.mark.parametrize("fast", [True, False])
def test_unset_bf16_arguments_follow_the_device(monkeypatch, fast, tmp_path):
    """Function arguments left unset resolve like the config fields (bf16_or_auto)."""
    import torch

    from xladjust import training_common
    from xladjust.probes.geometry import geometry_probe_config
    from xladjust.probes.views import CheckpointEmbedder

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(training_common, "cpu_has_fast_bf16", lambda: fast)
    assert geometry_probe_config(tmp_path / "heldout").bf16 is fast
    assert CheckpointEmbedder(None, layers=(1,), sentence_layers=(1,)).bf16 is fast
    assert geometry_probe_config(tmp_path / "heldout", bf16=not fast).bf16 is (not fast)


# Words for one idea, ours and others': at most one word of a group may be a visible option
# anywhere in the command line (the others are deprecated hidden aliases, or unused). Each
# deprecated name forms a group with its replacement too (HOMONYMS aside).
SYNONYMS: list[set[str]] = [
    {"--device", "--cpu", "--gpu", "--cuda"},
    {"--precision", "--bf16", "--no-bf16", "--fp16", "--dtype", "--mixed-precision"},
    {"--resamples", "--bootstrap", "--n-resamples", "--n-bootstrap", "--bootstrap-samples"},
    {"--threads", "--torch-threads", "--num-threads", "--omp-threads", "--cpu-threads"},
    {"--fast-align-threads", "--aligner-threads"},
    {"--embedding-threads", "--torch-threads"},
    {"--max-pairs", "--limit", "--max-sentences", "--max-lines", "--n-pairs", "--num-pairs"},
    {"--max-tatoeba-pairs", "--max-tatoeba"},
    {"--extra-max-pairs", "--extra-limit"},
    {"--max-test-examples", "--max-examples", "--max-eval-examples", "--max-test"},
    {"--out", "--json", "--output", "--out-dir", "--output-dir", "--report"},
    {"--test", "--eval", "--eval-set"},
    {"--model", "--models"},
    {"--layer", "--primary-layer", "--probe-layer"},
    {"--bitext", "--probe-bitext", "--heldout"},
    {"--symmetrize-with", "--symmetrizer"},
    {"--lr", "--learning-rate"},
]
# Old names that are, for their one release, also current elsewhere with another meaning:
# align's --threads (now --fast-align-threads; elsewhere the command's threads) and
# align's --bitext (now --joint; elsewhere a held-out corpus).
HOMONYMS = {"--threads", "--bitext"}


def synonym_clashes(commands: list[tuple[str, click.Command]], groups: list[set[str]]) -> list[str]:
    """One line per group with more than one visible option name, naming the commands."""
    shown: dict[str, set[str]] = {}
    for path, command in commands:
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for name in cli_vocab.option_names_of(param)[0]:
                    shown.setdefault(name, set()).add(path)
    clashes = []
    for group in groups:
        used = sorted(name for name in group if name in shown)
        if len(used) > 1:
            clashes.append(" and ".join(f"{n} ({', '.join(sorted(shown[n]))})" for n in used))
    return clashes


def synonym_groups() -> list[set[str]]:
    deprecated = [{old, new.split()[0]} for old, new in cli_vocab.DEPRECATED.items() if old not in HOMONYMS]
    return SYNONYMS + deprecated


def test_one_word_per_idea_across_every_command():
    clashes = synonym_clashes(COMMANDS, synonym_groups())
    assert clashes == [], ("one idea, several visible option names; keep one in VOCABULARY and make the others "
                           f"deprecated aliases: {clashes}")


def test_the_synonym_check_finds_two_visible_words():
    @click.command()
    @click.option("--device", help="Where.")
    @click.option("--cpu", is_flag=True, help="On the CPU.")
    def two(device, cpu):
        pass

    @click.command()
    @click.option("--device", help="Where.", old_flags={"--cpu": "cpu"}, cls=AliasedOption)
    def one(device):
        pass

    assert synonym_clashes([("demo", two)], SYNONYMS) == ["--cpu (demo) and --device (demo)"]
    assert synonym_clashes([("a", one), ("b", two)], [{"--device", "--cpu"}]) == ["--cpu (b) and --device (a, b)"]
    assert synonym_clashes([("demo", one)], SYNONYMS) == []


def test_align_options_set_the_key_of_their_own_word():
    """An align option sets the config key of its name: the key (--iterations), its section
    and key (--fast-align-threads: aligner.fast_align.threads) or its section's main value
    (--aligner: aligner.name)."""
    from xladjust.cli.align import ALIGNER_KEYS, EVAL_KEYS, INPUT_KEYS

    older = {"combine_statistical", "combine_symmetrize", "tokenize_extra"}  # the section as a suffix or
    for table in (ALIGNER_KEYS, INPUT_KEYS, EVAL_KEYS):                      # a shortened prefix
        for name, path in table.items():
            words = {path[-1], "_".join(path[-2:]), *(path[-2:-1])}
            assert name in words or name in older, f"--{name.replace('_', '-')} sets {'.'.join(path)}"


def test_adjust_probe_and_finetune_options_are_named_as_their_config_keys():
    import dataclasses

    from xladjust.adjust.config import AdjustConfig
    from xladjust.cli.adjust import _DIRECT
    from xladjust.cli.tasks import _finetune_dict
    from xladjust.probes.config import ProbeConfig
    from xladjust.tasks.config import FinetuneConfig

    commands = dict(COMMANDS)

    def words(path: str) -> set[str]:
        return {name.lstrip("-").replace("-", "_") for name in cli_vocab.option_names(commands[path])[0]}

    assert set(_DIRECT) <= {f.name for f in dataclasses.fields(AdjustConfig)}
    assert set(_DIRECT) <= words("xladjust adjust"), set(_DIRECT) - words("xladjust adjust")
    probe_keys = {f.name for f in dataclasses.fields(ProbeConfig)}
    for param in commands["xladjust probe"].params:  # probe copies its options into the config by name
        if param.name in probe_keys:
            said = cli_vocab.option_names_of(param)[0][0].lstrip("-").replace("-", "_")
            assert param.name in (said, said + "s"), f"--{said} sets {param.name}"  # a repeated option: plural
    kw = {param.name: None for param in commands["xladjust finetune"].params}
    kw.update(train=(), tests=())
    data = _finetune_dict(kw, "m", Path("o"), quiet=True)
    finetune_keys = {f.name for f in dataclasses.fields(FinetuneConfig)}
    assert set(data) <= finetune_keys
    assert set(data) - words("xladjust finetune") - {"model", "out", "progress"} == set()


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_every_option_says_what_it_does(path):
    """No option without help text, and no click-escaped '%%' printed literally."""
    command = dict(COMMANDS)[path]
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            help_text = (param.help or "").strip()
            assert help_text, f"{path} {param.opts[0]} has no help text"
            assert "%%" not in help_text, f"{path} {param.opts[0]}: help prints a literal '%%'"
