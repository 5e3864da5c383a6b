"""Pair selection, tokenization plans, pooling and batching of the adjust stage."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers_adjust import sample_pairs, write_sample_corpus

from xladjust.adjust.batching import bucketed_batches, collate_pairs, pack_sentences, plan_steps
from xladjust.adjust.config import AdjustConfig, Mix
from xladjust.adjust.dataset import draw_examples, scan_corpora
from xladjust.adjust.features import encode_sentences, sentence_features
from xladjust.adjust.forward import packed_words
from xladjust.adjust.pairs import quotas, scan_corpus, select_links
from xladjust.align.corpus import AlignedPair, write_aligned_corpus
from xladjust.align.symmetrize import one_to_one
from xladjust.embeddings import Pooling, embed_words
from xladjust.errors import InputError, ModelError
from xladjust.pooling import pool_words


def test_one_to_one_keeps_links_whose_words_have_a_single_partner():
    links = [(0, 0), (1, 1), (1, 2), (2, 3), (3, 3), (4, 4), (4, 4)]
    assert one_to_one(links) == [(0, 0), (4, 4)]


def test_select_links_drops_identical_strings_and_counts_what_it_dropped():
    pair = AlignedPair(["Anna", "has", "2", "cats", "."], ["Anna", "tiene", "2", "gatos", "."],
                       [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (3, 1)])
    kept, not_one_to_one, identical = select_links(pair)
    # (1,1) and (3,1) share target 1, (3,3) and (3,1) source 3; the rest join identical strings
    assert kept == [] and not_one_to_one == 3 and identical == 3
    pair2 = AlignedPair(["Anna", "has", "cats"], ["Anna", "tiene", "gatos"], [(0, 0), (1, 1), (2, 2)])
    assert select_links(pair2) == ([(1, 1), (2, 2)], 0, 1)
    assert select_links(pair2, drop_identical=False) == ([(0, 0), (1, 1), (2, 2)], 0, 0)


@pytest.mark.parametrize(
    ("counts", "max_pairs", "mix", "expected"),
    [
        ([100, 50], None, Mix.PROPORTIONAL, [100, 50]),
        ([100, 50], 30, Mix.PROPORTIONAL, [20, 10]),
        ([100, 50], 31, Mix.PROPORTIONAL, [21, 10]),
        ([100, 50], 1000, Mix.PROPORTIONAL, [100, 50]),
        ([100, 50], None, Mix.UNIFORM, [50, 50]),
        ([100, 50], 30, Mix.UNIFORM, [15, 15]),
        ([100, 5], 30, Mix.UNIFORM, [15, 5]),
        ([10, 10, 10], 7, Mix.UNIFORM, [3, 2, 2]),
    ],
)
def test_quotas(counts, max_pairs, mix, expected):
    assert quotas(counts, max_pairs, mix) == expected


def test_scan_corpus_counts_usable_pairs(tmp_path):
    pairs = sample_pairs() + [AlignedPair(["Paris", "."], ["Paris", "."], [(0, 0), (1, 1)])]
    scan = scan_corpus(write_sample_corpus(tmp_path / "c", pairs), drop_identical=True, max_words=7)
    assert scan.stats.pairs_read == 13
    assert scan.stats.pairs_without_links == 1  # the Paris pair: only identical strings
    long_pairs = sum(max(len(p.src), len(p.tgt)) > 7 for p in pairs)
    assert scan.stats.pairs_too_many_words == long_pairs
    assert scan.stats.pairs_usable == 13 - 1 - long_pairs == len(scan.usable)


def test_out_of_range_links_are_an_error_naming_file_and_line(tmp_path):
    bad = sample_pairs()[:3] + [AlignedPair(["a", "b"], ["c"], [(0, 0), (1, 3)])]
    corpus = write_sample_corpus(tmp_path / "bad", bad)
    with pytest.raises(InputError, match=r"pairs\.jsonl:4: link 1-3 is out of range"):
        scan_corpus(corpus, True, None)


def test_a_corpus_without_usable_links_is_an_error(tmp_path):
    same = [AlignedPair(["Paris", "2024", "."], ["Paris", "2024", "."], [(0, 0), (1, 1), (2, 2)])] * 3
    corpus = write_sample_corpus(tmp_path / "same", same)
    config = AdjustConfig(aligned=[corpus], out=tmp_path / "out")
    with pytest.raises(InputError, match="no usable links.*9 between identical strings"):
        scan_corpora(config)


def test_an_incomplete_corpus_is_an_error(tmp_path):
    corpus = write_sample_corpus(tmp_path / "c")
    (corpus / ".complete").unlink()
    with pytest.raises(InputError, match="incomplete"):
        scan_corpus(corpus, True, None)


def test_pooling_plan_mean_first_last_with_a_bare_sentencepiece_space():
    # <s> ▁ ab | ▁cd | </s>: word 0 = [▁(bare), ab], word 1 = [▁cd]
    ids = np.array([0, 5, 6, 7, 2])
    wids = np.array([-1, 0, 0, 1, -1])
    mean = sentence_features(ids, wids, 2, Pooling.MEAN, space_id=5, special_tokens=False)
    assert mean.n_words == 2
    assert sorted(zip(mean.pool_token.tolist(), mean.pool_word.tolist(), mean.pool_weight.tolist(), strict=True)) == [
        (1, 0, 0.5), (2, 0, 0.5), (3, 1, 1.0)]
    first = sentence_features(ids, wids, 2, Pooling.FIRST, space_id=5, special_tokens=False)
    assert sorted(zip(first.pool_token.tolist(), first.pool_word.tolist(), strict=True)) == [(2, 0), (3, 1)]
    last = sentence_features(ids, wids, 2, Pooling.LAST, space_id=5, special_tokens=True)
    assert last.n_words == 4
    assert sorted(zip(last.pool_token.tolist(), last.pool_word.tolist(), strict=True)) == [(0, 2), (2, 0), (3, 1), (4, 3)]


def test_words_without_subwords_get_no_pooled_index():
    plan = sentence_features(np.array([0, 9, 2]), np.array([-1, 1, -1]), 3, Pooling.MEAN, None, False)
    assert plan.word_map.tolist() == [-1, 0, -1] and plan.n_words == 1


def test_special_tokens_need_a_tokenizer_that_adds_them():
    with pytest.raises(ModelError, match="special_tokens"):
        sentence_features(np.array([4, 5]), np.array([0, 1]), 2, Pooling.MEAN, None, special_tokens=True)


def test_a_slow_tokenizer_is_rejected():
    class Slow:
        is_fast = False

    with pytest.raises(ModelError, match="fast tokenizer"):
        encode_sentences(Slow(), [["a"]], Pooling.MEAN, False)


@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_pooled_vectors_match_the_shared_word_embeddings(tiny_model, pooling):
    sentences = [["the", "house", "is", "bigger", "than", "yours"], ["la", "casa"], ["wasserfälle", "!"]]
    feats = encode_sentences(tiny_model.tokenizer, sentences, Pooling(pooling), special_tokens=False)
    model = tiny_model.model
    with torch.inference_mode():
        ours = packed_words(model, pack_sentences(feats, tiny_model.tokenizer.pad_token_id), 2, 2,
                            torch.device("cpu")).numpy()
    ref = embed_words(model, tiny_model.tokenizer, sentences, pooling=pooling)
    assert ref.valid.all()
    np.testing.assert_allclose(ours, ref.layer(2), atol=1e-5)


def test_special_pseudo_words_are_the_tokenizers_own_special_tokens(tiny_model):
    tok = tiny_model.tokenizer
    (feat,) = encode_sentences(tok, [["la", "casa"]], Pooling.MEAN, special_tokens=True)
    cls_row = feat.pool_token[feat.pool_word == feat.n_words - 2]
    sep_row = feat.pool_token[feat.pool_word == feat.n_words - 1]
    assert feat.ids[cls_row].tolist() == [tok.cls_token_id]
    assert feat.ids[sep_row].tolist() == [tok.sep_token_id]
    assert tok.unk_token_id not in feat.ids.tolist()


def test_pool_words_sends_gradient_only_to_pooled_tokens():
    hidden = torch.arange(12.0).reshape(1, 4, 3).requires_grad_()
    words = pool_words(hidden, torch.tensor([1, 2, 3]), torch.tensor([0, 0, 1]), torch.tensor([0.5, 0.5, 1.0]), 2)
    assert torch.allclose(words, torch.tensor([[4.5, 5.5, 6.5], [9.0, 10.0, 11.0]]))
    words.sum().backward()
    assert hidden.grad[0, 0].abs().sum() == 0
    assert torch.allclose(hidden.grad[0, 1:, 0], torch.tensor([0.5, 0.5, 1.0]))


def test_bucketed_batches_cover_every_pair_once_within_limits():
    rng_lengths = np.random.default_rng(1).integers(3, 60, size=500)
    batches = bucketed_batches(rng_lengths, batch_size=16, max_tokens=1200, rows_per_pair=2,
                               rng=np.random.default_rng(5))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(500))
    for b in batches:
        assert len(b) <= 16
        assert len(b) == 1 or 2 * len(b) * rng_lengths[b].max() <= 1200
    again = bucketed_batches(rng_lengths, 16, 1200, 2, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))
    # bucketing keeps padding low compared with random batches
    padded = sum(len(b) * rng_lengths[b].max() for b in batches)
    assert padded < 1.2 * rng_lengths.sum()


def test_plan_steps_groups_micro_batches_and_splits_them_over_processes():
    lengths = np.full(100, 10)
    one = plan_steps(lengths, seed=0, batch_size=8, max_tokens=10_000, rows_per_pair=2, grad_accum=2,
                     epochs=2, max_steps=None)
    assert len(one) == 2 * 7  # 13 micro-batches per epoch -> 7 steps (last has one)
    assert [len(s.micro_batches) for s in one[:7]] == [2] * 6 + [1]
    assert {s.epoch for s in one} == {0, 1}
    ranks = [plan_steps(lengths, seed=0, batch_size=8, max_tokens=10_000, rows_per_pair=2, grad_accum=1,
                        epochs=None, max_steps=5, world_size=2, rank=r) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 5
    for a, b in zip(*ranks, strict=True):
        assert len(a.micro_batches) == len(b.micro_batches) == 1
        assert not set(a.micro_batches[0]) & set(b.micro_batches[0])


def test_collate_points_links_at_the_right_pooled_words(tmp_path, tiny_model):
    corpus = write_sample_corpus(tmp_path / "c")
    config = AdjustConfig(aligned=[corpus], out=tmp_path / "out", special_tokens=True)
    data = draw_examples(config, scan_corpora(config), tiny_model.tokenizer, 64)
    assert len(data.examples) == 12
    pairs = {i: p for i, p in enumerate(sample_pairs())}
    batch = collate_pairs(data.examples, np.array([3, 0]), with_source=True,
                          cache_offsets=np.zeros(12, dtype=np.int64), pad_id=tiny_model.tokenizer.pad_token_id)
    packed = batch.packed
    words = []  # (side, example, word) for every pooled word, in packed order
    for side in ("tgt", "src"):
        for k in (3, 0):
            ex = data.examples[k]
            feat = getattr(ex, side)
            inverse = {int(v): w for w, v in enumerate(feat.word_map) if v >= 0}
            words += [(side, k, inverse.get(w, "special")) for w in range(feat.n_words)]
    assert len(words) == packed.n_words
    for src_w, tgt_w in zip(batch.link_source, batch.link_target, strict=True):
        side_s, k, i = words[src_w]
        side_t, k2, j = words[tgt_w]
        assert (side_s, side_t) == ("src", "tgt") and k == k2
        ex = data.examples[k]
        if i != "special":
            assert (i, j) in select_links(pairs[ex.index])[0]
        else:
            assert j == "special"
    assert batch.n_pairs == 2 and len(batch.source_words) == sum(data.examples[k].src.n_words for k in (3, 0))


def test_draw_examples_is_seeded_and_skips_pairs_over_the_subword_limit(tmp_path, tiny_model):
    corpus = write_sample_corpus(tmp_path / "c", repeat=3)
    config = AdjustConfig(aligned=[corpus], out=tmp_path / "o", max_pairs=10, seed=3)
    a = draw_examples(config, scan_corpora(config), tiny_model.tokenizer, 64)
    b = draw_examples(config, scan_corpora(config), tiny_model.tokenizer, 64)
    assert [e.index for e in a.examples] == [e.index for e in b.examples] and len(a.examples) == 10
    other = AdjustConfig(aligned=[corpus], out=tmp_path / "o", max_pairs=10, seed=4)
    assert [e.index for e in draw_examples(other, scan_corpora(other), tiny_model.tokenizer, 64).examples] != [
        e.index for e in a.examples]
    short = draw_examples(config, scan_corpora(config), tiny_model.tokenizer, 12)
    assert all(e.length <= 12 for e in short.examples)
    assert short.scans[0].stats.pairs_too_many_subwords > 0
    with pytest.raises(InputError, match="subword limit"):
        draw_examples(config, scan_corpora(config), tiny_model.tokenizer, 3)


def test_two_corpora_are_mixed_in_proportion_or_uniformly(tmp_path, tiny_model):
    big = write_sample_corpus(tmp_path / "big", repeat=3)  # 36 pairs
    small = write_sample_corpus(tmp_path / "small")  # 12 pairs
    prop = AdjustConfig(aligned=[big, small], out=tmp_path / "o", max_pairs=16)
    counts = np.bincount([e.corpus for e in draw_examples(prop, scan_corpora(prop), tiny_model.tokenizer, 64).examples])
    assert counts.tolist() == [12, 4]
    uni = AdjustConfig(aligned=[big, small], out=tmp_path / "o", max_pairs=16, mix=Mix.UNIFORM)
    counts = np.bincount([e.corpus for e in draw_examples(uni, scan_corpora(uni), tiny_model.tokenizer, 64).examples])
    assert counts.tolist() == [8, 8]


def test_aligned_corpus_written_by_hand_reads_back(tmp_path):
    """The helper's corpora are ordinary aligned corpora (manifest + .complete)."""
    path = write_aligned_corpus(tmp_path / "x", sample_pairs()[:2], {"languages": {"src": "en", "tgt": "es"}})
    assert json.loads((path / "manifest.json").read_text())["counts"]["pairs"] == 2
