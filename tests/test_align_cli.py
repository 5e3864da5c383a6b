"""``xladjust align`` and ``xladjust align evaluate`` end to end (stand-in fast_align)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers_align import hide_tools, install_fake_tools, write_lines, write_small_corpus

from xladjust.align.corpus import check_aligned_corpus, read_pairs
from xladjust.cli import cli, main


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    return install_fake_tools(tmp_path, monkeypatch)


def run(args: list[str]):
    result = CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fail(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(["-q", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xladjust: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_align_is_the_group_default_action_with_pinned_numbers(tmp_path, fake_tools):
    src, tgt = write_small_corpus(tmp_path)
    out = run(["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src), "--tgt", str(tgt),
               "--aligner", "fast_align", "--symmetrize", "grow-diag-final-and", "--symmetrize-with", "builtin",
               "--out", str(tmp_path / "out")])
    manifest = check_aligned_corpus(tmp_path / "out")
    assert f"aligned corpus: {tmp_path / 'out'}" in out
    assert "fast_align + grow-diag-final-and (builtin)" in out
    assert "4 of 4 lines" in out
    # the stand-in is deterministic: these numbers are pinned
    assert manifest["counts"]["links"] == 22
    assert manifest["statistics"]["links_per_sentence"] == 5.5
    assert manifest["statistics"]["identical_link_share"] == pytest.approx(4 / 22, abs=1e-6)  # the four "."
    assert "22 (5.50 per pair; 100.0% of words in 1-to-1 links; 18.2% identical-string links)" in out
    assert read_pairs(tmp_path / "out")[3].links == [(i, i) for i in range(6)]


def test_align_with_atools_and_one_to_one(tmp_path, fake_tools):
    src, tgt = write_small_corpus(tmp_path)
    out = run(["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src), "--tgt", str(tgt),
               "--aligner", "fast_align", "--symmetrize", "intersect", "--one-to-one", "--iterations", "3",
               "--out", str(tmp_path / "out")])
    manifest = check_aligned_corpus(tmp_path / "out")
    assert "intersect (atools)" in out
    assert manifest["aligner"]["one_to_one"] is True
    assert all(cmd.split(" -i ")[1].split(" ", 1)[1].startswith("-d -o -v") and " -I 3" in cmd
               for cmd in manifest["aligner"]["commands"])


def test_config_file_with_command_line_overrides(tmp_path, fake_tools):
    src, tgt = write_small_corpus(tmp_path)
    cfg = write_lines(tmp_path / "align.yaml", [
        "kind: align", "src_lang: en", "tgt_lang: es", f"out: {tmp_path / 'from-file'}",
        f"input: {{src: {src}, tgt: {tgt}}}", "aligner: {name: fast_align, symmetrize: union, symmetrize_with: builtin}"])
    run(["align", "--config", str(cfg), "--out", str(tmp_path / "override"), "--symmetrize", "intersect"])
    manifest = check_aligned_corpus(tmp_path / "override")
    assert manifest["aligner"]["symmetrization"]["heuristic"] == "intersect"
    assert not (tmp_path / "from-file").exists()


def test_bare_align_shows_help():
    result = CliRunner().invoke(cli, ["align"])
    assert "Usage: cli align" in result.output or "Usage:" in result.output
    assert "evaluate" in result.output


def test_missing_fast_align_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    hide_tools(tmp_path, monkeypatch)
    src, tgt = write_small_corpus(tmp_path)
    err = fail(["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src), "--tgt", str(tgt),
                "--aligner", "fast_align", "--out", str(tmp_path / "out")], capsys)
    assert "fast_align was not found; pass --fast-align PATH, set FAST_ALIGN=PATH" in err
    assert not (tmp_path / "out").exists()


def test_config_problems_are_listed_together(tmp_path, capsys):
    err = fail(["align", "--src-lang", "en", "--src", "x.en", "--fast-align", "/nope"], capsys)
    assert "2 config problems" in err and "missing required key 'tgt_lang'" in err
    assert "missing required key 'out'" in err
    err = fail(["align", "--src-lang", "English", "--tgt-lang", "es", "--src", "x.en", "--out", "o",
                "--fast-align-threads", "-1"], capsys)
    assert "'English' is not an ISO 639 code" in err and "src needs its partner" in err
    assert "fast_align.threads must be 0 (auto) or positive" in err


def test_input_errors_are_one_line(tmp_path, capsys, fake_tools):
    src = write_lines(tmp_path / "a.en", ["a", "b", "c"])
    tgt = write_lines(tmp_path / "a.es", ["a"])
    err = fail(["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src), "--tgt", str(tgt),
                "--aligner", "fast_align", "--out", str(tmp_path / "out")], capsys)
    assert f"{src} has 3 lines, {tgt} has 1" in err


def _gold(tmp_path):
    text = write_lines(tmp_path / "g.src-tgt", ["the house is big ||| la casa es grande",
                                                "the dog ||| el perro"])
    gold = write_lines(tmp_path / "g.gold", ["1-1 2-2 3-3 4-4", "1-1 2p2"])
    return text, gold


def test_evaluate_with_extra_text_prints_pinned_aer(tmp_path, fake_tools):
    text, gold = _gold(tmp_path)
    src, tgt = write_small_corpus(tmp_path)
    report = tmp_path / "report.json"
    out = run(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--extra-src", str(src),
               "--extra-tgt", str(tgt), "--src-lang", "en", "--tgt-lang", "es", "--aligner", "fast_align",
               "--symmetrize-with", "builtin", "--out", str(report)])
    assert "aligner fast_align (grow-diag-final-and): 2 gold pairs + 4 extra pairs" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(lines) == {"forward", "reverse", "grow-diag-final-and"}
    assert lines["grow-diag-final-and"][1] == "*"
    # the stand-in links identical words, else the diagonal: everything is right here
    assert lines["grow-diag-final-and"][2] == "0.0000"
    data = json.loads(report.read_text())
    assert data["primary"] == "grow-diag-final-and" and data["n_extra"] == 4
    assert data["scores"]["forward"]["sure"] == 5 and data["signature"]["stage"] == "align-evaluate"


def test_evaluate_predicted_alignments(tmp_path):
    text, gold = _gold(tmp_path)
    pred = write_lines(tmp_path / "pred", ["0-0 1-1", "0-0"])
    out = run(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted", str(pred)])
    # |A| = 3 all sure, |S| = 5: AER = 1 - 6/8 = 0.25
    row = out.splitlines()[1].split()
    assert row[1:3] == ["*", "0.2500"]


def test_evaluate_zero_indexed_flag_and_errors(tmp_path, capsys):
    text, gold = _gold(tmp_path)
    pred = write_lines(tmp_path / "pred", ["0-0", "0-0"])
    err = fail(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--zero-indexed",
                "--predicted", str(pred)], capsys)
    assert "gold link '4-4' points past the sentence" in err and "fits counting from 1: drop --zero-indexed" in err
    err = fail(["align", "evaluate", "--gold", str(gold), "--aligner", "eflomal"], capsys)
    assert "missing required key 'gold_text'" in err


def test_evaluate_drops_wpt_null_links_with_a_count(tmp_path, capsys):
    text, gold = _gold(tmp_path)
    write_lines(gold, ["1-1 2-2 3-3 4-4 0-1", "1-1 2p2 3-1"])
    pred = write_lines(tmp_path / "pred", ["0-0 1-1", "0-0"])
    err = fail(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted", str(pred)], capsys)
    assert "g.gold:1: gold link '0-1' uses index 0" in err and "--drop-invalid-gold" in err
    out = run(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted", str(pred),
               "--drop-invalid-gold"])
    assert "gold: dropped 1 NULL (index 0) and 1 out-of-range gold links on 2 lines" in out
    assert out.splitlines()[2].split()[1:3] == ["*", "0.2500"]  # the same score as without the bad links


def test_evaluate_out_of_range_gold_quotes_the_link_as_written(tmp_path, capsys):
    text, gold = _gold(tmp_path)
    write_lines(gold, ["1-1 2-2 3-3 4-4", "1-1 2p3"])
    pred = write_lines(tmp_path / "pred", ["0-0", "0-0"])
    err = fail(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted", str(pred)], capsys)
    assert "g.gold:2: gold link '2p3' points past the sentence (2 source and 2 target words" in err
    assert "--zero-indexed" not in err


def test_evaluate_honours_atools(tmp_path, fake_tools, capsys):
    text, gold = _gold(tmp_path)
    args = ["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--aligner", "fast_align",
            "--symmetrize", "intersect"]
    err = fail([*args, "--symmetrize-with", "atools", "--atools", str(tmp_path / "nonexistent")], capsys)
    assert "atools: given path" in err and "nonexistent does not exist" in err
    report = tmp_path / "r.json"
    run([*args, "--symmetrize-with", "atools", "--out", str(report)])
    sym = json.loads(report.read_text())["aligner"]["symmetrization"]
    assert sym["symmetrizer"] == "atools" and sym["command"].startswith(str(fake_tools["atools"]))
    run([*args, "--symmetrize-with", "builtin", "--out", str(report)])
    assert json.loads(report.read_text())["aligner"]["symmetrization"]["symmetrizer"] == "builtin"


def test_evaluate_scores_a_split(tmp_path):
    text = write_lines(tmp_path / "g.src-tgt", ["a b ||| a b"] * 4)
    gold = write_lines(tmp_path / "g.gold", ["1-1 2-2", "1-2", "1-2", "1-1 2-2"])
    pred = write_lines(tmp_path / "pred", ["0-0 1-1"] * 4)
    out = run(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted", str(pred),
               "--split", "dev"])  # dev: sentences 1 and 4, both right
    assert out.splitlines()[1].split()[2] == "0.0000"
    out = run(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--predicted", str(pred),
               "--split", "test"])
    assert out.splitlines()[1].split()[2] == "1.0000"


def test_evaluate_seeds_errors(tmp_path, capsys, fake_tools):
    text, gold = _gold(tmp_path)
    args = ["align", "evaluate", "--gold-text", str(text), "--gold", str(gold)]
    err = fail([*args, "--aligner", "fast_align", "--seeds", "0,1"], capsys)
    assert "--seeds: the fast_align aligner has no randomness" in err
    err = fail([*args, "--aligner", "eflomal", "--seeds", "0,x"], capsys)
    assert "'0,x' is not a comma-separated list of integers" in err
    err = fail([*args, "--aligner", "eflomal", "--seeds", "1,1"], capsys)
    assert "seeds must be distinct" in err


def test_evaluate_eflomal_over_seeds_gives_mean_and_spread(tmp_path):
    text, gold = _gold(tmp_path)
    src, tgt = write_small_corpus(tmp_path)
    report = tmp_path / "r.json"
    out = run(["align", "evaluate", "--gold-text", str(text), "--gold", str(gold), "--extra-src", str(src),
               "--extra-tgt", str(tgt), "--src-lang", "en", "--tgt-lang", "es", "--aligner", "eflomal",
               "--symmetrize-with", "builtin", "--seeds", "0,1,2", "--out", str(report)])
    assert "over 3 seeds (0, 1, 2): aer " in out and " ± " in out
    data = json.loads(report.read_text())
    runs = data["seeds"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 2]
    mean = sum(r["aer"] for r in runs) / 3
    assert data["seeds"]["summary"]["aer"]["mean"] == pytest.approx(mean)
