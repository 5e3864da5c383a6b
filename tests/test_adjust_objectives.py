"""Objectives and losses on hand-made vectors: values, gradients, registry and options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xladjust.adjust.losses import info_nce, mean_squared_distance, parameter_distance
from xladjust.adjust.objectives import (
    OBJECTIVES,
    ContrastiveObjective,
    ContrastiveOptions,
    L2Objective,
    L2Options,
    Negatives,
    Partner,
    WordBatch,
    build_objective,
)
from xladjust.adjust.regularizers import ParameterAnchor
from xladjust.errors import ConfigError


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def test_mean_squared_distance_is_mean_of_squared_euclidean_distances():
    a = t([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    b = t([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert mean_squared_distance(a, b).item() == pytest.approx((1 + 4 + 25) / 3)


def test_per_component_mean_is_f_mse_loss_also_over_chunks():
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert mean_squared_distance(a, b, per_component=True).item() == pytest.approx(F.mse_loss(a, b).item())
    chunks = sum(mean_squared_distance(a[i:i + 2], b[i:i + 2], 6, per_component=True) for i in (0, 2, 4))
    assert chunks.item() == pytest.approx(F.mse_loss(a, b).item())


def test_mean_squared_distance_of_an_empty_batch_is_zero_and_differentiable():
    a = torch.zeros(0, 3, requires_grad=True)
    out = mean_squared_distance(a, torch.zeros(0, 3))
    out.backward()
    assert out.item() == 0.0 and a.grad is not None


def test_mean_squared_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        mean_squared_distance(torch.zeros(2, 3), torch.zeros(3, 3))


def test_l2_objective_value_with_frozen_partner_and_regularizer():
    words = WordBatch(
        target=t([[1.0, 0.0], [0.0, 1.0]]),
        source=t([[1.0, 0.0], [0.0, 1.0]]),  # ignored: the partner is the frozen vector
        source_frozen=t([[0.0, 0.0], [0.0, 0.0]]),
        source_all=t([[1.0, 1.0]]),
        source_all_frozen=t([[0.0, 0.0]]),
    )
    out = L2Objective(L2Options(reg_weight=0.5))(words)
    # align = mean(1, 1) = 1; reg = 2; loss = 1 + 0.5 * 2
    assert out.parts["align"].item() == pytest.approx(1.0)
    assert out.parts["reg"].item() == pytest.approx(2.0)
    assert out.loss.item() == pytest.approx(2.0)


def test_l2_objective_with_trainable_partner_uses_the_trainable_source():
    words = WordBatch(target=t([[2.0, 0.0]]), source=t([[0.0, 0.0]]), source_frozen=t([[2.0, 0.0]]),
                      source_all=t([[0.0, 0.0]]), source_all_frozen=t([[0.0, 0.0]]))
    out = L2Objective(L2Options(partner=Partner.TRAINABLE))(words)
    assert out.parts["align"].item() == pytest.approx(4.0)


def test_l2_objective_declares_only_the_vectors_it_needs():
    cao = L2Objective(L2Options(reg_weight=0.0, partner=Partner.FROZEN))
    assert (cao.needs_trainable_source, cao.needs_frozen_source) == (False, True)
    efimov = L2Objective(L2Options(reg_weight=0.0, partner=Partner.TRAINABLE))
    assert (efimov.needs_trainable_source, efimov.needs_frozen_source) == (True, False)
    both = L2Objective(L2Options())
    assert (both.needs_trainable_source, both.needs_frozen_source) == (True, True)
    assert "reg" not in cao(WordBatch(target=t([[1.0]]), source_frozen=t([[0.0]]))).parts


def test_l2_gradient_reaches_the_target_and_not_the_frozen_partner():
    target = t([[1.0, 2.0]]).requires_grad_()
    frozen = t([[0.0, 0.0]])
    out = L2Objective(L2Options(reg_weight=0.0))(WordBatch(target=target, source_frozen=frozen))
    out.loss.backward()
    assert torch.allclose(target.grad, t([[2.0, 4.0]]))  # d/dx ||x||^2 = 2x
    assert frozen.grad is None


def _info_nce_numpy(a: np.ndarray, b: np.ndarray, tau: float, strong: bool) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    n = len(a)
    losses = []
    for anchors, others in ((a, b), (b, a)):
        for k in range(n):
            cands = [others[j] for j in range(n)]
            if strong:
                cands += [anchors[j] for j in range(n) if j != k]
            scores = np.array([anchors[k] @ c for c in cands]) / tau
            losses.append(-(scores[k] - np.log(np.exp(scores).sum())))
    return float(np.mean(losses))


@pytest.mark.parametrize("strong", [False, True])
def test_info_nce_matches_a_direct_computation(strong):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    got = info_nce(torch.from_numpy(a), torch.from_numpy(b), temperature=0.1, strong=strong).item()
    assert got == pytest.approx(_info_nce_numpy(a, b, 0.1, strong), rel=1e-6)


def test_info_nce_is_near_zero_for_perfectly_aligned_orthogonal_pairs():
    a = torch.eye(3)
    assert info_nce(a, a.clone(), temperature=0.01).item() < 1e-6
    # strong negatives include the other language's copies, which are orthogonal too
    assert info_nce(a, a.clone(), temperature=0.01, strong=True).item() < 1e-6


def test_info_nce_falls_when_pairs_move_together():
    a = t([[1.0, 0.0], [0.0, 1.0]])
    far = info_nce(a, t([[0.0, 1.0], [1.0, 0.0]]))
    near = info_nce(a, t([[1.0, 0.1], [0.1, 1.0]]))
    assert near < far


def test_parameter_distance_value_and_gradient():
    p = t([3.0, 0.0]).requires_grad_()
    q = t([[0.0, 4.0]]).requires_grad_()
    d = parameter_distance([p, q], [torch.zeros(2), torch.zeros(1, 2)])
    assert d.item() == pytest.approx(5.0)
    d.backward()
    assert torch.allclose(p.grad, t([0.6, 0.0])) and torch.allclose(q.grad, t([[0.0, 0.8]]))


def test_parameter_distance_gradient_is_zero_not_nan_at_the_reference():
    p = t([1.0, 2.0]).requires_grad_()
    d = parameter_distance([p], [p.detach().clone()])
    (d * 3.0).backward()
    assert d.item() == 0.0
    assert p.grad is None or torch.all(p.grad == 0)
    # the textbook formula sqrt(sum((θ - θ₀)²)) gives NaN here
    naive = t([1.0, 2.0]).requires_grad_()
    (naive - naive.detach()).pow(2).sum().sqrt().backward()
    assert torch.isnan(naive.grad).any()


def test_parameter_distance_checks_its_inputs():
    with pytest.raises(ValueError, match="references"):
        parameter_distance([torch.zeros(2)], [])
    with pytest.raises(ValueError, match="shape"):
        parameter_distance([torch.zeros(2)], [torch.zeros(3)])


def test_anchor_with_sparse_embedding_counts_touched_rows_and_keeps_gradients_sparse():
    emb = torch.nn.Embedding(6, 2, sparse=True)
    dense = torch.nn.Parameter(t([1.0, 1.0]))
    anchor = ParameterAnchor([dense], emb.weight)
    with torch.no_grad():
        emb.weight[2] += t([3.0, 4.0])  # moved, but not yet marked: rows count only once used
        dense += t([0.0, 0.0])
    assert anchor.distance().item() == pytest.approx(0.0)
    anchor.mark(torch.tensor([[2, 3]]))
    d = anchor.distance()
    assert d.item() == pytest.approx(5.0)
    d.backward()
    grad = emb.weight.grad.coalesce()
    assert grad.is_sparse
    dense_grad = grad.to_dense()
    assert torch.allclose(dense_grad[2], t([0.6, 0.8]))
    assert torch.count_nonzero(dense_grad[[0, 1, 4, 5]]) == 0


def test_contrastive_objective_projects_to_128_and_trains_its_head():
    torch.manual_seed(0)
    obj = ContrastiveObjective(ContrastiveOptions(reg_weight=0.0), hidden_size=8)
    assert obj.head[-1].out_features == 128
    assert not obj.needs_anchor and obj.needs_trainable_source and not obj.needs_frozen_source
    source = torch.randn(4, 8, requires_grad=True)
    out = obj(WordBatch(target=torch.randn(4, 8, requires_grad=True), source=source))
    out.loss.backward()
    assert all(p.grad is not None for p in obj.head.parameters())
    assert source.grad is not None and "reg" not in out.parts


def test_contrastive_objective_adds_the_weighted_parameter_distance():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.zeros(3))
    obj = ContrastiveObjective(ContrastiveOptions(reg_weight=2.0, negatives=Negatives.STRONG), hidden_size=4)
    obj.attach_anchor(ParameterAnchor([weight]))
    with torch.no_grad():
        weight += t([0.0, 3.0, 4.0])
    out = obj(WordBatch(target=torch.randn(3, 4), source=torch.randn(3, 4)))
    assert out.parts["reg"].item() == pytest.approx(5.0)
    assert out.loss.item() == pytest.approx(out.parts["nce"].item() + 10.0, rel=1e-6)


def test_registry_lists_both_objectives_with_docstrings_naming_their_papers():
    assert list(OBJECTIVES) == ["l2", "contrastive"]
    assert "Cao" in L2Objective.__doc__ and "Wu & Dredze" in ContrastiveObjective.__doc__


def test_objective_options_are_typed_and_checked():
    obj = build_objective("contrastive", {"temperature": 0.05, "negatives": "strong"}, hidden_size=4)
    assert obj.options.temperature == 0.05 and obj.options.negatives is Negatives.STRONG
    problems = OBJECTIVES.entry("contrastive").option_problems({"temperature": 0, "negatives": "medium", "tau": 1})
    text = " ".join(problems)
    assert "tau" in text and "medium" in text
    assert OBJECTIVES.entry("contrastive").option_problems({"temperature": -1.0}) == [
        "contrastive: temperature must be positive, got -1.0"
    ]
    with pytest.raises(ConfigError, match="unknown objective 'cosine'"):
        build_objective("cosine", {}, hidden_size=4)


def test_l2_option_partner_accepts_its_two_values_only():
    assert OBJECTIVES.entry("l2").build_options({"partner": "trainable"}).partner is Partner.TRAINABLE
    assert any("'teacher'" in p for p in OBJECTIVES.entry("l2").option_problems({"partner": "teacher"}))
    assert math.isclose(OBJECTIVES.entry("l2").build_options({}).reg_weight, 1.0)
