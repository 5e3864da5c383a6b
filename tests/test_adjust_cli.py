"""``xladjust adjust`` and ``xladjust validate`` for adjust configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers_adjust import write_sample_corpus
from helpers_cli import run_cli

from xladjust.adjust.config import AdjustConfig
from xladjust.config import build_config
from xladjust.errors import ConfigError


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli-corpora")
    return write_sample_corpus(root / "a"), write_sample_corpus(root / "b", repeat=2)


def test_adjust_end_to_end_with_pinned_numbers(tiny_checkpoints, corpora, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        ["-q", "adjust", "--model", str(tiny_checkpoints["wordpiece"]), "--aligned", str(corpora[0]),
         "--objective", "l2", "--out", str(out), "--max-steps", "3", "--batch-size", "4", "--precision", "fp32",
         "--seed", "1", "--lr", "1e-3", "--dropout"], capsys)  # pinned with dropout on
    assert code == 0, err
    assert f"adjusted checkpoint: {out}" in stdout and "loss:" in stdout
    manifest = json.loads((out / "xladjust.json").read_text())
    assert manifest["seed"] == 1 and manifest["metrics"]["steps"] == 3
    # pinned for seed 1 on CPU fp32 (tiny random model built with seed 0 by conftest)
    assert manifest["metrics"]["loss_start"] == pytest.approx(PINNED_LOSS_START, rel=1e-4)
    assert manifest["metrics"]["loss_end"] == pytest.approx(PINNED_LOSS_END, rel=1e-4)


PINNED_LOSS_START = 11.015165  # first step's loss (3 steps: one step at each end)
PINNED_LOSS_END = 26.180195  # last step's loss, on another batch


def test_several_corpora_after_one_flag_and_objective_options(tiny_checkpoints, corpora, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["-q", "adjust", "--model", str(tiny_checkpoints["unigram"]), "--aligned", str(corpora[0]), str(corpora[1]),
         "--objective", "contrastive", "--option", "negatives=strong", "--option", "temperature=0.05",
         "--out", str(out), "--max-steps", "2", "--precision", "fp32", "--max-pairs", "12",
         "--embeddings", "freeze", "--special-tokens"], capsys)
    assert code == 0, err
    manifest = json.loads((out / "xladjust.json").read_text())
    assert [c["path"] for c in manifest["aligned_corpora"]] == ["a", "b"]  # names travel, full paths stay home
    local = json.loads((out / "xladjust.local.json").read_text())
    assert [c["path"] for c in local["aligned_corpora"]] == [str(corpora[0]), str(corpora[1])]
    assert [c["selection"]["pairs_selected"] for c in manifest["aligned_corpora"]] == [4, 8]  # proportional
    assert manifest["config"]["objective_options"] == {"negatives": "strong", "temperature": 0.05}
    assert manifest["config"]["embeddings"] == "freeze" and manifest["config"]["special_tokens"] is True


def test_yaml_config_with_command_line_overrides(tiny_checkpoints, corpora, tmp_path, capsys):
    cfg = tmp_path / "adjust.yaml"
    cfg.write_text(yaml.safe_dump({
        "kind": "adjust", "model": str(tiny_checkpoints["unigram"]), "aligned": [str(corpora[0])],
        "out": str(tmp_path / "from-yaml"), "objective": "l2", "objective_options": {"partner": "trainable"},
        "max_steps": 4, "precision": "fp32", "progress": False,
    }))
    code, stdout, err = run_cli(["validate", str(cfg)], capsys)
    assert code == 0 and "valid AdjustConfig" in stdout
    code, _, err = run_cli(["-q", "adjust", "--config", str(cfg), "--max-steps", "1"], capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "from-yaml" / "xladjust.json").read_text())
    assert manifest["metrics"]["steps"] == 1
    assert manifest["config"]["objective_options"] == {"partner": "trainable"}


def test_validate_reports_every_problem_at_once(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({
        "kind": "adjust", "aligned": ["corpus", "corpus"], "out": "run", "epochs": 1, "max_steps": 10,
        "warmup_steps": 5, "warmup_ratio": 0.1, "resume": True, "overwrite": True, "batch_size": 0,
        "objective": "contrastive", "objective_options": {"temperature": 0.0},
    }))
    code, _, err = run_cli(["validate", str(cfg)], capsys)
    assert code == 2 and err.count("\n") == 1
    for needle in ("listed twice", "epochs (1) and max_steps (10) conflict", "warmup_steps (5) and warmup_ratio",
                   "resume and overwrite conflict", "batch_size must be a positive integer",
                   "temperature must be positive"):
        assert needle in err, needle


def test_unknown_objective_and_bad_types_are_config_errors():
    with pytest.raises(ConfigError) as info:
        build_config(AdjustConfig, {"aligned": ["a"], "out": "o", "objective": "cosine", "lr": "fast"})
    assert any("lr" in p for p in info.value.problems)
    with pytest.raises(ConfigError, match="unknown objective 'cosine'"):
        build_config(AdjustConfig, {"aligned": ["a"], "out": "o", "objective": "cosine"})
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        build_config(AdjustConfig, {"aligned": ["a"], "out": "o", "precision": "fp16", "device": "cpu"})
    with pytest.raises(ConfigError, match="would replace the aligned corpus"):
        build_config(AdjustConfig, {"aligned": ["a/b"], "out": "a"})


def test_device_is_auto_cpu_or_cuda_and_the_old_cpu_key_still_loads(monkeypatch):
    import torch

    from xladjust.models import device_name_problem
    from xladjust.training_common import trains_on_cpu

    base = {"aligned": ["a"], "out": "o"}
    assert build_config(AdjustConfig, base).device == "auto"
    assert build_config(AdjustConfig, {**base, "cpu": True}).device == "cpu"  # the old key, with a warning
    assert build_config(AdjustConfig, {**base, "cpu": False}).device == "auto"
    with pytest.raises(ConfigError, match="device 'cuda:1' is not one of auto, cpu, cuda"):
        build_config(AdjustConfig, {**base, "device": "cuda:1"})
    assert device_name_problem("auto") is None and device_name_problem("cuda:1") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert trains_on_cpu("cpu") and not trains_on_cpu("auto")
    with pytest.raises(ConfigError, match="device 'cuda' cannot be used"):
        trains_on_cpu("cuda")


def test_cli_errors_are_one_line(tiny_checkpoints, tmp_path, capsys):
    code, _, err = run_cli(["adjust", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--aligned" in err
    code, _, err = run_cli(["adjust", "--aligned", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
                            "--model", str(tiny_checkpoints["unigram"])], capsys)
    assert code == 2 and err.startswith("xladjust: error: aligned corpus") and err.count("\n") == 1
    code, _, err = run_cli(["adjust", "--aligned", "x", "--out", "o", "--option", "negatives"], capsys)
    assert code == 2 and "KEY=VALUE" in err
    other = tmp_path / "probe.yaml"
    other.write_text("kind: probe\n")
    code, _, err = run_cli(["adjust", "--config", str(other)], capsys)
    assert code == 2 and "kind: adjust" in err


def test_loop_settings_on_the_command_line(tiny_checkpoints, corpora, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["-q", "adjust", "--model", str(tiny_checkpoints["wordpiece"]), "--aligned", str(corpora[0]),
         "--out", str(out), "--max-steps", "2", "--precision", "fp32", "--max-tokens", "200", "--forward-tokens", "50",
         "--optimizer", "adam", "--optimizer-kernel", "loop", "--adam-beta1", "0.8", "--adam-beta2", "0.98",
         "--adam-eps", "1e-9", "--weight-decay", "0.01", "--warmup-steps", "0", "--schedule", "constant",
         "--max-grad-norm", "none", "--gradient-checkpointing", "--keep-identical", "--log-every", "1",
         "--embeddings", "train"], capsys)
    assert code == 0, err
    config = json.loads((out / "xladjust.json").read_text())["config"]
    assert {k: config[k] for k in ("max_tokens", "forward_tokens", "optimizer", "optimizer_kernel", "adam_beta1", "adam_beta2",
                                   "adam_eps", "weight_decay", "warmup_steps", "schedule", "max_grad_norm",
                                   "gradient_checkpointing", "drop_identical", "log_every")} == {
        "max_tokens": 200, "forward_tokens": 50, "optimizer": "adam", "optimizer_kernel": "loop", "adam_beta1": 0.8, "adam_beta2": 0.98,
        "adam_eps": 1e-9, "weight_decay": 0.01, "warmup_steps": 0, "schedule": "constant", "max_grad_norm": None,
        "gradient_checkpointing": True, "drop_identical": False, "log_every": 1}
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and not any("grad_norm" in line for line in lines)  # no clipping: no norm


@pytest.mark.parametrize("args, message", [
    (["--max-grad-norm", "big"], "neither a number nor 'none'"),
    (["--adam-beta2", "1.0"], "adam_beta2 must be in [0, 1)"),
    (["--adam-eps", "-1"], "adam_eps must be >= 0"),
])
def test_bad_loop_settings_are_one_line_errors(tiny_checkpoints, corpora, tmp_path, capsys, args, message):
    out = tmp_path / "run"
    code, _, err = run_cli(["adjust", "--model", str(tiny_checkpoints["wordpiece"]), "--aligned", str(corpora[0]),
                            "--out", str(out), *args], capsys)
    assert code == 2 and message in err
    assert not out.exists()
