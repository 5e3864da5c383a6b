"""AdamW on the embedding rows the training features use gives the dense update's
weights (tasks.embedding_rows), in isolation and through the fine-tuning loop."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from helpers_tasks import write_nli

from xladjust.config import build_config
from xladjust.tasks.config import FinetuneConfig
from xladjust.tasks.embedding_rows import RowUpdates, training_rows
from xladjust.tasks.finetune import finetune


def _run(rows_used: bool, steps: int = 6, lr: float = 0.05, wd: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    emb = torch.nn.Embedding(50, 4)
    start = emb.weight.detach().clone()
    batches = [torch.tensor([[1, 2, 3], [3, 4, 1]]), torch.tensor([[2, 2, 7]]), torch.tensor([[9, 1, 4]])]
    rows = RowUpdates(emb, training_rows(torch.cat([b.flatten() for b in batches]).tolist(), 0)) \
        if rows_used else None
    param = rows.param if rows is not None else emb.weight
    opt = torch.optim.AdamW([param], lr=lr, weight_decay=wd)
    for step in range(steps):
        (emb(batches[step % len(batches)]) ** 2).sum().backward()
        if rows is not None:
            rows.gather_grad()
        opt.step()
        if rows is not None:
            rows.after_step(lr, wd)
        opt.zero_grad(set_to_none=True)
        if rows is not None and step == 2:
            rows.flush()  # a flush mid-run (a dev evaluation) changes nothing in the result
    if rows is not None:
        rows.close()
        assert not emb.sparse
    return start, emb.weight.detach().clone()


def test_row_updates_equal_the_dense_adamw_update():
    start, dense = _run(rows_used=False)
    _, sparse = _run(rows_used=True)
    assert (dense - start).abs().max() > 0.05  # the updates are large enough to see a difference
    untouched = dense[20]  # row 20 is in no batch: only weight decay moved it
    assert not torch.equal(untouched, start[20])
    torch.testing.assert_close(sparse, dense, rtol=1e-6, atol=1e-7)


def test_a_gradient_outside_the_training_rows_is_refused():
    emb = torch.nn.Embedding(10, 2)
    rows = RowUpdates(emb, [0, 1])
    emb(torch.tensor([5])).sum().backward()
    with pytest.raises(RuntimeError, match=r"token ids \[5\]"):
        rows.gather_grad()


def test_training_rows_include_pad_and_special_ids():
    assert training_rows({5, 3, 8}, 0, [101, 102]) == [0, 3, 5, 8, 101, 102]


def test_finetuning_with_row_updates_gives_the_dense_weights(tmp_path: Path, tiny_checkpoints, monkeypatch, caplog):
    from safetensors.torch import load_file

    import xladjust.tasks.training as training

    data = {"train": write_nli(tmp_path / "train.tsv", 40, 0), "dev": write_nli(tmp_path / "dev.tsv", 8, 1)}
    base = {"task": "nli", "model": str(tiny_checkpoints["wordpiece"]), "train": [str(data["train"])],
            "dev": str(data["dev"]), "test": {"es": str(data["dev"])}, "max_steps": 6, "eval_every": 2,
            "batch_size": 8, "seed": 3, "lr": 1e-3, "weight_decay": 0.1, "precision": "fp32", "progress": False}
    with caplog.at_level(logging.INFO, logger="xladjust.tasks.training"):
        rows_run = finetune(build_config(FinetuneConfig, {**base, "out": str(tmp_path / "rows")}))
    assert "embedding rows the features use" in caplog.text  # the row update ran
    monkeypatch.setattr(training, "_row_updates", lambda *a: None)
    dense_run = finetune(build_config(FinetuneConfig, {**base, "out": str(tmp_path / "dense")}))
    rows, dense = load_file(rows_run / "model.safetensors"), load_file(dense_run / "model.safetensors")
    assert rows.keys() == dense.keys()
    for name in rows:
        torch.testing.assert_close(rows[name], dense[name], rtol=1e-5, atol=1e-6, msg=name)


class _Stop(Exception):
    pass


def test_resuming_a_dense_checkpoint_with_row_updates_is_refused(tmp_path: Path, tiny_checkpoints, monkeypatch):
    import xladjust.tasks.training as training
    from xladjust.errors import InputError

    data = write_nli(tmp_path / "train.tsv", 40, 0)
    base = {"task": "nli", "model": str(tiny_checkpoints["wordpiece"]), "train": [str(data)], "dev": str(data),
            "test": {"es": str(data)}, "max_steps": 6, "batch_size": 8, "seed": 3, "precision": "fp32",
            "progress": False, "checkpoint_every": 2, "out": str(tmp_path / "run")}
    real, calls = training._train_step, {"n": 0}

    def stop_after_three(*args, **kwargs):
        if calls["n"] == 3:
            raise _Stop()
        calls["n"] += 1
        return real(*args, **kwargs)

    with monkeypatch.context() as m:  # the interrupted run updates the whole matrix
        m.setattr(training, "_row_updates", lambda *a: None)
        m.setattr(training, "_train_step", stop_after_three)
        with pytest.raises(_Stop):
            finetune(build_config(FinetuneConfig, base))
    with pytest.raises(InputError, match="optimizer holds the whole embedding matrix, this run .* rows"):
        finetune(build_config(FinetuneConfig, {**base, "resume": True}))
