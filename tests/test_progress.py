"""Progress: a bar on a terminal, one log line every N steps elsewhere (no '\\r' frames in logs)."""

from __future__ import annotations

import logging

import pytest

from xladjust.progress import LogProgress, default_every, progress, quiet_library_bars


def test_log_progress_writes_one_line_every_n_steps_and_one_at_the_end(caplog):
    caplog.set_level(logging.INFO, logger="xladjust.progress")
    bar = LogProgress(total=25, desc="adjust", unit="step", every=10)
    for _ in range(25):
        bar.update(1)
        bar.set_postfix(loss="0.5000")
    bar.close()
    bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(",")[0] for line in lines] == ["adjust: 10/25 step (40%)", "adjust: 20/25 step (80%)",
                                                      "adjust: 25/25 step (100%)"]
    assert lines[-1].endswith("loss=0.5000")


def test_log_progress_wraps_an_iterable(caplog):
    caplog.set_level(logging.INFO, logger="xladjust.progress")
    assert list(LogProgress(range(7), desc="batches", every=3)) == list(range(7))
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "batches: 3/7 it (43%)", "batches: 6/7 it (86%)", "batches: 7/7 it (100%)"]


def test_progress_picks_log_lines_off_a_terminal(monkeypatch):
    monkeypatch.delenv("XLADJUST_PROGRESS", raising=False)
    monkeypatch.setattr("xladjust.progress.stderr_is_terminal", lambda: False)
    assert isinstance(progress(total=5, desc="x"), LogProgress)
    monkeypatch.setattr("xladjust.progress.stderr_is_terminal", lambda: True)
    from tqdm.auto import tqdm

    bar = progress(total=5, desc="x")
    assert isinstance(bar, tqdm)
    bar.close()
    monkeypatch.setenv("XLADJUST_PROGRESS", "log")
    assert isinstance(progress(total=5, desc="x"), LogProgress)
    items = [1, 2]
    assert progress(items, enabled=False) is items and progress(total=3, enabled=False) is None


def test_every_defaults_to_a_tenth_and_can_be_set(monkeypatch):
    monkeypatch.delenv("XLADJUST_PROGRESS_EVERY", raising=False)
    assert default_every(90) == 9 and default_every(5) == 1 and default_every(None) == 100
    monkeypatch.setenv("XLADJUST_PROGRESS_EVERY", "7")
    assert default_every(90) == 7


def test_library_bars_are_off_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delenv("XLADJUST_PROGRESS", raising=False)
    monkeypatch.setattr("xladjust.progress.stderr_is_terminal", lambda: False)
    quiet_library_bars()
    import os

    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


@pytest.mark.parametrize("kind", ["unigram"])
def test_a_real_loop_logs_lines_and_writes_no_carriage_returns(tiny_checkpoints, kind, capfd, caplog, monkeypatch):
    monkeypatch.delenv("XLADJUST_PROGRESS", raising=False)
    monkeypatch.setenv("XLADJUST_PROGRESS_EVERY", "2")
    caplog.set_level(logging.INFO, logger="xladjust.progress")
    from xladjust.embeddings import embed_words
    from xladjust.models import load_model

    m = load_model(str(tiny_checkpoints[kind]), device="cpu")
    embed_words(m.model, m.tokenizer, [["the", "house"]] * 40, layers="all", batch_size=8, progress=True, bf16=False)
    assert "\r" not in capfd.readouterr().err
    lines = [r.getMessage() for r in caplog.records]
    assert lines and all(": " in line and "batch" in line for line in lines)
