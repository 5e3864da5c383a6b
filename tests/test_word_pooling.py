"""The one pooling definition: plans and the pooled sum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xladjust.errors import InputError
from xladjust.pooling import Pooling, pool_words, pooling_plan


def test_a_word_of_bare_pieces_only_falls_back_to_them_for_first_and_last():
    # <s> ▁ ▁ | x </s>: word 0 is two bare '▁' pieces (id 5), word 1 is 'x'
    ids, wids = np.array([0, 5, 5, 9, 2]), np.array([-1, 0, 0, 1, -1])
    first = pooling_plan(ids, wids, 2, Pooling.FIRST, space_id=5)
    assert sorted(zip(first.token.tolist(), first.word.tolist(), strict=True)) == [(1, 0), (3, 1)]
    last = pooling_plan(ids, wids, 2, Pooling.LAST, space_id=5)
    assert sorted(zip(last.token.tolist(), last.word.tolist(), strict=True)) == [(2, 0), (3, 1)]


def test_pool_words_is_the_weighted_sum_of_the_plan():
    hidden = torch.arange(12, dtype=torch.float32).reshape(1, 4, 3)
    plan = pooling_plan(np.array([0, 7, 8, 2]), np.array([-1, 0, 0, -1]), 1, Pooling.MEAN, space_id=None)
    pooled = pool_words(hidden, torch.from_numpy(plan.token), torch.from_numpy(plan.word),
                        torch.from_numpy(plan.weight), plan.n_words)
    assert torch.allclose(pooled, hidden[0, 1:3].mean(0, keepdim=True))


def test_unknown_pooling_names_the_choices():
    with pytest.raises(InputError, match="choose one of: mean, first, last"):
        Pooling.parse("max")
