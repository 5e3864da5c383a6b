"""Fault injection for model loading, non-finite values, damaged checkpoints and numeric
options, through the CLI in-process.

Every case asserts: exit status 2, exactly one ``xladjust: error:`` line naming the
problem, every input byte-identical (sha256 before and after), and no ``.complete``
marker (nor any output file) where the command would write. Model-loading cases run with
"y" lines on stdin, as ``yes | xladjust ...`` would give: a checkpoint's own code must
never run (its module writes a marker file when imported), prompt or no prompt.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import helpers_faults as hf
import pytest
from helpers_adjust import write_sample_corpus
from helpers_cli import run_cli
from helpers_tasks import write_nli

from xladjust.cli import main

YES = "y\n" * 100


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_checkpoints) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faults-models")
    tiny = tiny_checkpoints["wordpiece"]
    marker = root / "MARKER"
    e: dict[str, Path] = {"root": root, "marker": marker, "tiny": tiny}
    e["text"] = root / "words.txt"
    e["text"].write_text("the house is big\nla casa es grande\n", encoding="utf-8")
    e["src"] = root / "train.en"
    e["src"].write_text("the house is big\nthe dog and the cat\n", encoding="utf-8")
    e["tgt"] = root / "train.es"
    e["tgt"].write_text("la casa es grande\nel perro y el gato\n", encoding="utf-8")
    e["nli"] = write_nli(root / "nli.tsv", 24, 0)
    e["corpus"] = write_sample_corpus(root / "corpus")
    e["code"] = hf.remote_code(tiny, root / "code", marker)
    e["code-bert"] = hf.remote_code(tiny, root / "code-bert", marker, known_type=True)
    e["code-tok"] = hf.remote_code(tiny, root / "code-tok", marker, in_tokenizer=True)
    e["nan"] = hf.nan_weight(tiny, root / "nan")
    e["overflow"] = hf.overflowing(tiny, root / "overflow")
    e["missing"] = hf.missing_tensor(tiny, root / "missing")
    e["truncated"] = hf.truncated_weights(tiny, root / "truncated")
    e["badtok"] = hf.not_a_tokenizer(tiny, root / "badtok")
    e["badconfig"] = hf.broken_config(tiny, root / "badconfig")
    e["bigvocab"] = hf.rebuilt(tiny, root / "bigvocab", vocab_size=40)
    e["shortpos"] = hf.rebuilt(tiny, root / "shortpos", max_position_embeddings=16)
    e["task"] = hf.task_checkpoint(tiny, root / "task")
    e["task-nan"] = hf.task_checkpoint(tiny, root / "task-nan", nan=True)
    e["meta-cut"] = hf.with_meta(e["task"], root / "meta-cut", '{"task": "nli", "opt')
    e["meta-extra"] = hf.with_meta(e["task"], root / "meta-extra",
                                   '{"task": "nli", "options": {"max_length": 32, "colour": "red"}}')
    e["meta-list"] = hf.with_meta(e["task"], root / "meta-list", '{"task": "nli", "options": [32]}')
    e["meta-long"] = hf.with_meta(e["task"], root / "meta-long", '{"task": "nli", "options": {"max_length": 4096}}')
    e["meta-type"] = hf.with_meta(e["task"], root / "meta-type", '{"task": 7, "options": {"max_length": 32}}')
    return e


# --- commands, by what they load ---------------------------------------------------------

def encoder_commands(e: dict[str, Path], model: Path, out: Path) -> dict[str, list[str]]:
    """Every command that loads an encoder checkpoint MODEL (a model spec)."""
    m = str(model)
    return {
        "embed": ["embed", "--model", m, "--input", str(e["text"]), "--out", str(out / "v.npy")],
        "model-prepare": ["model", "prepare", m],
        "probe": ["probe", "--model", f"m={m}", "--bitext", str(e["corpus"]), "--out", str(out), "--precision", "fp32"],
        "adjust": ["adjust", "--model", m, "--aligned", str(e["corpus"]), "--out", str(out), "--max-steps", "2",
                   "--batch-size", "4", "--precision", "fp32"],
        "finetune": ["finetune", "--task", "nli", "--model", m, "--train", str(e["nli"]), "--out", str(out),
                     "--max-steps", "1", "--precision", "fp32"],
        "transfer": ["transfer", "--task", "nli", "--model", f"a={m}", "--seeds", "1", "--train", str(e["nli"]),
                     "--test", f"es={e['nli']}", "--out", str(out), "--max-steps", "1", "--precision", "fp32"],
        "align-embedding": ["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(e["src"]),
                            "--tgt", str(e["tgt"]), "--out", str(out), "--aligner", "embedding", "--model", m,
                            "--workers", "1", "--precision", "fp32"],
    }


def task_commands(e: dict[str, Path], task: Path, out: Path) -> dict[str, list[str]]:
    """Every command that loads a fine-tuned task checkpoint TASK."""
    t, test = str(task), f"es={e['nli']}"
    return {
        "evaluate": ["evaluate", "--model", t, "--test", test, "--out", str(out), "--precision", "fp32"],
        "interpolate": ["interpolate", "--from", t, "--to", t, "--test", test, "--out", str(out),
                        "--alphas", "0,1", "--precision", "fp32"],
        "flatness": ["flatness", "--model", t, "--test", test, "--out", str(out), "--directions", "1",
                     "--radii", "0,0.1", "--precision", "fp32"],
    }


def fail(capsys, monkeypatch, e, args: list[str], fragment: str, out: Path, *inputs: Path) -> str:
    """Run ``xladjust -q ARGS`` with "y" lines on stdin; assert the fault contract."""
    watched = [e["text"], e["nli"], e["corpus"], e["src"], e["tgt"], *inputs]
    before = hf.sha256_tree(*watched)
    monkeypatch.setattr(sys, "stdin", io.StringIO(YES))
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["-q", "--threads", "1", *args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert info.value.code == 2, err
    assert len(lines) == 1 and lines[0].startswith("xladjust: error:"), err
    assert fragment in lines[0], err
    assert not e["marker"].exists(), "checkpoint code ran"
    assert hf.sha256_tree(*watched) == before, "an input changed"
    if out.exists():
        assert not list(out.glob("**/.complete")), "an incomplete output looks complete"
        assert not (out / "v.npy").exists() and not (out / "model.safetensors").exists()
    return lines[0]


# --- 1. checkpoint code never runs (every model-loading command, "y" on stdin) -----------

ENCODER_COMMANDS = ["embed", "model-prepare", "probe", "adjust", "finetune", "transfer", "align-embedding"]
TASK_COMMANDS = ["evaluate", "interpolate", "flatness"]


@pytest.mark.parametrize("command", ENCODER_COMMANDS)
@pytest.mark.parametrize("variant", ["code", "code-bert", "code-tok"])
def test_checkpoint_code_never_runs_encoder_commands(env, command, variant, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = encoder_commands(env, env[variant], out)[command]
    line = fail(capsys, monkeypatch, env, args, "asks to run its own Python code", out, env[variant])
    assert "auto_map" in line


@pytest.mark.parametrize("command", TASK_COMMANDS)
def test_checkpoint_code_never_runs_task_commands(env, command, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = task_commands(env, env["code"], out)[command]
    fail(capsys, monkeypatch, env, args, "asks to run its own Python code", out, env["code"])


def test_library_loaders_refuse_code_before_transformers_reads_it(env, monkeypatch):
    from xladjust.errors import ModelError
    from xladjust.models import load_config, load_model, load_tokenizer

    monkeypatch.setattr(sys, "stdin", io.StringIO(YES))
    for load in (load_model, load_config, load_tokenizer):
        with pytest.raises(ModelError, match="its own Python code"):
            load(str(env["code"]))
    assert not env["marker"].exists()


@pytest.mark.slow
def test_yes_piped_into_every_model_loading_command_in_a_subprocess(env, tmp_path):
    """The acceptance case verbatim: real processes, ``yes |`` on stdin."""
    # each command its own --out: a failed adjust leaves its (incomplete) run folder, which
    # the output guard rightly refuses to hand to another command
    commands = {**{name: encoder_commands(env, env["code"], tmp_path / "enc" / name)[name]
                   for name in encoder_commands(env, env["code"], tmp_path)},
                **{name: task_commands(env, env["code"], tmp_path / "task" / name)[name]
                   for name in task_commands(env, env["code"], tmp_path)}}
    for name, args in commands.items():
        proc = subprocess.run([sys.executable, "-m", "xladjust.cli", "-q", "--threads", "1", *args],
                              input=YES, capture_output=True, text=True, timeout=300)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2, (name, proc.stderr)
        assert len(lines) == 1 and "asks to run its own Python code" in lines[0], (name, proc.stderr)
        assert "[y/N]" not in proc.stdout + proc.stderr, name
        assert not env["marker"].exists(), name


# --- 2. non-finite weights, vectors and losses ---------------------------------------------

@pytest.mark.parametrize("command", ["embed", "model-prepare", "probe", "adjust", "finetune"])
def test_a_checkpoint_with_one_nan_weight_is_refused(env, command, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = encoder_commands(env, env["nan"], out)[command]
    line = fail(capsys, monkeypatch, env, args, "NaN or infinite", out, env["nan"])
    assert "query.weight" in line


@pytest.mark.parametrize("command", ["evaluate", "flatness"])
def test_a_task_checkpoint_with_an_infinite_weight_is_refused(env, command, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = task_commands(env, env["task-nan"], out)[command]
    fail(capsys, monkeypatch, env, args, "classifier.weight", out, env["task-nan"])


def test_embed_refuses_vectors_that_overflow(env, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = encoder_commands(env, env["overflow"], out)["embed"]
    fail(capsys, monkeypatch, env, args, "NaN or infinite", out, env["overflow"])


def test_adjust_with_a_huge_learning_rate_stops_and_is_not_complete(env, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = encoder_commands(env, env["tiny"], out)["adjust"] + ["--lr", "1e30"]
    line = fail(capsys, monkeypatch, env, args, "diverged", out, env["tiny"])
    assert "nan" in line or "inf" in line
    assert not (out / "model.safetensors").exists()


def test_finetune_with_a_huge_learning_rate_stops_and_saves_nothing(env, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = encoder_commands(env, env["tiny"], out)["finetune"][:-4] + ["--max-steps", "4", "--lr", "1e30",
                                                                       "--precision", "fp32"]
    fail(capsys, monkeypatch, env, args, "fine-tuning nli", out, env["tiny"])
    assert not (out / "model.safetensors").exists()


def test_the_finite_check_itself():
    import numpy as np
    import torch

    from xladjust.finite import (
        NonFiniteError,
        check_finite_array,
        check_finite_loss,
        first_non_finite,
    )

    check_finite_loss(torch.tensor(0.5), 1, "x")
    with pytest.raises(NonFiniteError, match="step 3"):
        check_finite_loss(float("inf"), 3, "x")
    assert first_non_finite([("a", torch.ones(2)), ("b", torch.tensor([1.0, float("nan")]))]) == "b"
    assert first_non_finite([("ids", torch.tensor([1, 2])), ("v", np.ones(3))]) is None
    with pytest.raises(NonFiniteError, match="1 of 4"):
        check_finite_array(np.array([1.0, 2.0, np.inf, 0.0]), "v")


# --- 3. damaged checkpoints: one line, not a traceback --------------------------------------

DAMAGED = [
    ("truncated", "finetune", "cannot load"),
    ("truncated", "embed", "cannot load"),
    ("truncated", "adjust", "cannot load"),
    ("missing", "embed", "lacks 1 weight"),
    ("missing", "finetune", "lacks 1 weight"),
    ("badtok", "embed", "is JSON but not a tokenizer"),
    ("badtok", "finetune", "is JSON but not a tokenizer"),
    ("badconfig", "embed", "config.json"),
    ("badconfig", "probe", "config.json"),
    ("bigvocab", "embed", "embedding matrix has 40 rows"),
    ("bigvocab", "finetune", "embedding matrix has 40 rows"),
]


@pytest.mark.parametrize(("variant", "command", "fragment"), DAMAGED, ids=[f"{v}-{c}" for v, c, _ in DAMAGED])
def test_damaged_encoder_checkpoints(env, variant, command, fragment, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = encoder_commands(env, env[variant], out)[command]
    fail(capsys, monkeypatch, env, args, fragment, out, env[variant])


def test_finetune_max_length_beyond_the_models_positions(env, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = encoder_commands(env, env["shortpos"], out)["finetune"] + ["--max-length", "32"]
    line = fail(capsys, monkeypatch, env, args, "exceeds the 16 positions", out, env["shortpos"])
    assert "--max-length 16" in line


TASK_DAMAGE = [
    ("meta-cut", "evaluate", "cut short"),
    ("meta-cut", "interpolate", "cut short"),
    ("meta-cut", "flatness", "cut short"),
    ("meta-extra", "evaluate", "unknown encoding option(s) colour"),
    ("meta-list", "evaluate", "'options' must be a mapping"),
    ("meta-type", "evaluate", "'task' must be a task name"),
    ("meta-long", "evaluate", "exceeds the 64 positions"),
]


@pytest.mark.parametrize(("variant", "command", "fragment"), TASK_DAMAGE, ids=[f"{v}-{c}" for v, c, _ in TASK_DAMAGE])
def test_damaged_task_checkpoints(env, variant, command, fragment, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = task_commands(env, env[variant], out)[command]
    fail(capsys, monkeypatch, env, args, fragment, out, env[variant])


def test_a_sound_task_checkpoint_evaluates(env, tmp_path, capsys):
    """The damaged variants above differ from this one only in their defect."""
    code, _, err = run_cli(["-q", "evaluate", "--model", str(env["task"]), "--test", f"es={env['nli']}",
                            "--out", str(tmp_path / "ok"), "--precision", "fp32"], capsys)
    assert code == 0, err
    assert (tmp_path / "ok" / ".complete").exists()


# --- 4. numeric options: non-finite, absurd sizes, seeds out of range ------------------------

def numeric_cases() -> list[tuple[str, str, list[str], str]]:
    """(id, command, extra options, fragment of the message)."""
    big = "10000000000"
    return [
        ("adjust-lr-nan", "adjust", ["--lr", "nan"], "--lr nan: is not finite"),
        ("adjust-lr-inf", "adjust", ["--lr", "inf"], "--lr inf: is not finite"),
        ("adjust-lr-overflow", "adjust", ["--lr", "1e400"], "--lr 1e400: is not finite"),
        ("adjust-lr-1e308", "adjust", ["--lr", "1e308"], "overflow float32 optimizer arithmetic"),
        ("adjust-batch-huge", "adjust", ["--batch-size", big], "cannot fit in memory"),
        ("adjust-seed-negative", "adjust", ["--seed", "-1"], "--seed -1: is out of range"),
        ("adjust-seed-2^32", "adjust", ["--seed", str(2**32)], "from 0 to 4294967295"),
        ("adjust-max-steps-huge", "adjust", ["--max-steps", "10" * 10], "out of range"),
        ("adjust-layer-huge", "adjust", ["--layer", big], "no model has that many layers"),
        ("finetune-lr-nan", "finetune", ["--lr", "nan"], "--lr nan"),
        ("finetune-epochs-inf", "finetune", ["--epochs", "inf"], "--epochs inf: is not finite"),
        ("finetune-max-length-huge", "finetune", ["--max-length", big], "--max-length"),
        ("finetune-seed-2^32", "finetune", ["--seed", str(2**32)], "--seed"),
        ("finetune-batch-zero", "finetune", ["--batch-size", "0"], "--batch-size 0"),
        ("finetune-continual-weight-nan", "finetune", ["--continual-weight", "nan"], "--continual-weight"),
        ("transfer-seeds-negative", "transfer", ["--seeds", "1,-2"], "'-2' is out of range"),
        ("transfer-resamples-huge", "transfer", ["--resamples", "1" + "0" * 12], "--resamples"),
        ("probe-seed-negative", "probe", ["--seed", "-5"], "--seed -5"),
        ("probe-bootstrap-huge", "probe", ["--resamples", "1" + "0" * 12], "--resamples"),
        ("probe-batch-huge", "probe", ["--batch-size", big], "--batch-size"),
        ("embed-batch-huge", "embed", ["--batch-size", big], "--batch-size"),
        ("align-seed-negative", "align-embedding", ["--seed", "-1"], "--seed -1"),
        ("align-distortion-nan", "align-embedding", ["--distortion", "nan"], "--distortion nan"),
        ("align-batch-huge", "align-embedding", ["--batch-size", big], "--batch-size"),
        ("align-eflomal-model", "align-embedding", ["--eflomal-model", "7"], "from 1 to 3"),
        ("align-workers-huge", "align-embedding", ["--workers", big], "more than any machine has"),
    ]


@pytest.mark.parametrize(("command", "extra", "fragment"), [c[1:] for c in numeric_cases()],
                         ids=[c[0] for c in numeric_cases()])
def test_numeric_options_of_encoder_commands(env, command, extra, fragment, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = encoder_commands(env, env["tiny"], out)[command] + extra
    fail(capsys, monkeypatch, env, args, fragment, out, env["tiny"])


TASK_NUMERIC = [
    ("flatness-radii-nan", "flatness", ["--radii", "0,nan"], "'nan' is not finite"),
    ("flatness-radii-overflow", "flatness", ["--radii", "1e400"], "is not finite"),
    ("flatness-directions-huge", "flatness", ["--directions", "1000000000"], "--directions"),
    ("flatness-seed-huge", "flatness", ["--seed", str(2**40)], "--seed"),
    ("interpolate-alphas-count-huge", "interpolate", ["--alphas", "0:1:1000000000"], "--alphas"),
    ("interpolate-alphas-nan", "interpolate", ["--alphas", "nan,1"], "'nan' is not finite"),
    ("interpolate-alphas-inf-end", "interpolate", ["--alphas", "0:inf:3"], "'inf' is not finite"),
    ("evaluate-batch-huge", "evaluate", ["--batch-size", "10000000000"], "--batch-size"),
]


@pytest.mark.parametrize(("command", "extra", "fragment"), [c[1:] for c in TASK_NUMERIC],
                         ids=[c[0] for c in TASK_NUMERIC])
def test_numeric_options_of_task_commands(env, command, extra, fragment, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    args = task_commands(env, env["task"], out)[command] + extra
    fail(capsys, monkeypatch, env, args, fragment, out, env["task"])


def test_global_threads_option_is_bounded(env, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    fail(capsys, monkeypatch, env, ["--threads", "1000000000", *encoder_commands(env, env["tiny"], out)["embed"]],
         "--threads 1000000000", out, env["tiny"])


YAML_CASES = [
    ("lr-nan", "lr: .nan", "lr: nan is not finite"),
    ("lr-inf", "lr: .inf", "lr: inf is not finite"),
    ("lr-huge", "lr: 1.0e+300", "overflow float32"),
    ("seed-negative", "seed: -1", "seed: -1 is out of range"),
    ("seed-huge", "seed: 99999999999", "seed: 99999999999 is out of range"),
    ("batch-huge", "batch_size: 100000000000", "cannot fit in memory"),
    ("option-inf", "objective_options: {reg_weight: .inf}", "reg_weight: inf is not finite"),
]


@pytest.mark.parametrize(("line", "fragment"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
@pytest.mark.parametrize("how", ["validate", "adjust"])
def test_yaml_configs_get_the_same_bounds(env, line, fragment, how, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    config = tmp_path / "adjust.yaml"
    config.write_text(f"kind: adjust\nmodel: {env['tiny']}\naligned: [{env['corpus']}]\nout: {out}\n{line}\n")
    args = ["validate", str(config)] if how == "validate" else ["adjust", "--config", str(config)]
    fail(capsys, monkeypatch, env, args, fragment, out, config, env["tiny"])
    assert not out.exists()


def test_bounds_and_types_agree():
    """The click type and the config check come from the same Bound."""
    from xladjust import bounds
    from xladjust.cli import types as cli_types

    for value in (0, 1, 2**32 - 1, 2**32, -1):
        by_type = cli_types.parse_number(str(value), bounds.SEED)[1] is None
        assert by_type == (bounds.SEED.problem(value, full=False) is None), value
    assert bounds.BATCH.problem(0, full=False) is None  # the lower end is the config's own check()
    assert bounds.BATCH.problem(0) is not None
    assert cli_types.parse_number("1e3", bounds.BATCH)[1] is not None  # integers are written as integers
