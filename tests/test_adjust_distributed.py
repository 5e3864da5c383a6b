"""Two CPU processes under torchrun train the same model as one process with the same global
batch (accelerate's DDP: the micro-batches of an optimizer step are split across ranks and
the gradients averaged, sparse embedding gradients included).

Tolerance: weights within 1e-5 (fp32; averaging the gradients across processes sums them
in another order than accumulating micro-batches in one process, and Adam's update
m/(√v + ε) passes such rounding differences on). Dropout is off in the test model, since
each rank draws its own dropout masks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_tiny_checkpoint
from helpers_adjust import without_dropout, write_sample_corpus
from safetensors.torch import load_file

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory) -> Path:
    return without_dropout(build_tiny_checkpoint(tmp_path_factory.mktemp("nodrop") / "model", "unigram"))


def _adjust(launcher: list[str], model: Path, corpus: Path, out: Path, grad_accum: int, embeddings: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    args = [*launcher, "-m", "xladjust.cli", "--threads", "1", "-q", "adjust", "--device", "cpu", "--model", str(model),
            "--aligned", str(corpus), "--out", str(out), "--precision", "fp32", "--batch-size", "3",
            "--grad-accum", str(grad_accum), "--epochs", "2", "--lr", "1e-2", "--embeddings", embeddings,
            "--checkpoint-every", "100", "--log-every", "1"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[:2000] + "\n...\n" + done.stderr[-2000:]  # a rank's own error comes first


def test_two_processes_match_one_with_the_same_global_batch(no_dropout_model, tmp_path):
    # the embedding matrix trains from sparse gradients (averaged across ranks by DDP) in
    # both ``sparse`` and ``train`` modes; ``train`` also moves rows absent from a step
    corpus = write_sample_corpus(tmp_path / "corpus")  # 12 pairs: 4 micro-batches of 3, 2 steps per epoch
    one, two = tmp_path / "one", tmp_path / "two"
    _adjust([sys.executable], no_dropout_model, corpus, one, grad_accum=2, embeddings="train")
    _adjust([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
            no_dropout_model, corpus, two, grad_accum=1, embeddings="train")

    manifest = json.loads((two / "xladjust.json").read_text())
    assert manifest["training"]["processes"] == 2
    assert manifest["metrics"]["steps"] == 4 and manifest["metrics"]["pairs_seen"] == 24
    a, b = load_file(str(one / "model.safetensors")), load_file(str(two / "model.safetensors"))
    start = load_file(str(no_dropout_model / "model.safetensors"))
    assert max(float((a[k] - start[k]).abs().max()) for k in a) > 1e-3  # both trained
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= TOLERANCE
    losses = [[json.loads(line)["loss"] for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (one, two)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


class _OtherRank:
    is_main_process = False
    num_processes = 2

    def wait_for_everyone(self) -> None:
        pass


@pytest.mark.parametrize("resume", [False, True])
def test_another_rank_takes_the_main_process_verdict_on_the_run_folder(tmp_path, monkeypatch, resume):
    # the main process is writing the folder's marker: its temporary file is there for a
    # moment. A rank that judged the folder itself took it for an earlier run and exited 2
    # (seen once in CI as a failed two-process run)
    from xladjust.adjust import AdjustConfig
    from xladjust.adjust.run import prepare_run_dir
    from xladjust.config import build_config
    from xladjust.outputs import MARKER_FILE

    out = tmp_path / "run"
    out.mkdir()
    (out / f"{MARKER_FILE}.k3x9q2za.tmp").write_text("{")
    config = build_config(AdjustConfig, {"aligned": [tmp_path / "corpus"], "out": out, "resume": resume})
    verdicts = []
    monkeypatch.setattr("xladjust.adjust.run.broadcast_value", lambda acc, value: verdicts.append(value) or (None, False))
    assert prepare_run_dir(config, _OtherRank(), claim=None) == (False, out)
    assert verdicts == [None]  # this rank sent nothing of its own
    assert sorted(p.name for p in out.iterdir()) == [f"{MARKER_FILE}.k3x9q2za.tmp"]  # and wrote nothing
