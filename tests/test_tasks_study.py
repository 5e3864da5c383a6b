"""Fine-tuning as the papers do it, on tiny models: every weight trained by default and said
so, a dev set held out of the training file, the continual arm and side-by-side runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_tasks import write_nli
from safetensors.torch import load_file

from xladjust.align.corpus import iter_pairs, write_aligned_corpus
from xladjust.config import build_config
from xladjust.errors import ConfigError
from xladjust.tasks.config import FinetuneConfig, TransferConfig
from xladjust.tasks.finetune import finetune, read_run
from xladjust.tasks.readers import split_off
from xladjust.tasks.transfer import transfer

FAST = {"precision": "fp32", "progress": False, "eval_batch_size": 16, "batch_size": 16}
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "hand-aligned-en-es"


@pytest.fixture(scope="module")
def nli(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("nli")
    return {"train": write_nli(d / "train.tsv", 40, 0), "es": write_nli(d / "es.tsv", 12, 2)}


def _ft(tmp_path: Path, model: Path, **kw) -> FinetuneConfig:
    return build_config(FinetuneConfig, {"task": "nli", "model": str(model), "out": str(tmp_path / "run"),
                                         "max_steps": 2, **FAST, **kw})


def _embeddings(directory: Path):
    weights = load_file(str(directory / "model.safetensors"))
    return next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))


def test_fine_tuning_trains_every_weight_by_default_and_says_so(tmp_path, tiny_checkpoints, nli):
    start = tiny_checkpoints["unigram"]
    run = finetune(_ft(tmp_path, start, train=[str(nli["train"])], lr=1e-2))
    assert not _embeddings(run).equal(_embeddings(start))  # the embedding matrix moved
    meta = json.loads((run / "xladjust.json").read_text())
    assert meta["trained_weights"] == "all" and meta["signature"]["config"]["freeze_embeddings"] is False
    assert read_run(run)["trained_weights"] == "all"


def test_frozen_embeddings_stay_an_option_and_are_stated(tmp_path, tiny_checkpoints, nli):
    start = tiny_checkpoints["unigram"]
    run = finetune(_ft(tmp_path, start, train=[str(nli["train"])], lr=1e-2, freeze_embeddings=True))
    assert _embeddings(run).equal(_embeddings(start))
    assert json.loads((run / "xladjust.json").read_text())["trained_weights"] == "all but the input word embeddings"


def test_split_off_is_seeded_disjoint_and_keeps_order():
    items = list(range(50))
    rest, held = split_off(items, 0.2, seed=0)
    assert len(held) == 10 and not set(rest) & set(held) and sorted(rest + held) == items
    assert rest == sorted(rest) and held == sorted(held)
    assert split_off(items, 0.2, seed=0) == (rest, held) and split_off(items, 0.2, seed=1) != (rest, held)


def test_dev_split_holds_dev_out_of_training_and_records_it(tmp_path, tiny_checkpoints, nli):
    run = finetune(_ft(tmp_path, tiny_checkpoints["unigram"], train=[str(nli["train"])], dev_split=0.25))
    metrics = read_run(run)
    assert metrics["train"]["examples"] == 30 and metrics["dev"]["n_examples"] == 10
    assert metrics["dev"]["source"].startswith(f"{nli['train'].name} (dev_split 0.25")  # the name travels
    local = json.loads((Path(run) / "xladjust.local.json").read_text())
    assert str(nli["train"]) in local["metrics"]["dev"]["source"]  # the full path stays home


def test_dev_split_problems_are_reported(tmp_path, tiny_checkpoints, nli):
    with pytest.raises(ConfigError) as exc:
        _ft(tmp_path, tiny_checkpoints["unigram"], train=[str(nli["train"])], dev=str(nli["es"]), dev_split=1.5)
    assert "dev_split must be a fraction" in str(exc.value) and "give dev or dev_split, not both" in str(exc.value)


def _transfer(tmp_path: Path, models: dict[str, str], nli: dict[str, Path], seeds=(1, 2), **kw) -> TransferConfig:
    finetune_cfg = {"task": "nli", "model": "x", "train": [str(nli["train"])], "out": str(tmp_path),
                    "test": {"es": str(nli["es"])}, "max_steps": 2, "save_model": False, **FAST}
    return build_config(TransferConfig, {"models": models, "seeds": list(seeds), "out": str(tmp_path / "cmp"),
                                         "finetune": finetune_cfg, "resamples": 200, **kw})


def test_continual_arm_fine_tunes_the_same_checkpoint_with_the_alignment_loss(tmp_path, tiny_checkpoints, nli):
    corpus = write_aligned_corpus(tmp_path / "aligned", iter_pairs(SAMPLE), {"languages": {"src": "en", "tgt": "es"}})
    start = str(tiny_checkpoints["unigram"])
    cfg = _transfer(tmp_path, {"vanilla": start, "adjusted": start, "adjusted-continual": start}, nli,
                    continual={"adjusted-continual": {"corpus": [str(corpus), str(corpus)], "pairs_per_step": 4}})
    table = transfer(cfg)
    es = table["languages"]["es"]
    assert set(es["comparisons"]) == {"adjusted - vanilla", "adjusted-continual - vanilla"}
    plain = json.loads((tmp_path / "cmp/runs/adjusted/seed-1/xladjust.json").read_text())
    arm = json.loads((tmp_path / "cmp/runs/adjusted-continual/seed-1/xladjust.json").read_text())
    assert plain["signature"]["config"]["continual"] is None
    assert arm["signature"]["config"]["continual"]["pairs_per_step"] == 4
    assert {k: v for k, v in arm["signature"]["config"].items() if k not in ("continual", "out")} == \
        {k: v for k, v in plain["signature"]["config"].items() if k not in ("continual", "out")}  # same schedule
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "Weights trained in fine-tuning: all." in md and "adjusted-continual: l2, 0.01 × alignment" in md


def test_continual_for_an_unknown_model_is_a_config_problem(tmp_path, nli):
    with pytest.raises(ConfigError) as exc:
        _transfer(tmp_path, {"vanilla": "m"}, nli, continual={"other": {"corpus": str(tmp_path)}}, parallel=0)
    assert "continual: 'other' is not one of the models" in str(exc.value)
    assert "parallel must be at least 1" in str(exc.value)


@pytest.mark.slow  # each worker process imports torch (about 15 s here)
def test_parallel_runs_match_sequential_runs(tmp_path, tiny_checkpoints, nli):
    models = {"vanilla": str(tiny_checkpoints["unigram"]), "adjusted": str(tiny_checkpoints["wordpiece"])}
    one = transfer(_transfer(tmp_path / "one", models, nli, seeds=[2], parallel=1))
    two = transfer(_transfer(tmp_path / "two", models, nli, seeds=[2], parallel=2))
    for name in models:
        assert two["languages"]["es"]["scores"][name]["per_seed"] == one["languages"]["es"]["scores"][name]["per_seed"]
    meta = json.loads((tmp_path / "two/cmp/runs/vanilla/seed-2/xladjust.json").read_text())
    assert meta["signature"]["config"]["threads"] == 1


@pytest.mark.slow  # worker processes import torch
def test_a_failing_parallel_run_is_raised_after_the_others_finish(tmp_path, tiny_checkpoints, nli):
    from xladjust.errors import ModelError
    from xladjust.tasks.transfer import run_all, run_config

    cfg = _transfer(tmp_path, {"good": str(tiny_checkpoints["unigram"]), "bad": str(tmp_path / "none")}, nli,
                    seeds=[1], parallel=2)
    with pytest.raises(ModelError):
        run_all([run_config(cfg, "bad", 1), run_config(cfg, "good", 1)], parallel=2)
    assert (tmp_path / "cmp" / "runs" / "good" / "seed-1" / ".complete").exists()


def test_dev_split_parallel_holds_the_same_rows_out_of_the_translations(tmp_path, tiny_checkpoints, nli):
    from xladjust.tasks.finetune import _read_data
    from xladjust.tasks.registry import get_task
    from xladjust.tasks.sources import parse_source

    task = get_task("nli")
    translation = write_nli(tmp_path / "translation.tsv", 40, 5)
    cfg = _ft(tmp_path, tiny_checkpoints["unigram"], train=[str(nli["train"]), str(translation)], dev_split=0.25,
              dev_split_parallel=True)
    data = _read_data(cfg, task)
    rest, _ = split_off(task.read(parse_source(str(translation)), "train"), 0.25, seed=0)
    assert len(data.dev) == 10 and len(data.train) == 60 and data.train[30:] == rest
    plain = _read_data(_ft(tmp_path, tiny_checkpoints["unigram"], train=[str(nli["train"]), str(translation)],
                           dev_split=0.25), task)
    assert len(plain.train) == 70  # without it the translation is trained on whole


def test_dev_split_parallel_problems_are_one_line_each(tmp_path, tiny_checkpoints, nli):
    from xladjust.errors import InputError
    from xladjust.tasks.finetune import _read_data
    from xladjust.tasks.registry import get_task

    with pytest.raises(ConfigError, match="dev_split_parallel holds out dev_split's rows of every training source"):
        _ft(tmp_path, tiny_checkpoints["unigram"], train=[str(nli["train"])], dev_split_parallel=True)
    cfg = _ft(tmp_path, tiny_checkpoints["unigram"], train=[str(nli["train"]), str(nli["es"])], dev_split=0.25,
              dev_split_parallel=True)
    with pytest.raises(InputError, match=r"es.tsv has 12 examples, the first has 40; give parallel files"):
        _read_data(cfg, get_task("nli"))


def test_a_per_language_arm_is_tested_on_its_own_language_only(tmp_path, tiny_checkpoints, nli):
    from xladjust.tasks.transfer import comparison_markdown

    start = str(tiny_checkpoints["unigram"])
    finetune_cfg = {"task": "nli", "model": "x", "train": [str(nli["train"])], "out": str(tmp_path),
                    "test": {"en": str(nli["train"]), "es": str(nli["es"])}, "max_steps": 2, "save_model": False,
                    **FAST}
    cfg = build_config(TransferConfig, {"models": {"vanilla": start}, "seeds": [1, 2], "out": str(tmp_path / "cmp"),
                                        "finetune": finetune_cfg, "resamples": 200,
                                        "per_language": {"adjusted-per-language": {"es": start}}})
    table = transfer(cfg)
    runs = tmp_path / "cmp" / "runs" / "adjusted-per-language" / "es"
    assert sorted(p.name for p in runs.iterdir()) == ["seed-1", "seed-2"]
    assert set(read_run(runs / "seed-1")["test"]) == {"es"}  # its own language alone
    assert set(table["languages"]["en"]["scores"]) == {"vanilla"}
    es = table["languages"]["es"]
    assert set(es["scores"]) == {"vanilla", "adjusted-per-language"}
    # the same start, seeds and data: the per-language model equals vanilla on its language
    assert es["scores"]["adjusted-per-language"]["per_seed"] == es["scores"]["vanilla"]["per_seed"]
    assert "adjusted-per-language - vanilla" in es["comparisons"]
    assert "| en | " in comparison_markdown(table) and "– |" in comparison_markdown(table)


def test_a_per_language_arm_needs_a_test_set_and_its_own_name(tmp_path, nli):
    finetune_cfg = {"task": "nli", "model": "x", "train": [str(nli["train"])], "out": str(tmp_path),
                    "test": {"es": str(nli["es"])}}
    with pytest.raises(ConfigError) as exc:
        build_config(TransferConfig, {"models": {"vanilla": "x"}, "seeds": [1], "out": str(tmp_path / "cmp"),
                                      "finetune": finetune_cfg, "per_language": {"vanilla": {"ru": "y"}}})
    text = " ".join(exc.value.problems)
    assert "per_language: arm name 'vanilla' is also one of the models" in text and "per_language[vanilla]: 'ru' has no test set" in text
