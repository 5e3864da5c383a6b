"""The tasks stage on the real offline model and the data pack, sized for CI: a few
hundred examples and a few dozen steps per task, one CPU thread.

Each test asserts that the pipeline runs end to end on real data and, where a few dozen
steps suffice (NER), that the fine-tuned model beats the trivial baseline. NLI and QA
need 100+ steps to leave chance (see the integration figures in tasks/README.md), more
than CI can afford, so their tests check the run, the checkpoint's encoder and the
span mapping on real contexts.
"""

from __future__ import annotations

import json

import pytest

from xladjust.config import build_config
from xladjust.models import OFFLINE_SPEC
from xladjust.tasks.config import FinetuneConfig
from xladjust.tasks.finetune import finetune, read_run

pytestmark = pytest.mark.slow

COMMON = {"model": OFFLINE_SPEC, "progress": False, "threads": 1}


def _run(tmp_path, **kw):
    return read_run(finetune(build_config(FinetuneConfig, {**COMMON, "out": str(tmp_path / "run"), **kw})))


def test_nli_runs_and_its_encoder_loads_for_probes(offline_cache, shared_data, tmp_path):
    from xladjust.models import load_model

    x = shared_data / "xnli"
    metrics = _run(tmp_path, task="nli", train=[str(x / "dev-en.tsv")], max_train_examples=96,
                   test={"en": str(x / "test-en.tsv"), "hi": str(x / "test-hi.tsv")}, max_test_examples=48,
                   max_steps=6, batch_size=16, max_length=96)
    for lang in ("en", "hi"):
        assert metrics["test"][lang]["n_examples"] == 48
        assert 0.0 <= metrics["test"][lang]["metrics"]["accuracy"] <= 1.0
    encoder = load_model(str(tmp_path / "run"), device="cpu")
    assert type(encoder.model).__name__ == "BertModel" and encoder.num_layers == 12
    meta = json.loads((tmp_path / "run" / "xladjust.json").read_text())
    assert meta["signature"]["config"]["freeze_embeddings"] is False and meta["trained_weights"] == "all"


def test_ner_beats_all_o(offline_cache, shared_data, tmp_path):
    p = shared_data / "panx"
    metrics = _run(tmp_path, task="ner", train=[str(p / "train-en.tsv")], max_train_examples=640,
                   test={"es": str(p / "dev-es.tsv")}, max_test_examples=100, max_steps=40, batch_size=16,
                   lr=2e-4, max_length=64, save_model=False)
    assert metrics["test"]["es"]["metrics"]["f1"] > 0.15 > metrics["test"]["es"]["baseline"]


def test_qa_runs_on_long_contexts_and_predicts_spans_of_the_context(offline_cache, shared_data, tmp_path):
    q = shared_data / "qa"
    metrics = _run(tmp_path, task="qa", train=[str(q / "tydiqa-goldp.en.train.json")], max_train_examples=64,
                   test={"hi": str(q / "xquad.hi.json")}, max_test_examples=20, max_steps=4, batch_size=16,
                   lr=1e-4, max_length=128, doc_stride=32, save_model=False)
    assert metrics["train"]["features"] > 64  # long contexts split into windows
    contexts = {}
    for article in json.loads((q / "xquad.hi.json").read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            contexts.update({qa["id"]: para["context"] for qa in para["qas"]})
    records = [json.loads(line) for line in (tmp_path / "run" / "predictions" / "test-hi.jsonl").open()]
    assert len(records) == 20 and all(r["pred"] and r["pred"] in contexts[r["id"]] for r in records)
