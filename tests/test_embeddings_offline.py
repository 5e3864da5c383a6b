"""Integration: contextual word vectors of the real offline model."""

from __future__ import annotations

import numpy as np
import pytest

from xladjust.embeddings import embed_words

pytestmark = pytest.mark.slow

# (English sentence, index of the word), (translation, index of its counterpart)
PAIRS = [
    (("The house is very old .", 1), ("La casa es muy vieja .", 1)),
    (("My dog sleeps all day .", 1), ("Mi perro duerme todo el día .", 1)),
    (("Cold water is good .", 1), ("Холодная вода полезна .", 1)),
    (("The book is on the table .", 1), ("Das Buch liegt auf dem Tisch .", 1)),
    (("I see the river .", 3), ("Tôi thấy con sông .", 3)),
    (("The city is big .", 1), ("La ciudad es grande .", 1)),
    (("She drinks milk every morning .", 2), ("Она пьёт молоко каждое утро .", 2)),
    (("The child is playing .", 1), ("Das Kind spielt .", 1)),
]


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_translation_pairs_are_closer_than_unrelated_pairs(offline_model):
    src = [p[0][0].split() for p in PAIRS]
    tgt = [p[1][0].split() for p in PAIRS]
    es = embed_words(offline_model.model, offline_model.tokenizer, src, layers=[8, 12])
    et = embed_words(offline_model.model, offline_model.tokenizer, tgt, layers=[8, 12])
    for layer in (8, 12):
        a = unit(np.stack([es.sentence(i, layer)[p[0][1]] for i, p in enumerate(PAIRS)]))
        b = unit(np.stack([et.sentence(i, layer)[p[1][1]] for i, p in enumerate(PAIRS)]))
        sim = a @ b.T  # sim[i, j]: English word i vs target word j
        related = np.diag(sim)
        unrelated = (sim.sum(1) - related) / (len(PAIRS) - 1)
        assert (related > unrelated).all(), (layer, related, unrelated)
        assert (sim.argmax(1) == np.arange(len(PAIRS))).mean() >= 0.75
