"""RowAdam (Adam with state only for the embedding rows seen so far) against torch's Adam and
SparseAdam, its checkpoint round trip, and the skipped gradient norm without clipping."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from xladjust.adjust.optim import RowAdam
from xladjust.adjust.train import clip_gradients

VOCAB, DIM = 50, 6
# the rows of each step's batch: some repeat (summed gradients), some appear late, row 49 never
BATCHES = [[1, 2, 3, 3], [2, 7], [10, 11, 1], [7, 7, 7, 40], [3], [20, 21, 22, 1]]


def _run(embedding: nn.Embedding, optimizer: torch.optim.Optimizer, batches=BATCHES, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for rows in batches:
        ids = torch.tensor(rows)
        target = torch.randn(len(rows), DIM, generator=gen)
        loss = (embedding(ids) - target).pow(2).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def _pair(sparse_reference: bool) -> tuple[nn.Embedding, nn.Embedding]:
    torch.manual_seed(0)
    ours = nn.Embedding(VOCAB, DIM, sparse=True)
    reference = copy.deepcopy(ours)
    reference.sparse = sparse_reference
    return ours, reference


BETAS = (0.9, 0.98)


def test_lazy_rows_give_sparse_adams_update():
    ours, reference = _pair(sparse_reference=True)
    _run(ours, RowAdam(ours.parameters(), lr=0.05, betas=BETAS, eps=1e-9))
    _run(reference, torch.optim.SparseAdam(list(reference.parameters()), lr=0.05, betas=BETAS, eps=1e-9))
    assert (ours.weight - reference.weight).abs().max() <= 1e-6
    assert not torch.equal(ours.weight[1], reference.weight[49])  # something moved


@pytest.mark.parametrize("fused", [True, False])
def test_dense_rows_give_dense_adams_update(fused):
    # rows seen once keep moving on later steps (momentum), rows never seen stay put
    ours, reference = _pair(sparse_reference=False)
    start = ours.weight.detach().clone()
    optimizer = RowAdam(ours.parameters(), lr=0.05, betas=BETAS, eps=1e-9, dense=True)
    _run(ours, optimizer)
    _run(reference, torch.optim.Adam(reference.parameters(), lr=0.05, betas=BETAS, eps=1e-9, fused=fused))
    assert (ours.weight - reference.weight).abs().max() <= 1e-6
    assert torch.equal(ours.weight[49], start[49])
    assert not torch.equal(ours.weight[10], start[10])
    seen = {r for rows in BATCHES for r in rows}
    state = optimizer.state[ours.weight]
    assert sorted(state["rows"].tolist()) == sorted(seen)
    assert len(state["exp_avg"]) < VOCAB  # state for the seen rows only


@pytest.mark.parametrize("dense", [False, True])
def test_state_round_trip_continues_the_same_run(dense, tmp_path):
    torch.manual_seed(0)
    straight = nn.Embedding(VOCAB, DIM, sparse=True)
    resumed = copy.deepcopy(straight)
    opt = RowAdam(straight.parameters(), lr=0.05, dense=dense)
    _run(straight, opt, BATCHES[:3])
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    torch.save(straight.state_dict(), tmp_path / "emb.pt")
    _run(straight, opt, BATCHES[3:], seed=1)

    resumed.load_state_dict(torch.load(tmp_path / "emb.pt", weights_only=True))
    opt2 = RowAdam(resumed.parameters(), lr=0.05, dense=dense)
    opt2.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert opt2.state[resumed.weight]["rows"].dtype == torch.long
    _run(resumed, opt2, BATCHES[3:], seed=1)
    assert torch.equal(straight.weight, resumed.weight)


def test_dense_gradients_and_bad_settings_are_refused():
    weight = nn.Parameter(torch.zeros(3, 2))
    weight.grad = torch.ones(3, 2)
    with pytest.raises(RuntimeError, match="sparse row gradients"):
        RowAdam([weight]).step()
    with pytest.raises(ValueError, match="betas"):
        RowAdam([weight], betas=(0.9, 1.0))


def test_no_clipping_computes_no_norm_and_clipping_scales():
    p = nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    assert clip_gradients([p], None) is None
    assert torch.equal(p.grad, torch.tensor([3.0, 4.0, 0.0, 0.0]))
    assert clip_gradients([p], 1.0) == pytest.approx(5.0)
    assert float(p.grad.norm()) == pytest.approx(1.0, abs=1e-5)
    e = nn.Embedding(5, 2, sparse=True)
    e(torch.tensor([1, 1])).sum().backward()  # duplicate rows: coalesced before the norm
    assert clip_gradients(list(e.parameters()), 100.0) == pytest.approx(8 ** 0.5)
