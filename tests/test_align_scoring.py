"""AER and friends on hand-computed examples; gold parsing; scoring existing alignments."""

from __future__ import annotations

import pytest
from helpers_align import write_lines

from xladjust.align.backends import AlignerOutput
from xladjust.align.gold import GoldDrops, read_gold, split_gold
from xladjust.align.links import GoldLinks, check_range, count_lines, parse_gold, parse_pharaoh
from xladjust.align.metrics import score_alignments
from xladjust.align.scoring import score_output, score_predictions
from xladjust.errors import ConfigError, ExternalToolError, InputError


def gold(sure, extra_possible=()):
    sure = frozenset(sure)
    return GoldLinks(sure, sure | frozenset(extra_possible))


def test_aer_precision_recall_f1_on_a_hand_computed_example():
    # sentence 1: S = {0-0, 1-1}, P = S + {1-2}; predicted {0-0, 1-2, 2-2}
    # sentence 2: S = {0-1},      P = S + {1-1}; predicted {0-1, 1-1}
    # |A| = 5, |S| = 3, |A∩S| = 2 (0-0, 0-1), |A∩P| = 4 (0-0, 1-2, 0-1, 1-1)
    # precision 4/5, recall 2/3, AER = 1 - (2 + 4) / (5 + 3) = 0.25, F1 = 2PR/(P+R) = 8/11
    s = score_alignments([[(0, 0), (1, 2), (2, 2)], [(0, 1), (1, 1)]],
                         [gold({(0, 0), (1, 1)}, {(1, 2)}), gold({(0, 1)}, {(1, 1)})])
    assert s.precision == pytest.approx(0.8)
    assert s.recall == pytest.approx(2 / 3)
    assert s.aer == pytest.approx(0.25)
    assert s.f1 == pytest.approx(8 / 11)
    assert (s.predicted, s.sure, s.possible, s.hits_sure, s.hits_possible, s.sentences) == (5, 3, 5, 2, 4, 2)


def test_perfect_and_empty_predictions():
    g = [gold({(0, 0), (1, 1)}, {(2, 2)})]
    perfect = score_alignments([[(0, 0), (1, 1)]], g)
    assert (perfect.aer, perfect.precision, perfect.recall) == (0.0, 1.0, 1.0)
    nothing = score_alignments([[]], g)
    assert (nothing.aer, nothing.precision, nothing.recall, nothing.f1) == (1.0, 0.0, 0.0, 0.0)
    with pytest.raises(InputError, match="2 predicted alignments for 1 gold sentences"):
        score_alignments([[], []], g)


def test_parse_gold_sure_and_possible_links():
    g = parse_gold("1-1 2-2 2p3", "g:1", one_indexed=True)
    assert g.sure == {(0, 0), (1, 1)} and g.possible == {(0, 0), (1, 1), (1, 2)}
    g0 = parse_gold("0-0 1p2", "g:1", one_indexed=False)
    assert g0.sure == {(0, 0)} and g0.possible == {(0, 0), (1, 2)}


def test_parse_gold_errors():
    with pytest.raises(InputError, match="g:3: malformed gold link '1x2'"):
        parse_gold("1-1 1x2", "g:3")
    with pytest.raises(InputError, match="gold link '0-1' uses index 0, which WPT-format files use for NULL"):
        parse_gold("0-1", "g:1", one_indexed=True)


def test_parse_pharaoh_and_its_errors():
    assert parse_pharaoh("0-0 2-1 ||| -12.5\n", "f:1") == [(0, 0), (2, 1)]
    assert parse_pharaoh("\n", "f:1") == []
    with pytest.raises(InputError, match="f:2: malformed link '1--2'"):
        parse_pharaoh("0-0 1--2", "f:2")
    with pytest.raises(ExternalToolError, match="malformed link '1p2'"):
        parse_pharaoh("1p2", "f:1", ExternalToolError)
    with pytest.raises(InputError, match="f:1: link 2-0 is out of range for 2 source and 3 target words; hint"):
        check_range([(2, 0)], 2, 3, "f:1", InputError, "; hint")


