"""Task preprocessing on tiny tokenizers: NER label alignment on subwords, QA span mapping
with stride (answers across window boundaries), NLI pair encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xladjust.errors import InputError
from xladjust.tasks.base import EncodeOptions
from xladjust.tasks.examples import Answer, PairExample, QAExample, TaggedSentence
from xladjust.tasks.ner import NER_TAGS, align_word_labels, continuation_map, word_label_positions
from xladjust.tasks.qa import best_span, char_span_to_tokens, encode_windows
from xladjust.tasks.registry import get_task

B_PER, OUT, B_LOC = NER_TAGS.index("B-PER"), NER_TAGS.index("O"), NER_TAGS.index("B-LOC")
I_PER, I_LOC = NER_TAGS.index("I-PER"), NER_TAGS.index("I-LOC")


@pytest.fixture(scope="module")
def tokenizers(tiny_checkpoints):
    from transformers import AutoTokenizer

    return {k: AutoTokenizer.from_pretrained(v) for k, v in tiny_checkpoints.items()}


# -- NER -----------------------------------------------------------------------------------

def test_align_labels_first_and_all_hand_made():
    # <s> ▁ x | y | p q r </s>: word 0 starts with a bare '▁', word 2 has three subwords
    word_ids = [None, 0, 0, 1, 2, 2, 2, None]
    bare = [False, True, False, False, False, False, False, False]
    labels = [B_PER, OUT, B_LOC]
    assert word_label_positions(word_ids, bare, 3) == [2, 3, 4]
    assert align_word_labels(word_ids, labels, bare, mode="first") == [-100, -100, B_PER, OUT, B_LOC, -100, -100, -100]
    cont = continuation_map(NER_TAGS)
    assert cont[B_PER] == I_PER and cont[B_LOC] == I_LOC
    assert align_word_labels(word_ids, labels, bare, mode="all", continuation=cont) == [
        -100, -100, B_PER, OUT, B_LOC, I_LOC, I_LOC, -100]
    with pytest.raises(ValueError, match="mode"):
        align_word_labels(word_ids, labels, bare, mode="last")


def test_word_of_only_bare_space_keeps_its_label_and_truncated_words_have_none():
    assert word_label_positions([None, 0, None], [False, True, False], 2) == [1, -1]


@pytest.mark.parametrize("kind", ["wordpiece", "unigram"])
@pytest.mark.parametrize("mode", ["first", "all"])
def test_ner_features_label_each_word_once_on_its_first_real_subword(tokenizers, kind, mode):
    tok = tokenizers[kind]
    sent = TaggedSentence(id="0", tokens=["the", "Paris", "łx", "casa", "Madrid"],
                          tags=["O", "B-LOC", "B-PER", "B-LOC", "I-LOC"])
    (feature,) = get_task("ner").encode_train([sent], tok, EncodeOptions(max_length=64, label_subwords=mode))
    tokens = tok.convert_ids_to_tokens(feature["input_ids"])
    labels = feature["labels"]
    enc = tok([sent.tokens], is_split_into_words=True)
    word_ids = enc.word_ids(0)
    for w, tag in enumerate(sent.tags):
        positions = [t for t, wid in enumerate(word_ids) if wid == w]
        real = [t for t in positions if tokens[t] != "\u2581"]
        assert labels[real[0]] == NER_TAGS.index(tag)  # the first real subword carries the tag
        rest = [labels[t] for t in real[1:]]
        expected = NER_TAGS.index(tag.replace("B-", "I-")) if mode == "all" else -100
        assert rest == [expected] * len(rest)
        assert all(labels[t] == -100 for t in positions if tokens[t] == "\u2581")
    assert labels[0] == labels[-1] == -100  # specials
    if kind == "unigram":
        assert "\u2581" in tokens  # the bare '▁' case is exercised
    if mode == "first":
        assert sum(x != -100 for x in labels) == len(sent.tokens)


def test_ner_prediction_maps_back_to_words_and_truncation_predicts_o(tokenizers):
    tok = tokenizers["unigram"]
    task = get_task("ner")
    sent = TaggedSentence(id="s", tokens=["the", "Paris", "casa"] * 4, tags=["O", "B-LOC", "O"] * 4)

    class Oracle(torch.nn.Module):
        """Predicts B-LOC exactly on tokens that start 'Paris' (▁P)."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.p = tok.convert_tokens_to_ids("\u2581P")

        def forward(self, input_ids, attention_mask=None, **kw):
            logits = torch.zeros(*input_ids.shape, len(NER_TAGS))
            logits[..., OUT] = 1.0
            logits[..., B_LOC] = 2.0 * (input_ids == self.p)
            return {"logits": logits}

    (rec,) = task.predict(Oracle(), tok, [sent], EncodeOptions(max_length=64), batch_size=4, bf16=False,
                          progress=False)
    assert rec["pred"] == sent.tags and rec["stats"] == [4, 4, 4]
    # Cut to 12 subwords: the later 'Paris' words get no token and are predicted O.
    (cut,) = task.predict(Oracle(), tok, [sent], EncodeOptions(max_length=12), batch_size=4, bf16=False,
                          progress=False)
    assert cut["pred"][1] == "B-LOC" and cut["pred"][-2] == "O" and cut["stats"][2] == 4


# -- QA ------------------------------------------------------------------------------------

