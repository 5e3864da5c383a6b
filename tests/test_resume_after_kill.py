"""Kill an adjust run with SIGKILL after a checkpoint, resume it, and compare with an
uninterrupted run: the final weights must match."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_adjust import write_sample_corpus

STEPS = 60


def adjust_command(model: Path, aligned: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "xladjust.cli", "-q", "adjust", "--model", str(model), "--aligned", str(aligned),
            "--out", str(out), "--max-steps", str(STEPS), "--batch-size", "2", "--checkpoint-every", "1",
            "--precision", "fp32", "--seed", "3", "--device", "cpu", *extra]


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def run(command: list[str]) -> str:
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


KILL_AFTER = 3  # checkpoints (optimizer steps) before the SIGKILL


def checkpoints(out: Path) -> list[Path]:
    directory = out / "checkpoints"
    return sorted(directory.glob("step-*")) if directory.is_dir() else []


def last_step(out: Path) -> int:
    found = checkpoints(out)
    return int(found[-1].name.removeprefix("step-")) if found else 0


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, tiny_checkpoints):
    from safetensors.torch import load_file

    model = tiny_checkpoints["wordpiece"]
    aligned = write_sample_corpus(tmp_path / "aligned", repeat=40)
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"

    proc = subprocess.Popen(adjust_command(model, aligned, interrupted), env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while last_step(interrupted) < KILL_AFTER and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert last_step(interrupted) >= KILL_AFTER, "no checkpoint appeared before the run ended"
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; raise STEPS"
    assert not (interrupted / ".complete").exists()
    assert not (interrupted / "model.safetensors").exists()

    killed_at = last_step(interrupted)
    resume = [arg for arg in adjust_command(model, aligned, interrupted, "--resume") if arg != "-q"]
    log = run(resume)
    assert f"(step {killed_at} of {STEPS})" in log, log[-2000:]
    run(adjust_command(model, aligned, reference))

    resumed = load_file(interrupted / "model.safetensors")
    expected = load_file(reference / "model.safetensors")
    assert resumed.keys() == expected.keys()
    moved = False
    for name, tensor in expected.items():
        diff = (resumed[name].float() - tensor.float()).abs().max().item()
        assert diff <= 1e-6, f"{name}: max abs diff {diff}"
    original = load_file(model / "model.safetensors")
    for name, tensor in expected.items():
        key = name if name in original else name.removeprefix("bert.")
        if key in original and not tensor.float().equal(original[key].float()):
            moved = True
    assert moved, "adjustment did not change any weight; the comparison would prove nothing"


FINETUNE_STEPS = 40


def finetune_command(model: Path, train: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "xladjust.cli", "-q", "finetune", "--task", "nli", "--model", str(model),
            "--train", str(train), "--out", str(out), "--max-steps", str(FINETUNE_STEPS), "--batch-size", "4",
            "--checkpoint-every", "1", "--precision", "fp32", "--seed", "3", "--device", "cpu", "--threads", "1", *extra]


def kill_after_checkpoint(command: list[str], out: Path, after: int) -> int:
    """Start ``command``, SIGKILL it once checkpoint ``after`` exists; return the last checkpoint's step."""
    proc = subprocess.Popen(command, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while last_step(out) < after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert last_step(out) >= after, "no checkpoint appeared before the run ended"
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; raise FINETUNE_STEPS"
    return last_step(out)


@pytest.mark.slow
def test_finetune_resume_after_sigkill_matches_uninterrupted_run(tmp_path, tiny_checkpoints):
    from helpers_tasks import write_nli
    from safetensors.torch import load_file

    from xladjust.config import build_config
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune

    model = tiny_checkpoints["wordpiece"]
    train = write_nli(tmp_path / "train.tsv", 48, 0)
    interrupted, reference = tmp_path / "interrupted", tmp_path / "reference"
    killed_at = kill_after_checkpoint(finetune_command(model, train, interrupted), interrupted, KILL_AFTER)
    assert not (interrupted / ".complete").exists() and not (interrupted / "model.safetensors").exists()

    log = run([arg for arg in finetune_command(model, train, interrupted, "--resume") if arg != "-q"])
    assert f"(step {killed_at} of {FINETUNE_STEPS})" in log, log[-2000:]
    finetune(build_config(FinetuneConfig, {  # the same run as the command line's, uninterrupted, in this process
        "task": "nli", "model": str(model), "train": [str(train)], "out": str(reference), "max_steps": FINETUNE_STEPS,
        "batch_size": 4, "precision": "fp32", "seed": 3, "device": "cpu", "threads": 1, "progress": False}))
    resumed = load_file(interrupted / "model.safetensors")
    expected = load_file(reference / "model.safetensors")
    assert resumed.keys() == expected.keys()
    for name, tensor in expected.items():
        diff = (resumed[name].float() - tensor.float()).abs().max().item()
        assert diff <= 1e-6, f"{name}: max abs diff {diff}"
    original = load_file(model / "model.safetensors")
    assert any(not tensor.equal(original[key]) for key, tensor in
               ((name.removeprefix("bert."), t) for name, t in expected.items()) if key in original), \
        "fine-tuning did not change any encoder weight; the comparison would prove nothing"
