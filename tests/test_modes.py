"""eval_mode: no dropout inside the block, every submodule's own mode back after it."""

from __future__ import annotations

import pytest
import torch

from xladjust.modes import eval_mode


def test_eval_mode_turns_dropout_off_and_restores_each_submodule():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1))
    net.train()
    net[2].training = False  # a submodule in its own mode
    x = torch.ones(8, 4)
    with eval_mode(net):
        assert not any(m.training for m in net.modules())
        out = net(x)
        assert torch.equal(out, net(x))  # no dropout masks: the same output twice
        out.sum().backward()  # gradients still flow
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0
    assert net.training and net[1].training and not net[2].training


def test_eval_mode_restores_after_an_error():
    net = torch.nn.Sequential(torch.nn.Dropout(0.1))
    net.train()
    with pytest.raises(RuntimeError), eval_mode(net):
        raise RuntimeError("boom")
    assert net.training and net[0].training
