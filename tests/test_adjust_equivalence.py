"""The optimized adjust loop computes what the straightforward one does.

The straightforward loop follows the reference code's design: a frozen copy of the model
run on the English side every step, the trainable model on both sides, each side padded
to its longest sentence, fp32, words pooled from subwords, and torch's Adam over every
parameter with a dense embedding gradient. The optimized loop caches the frozen vectors
once, forwards both sides in one padded batch, and trains the embedding matrix from sparse
gradients with state for the rows seen so far (RowAdam), and may forward a micro-batch in
chunks whose losses add up to the micro-batch's (``forward_tokens``). After a few steps on a tiny model
without dropout their weights agree within 1e-6.

Adam's ε is large here (1e-3) on purpose: some gradients are zero in exact arithmetic
(attention key biases; the last LayerNorm bias under a trainable partner, which moves both
sides of every link alike) and rounding noise in the two loops' different summation orders
is what remains of them; with a tiny ε Adam's first update turns that noise into ±lr. With
ε = 1e-3 noise moves a weight by about 1e-8 while real gradients still move weights by
about the learning rate.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from conftest import build_tiny_checkpoint
from helpers_adjust import without_dropout, write_sample_corpus
from safetensors.torch import load_file

import xladjust.adjust.train as train_module
from xladjust.adjust import AdjustConfig, adjust
from xladjust.adjust.dataset import draw_examples, scan_corpora
from xladjust.config import build_config
from xladjust.models import load_model

STEPS = 3
SETTINGS = {"embeddings": "train", "batch_size": 12, "lr": 1e-3, "optimizer": "adam", "adam_beta1": 0.9,
            "adam_beta2": 0.98, "adam_eps": 1e-3, "schedule": "constant", "warmup_steps": 0, "max_grad_norm": None,
            "special_tokens": True, "precision": "fp32", "progress": False, "checkpoint_every": None,
            "max_steps": STEPS}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return without_dropout(build_tiny_checkpoint(tmp_path_factory.mktemp("eq") / "model", "wordpiece"))


def straightforward(model_dir: Path, config: AdjustConfig, partner_trainable: bool, clip: float | None) -> dict:
    loaded = load_model(str(model_dir), device="cpu", for_training=True)
    model, tok = loaded.model.train(), loaded.tokenizer
    frozen = copy.deepcopy(model).eval()
    examples = draw_examples(config, scan_corpora(config), tok, 64).examples  # one batch of all 12 pairs
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(config.adam_beta1, config.adam_beta2),
                                 eps=config.adam_eps)
    for _ in range(STEPS):
        src_ids, src_mask = _pad([e.src.ids for e in examples], tok.pad_token_id)
        tgt_ids, tgt_mask = _pad([e.tgt.ids for e in examples], tok.pad_token_id)
        with torch.no_grad():
            src_frozen = frozen(input_ids=src_ids, attention_mask=src_mask).last_hidden_state
        src_h = model(input_ids=src_ids, attention_mask=src_mask).last_hidden_state
        tgt_h = model(input_ids=tgt_ids, attention_mask=tgt_mask).last_hidden_state
        align, reg = [], []
        for k, e in enumerate(examples):
            s_f, s_t, t_t = (_pool(h[k], f) for h, f in ((src_frozen, e.src), (src_h, e.src), (tgt_h, e.tgt)))
            links = torch.from_numpy(e.links)
            partner = s_t if partner_trainable else s_f
            align.append((t_t[links[:, 1]] - partner[links[:, 0]]).pow(2).sum(-1))
            reg.append((s_t - s_f).pow(2).sum(-1))
        loss = torch.cat(align).mean() + torch.cat(reg).mean()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad()
    return {k: v.detach() for k, v in model.state_dict().items()}


def _pad(rows, pad_id):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.from_numpy(r)
        mask[i, : len(r)] = 1
    return ids, mask


def _pool(hidden, feats):
    out = torch.zeros(feats.n_words, hidden.shape[-1])
    tok = torch.from_numpy(feats.pool_token)
    return out.index_add(0, torch.from_numpy(feats.pool_word), hidden[tok] * torch.from_numpy(feats.pool_weight)[:, None])


@pytest.mark.parametrize("partner, clip, forward_tokens", [("trainable", None, None), ("frozen", 0.5, None),
                                                          ("trainable", None, 60)])
def test_optimized_loop_equals_the_straightforward_one(model_dir, tmp_path, monkeypatch, partner, clip,
                                                       forward_tokens):
    # forward_tokens 60: each step's micro-batch of 12 pairs is forwarded in several chunks
    chunked = []
    original = train_module.forward_chunks

    def counting(loop, indices):
        chunks = original(loop, indices)
        chunked.append(len(chunks))
        return chunks

    monkeypatch.setattr(train_module, "forward_chunks", counting)
    corpus = write_sample_corpus(tmp_path / "corpus")
    config = build_config(AdjustConfig, {**SETTINGS, "aligned": [str(corpus)], "out": str(tmp_path / "run"),
                                         "model": str(model_dir), "max_grad_norm": clip,
                                         "forward_tokens": forward_tokens, "objective_options": {"partner": partner}})
    out = adjust(config)
    assert len(chunked) == STEPS and (min(chunked) > 2 if forward_tokens else max(chunked) == 1)
    ours = load_file(str(out / "model.safetensors"))
    theirs = straightforward(model_dir, config, partner == "trainable", clip)
    start = load_file(str(model_dir / "model.safetensors"))
    assert set(ours) <= set(theirs)
    moved = max(float((ours[k] - start[k]).abs().max()) for k in ours)
    assert moved > 1e-3
    assert max(float((ours[k] - theirs[k]).abs().max()) for k in ours) <= 1e-6
