"""Word-embedding extraction on tiny encoders of both tokenizer kinds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xladjust.embeddings import (
    Pooling,
    embed_sentences,
    embed_words,
    resolve_layers,
    validate_sentences,
)
from xladjust.errors import InputError

SENTS = [["the", "house", "xyzq", "is", "big"], ["la", "casa"], ["qqqq", "w", "a"]]


def _hidden_and_word_ids(loaded, words):
    enc = loaded.tokenizer([words], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        out = loaded.model(**enc, output_hidden_states=True)
    return out.hidden_states, enc.word_ids(0), enc["input_ids"][0].tolist()


@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_pooling_matches_hand_computation(tiny_model, pooling):
    emb = embed_words(tiny_model.model, tiny_model.tokenizer, SENTS, layers="all", pooling=pooling)
    space_id = tiny_model.tokenizer.get_vocab().get("\u2581")
    for i, words in enumerate(SENTS):
        hidden, wids, ids = _hidden_and_word_ids(tiny_model, words)
        for w in range(len(words)):
            toks = [t for t, x in enumerate(wids) if x == w]
            non_bare = [t for t in toks if ids[t] != space_id] or toks
            chosen = {"mean": toks, "first": non_bare[:1], "last": non_bare[-1:]}[pooling]
            for k, layer in enumerate(emb.layers):
                expected = hidden[layer][0, chosen].mean(0).numpy()
                np.testing.assert_allclose(emb.sentence(i, layer)[w], expected, atol=1e-5)
                assert emb.vectors[k, emb.offsets[i] + w].shape == expected.shape


def test_batching_does_not_change_vectors(tiny_model):
    batched = embed_words(tiny_model.model, tiny_model.tokenizer, SENTS, batch_size=64)
    single = embed_words(tiny_model.model, tiny_model.tokenizer, SENTS, batch_size=1)
    np.testing.assert_allclose(batched.vectors, single.vectors, atol=1e-5)
    assert batched.valid.all()


def test_offsets_follow_sentences_including_empty_ones(tiny_model):
    sents = [["the"], [], ["la", "casa", "es"]]
    emb = embed_words(tiny_model.model, tiny_model.tokenizer, sents)
    assert emb.offsets.tolist() == [0, 1, 1, 4]
    assert emb.sentence(1).shape == (0, 32)
    assert emb.n_words == 4 and emb.n_sentences == 3


def test_all_empty_input_returns_no_words(tiny_model):
    emb = embed_words(tiny_model.model, tiny_model.tokenizer, [[], []])
    assert emb.vectors.shape == (1, 0, 32)


def test_word_that_tokenizes_to_nothing_is_marked_invalid(tiny_model):
    emb = embed_words(tiny_model.model, tiny_model.tokenizer, [["the", "", "house"]])
    assert emb.valid.tolist() == [True, False, True]
    assert not emb.vectors[0, 1].any()
    alone = embed_words(tiny_model.model, tiny_model.tokenizer, [["the", "house"]])
    np.testing.assert_allclose(emb.vectors[0, [0, 2]], alone.vectors[0], atol=1e-5)


def test_words_beyond_the_length_limit_are_marked_not_dropped(tiny_model):
    long = ["house"] * 100  # the tiny model takes 64 positions
    emb = embed_words(tiny_model.model, tiny_model.tokenizer, [long, ["the"]])
    assert emb.n_words == 101
    assert emb.valid[:62].all() and not emb.valid[62:100].any() and emb.valid[100]
    assert np.abs(emb.vectors[0, :62]).sum() > 0 and not emb.vectors[0, 62:100].any()


def test_a_word_longer_than_the_limit(tiny_model):
    """SentencePiece splits a 200-character word into more pieces than fit: it and the
    words after it are invalid. WordPiece maps any word over 100 characters to one
    [UNK] piece (documented in xladjust.embeddings), so all words keep a vector."""
    words = ["the", "q" * 200, "house"]
    emb = embed_words(tiny_model.model, tiny_model.tokenizer, [words])
    if tiny_model.tokenizer.unk_token == "[UNK]":
        assert emb.valid.tolist() == [True, True, True]
        ids = tiny_model.tokenizer([words], is_split_into_words=True)["input_ids"][0]
        assert ids[2] == tiny_model.tokenizer.unk_token_id
    else:
        assert emb.valid.tolist() == [True, False, False]


def test_explicit_max_length_truncates_earlier(tiny_model):
    emb = embed_words(tiny_model.model, tiny_model.tokenizer, [["the", "house", "is", "big"]], max_length=4)
    assert emb.valid.tolist() == [True, True, False, False]
    with pytest.raises(InputError, match="max_length"):
        embed_words(tiny_model.model, tiny_model.tokenizer, [["a"]], max_length=2)


@pytest.mark.parametrize("bad", ["just a string", [["ok"], "not split"], [["ok", 3]], [[None]], 5])
def test_non_string_input_is_rejected(bad):
    with pytest.raises(InputError):
        validate_sentences(bad)


def test_resolve_layers():
    assert resolve_layers("last", 12) == (12,)
    assert resolve_layers("all", 2) == (0, 1, 2)
    assert resolve_layers(-1, 12) == (12,)
    assert resolve_layers("8,12", 12) == (8, 12)
    assert resolve_layers([0, -1, 0], 4) == (0, 4)
    for bad in (13, -14, "x", []):
        with pytest.raises(InputError):
            resolve_layers(bad, 12)


def test_layer_lookup_errors_name_the_extracted_layers(tiny_model):
    emb = embed_words(tiny_model.model, tiny_model.tokenizer, [["the"]], layers=[1])
    with pytest.raises(InputError, match=r"extracted: \[1\]"):
        emb.layer(2)


def test_unknown_pooling_lists_choices():
    with pytest.raises(InputError, match="mean, first, last"):
        Pooling.parse("max")


def test_bf16_is_close_to_fp32(tiny_model):
    fp32 = embed_words(tiny_model.model, tiny_model.tokenizer, SENTS)
    bf16 = embed_words(tiny_model.model, tiny_model.tokenizer, SENTS, bf16=True)
    cos = (fp32.vectors * bf16.vectors).sum(-1) / (
        np.linalg.norm(fp32.vectors, axis=-1) * np.linalg.norm(bf16.vectors, axis=-1))
    assert cos.min() > 0.98


def test_model_stays_in_training_mode_after_extraction(tiny_model):
    tiny_model.model.train()
    try:
        embed_words(tiny_model.model, tiny_model.tokenizer, [["the"]])
        assert tiny_model.model.training
    finally:
        tiny_model.model.eval()


def test_sentence_embeddings_mean_over_content_tokens(tiny_model):
    texts = ["the house is big", "la casa"]
    layers, vecs = embed_sentences(tiny_model.model, tiny_model.tokenizer, texts, layers="last")
    enc = tiny_model.tokenizer(texts[:1], return_tensors="pt", return_special_tokens_mask=True)
    special = enc.pop("special_tokens_mask")[0].bool()
    with torch.no_grad():
        hidden = tiny_model.model(**enc).last_hidden_state[0]
    np.testing.assert_allclose(vecs[0, 0], hidden[~special].mean(0).numpy(), atol=1e-5)
    _, with_special = embed_sentences(tiny_model.model, tiny_model.tokenizer, texts[:1], include_special=True)
    np.testing.assert_allclose(with_special[0, 0], hidden.mean(0).numpy(), atol=1e-5)
    assert layers == (2,)
