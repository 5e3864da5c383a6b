"""Interpolation and flatness on toy models with known answers."""

from __future__ import annotations

import pytest
import torch

from xladjust.errors import InputError
from xladjust.probes.landscape import (
    check_compatible,
    filter_normalize,
    flatness_sweep,
    interpolate_into,
    interpolation_sweep,
    parse_alphas,
    parse_radii,
    random_direction,
    sharpness_summary,
)


def toy(seed: int, out: int = 3) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, out))
    model.register_buffer("steps", torch.tensor(seed))
    return model


def clone_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_interpolation_endpoints_are_exact():
    a, b, work = toy(1), toy(2), toy(3)
    sa, sb = clone_state(a), clone_state(b)
    interpolate_into(work, sa, sb, 0.0)
    assert all(torch.equal(work.state_dict()[k], sa[k]) for k in sa)
    interpolate_into(work, sa, sb, 1.0)
    assert all(torch.equal(work.state_dict()[k], sb[k]) for k in sb)
    interpolate_into(work, sa, sb, 0.25)
    w = work.state_dict()["0.weight"]
    torch.testing.assert_close(w, 0.75 * sa["0.weight"] + 0.25 * sb["0.weight"])
    assert work.state_dict()["steps"].item() == 1  # integer buffer from the nearer endpoint


def test_interpolation_sweep_evaluates_each_alpha():
    a, b, work = toy(1), toy(2), toy(3)
    sa, sb = clone_state(a), clone_state(b)
    seen = []

    def evaluate(model):
        seen.append(model.state_dict()["0.bias"].clone())
        return {"en": {"acc": float(model.state_dict()["0.bias"].sum())}}

    rows = interpolation_sweep(work, sa, sb, [0.0, 0.5, 1.0], evaluate)
    assert [r["alpha"] for r in rows] == [0.0, 0.5, 1.0]
    assert rows[0]["metrics"]["en"]["acc"] == pytest.approx(float(sa["0.bias"].sum()))
    assert rows[2]["metrics"]["en"]["acc"] == pytest.approx(float(sb["0.bias"].sum()))


def test_mismatched_architectures_are_refused():
    a, b = toy(1, out=3), toy(2, out=2)
    with pytest.raises(InputError, match="differ in the shape of 2.weight"):
        check_compatible(clone_state(a), clone_state(b))
    c = torch.nn.Sequential(torch.nn.Linear(4, 5))
    with pytest.raises(InputError, match="architecture or head"):
        check_compatible(clone_state(a), clone_state(c))


def test_filter_normalization_matches_weight_filter_norms():
    weights = torch.randn(6, 3, 2)
    direction = torch.randn(6, 3, 2) * 7
    d = filter_normalize(direction, weights)
    torch.testing.assert_close(d.reshape(6, -1).norm(dim=1), weights.reshape(6, -1).norm(dim=1))
    # each filter keeps its orientation
    cos = torch.nn.functional.cosine_similarity(d.reshape(6, -1), direction.reshape(6, -1), dim=1)
    torch.testing.assert_close(cos, torch.ones(6))
    assert not filter_normalize(torch.randn(5), torch.randn(5)).any()


def test_random_direction_is_seeded_and_normalized():
    state = clone_state(toy(1))
    d1, d2, d3 = random_direction(state, 7), random_direction(state, 7), random_direction(state, 8)
    assert all(torch.equal(d1[k], d2[k]) for k in d1)
    assert not torch.equal(d1["0.weight"], d3["0.weight"])
    torch.testing.assert_close(d1["0.weight"].norm(dim=1), state["0.weight"].norm(dim=1))
    assert not d1["1.weight"].any() and "steps" not in d1
    plain = random_direction(state, 7, filter_normalized=False)
    total = torch.sqrt(sum((v**2).sum() for v in plain.values()))
    ref = torch.sqrt(sum((state[k].float() ** 2).sum() for k in plain))
    torch.testing.assert_close(total, ref)


def test_flatness_of_a_known_quadratic_is_recovered():
    """loss_L(θ + r·d) − loss_L(θ) = a_L · r² · ‖d‖², and ‖d‖ = ‖θ‖ over the 2-D weights
    under filter normalization: every direction gives exactly a_L · r² · ‖W‖²."""
    model = toy(1)
    state = clone_state(model)
    weights = [k for k, v in state.items() if v.dim() >= 2]
    norm2 = sum(float((state[k] ** 2).sum()) for k in weights)
    curvature = {"en": 1.0, "es": 10.0}

    def evaluate(m):
        s = m.state_dict()
        dist2 = sum(float(((s[k] - state[k]) ** 2).sum()) for k in weights)
        return {lang: {"loss": a * dist2} for lang, a in curvature.items()}

    result = flatness_sweep(model, state, [0, 0.1, 0.2], directions=3, seed=0, evaluate=evaluate)
    summary = sharpness_summary(result, "loss", higher_is_better=False)
    for lang, a in curvature.items():
        for r in (0.1, 0.2):
            got = summary[lang]["by_radius"][f"{r:g}"]
            assert got["mean_increase"] == pytest.approx(a * r * r * norm2, rel=1e-4)
            assert got["std"] == pytest.approx(0.0, abs=1e-4 * a)
    assert summary["es"]["by_radius"]["0.2"]["mean_increase"] > summary["en"]["by_radius"]["0.2"]["mean_increase"]
    assert all(torch.equal(model.state_dict()[k], state[k]) for k in state)  # restored


def test_parsers():
    assert parse_alphas("0:1:5") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_alphas("0,0.5") == [0.0, 0.5]
    assert parse_radii("0.1,0,0.1") == [0.0, 0.1]
    for bad in ("0:1", "0:1:1", "a,b", ""):
        with pytest.raises(InputError):
            parse_alphas(bad)
    for bad in ("-1", "x", ""):
        with pytest.raises(InputError):
            parse_radii(bad)
    with pytest.raises(InputError, match="directions"):
        flatness_sweep(toy(1), clone_state(toy(1)), [0], 0, 0, lambda m: {})