def test_count_lines(tmp_path):
    assert count_lines(write_lines(tmp_path / "a", "x\ny\n")) == 2
    assert count_lines(write_lines(tmp_path / "b", "x\ny")) == 2
    assert count_lines(write_lines(tmp_path / "c", "")) == 0


def _gold_files(tmp_path):
    text = write_lines(tmp_path / "g.src-tgt", ["the house ||| la casa", "a dog barks ||| un perro ladra"])
    links = write_lines(tmp_path / "g.gold", ["1-1 2-2", "1-1 2-2 3p3"])
    return text, links


def test_read_gold(tmp_path):
    text, links = _gold_files(tmp_path)
    pairs = read_gold(text, links)
    assert pairs[1].src == ["a", "dog", "barks"] and pairs[1].links.possible == {(0, 0), (1, 1), (2, 2)}


def test_read_gold_errors(tmp_path):
    text, links = _gold_files(tmp_path)
    with pytest.raises(InputError, match="gold file .*missing does not exist"):
        read_gold(text, tmp_path / "missing")
    write_lines(links, ["1-1"])
    with pytest.raises(InputError, match="has 2 sentence pairs but .* has 1 link lines"):
        read_gold(text, links)
    write_lines(links, ["1-1 2-2", "1-1 4-3"])
    with pytest.raises(InputError, match=r"g.gold:2: gold link '4-3' points past the sentence \(3 source and 3 target "
                                         r"words, counted from 1\); check that .* or pass --drop-invalid-gold"):
        read_gold(text, links)
    write_lines(links, ["0-0 1-1", "0-0 2-2"])
    with pytest.raises(InputError, match="'0-0' uses index 0.*all fit counting from 0: pass --zero-indexed"):
        read_gold(text, links, one_indexed=True)
    assert read_gold(text, links, one_indexed=False)[1].links.sure == {(0, 0), (2, 2)}
    write_lines(text, ["the house ||| la casa", "a dog barks |||"])
    with pytest.raises(InputError, match="g.src-tgt:2: empty target side"):
        read_gold(text, links, one_indexed=False)


def test_score_output_for_directional_and_symmetric_aligners(tmp_path):
    text, links = _gold_files(tmp_path)
    pairs = read_gold(text, links)
    fwd = write_lines(tmp_path / "fwd", ["0-0 1-1", "0-0 1-1 1-2", "0-0"])  # a third (extra) line
    rev = write_lines(tmp_path / "rev", ["0-0 1-1", "0-0 1-1 2-2", "0-0"])
    scores, primary = score_output(AlignerOutput(forward=fwd, reverse=rev), pairs, "intersect", True, "x")
    assert primary == "intersect+one-to-one"
    assert list(scores) == ["forward", "reverse", "intersect", "intersect+one-to-one"]
    assert scores["reverse"].aer == 0.0
    assert scores["intersect"].predicted == 4  # {0-0, 1-1} twice
    assert scores["forward"].precision == pytest.approx(4 / 5)  # 1-2 is not a gold link
    scores, primary = score_output(AlignerOutput(links=fwd), pairs, "intersect", False, "x")
    assert primary == "links" and scores["links"].predicted == 5
    bad = write_lines(tmp_path / "bad", ["0-0", "0-7"])
    with pytest.raises(ExternalToolError, match="x output .*bad:2: link 0-7 is out of range"):
        score_output(AlignerOutput(links=bad), pairs, "intersect", False, "x")
    with pytest.raises(ExternalToolError, match="has 1 lines for 2 gold sentences"):
        score_output(AlignerOutput(links=write_lines(tmp_path / "short", ["0-0"])), pairs, "intersect", False, "x")


