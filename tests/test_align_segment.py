"""Languages written without spaces: segmented into words (the cjk extra), refused with
the install line without it, and a warning when a side comes out one word per sentence."""

from __future__ import annotations

import logging
import sys

import pytest
from helpers_cli import fail_one_line, run_cli

from xladjust.align.segment import one_word_share, one_word_warning
from xladjust.align.tokenize import TokenizeSettings, WordSplitter
from xladjust.errors import ConfigError


def _boundaries(words: list[str]) -> set[int]:
    ends, at = set(), 0
    for w in words:
        at += len(w)
        ends.add(at)
    return ends


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_text_without_spaces_is_split_where_the_gold_tokenization_splits(lang, shared_data):
    """The gold sets' own tokenization, spaces removed, segmented again: most word
    boundaries come back, and no character is lost or added."""
    lines = (shared_data / "alignment-gold" / f"{lang}-en.src-tgt").read_text(encoding="utf-8").splitlines()[:60]
    split = WordSplitter(lang)
    hits = found = expected = 0
    for line in lines:
        gold = line.split(" ||| ")[0].split()
        words = split("".join(gold))
        assert "".join(words) == "".join(gold)
        got, want = _boundaries(words), _boundaries(gold)
        hits, found, expected = hits + len(got & want), found + len(got), expected + len(want)
    precision, recall = hits / found, hits / expected
    assert precision > 0.75 and recall > 0.75, (precision, recall)


def test_a_missing_segmenter_is_refused_with_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'xladjust\[cjk\]'.*--no-tokenize"):
        TokenizeSettings("en", "zh")
    TokenizeSettings("en", "zh", moses=False)  # pre-tokenized text needs no segmenter
    TokenizeSettings("en", "fr")


def test_align_refuses_chinese_without_its_segmenter_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jieba", None)
    (tmp_path / "a.en").write_text("the house\n", encoding="utf-8")
    (tmp_path / "a.zh").write_text("房子\n", encoding="utf-8")
    out = tmp_path / "out"
    fail_one_line(capsys, ["align", "--src-lang", "en", "--tgt-lang", "zh", "--src", str(tmp_path / "a.en"),
                           "--tgt", str(tmp_path / "a.zh"), "--aligner", "eflomal", "--out", str(out)],
                  "xladjust[cjk]")
    assert not out.exists()


def test_the_manifest_names_the_segmenter():
    described = TokenizeSettings("en", "zh").describe()
    assert described["segmenters"]["zh"].startswith("jieba ")
    assert "segmenters" not in TokenizeSettings("en", "fr").describe()


def test_one_word_warning_rule():
    assert one_word_share([1, 1, 3]) == pytest.approx(2 / 3) and one_word_share([]) == 0.0
    assert one_word_warning("th", [1] * 9) is None  # too few sentences to judge
    assert one_word_warning("th", [1] * 5 + [4] * 5) is None  # half is not most
    warning = one_word_warning("th", [1] * 8 + [4] * 2)
    assert warning.startswith("th: 80% of 10 sentences came out as one word") and "--no-tokenize" in warning
    assert "xladjust[cjk]" in warning


def test_align_warns_when_most_sentences_come_out_as_one_word(tmp_path, capsys):
    """Raw Chinese passed as if it were split into words: one word per sentence."""
    en = [f"the number {i} is here" for i in range(12)]
    zh = ["数字" + "很" * i + "在这里" for i in range(12)]
    (tmp_path / "a.en").write_text("".join(s + "\n" for s in en), encoding="utf-8")
    (tmp_path / "a.zh").write_text("".join(s + "\n" for s in zh), encoding="utf-8")
    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("xladjust.align.pipeline")
    logger.addHandler(handler)
    try:
        code, _, err = run_cli(["align", "--src-lang", "en", "--tgt-lang", "zh", "--src", str(tmp_path / "a.en"),
                                "--tgt", str(tmp_path / "a.zh"), "--no-tokenize", "--aligner", "eflomal",
                                "--workers", "1", "--out", str(tmp_path / "out")], capsys)
    finally:
        logger.removeHandler(handler)
    assert code == 0, err
    assert [w for w in warnings if "came out as one word" in w] == [next(w for w in warnings if w.startswith("zh: 100%"))]
