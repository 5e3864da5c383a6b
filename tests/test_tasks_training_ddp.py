"""Two CPU processes under torchrun (DDP, gloo) fine-tune to the same weights as one process
with the same global batch: 2 processes × batch 4 against 1 process × batch 4 × 2
accumulated micro-batches. Dropout is off in the tiny model, since each process draws
its own masks (as in any DDP run); what remains is float rounding in the all-reduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_tasks import write_nli

TOLERANCE = 1e-6  # max abs weight difference after 8 AdamW steps, fp32 (measured: 0.0)


def _no_dropout_checkpoint(directory: Path) -> Path:
    from conftest import build_tiny_checkpoint

    build_tiny_checkpoint(directory, "wordpiece")
    config = json.loads((directory / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    from safetensors.torch import load_file

    from xladjust.config import build_config
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune, read_run

    model = _no_dropout_checkpoint(tmp_path / "model")
    train, dev = write_nli(tmp_path / "train.tsv", 64, 0), write_nli(tmp_path / "dev.tsv", 16, 1)
    common = ["--task", "nli", "--model", str(model), "--train", str(train), "--dev", str(dev),
              "--max-steps", "8", "--eval-every", "4", "--batch-size", "4", "--precision", "fp32", "--seed", "5",
              "--device", "cpu", "--threads", "1", "--checkpoint-every", "3"]
    two = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "xladjust.cli", "-q", "finetune", *common, "--out", str(two)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    one = finetune(build_config(FinetuneConfig, {
        "task": "nli", "model": str(model), "train": [str(train)], "dev": str(dev), "out": str(tmp_path / "one"),
        "max_steps": 8, "eval_every": 4, "batch_size": 4, "grad_accum": 2, "precision": "fp32", "seed": 5, "device": "cpu",
        "threads": 1, "progress": False}))
    a, b = load_file(two / "model.safetensors"), load_file(one / "model.safetensors")
    assert a.keys() == b.keys()
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff <= TOLERANCE, f"max abs weight difference {diff}"
    start = load_file(model / "model.safetensors")
    assert any(not b[k].equal(start[k.removeprefix("bert.")]) for k in b if k.removeprefix("bert.") in start)
    run_two, run_one = read_run(two)["train"], read_run(one)["train"]
    assert run_two["processes"] == 2 and run_one["processes"] == 1
    assert run_two["features"] == run_one["features"] == 64 and run_two["steps"] == run_one["steps"] == 8
    losses = [(h2["loss"], h1["loss"]) for h2, h1 in zip(run_two["history"], run_one["history"], strict=True)]
    assert all(abs(x - y) <= TOLERANCE for x, y in losses), losses
    assert [h["dev"] for h in run_two["history"]] == [h["dev"] for h in run_one["history"]]
