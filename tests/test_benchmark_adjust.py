"""The adjust benchmark's ceiling arms (benchmarks/adjust.py) on a tiny model: they run the
encoder over exactly the micro-batches of the adjust run they bound, and touch no weights
on disk."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from helpers_adjust import write_sample_corpus

from xladjust.adjust import AdjustConfig, adjust
from xladjust.config import build_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_adjust", REPO / "benchmarks" / "adjust.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("like", ["defaults", "reference"])
def test_model_alone_runs_the_adjust_runs_batches(bench, tiny_checkpoints, tmp_path, like):
    corpus = write_sample_corpus(tmp_path / "hand-en-es", repeat=3)
    settings = {**bench.ARMS[like][1], "model": str(tiny_checkpoints["wordpiece"]), "batch_size": 4}
    run = tmp_path / "run"
    adjust(build_config(AdjustConfig, {**settings, "aligned": [corpus], "out": run, "progress": False,
                                        "checkpoint_every": None}))
    metrics = json.loads((run / "xladjust.json").read_text())["metrics"]

    for pure_bf16 in (False, True):
        out = tmp_path / f"alone-{pure_bf16}"
        alone = bench.run_model_alone(str(corpus), str(out), settings, pure_bf16)
        assert alone["pairs"] == metrics["pairs_seen"] > 0
        assert alone["tokens"] == metrics["tokens_seen"]
        assert alone["steps"] == metrics["steps"]
        assert alone["train_seconds"] > 0 and alone["flops"] > 0
        assert alone["pairs_per_s"] == pytest.approx(alone["pairs"] / alone["seconds"])
        assert not out.exists()  # a bound, not a run: nothing is written