def test_char_span_to_tokens_hand_made_offsets():
    # [CLS] q q [SEP] ▁the ▁house ▁is [SEP]; SentencePiece offsets include the leading space
    offsets = [(0, 0), (0, 2), (2, 4), (0, 0), (0, 3), (3, 9), (9, 12), (0, 0)]
    ctx = [False, False, False, False, True, True, True, False]
    assert char_span_to_tokens(offsets, ctx, 4, 9) == (5, 5)  # "house"
    assert char_span_to_tokens(offsets, ctx, 0, 9) == (4, 5)  # "the house"
    assert char_span_to_tokens(offsets, ctx, 10, 12) == (6, 6)  # "is"
    assert char_span_to_tokens(offsets, ctx, 10, 15) is None  # ends after the window
    window2 = [(0, 0), (0, 2), (2, 4), (0, 0), (3, 9), (9, 12), (12, 16), (0, 0)]
    assert char_span_to_tokens(window2, ctx, 0, 3) is None  # starts before the window


def test_best_span_respects_order_length_and_context():
    start = np.array([9.0, 0.0, 5.0, 1.0, 0.0])
    end = np.array([9.0, 0.0, 0.0, 4.0, 6.0])
    ctx = [False, True, True, True, True]  # index 0 (CLS) is never an answer
    assert best_span(start, end, ctx) == (11.0, 2, 4)
    assert best_span(start, end, ctx, max_answer_length=2) == (9.0, 2, 3)
    assert best_span(np.array([0.0, 5.0, 0.0]), np.array([0.0, 0.0, 0.0]), [False, False, False]) is None


def _long_example() -> QAExample:
    words = ("the house is big and the dog is small and the cat is red and the river is blue "
             "and the water is green").split()
    context = " ".join(words)
    start = context.index("the river is blue")
    return QAExample(id="long", question="what is blue", context=context,
                     answers=[Answer(text="the river is blue", start=start)])


@pytest.mark.parametrize("kind", ["wordpiece", "unigram"])
def test_qa_windows_overlap_by_stride_and_answer_across_boundary_lands_in_next(tokenizers, kind):
    tok = tokenizers[kind]
    ex = _long_example()
    opts = EncodeOptions(max_length=16, doc_stride=4, max_question_length=8)
    windows = encode_windows([ex], tok, opts)
    assert len(windows) > 2
    ctx_ranges = [[o for o, c in zip(w["_offsets"], w["_in_context"], strict=True) if c] for w in windows]
    for prev, nxt in zip(ctx_ranges, ctx_ranges[1:], strict=False):
        assert prev[-4:] == nxt[:4]  # consecutive windows share doc_stride context tokens
    features = get_task("qa").encode_train([ex], tok, opts)
    labelled = [(i, f) for i, f in enumerate(features) if f["start_positions"] > 0]
    assert labelled, "some window must hold the answer"
    crossing = [i for i, rng in enumerate(ctx_ranges)
                if rng[0][0] <= ex.answers[0].start < rng[-1][1] < ex.answers[0].end]
    assert crossing, "the answer must cross a window boundary in this set-up"
    for i in crossing:
        assert features[i]["start_positions"] == features[i]["end_positions"] == 0
    assert all(i > crossing[0] for i, _ in labelled)
    for i, f in labelled:  # the labelled span maps back to exactly the answer text
        offs = windows[i]["_offsets"]
        text = ex.context[offs[f["start_positions"]][0] : offs[f["end_positions"]][1]].strip()
        assert text == ex.answers[0].text


@pytest.mark.parametrize("kind", ["wordpiece", "unigram"])
def test_qa_prediction_picks_best_window_and_maps_to_text(tokenizers, kind):
    tok = tokenizers[kind]
    river = tok.convert_tokens_to_ids("river" if kind == "wordpiece" else "\u2581river")

    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask=None, **kw):
            hit = (input_ids == river).float() * 10
            return {"start_logits": hit, "end_logits": hit}

    ex = _long_example()
    (rec,) = get_task("qa").predict(Oracle(), tok, [ex], EncodeOptions(max_length=16, doc_stride=4,
                                    max_question_length=8), batch_size=3, bf16=False, progress=False)
    assert rec["pred"] == "river" and rec["gold"] == ["the river is blue"]
    assert rec["stats"] == [0.0, 0.5]  # "river" vs "river is blue": precision 1, recall 1/3


def test_qa_question_is_cut_and_too_small_windows_are_refused(tokenizers):
    tok = tokenizers["wordpiece"]
    ex = QAExample(id="q", question=" ".join(["house"] * 30), context="the dog is big", answers=[])
    windows = encode_windows([ex], tok, EncodeOptions(max_length=20, doc_stride=2, max_question_length=5))
    assert sum(1 for s in windows[0]["_in_context"] if not s) == 5 + 3  # 5 question tokens + 3 specials
    with pytest.raises(InputError, match="raise max_length or lower doc_stride"):
        encode_windows([ex], tok, EncodeOptions(max_length=12, doc_stride=4, max_question_length=5))


def test_qa_training_question_without_answer_is_an_error(tokenizers):
    ex = QAExample(id="q9", question="what", context="the dog", answers=[])
    with pytest.raises(InputError, match="training question q9 has no answer"):
        get_task("qa").encode_train([ex], tokenizers["unigram"], EncodeOptions(max_length=32, doc_stride=4))


# -- NLI -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["wordpiece", "unigram"])
def test_nli_pairs_encode_both_sentences_with_the_tokenizers_specials(tokenizers, kind):
    tok = tokenizers[kind]
    ex = PairExample(id="0", premise="the dog is big", hypothesis="the cat", label="contradiction")
    (f,) = get_task("nli").encode_train([ex], tok, EncodeOptions(max_length=64))
    tokens = tok.convert_ids_to_tokens(f["input_ids"])
    assert f["labels"] == 2
    assert tokens[0] == tok.cls_token and tokens[-1] == tok.sep_token
    assert tokens.count(tok.sep_token) == (2 if kind == "wordpiece" else 3)
    (short,) = get_task("nli").encode_train([ex], tok, EncodeOptions(max_length=6))
    assert len(short["input_ids"]) == 6
