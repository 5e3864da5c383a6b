"""The fine-tuning loop: streamed training sets, resuming after an interruption, the
checks a resume makes, and the run-directory rules around checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_tasks import write_ner, write_nli

from xladjust.config import build_config
from xladjust.errors import ConfigError, InputError
from xladjust.tasks.config import FinetuneConfig
from xladjust.tasks.finetune import finetune, read_run
from xladjust.tasks.trainset import TrainSet

FAST = {"precision": "fp32", "progress": False, "eval_batch_size": 16}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("trainingdata")
    return {"train": write_nli(d / "train.tsv", 72, 0), "dev": write_nli(d / "dev.tsv", 16, 1),
            "test": write_nli(d / "test.tsv", 16, 2), "ner": write_ner(d / "ner.tsv", 40, 0)}


def _cfg(out: Path, model: Path, data: dict[str, Path], **kw) -> FinetuneConfig:
    base = {"task": "nli", "model": str(model), "train": [str(data["train"])], "dev": str(data["dev"]),
            "test": {"es": str(data["test"])}, "out": str(out), "max_steps": 8, "eval_every": 3,
            "batch_size": 8, "seed": 4, **FAST}
    return build_config(FinetuneConfig, {**base, **kw})


def _weights(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run / "model.safetensors")


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# --- TrainSet ---------------------------------------------------------------------------

def _features(n: int) -> list[dict]:
    return [{"input_ids": [1] * (2 + i % 7), "labels": i} for i in range(n)]


def test_streamed_buffers_cover_every_feature_once_and_hold_one_buffer():
    examples = _features(53)
    encoded: list[int] = []

    def encode(chunk):
        encoded.append(len(chunk))
        return list(chunk)

    ts = TrainSet.streamed_from(lambda: iter(examples), encode, buffer_examples=10, batch_size=4, seed=3)
    assert ts.sizes == [10, 10, 10, 10, 10, 3] and ts.n_batches == 5 * 3 + 1
    encoded.clear()
    epoch = list(ts.micro_batches(epoch=1))
    assert max(encoded) <= 10  # never more than one buffer of examples encoded at once
    seen = sorted(f["labels"] for batch in epoch for f in batch)
    assert seen == list(range(53)) and len(epoch) == ts.n_batches
    # resuming at micro-batch k gives the rest of the same epoch, skipping whole buffers unencoded
    encoded.clear()
    assert list(ts.micro_batches(epoch=1, start=7)) == epoch[7:]
    assert len(encoded) == 4
    assert list(ts.micro_batches(epoch=2)) != epoch  # a new order every epoch


def test_streamed_with_one_buffer_gives_the_in_memory_order():
    feats = _features(40)
    memory = TrainSet.in_memory(feats, batch_size=6, seed=9)
    streamed = TrainSet.streamed_from(lambda: iter(feats), list, buffer_examples=100, batch_size=6, seed=9)
    assert list(memory.micro_batches(0)) == list(streamed.micro_batches(0))


def test_a_training_file_that_changes_between_passes_is_an_error():
    sizes = iter([10, 10, 7])
    ts = TrainSet.streamed_from(lambda: iter(_features(next(sizes))), list, buffer_examples=10, batch_size=4,
                                seed=0)
    list(ts.micro_batches(0))  # second pass: unchanged
    with pytest.raises(InputError, match="changed size"):
        list(ts.micro_batches(1))


def test_streamed_finetuning_matches_in_memory_when_one_buffer_holds_everything(tmp_path, tiny_checkpoints, data):
    model = tiny_checkpoints["unigram"]
    memory = finetune(_cfg(tmp_path / "memory", model, data, max_train_examples=50))
    streamed = finetune(_cfg(tmp_path / "streamed", model, data, max_train_examples=50, stream_buffer=1000))
    assert _max_diff(_weights(memory), _weights(streamed)) == 0.0
    assert read_run(streamed)["train"]["examples"] == 50
    small = finetune(_cfg(tmp_path / "small", model, data, stream_buffer=16, max_steps=None, epochs=1))
    train = read_run(small)["train"]
    assert train["steps"] == 2 + 2 + 2 + 2 + 1 and train["features"] == 72  # 16-example buffers of batch 8


# --- resume -------------------------------------------------------------------------------

class Interrupted(Exception):
    pass


def _interrupt_after(monkeypatch, steps: int) -> None:
    import xladjust.tasks.training as training

    real = training._train_step
    calls = {"n": 0}

    def step(*args, **kwargs):
        if calls["n"] == steps:
            raise Interrupted()
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "_train_step", step)


def _checkpoint_steps(run: Path) -> list[int]:
    return sorted(int(p.name.removeprefix("step-")) for p in (run / "checkpoints").glob("step-*"))


def test_resume_after_an_interruption_gives_the_uninterrupted_weights(tmp_path, tiny_checkpoints, data,
                                                                      monkeypatch):
    model = tiny_checkpoints["wordpiece"]
    reference = finetune(_cfg(tmp_path / "reference", model, data, checkpoint_every=2))
    assert not (reference / "checkpoints").exists()  # dropped when the run completes
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _interrupt_after(m, 5)
        with pytest.raises(Interrupted):
            finetune(_cfg(out, model, data, checkpoint_every=2))
    assert _checkpoint_steps(out) == [4]  # the best dev snapshot of step 3 is in it
    trainer = json.loads((out / "checkpoints" / "step-00000004" / "trainer.json").read_text())
    assert trainer["data_position"] == {"epoch": 0, "next_micro_batch": 4, "micro_batches_per_epoch": 9}
    from xladjust.io import sha256_file

    assert trainer["inputs"][str(data["train"])] == sha256_file(data["train"]) and trainer["world_size"] == 1
    with pytest.raises(InputError, match=r"unfinished run \(continue it with --resume\)"):
        finetune(_cfg(out, model, data, checkpoint_every=2))
    finetune(_cfg(out, model, data, checkpoint_every=2, resume=True))
    assert _max_diff(_weights(out), _weights(reference)) <= 1e-6
    resumed, expected = read_run(out), read_run(reference)
    assert resumed["train"]["history"] == expected["train"]["history"]
    assert resumed["train"]["best_step"] == expected["train"]["best_step"]
    assert resumed["dev"]["metrics"] == expected["dev"]["metrics"]
    assert resumed["test"]["es"]["metrics"] == expected["test"]["es"]["metrics"]
    assert resumed["train"]["resumed_from_step"] == 4
    with pytest.raises(InputError, match="complete run; nothing to resume"):
        finetune(_cfg(out, model, data, resume=True))


def test_resume_with_gradient_accumulation_and_a_streamed_set(tmp_path, tiny_checkpoints, data, monkeypatch):
    model = tiny_checkpoints["unigram"]
    kw = {"checkpoint_every": 1, "grad_accum": 2, "stream_buffer": 20, "batch_size": 4, "max_steps": 7}
    reference = finetune(_cfg(tmp_path / "reference", model, data, **kw))
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _interrupt_after(m, 5)
        with pytest.raises(Interrupted):
            finetune(_cfg(out, model, data, **kw))
    finetune(_cfg(out, model, data, resume=True, **kw))
    assert _max_diff(_weights(out), _weights(reference)) <= 1e-6
    assert read_run(out)["train"]["grad_accum"] == 2


@pytest.fixture()
def interrupted(tmp_path, tiny_checkpoints, data, monkeypatch) -> dict:
    """An NLI run stopped after 3 steps with a checkpoint at step 2, on its own copy of the data."""
    train = tmp_path / "train.tsv"
    train.write_text(data["train"].read_text(encoding="utf-8"), encoding="utf-8")
    local = {**data, "train": train}
    out = tmp_path / "run"
    model = tiny_checkpoints["wordpiece"]
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(Interrupted):
            finetune(_cfg(out, model, local, checkpoint_every=2))
    return {"out": out, "model": model, "data": local}


def test_resume_refuses_changed_training_data(interrupted):
    train = interrupted["data"]["train"]
    lines = train.read_text(encoding="utf-8").splitlines()
    train.write_text("\n".join(lines[::-1]) + "\n", encoding="utf-8")  # same size, other content
    with pytest.raises(InputError, match=r"the input .*train\.tsv differs"):
        finetune(_cfg(interrupted["out"], interrupted["model"], interrupted["data"], checkpoint_every=2,
                      resume=True))


def test_resume_refuses_a_changed_config_but_not_run_control_options(interrupted):
    out, model, local = interrupted["out"], interrupted["model"], interrupted["data"]
    with pytest.raises(InputError, match=r"the setting .lr. differs from the interrupted run.s \(.* then, 0.001 now\)"):
        finetune(_cfg(out, model, local, checkpoint_every=2, resume=True, lr=1e-3))
    finetune(_cfg(out, model, local, checkpoint_every=3, resume=True, threads=1))
    assert read_run(out)["train"]["resumed_from_step"] == 2


def test_resume_refuses_a_damaged_checkpoint_and_leaves_it(interrupted):
    ckpt = next((interrupted["out"] / "checkpoints").glob("step-*"))
    weights = ckpt / "trainable.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="damaged or unreadable.*trainable.safetensors does not match"):
        finetune(_cfg(interrupted["out"], interrupted["model"], interrupted["data"], checkpoint_every=2,
                      resume=True))
    assert weights.read_bytes() == bytes(raw)


def test_verify_same_run_names_the_process_count(tmp_path):
    from xladjust.training_state import TrainingState, verify_same_run

    saved = TrainingState(tmp_path, {}, [], {}, {"step": 2, "inputs": {"a": "1"}, "fingerprints": {"config": "c"},
                                                  "world_size": 2})
    verify_same_run(saved, inputs={"a": "1"}, fingerprints={"config": "c"}, world_size=2)
    with pytest.raises(InputError, match="written by 2 process"):
        verify_same_run(saved, inputs={"a": "1"}, fingerprints={"config": "c"}, world_size=1)
    with pytest.raises(InputError, match="the input b differs"):
        verify_same_run(saved, inputs={"a": "1", "b": "2"}, fingerprints={"config": "c"}, world_size=2)


def test_resume_without_a_checkpoint_starts_afresh(tmp_path, tiny_checkpoints, data, caplog):
    run = finetune(_cfg(tmp_path / "fresh", tiny_checkpoints["wordpiece"], data, resume=True, max_steps=2))
    assert read_run(run)["train"]["resumed_from_step"] is None
    assert "no checkpoint" in caplog.text


def test_new_options_are_checked(tmp_path, data):
    with pytest.raises(ConfigError) as err:
        _cfg(tmp_path / "x", tmp_path, data, grad_accum=0, stream_buffer=0, checkpoint_every=-1)
    assert {"config: grad_accum must be at least 1, got 0", "config: stream_buffer must be at least 1, got 0",
            "config: checkpoint_every must be >= 0 (0: no checkpoints), got -1"} <= set(err.value.problems)


def test_cli_takes_the_new_options(tmp_path, tiny_checkpoints, data, capsys):
    from helpers_cli import run_cli

    out = tmp_path / "cli"
    args = ["finetune", "--task", "ner", "--model", str(tiny_checkpoints["unigram"]), "--train", str(data["ner"]),
            "--out", str(out), "--max-steps", "3", "--batch-size", "4", "--precision", "fp32", "--grad-accum", "2",
            "--stream-buffer", "10", "--checkpoint-every", "1", "--device", "cpu", "--threads", "1"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    train = json.loads((out / "metrics.json").read_text())["train"]
    assert train["grad_accum"] == 2 and train["steps"] == 3 and train["processes"] == 1
    code, _, err = run_cli(args + ["--resume"], capsys)
    assert code == 2 and "nothing to resume" in err


# --- the shared loop pieces ---------------------------------------------------------------

def test_precision_names_resolve_per_device_and_bad_ones_are_errors(monkeypatch):
    import xladjust.training_common as tl

    assert tl.resolve_precision("fp32", on_gpu=False) == "no"
    assert tl.resolve_precision("bf16", on_gpu=False) == "bf16"
    monkeypatch.setattr(tl, "cpu_has_fast_bf16", lambda: False)
    assert tl.resolve_precision("auto", on_gpu=False) == "no"
    monkeypatch.setattr(tl, "cpu_has_fast_bf16", lambda: True)
    assert tl.resolve_precision("auto", on_gpu=False) == "bf16"
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        tl.resolve_precision("fp16", on_gpu=False)
    with pytest.raises(ConfigError, match="unknown precision 'half'"):
        tl.resolve_precision("half", on_gpu=False)


def test_a_checkpoint_without_its_hash_list_is_refused(tmp_path):
    import torch

    from xladjust.training_state import list_checkpoints, load_training_state, save_training_state

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    path = save_training_state(tmp_path, 3, tensors={"trainable": {"w": torch.ones(2)}, "best": {}},
                               optimizers=[optimizer], rng={"cpu.0": torch.get_rng_state()}, trainer={"x": 1})
    state = load_training_state(path)
    assert state.step == 3 and set(state.tensors) == {"trainable"} and state.trainer["x"] == 1
    save_training_state(tmp_path, 4, tensors={}, optimizers=[], rng={"cpu.0": torch.get_rng_state()}, trainer={})
    assert list_checkpoints(tmp_path) == [tmp_path / "checkpoints" / "step-00000004"]  # keep=1
    (list_checkpoints(tmp_path)[0] / "files.json").unlink()
    with pytest.raises(InputError, match="damaged or unreadable"):
        load_training_state(list_checkpoints(tmp_path)[0])


def test_transfer_continues_an_interrupted_run_from_its_checkpoint(tmp_path, tiny_checkpoints, data, monkeypatch):
    from xladjust.tasks.config import TransferConfig
    from xladjust.tasks.transfer import transfer

    model = str(tiny_checkpoints["wordpiece"])
    template = {"task": "nli", "model": model, "train": [str(data["train"])], "test": {"es": str(data["test"])},
                "out": str(tmp_path / "cmp" / "runs"), "max_steps": 5, "batch_size": 8, "checkpoint_every": 2,
                **FAST}
    cfg = build_config(TransferConfig, {"models": {"vanilla": model}, "seeds": [1], "out": str(tmp_path / "cmp"),
                                        "finetune": template, "resamples": 100})
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(Interrupted):
            transfer(cfg)
    transfer(cfg, resume=True)
    assert read_run(tmp_path / "cmp" / "runs" / "vanilla" / "seed-1")["train"]["resumed_from_step"] == 2


def test_gradient_clipping_is_a_setting(tmp_path, data):
    from xladjust.tasks.finetune import train_settings

    assert train_settings(_cfg(tmp_path / "x", tmp_path, data)).max_grad_norm == 1.0
    assert train_settings(_cfg(tmp_path / "x", tmp_path, data, max_grad_norm=None)).max_grad_norm is None
    assert train_settings(_cfg(tmp_path / "x", tmp_path, data, max_grad_norm=5.0)).max_grad_norm == 5.0
    with pytest.raises(ConfigError) as err:
        _cfg(tmp_path / "x", tmp_path, data, max_grad_norm=0)
    assert "config: max_grad_norm must be positive or null (no clipping), got 0.0" in err.value.problems
