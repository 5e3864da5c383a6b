"""probe --alignments: gold links or another aligner's Pharaoh output drive the distances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_cli import assert_nothing_complete, fail_one_line, run_cli

from xladjust.probes.inputs import load_bitext

N = 20  # gold sentences used


@pytest.fixture
def gold(shared_data, tmp_path) -> tuple[Path, Path]:
    """The first N en-fr gold sentences and their 1-indexed links (sure and possible)."""
    src = shared_data / "alignment-gold"
    text = tmp_path / "en-fr.src-tgt"
    links = tmp_path / "en-fr.gold"
    text.write_text("".join((src / "en-fr.src-tgt").read_text(encoding="utf-8").splitlines(True)[:N]), encoding="utf-8")
    links.write_text("".join((src / "en-fr.gold").read_text(encoding="utf-8").splitlines(True)[:N]), encoding="utf-8")
    return text, links


def _zero_indexed_sure(links: Path, out: Path) -> Path:
    """What an aligner writes: the sure links only, counted from 0."""
    lines = []
    for line in links.read_text(encoding="utf-8").splitlines():
        pairs = [item.split("-") for item in line.split() if "-" in item]
        lines.append(" ".join(f"{int(i) - 1}-{int(j) - 1}" for i, j in pairs))
    out.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return out


def test_gold_sure_links_drive_the_probe(gold, tiny_checkpoints, tmp_path, capsys):
    text, links = gold
    out = tmp_path / "probe"
    code, _, err = run_cli(["-q", "probe", "--model", f"m={tiny_checkpoints['unigram']}", "--bitext", f"en-fr={text}",
                            "--alignments", f"en-fr={links}", "--probe", "distances", "--resamples", "50",
                            "--precision", "fp32", "--out", str(out)], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    (bitext,) = summary["inputs"]["bitexts"]
    assert bitext["name"] == "en-fr" and (bitext["src_lang"], bitext["tgt_lang"]) == ("en", "fr")
    assert set(bitext["files"]) == {str(text), str(links)}
    sure = sum(1 for line in links.read_text(encoding="utf-8").splitlines() for item in line.split() if "-" in item)
    assert bitext["counts"]["links"] == sure  # possible links (ipj) are left out
    assert summary["checkpoints"]["m"]["results"]["en-fr"]["distances"]["metrics"]["n_triples"] > 0


def test_zero_indexed_links_give_the_same_bitext_as_the_gold(gold, tmp_path):
    text, links = gold
    from_gold = load_bitext(text, "en-fr", alignments=links)
    from_aligner = load_bitext(text, "en-fr", alignments=_zero_indexed_sure(links, tmp_path / "sure.pharaoh"),
                               one_indexed=False)
    assert [p.links for p in from_gold.pairs] == [p.links for p in from_aligner.pairs]
    assert from_gold.counts == from_aligner.counts


def test_zero_indexed_links_read_as_one_indexed_are_refused(gold, tiny_checkpoints, tmp_path, capsys):
    text, links = gold
    zero = _zero_indexed_sure(links, tmp_path / "sure.pharaoh")
    out = tmp_path / "probe"
    fail_one_line(capsys, ["probe", "--model", f"m={tiny_checkpoints['unigram']}", "--bitext", f"en-fr={text}",
                           "--alignments", f"en-fr={zero}", "--out", str(out)], "--zero-indexed")
    assert_nothing_complete(out)


@pytest.mark.parametrize("case", ["fewer link lines", "no matching bitext", "bitext is a folder"])
def test_unusable_alignments_are_refused_with_one_line(case, gold, tiny_checkpoints, tmp_path, capsys):
    text, links = gold
    bitext, alignments, fragment = f"en-fr={text}", f"en-fr={links}", ""
    if case == "fewer link lines":
        short = tmp_path / "short.gold"
        short.write_text("".join(links.read_text(encoding="utf-8").splitlines(True)[:-1]), encoding="utf-8")
        alignments, fragment = f"en-fr={short}", "they must correspond line by line"
    elif case == "no matching bitext":
        alignments, fragment = f"de-fr={links}", "--bitext NAME=FILE of the same NAME"
    else:
        (tmp_path / "corpus").mkdir()
        bitext, fragment = f"en-fr={tmp_path / 'corpus'}", "is not a file"
    out = tmp_path / "probe"
    fail_one_line(capsys, ["probe", "--model", f"m={tiny_checkpoints['unigram']}", "--bitext", bitext,
                           "--alignments", alignments, "--out", str(out)], fragment)
    assert_nothing_complete(out)