def test_score_predictions_from_a_pharaoh_file(tmp_path):
    text, links = _gold_files(tmp_path)
    pred = write_lines(tmp_path / "pred", ["0-0 1-1", "0-0 1-1 2-2"])
    s = score_predictions(pred, text, links)
    assert (s.aer, s.precision, s.recall) == (0.0, 1.0, 1.0)
    with pytest.raises(InputError, match="do not exist"):
        score_predictions(tmp_path / "nope", text, links)
    with pytest.raises(InputError, match="has 1 alignments for 2 gold sentences"):
        score_predictions(write_lines(tmp_path / "p1", ["0-0"]), text, links)


def test_wpt_null_links_get_the_null_hint_and_can_be_dropped(tmp_path):
    text, links = _gold_files(tmp_path)
    write_lines(links, ["1-1 0-2 2-2", "1-1 2-2 3-3 3p0"])  # 1-indexed with NULL links, as WPT'05 writes them
    with pytest.raises(InputError, match=r"g.gold:1: gold link '0-2' uses index 0, .* NULL .*--drop-invalid-gold"):
        read_gold(text, links)
    drops = GoldDrops()
    pairs = read_gold(text, links, drop_invalid=True, drops=drops)
    assert (drops.null, drops.out_of_range, drops.lines) == (2, 0, {1, 2})
    assert pairs[0].links.possible == {(0, 0), (1, 1)} and pairs[1].links.sure == {(0, 0), (1, 1), (2, 2)}
    assert drops.describe() == "dropped 2 NULL (index 0) and 0 out-of-range gold links on 2 lines"


def test_out_of_range_gold_links_can_be_dropped(tmp_path):
    text, links = _gold_files(tmp_path)
    write_lines(links, ["1-1 2-3", "1-1 9p9"])
    drops = GoldDrops()
    pairs = read_gold(text, links, drop_invalid=True, drops=drops)
    assert (drops.null, drops.out_of_range) == (0, 2) and pairs[1].links.possible == {(0, 0)}


def test_gold_split_is_fixed_and_disjoint(tmp_path):
    pairs = list(range(10))
    dev, test = split_gold(pairs, "dev"), split_gold(pairs, "test")  # type: ignore[arg-type]
    assert dev == [0, 3, 6, 9] and test == [1, 2, 4, 5, 7, 8]
    assert split_gold(pairs, "all") == list(range(10))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="gold split 'train' is not one of: all, dev, test"):
        split_gold(pairs, "train")  # type: ignore[arg-type]


def test_score_output_all_heuristics_adds_a_row_each(tmp_path):
    text, links = _gold_files(tmp_path)
    pairs = read_gold(text, links)
    fwd = write_lines(tmp_path / "fwd", ["0-0 1-1", "0-0 1-1 1-2"])
    rev = write_lines(tmp_path / "rev", ["0-0", "0-0 1-1 2-2"])
    scores, primary = score_output(AlignerOutput(forward=fwd, reverse=rev), pairs, "intersect", False, "x",
                                   all_heuristics=True)
    assert primary == "intersect"
    assert set(scores) == {"forward", "reverse", "intersect", "union", "grow-diag", "grow-diag-final",
                           "grow-diag-final-and"}
    assert scores["intersect"].predicted == 3 and scores["union"].predicted == 6


def test_an_aligned_corpus_of_other_sentences_names_the_option_to_align_gold_with(tmp_path):
    from helpers_adjust import write_sample_corpus

    from xladjust.align.corpus import AlignedPair

    text, links = _gold_files(tmp_path)
    corpus = write_sample_corpus(tmp_path / "aligned", [AlignedPair(["the", "cat"], ["el", "gato"], [(0, 0)])] * 2)
    with pytest.raises(InputError, match=r"pair 1 has other words than gold sentence 1; .*"
                                         r"xladjust align --joint GOLD_TEXT --no-tokenize\)$"):
        score_predictions(corpus, text, links)
