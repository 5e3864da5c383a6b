"""align evaluate refuses predictions that do not match the gold line for line and a gold
set without links; tokenization keeps words whole across Unicode spellings; identical
plots are identical files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_cli import fail_one_line, run_cli, tree_hashes

from xladjust.align.normalize import normalize_text
from xladjust.align.tokenize import WordSplitter

GOLD_TEXT = ["the house ||| la casa", "a dog barks ||| un perro ladra"]
GOLD = ["1-1 2-2", "1-1 2-2 3p3"]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _align(tmp_path: Path, capsys, src_lines: list[str], tgt_lines: list[str], *extra: str) -> Path:
    """An aligned corpus written by ``xladjust align`` (eflomal) from these lines."""
    src, tgt = _write(tmp_path / "in.src", src_lines), _write(tmp_path / "in.tgt", tgt_lines)
    out = tmp_path / "corpus"
    code, _, err = run_cli(["-q", "align", "--src-lang", "fr", "--tgt-lang", "en", "--src", str(src), "--tgt", str(tgt),
                            "--aligner", "eflomal", "--symmetrize-with", "builtin", "--workers", "1", *extra,
                            "--out", str(out)], capsys)
    assert code == 0, err
    return out


CASES = {
    # name: (gold text lines, gold link lines, predicted lines, fragment of the one line)
    "one predicted line more": (GOLD_TEXT, GOLD, ["0-0 1-1", "0-0 1-1 2-2", "0-0"], "more than 2 alignments for 2"),
    "many predicted lines more": (GOLD_TEXT, GOLD, ["0-0"] * 50, "more than 2 alignments for 2 gold sentences"),
    "one predicted line fewer": (GOLD_TEXT, GOLD, ["0-0 1-1"], "has 1 alignments for 2 gold sentences"),
    "gold with no links": (GOLD_TEXT, ["", ""], ["0-0", "0-0"], "holds no gold links"),
    "gold of one sentence and no link": (GOLD_TEXT[:1], [""], ["0-0"], "holds no gold links"),
    "gold word of invisible characters only": (["the \u200b house ||| la casa"], ["1-1"], ["0-0"],
                                               "only invisible format characters"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_align_evaluate_refuses_with_one_line(tmp_path, capsys, case):
    text_lines, gold_lines, pred_lines, fragment = CASES[case]
    text, gold = _write(tmp_path / "g.txt", text_lines), _write(tmp_path / "g.links", gold_lines)
    pred = _write(tmp_path / "pred", pred_lines)
    out = tmp_path / "scores.json"
    before = tree_hashes(text, gold, pred)
    fail_one_line(capsys, ["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted",
                           str(pred), "--out", str(out)], fragment)
    assert not out.exists() and tree_hashes(text, gold, pred) == before


def test_all_gold_links_dropped_is_refused(tmp_path, capsys):
    text, gold = _write(tmp_path / "g.txt", GOLD_TEXT), _write(tmp_path / "g.links", ["0-1", "1-0"])
    pred = _write(tmp_path / "pred", ["0-0", "0-0"])
    fail_one_line(capsys, ["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted",
                           str(pred), "--drop-invalid-gold"], "no gold links after dropped 2 NULL")


def test_exactly_the_gold_count_is_scored(tmp_path, capsys):
    text, gold = _write(tmp_path / "g.txt", GOLD_TEXT), _write(tmp_path / "g.links", GOLD)
    pred = _write(tmp_path / "pred", ["0-0 1-1", "0-0 1-1 2-2"])
    code, out, err = run_cli(["-q", "align", "evaluate", "--gold-text", str(text), "--gold", str(gold),
                              "--predicted", str(pred)], capsys)
    assert code == 0, err
    assert "AER" in out or "aer" in out.lower()


CAFE_NFC = "caf\u00e9"
SPELLINGS = {
    "NFD accent": "cafe\u0301",
    "zero-width space inside": "caf\u200b\u00e9",
    "zero-width joiner inside": "ca\u200df\u00e9",
    "left-to-right mark inside": "caf\u200e\u00e9",
    "bidi isolate around": "\u2068caf\u00e9\u2069",
    "byte-order mark before": "\ufeffcaf\u00e9",
    "soft hyphen inside": "ca\u00adf\u00e9",
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
@pytest.mark.parametrize("moses", [True, False], ids=["moses", "whitespace"])
def test_spellings_of_one_word_stay_one_word(spelling, moses):
    split = WordSplitter("fr", moses=moses)
    assert split(f"un {SPELLINGS[spelling]} noir") == ["un", CAFE_NFC, "noir"]


def test_normalization_keeps_what_is_visible():
    assert normalize_text("Mi hermana lee un libro .") == "Mi hermana lee un libro ."
    assert normalize_text("\u0928\u092e\u0938\u094d\u0924\u0947") == "\u0928\u092e\u0938\u094d\u0924\u0947"  # Hindi
    assert normalize_text("\u1ec7") == "\u1ec7" and normalize_text("e\u0323\u0302") == "\u1ec7"  # Vietnamese


def test_the_manifest_records_the_normalization(tmp_path, capsys):
    from xladjust.align.corpus import read_pairs
    from xladjust.align.normalize import UNICODE_RULE

    out = _align(tmp_path, capsys, [f"un {SPELLINGS['NFD accent']} noir", "la mai\u200bson"],
                 ["a black coffee", "the house"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert json.dumps(manifest).count(UNICODE_RULE) >= 1 and "NFC" in UNICODE_RULE
    assert [p.src for p in read_pairs(out)] == [["un", CAFE_NFC, "noir"], ["la", "maison"]]


def test_a_predicted_corpus_longer_than_the_gold_is_refused(tmp_path, capsys):
    text, gold = _write(tmp_path / "g.txt", GOLD_TEXT), _write(tmp_path / "g.links", GOLD)
    corpus = _align(tmp_path, capsys, ["the house", "a dog barks", "one more"], ["la casa", "un perro ladra", "uno mas"],
                    "--no-tokenize")
    fail_one_line(capsys, ["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted",
                           str(corpus)], "more than 2 alignments for 2 gold sentences")


def test_gold_words_are_normalized_like_aligned_words(tmp_path):
    from xladjust.align.gold import read_gold

    text = _write(tmp_path / "g.txt", [f"un {SPELLINGS['NFD accent']} ||| a coffee"])
    pairs = read_gold(text, _write(tmp_path / "g.links", ["2-2"]))
    assert pairs[0].src == ["un", CAFE_NFC]


def test_identical_figures_are_identical_files(tmp_path):
    import numpy as np

    from xladjust.probes.plots import histogram_overlay

    series = {"a": np.linspace(-1, 1, 50), "b": np.linspace(-0.5, 1.5, 50)}
    files = []
    for name in ("one", "two"):
        histogram_overlay(tmp_path / name / "hist", series, title="t", xlabel="x")
        files.append({p.name: p.read_bytes() for p in (tmp_path / name).iterdir()})
    assert set(files[0]) == {"hist.png", "hist.svg", "hist.pdf"}
    assert files[0] == files[1]
    assert b"clip" in files[0]["hist.svg"] or b"id=" in files[0]["hist.svg"]


def test_identical_landscape_plots_are_identical_files(tmp_path):
    from xladjust.probes.landscape_run import plot_flatness

    summary = {"task": "nli", "metric": "accuracy", "directions": 2, "radii": [0.0, 0.1],
               "rows": [{"direction": k, "radius": r, "metrics": {"en": {"accuracy": 0.5 + r * k}}}
                        for k in range(2) for r in (0.0, 0.1)],
               "sharpness": {"en": {"by_radius": {"0": {"mean_increase": 0.0}, "0.1": {"mean_increase": 0.05}}}}}
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        plot_flatness(summary, tmp_path / name)
    assert (tmp_path / "one" / "flatness.svg").read_bytes() == (tmp_path / "two" / "flatness.svg").read_bytes()
