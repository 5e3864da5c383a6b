"""A signal whose exception was swallowed still stops the run before anything is marked complete."""

from __future__ import annotations

import signal

import pytest

from xladjust import interrupts
from xladjust.cli import install_signal_handlers
from xladjust.io import is_complete, mark_complete


@pytest.fixture(autouse=True)
def _fresh():
    interrupts.forget_signals()
    yield
    interrupts.forget_signals()


def _swallowed_signal(signum: int) -> None:
    try:  # what a bare ``except`` in some library does to the handler's exception
        interrupts.on_signal(signum, None)
    except BaseException:  # noqa: BLE001 - the point of the test
        pass


def test_a_swallowed_signal_is_raised_again_and_nothing_is_marked_complete(tmp_path):
    interrupts.check_interrupted()  # nothing received: no effect
    mark_complete(tmp_path / "ok")
    assert is_complete(tmp_path / "ok")
    _swallowed_signal(signal.SIGTERM)
    with pytest.raises(interrupts.Interrupted) as caught:
        interrupts.check_interrupted()
    assert caught.value.signum == signal.SIGTERM
    (tmp_path / "run").mkdir()
    with pytest.raises(interrupts.Interrupted):
        mark_complete(tmp_path / "run")
    assert not is_complete(tmp_path / "run")


def test_installing_the_handlers_forgets_an_earlier_commands_signal():
    _swallowed_signal(signal.SIGINT)
    previous = install_signal_handlers()
    try:
        interrupts.check_interrupted()  # a new command starts afresh
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_the_adjust_loop_stops_on_a_swallowed_signal_before_its_first_step(tiny_checkpoints, tmp_path):
    from helpers_adjust import write_sample_corpus

    from xladjust.adjust import AdjustConfig, adjust
    from xladjust.config import build_config

    corpus = write_sample_corpus(tmp_path / "aligned")
    out = tmp_path / "run"
    config = build_config(AdjustConfig, {"aligned": [str(corpus)], "out": str(out), "model": str(tiny_checkpoints["wordpiece"]),
                                         "max_steps": 3, "precision": "fp32", "progress": False, "checkpoint_every": None})
    _swallowed_signal(signal.SIGTERM)
    with pytest.raises(interrupts.Interrupted):
        adjust(config)
    assert not (out / "metrics.jsonl").exists() or not (out / "metrics.jsonl").read_text().strip()
    assert not is_complete(out)
