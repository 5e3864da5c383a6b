"""``xladjust align tune``: the choice is made on the dev split only (hand-made similarity
matrices through a stand-in backend), the grid, and the command line on a tiny model."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from helpers_align import write_lines
from helpers_cli import run_cli

from xladjust.align.tune import (
    Candidate,
    GoldSet,
    TuneConfig,
    candidates,
    links_for,
    tune_extraction,
)
from xladjust.errors import ConfigError

# Six two-word sentence pairs; gold is the diagonal everywhere. Dev = sentences 0 and 3.
DIAG = np.array([[0.9, 0.2], [0.2, 0.9]])
CROSS = np.array([[0.2, 0.9], [0.9, 0.2]])  # argmax links the wrong words


class StubBackend:
    """Layer 1 gives the right matrix on dev sentences and the wrong one on test
    sentences; layer 2 the other way round. A tuner that peeked at test would pick 2."""

    name = "embedding"

    def check(self) -> None:
        pass

    def _model(self):
        return SimpleNamespace(num_layers=2)

    def iter_similarities(self, pairs, layers, progress=None):
        for k, _ in enumerate(pairs):
            dev = k % 3 == 0
            yield {1: DIAG if dev else CROSS, 2: CROSS if dev else DIAG}


def _gold(tmp_path):
    text = write_lines(tmp_path / "g.src-tgt", ["a b ||| c d"] * 6)
    gold = write_lines(tmp_path / "g.gold", ["1-1 2-2"] * 6)
    return GoldSet("xx-yy", text, gold)


def test_the_choice_is_made_on_dev_only(tmp_path):
    config = TuneConfig((_gold(tmp_path),), layers=(1, 2), methods=("argmax",))
    report = tune_extraction(config, backend=StubBackend())
    assert report.chosen == Candidate(1, "argmax")
    assert report.dev[report.chosen]["xx-yy"].aer == 0.0
    assert report.test[report.chosen]["xx-yy"].aer == 1.0  # and it is reported honestly
    assert Candidate(2, "argmax") not in report.test  # test is scored only for dev choices
    assert report.sizes == {"xx-yy": {"dev": 2, "test": 4}}


def test_grid_and_best_per_method(tmp_path):
    config = TuneConfig((_gold(tmp_path),), layers=(1,), methods=("argmax", "softmax"), thresholds=(0.1, 0.6),
                        temperatures=(0.1,))
    cands = candidates(config, [1])
    assert cands == [Candidate(1, "argmax"), Candidate(1, "softmax", 0.1, 0.1), Candidate(1, "softmax", 0.6, 0.1)]
    report = tune_extraction(config, backend=StubBackend())
    assert set(report.best_per_method) == {"argmax", "softmax"}
    assert report.dev[Candidate(1, "softmax", 0.1, 0.1)]["xx-yy"].aer == 0.0
    data = report.to_dict()
    assert len(data["dev"]) == 3 and data["split"]["rule"].startswith("sentence k (0-based) is dev")


def test_tune_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="method 'best' is not one of.*threshold 2.0 is not in"):
        tune_extraction(TuneConfig((_gold(tmp_path),), methods=("best",), thresholds=(2.0,)), backend=StubBackend())
    assert TuneConfig(()).check()[0] == "no gold set given: pass --gold-set NAME TEXT GOLD"


def test_tune_command_on_a_tiny_model(tmp_path, tiny_checkpoints, capsys):
    g = _gold(tmp_path)
    report = tmp_path / "tune.json"
    code, out, err = run_cli(["-q", "align", "tune", "--gold-set", g.name, str(g.gold_text), str(g.gold),
                              "--model", str(tiny_checkpoints["wordpiece"]), "--layers", "1,2",
                              "--methods", "argmax,ot", "--thresholds", "0.1", "--temperatures", "0.1",
                              "--embedding-threads", "1", "--out", str(report)], capsys)
    assert code == 0, err
    assert "4 candidates, chosen on the dev splits (xx-yy: 2 dev / 4 test)" in out
    assert "chosen: --aligner embedding --layer" in out
    data = json.loads(report.read_text())
    assert data["chosen"]["method"] in ("argmax", "ot") and set(data["best_per_method"]) == {"argmax", "ot"}


def test_tune_command_bad_list_is_one_line(tmp_path, capsys):
    g = _gold(tmp_path)
    code, _, err = run_cli(["align", "tune", "--gold-set", g.name, str(g.gold_text), str(g.gold),
                            "--layers", "6,x"], capsys)
    assert code == 2 and err.strip() == "xladjust: error: --layers '6,x' is not a comma-separated list of ints"


def test_distortion_candidates_reweight_the_cached_matrices(tmp_path):
    config = TuneConfig((_gold(tmp_path),), layers=(1,), methods=("argmax",), distortions=(0.0, 1.0))
    cands = candidates(config, [1])
    assert cands == [Candidate(1, "argmax"), Candidate(1, "argmax", distortion=1.0)]
    assert cands[1].flags() == "--aligner embedding --layer 1 --method argmax --distortion 1"
    # 0.6 off the diagonal beats 0.5 on it; distortion 1 scales it by 1 - (0 - 1/2)^2 = 0.75, to 0.45
    near = np.array([[0.5, 0.6], [0.6, 0.5]])
    links = links_for([{1: near}], cands)
    assert links[cands[0]] == [[(0, 1), (1, 0)]] and links[cands[1]] == [[(0, 0), (1, 1)]]
    assert TuneConfig((_gold(tmp_path),), distortions=(2.0,)).check() == ["distortion 2.0 is not in [0, 1]"]


def _two_sets(tmp_path):
    """Two gold sets in their own folders: the diagonal gold of ``_gold``, and one whose
    gold is the crossing (the second word of one side with the first of the other)."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    first = _gold(a)
    text = write_lines(b / "g.src-tgt", ["a b ||| c d"] * 6)
    gold = write_lines(b / "g.gold", ["1-2 2-1"] * 6)
    return first, GoldSet("zz-yy", text, gold)


class TwoFamilies(StubBackend):
    """Layer 1: diagonal links everywhere (perfect on xx-yy, wrong on zz-yy); layer 2:
    crossing links on every sentence of zz-yy and on every dev sentence of xx-yy but one."""

    def __init__(self):
        self.calls = 0

    def iter_similarities(self, pairs, layers, progress=None):
        self.calls += 1
        crossing = self.calls == 2  # the second gold set
        for k, _ in enumerate(pairs):
            yield {1: DIAG, 2: CROSS if crossing or k != 0 else DIAG}


def test_objectives_weigh_the_gold_sets_differently():
    """ja-en-like set X at AER ~0.6 and en-fr-like set Z at ~0.06. A gains 0.04 on X and
    loses 0.03 on Z against B: the mean picks A (0.345 against 0.35); relative to each
    set's best (0.6, 0.06), A is 1 and 1.5 (1.25), B 1.067 and 1 (1.033): B. C is far off
    on Z only; the worst set's excess over its best: A 0.03, B 0.04, C 0.14: A."""
    from xladjust.align.tune import TuneReport

    a, b, c = Candidate(1, "argmax"), Candidate(2, "argmax"), Candidate(3, "argmax")
    aers = {a: (0.6, 0.09), b: (0.64, 0.06), c: (0.61, 0.2)}
    dev = {k: {"xx-yy": SimpleNamespace(aer=x), "zz-yy": SimpleNamespace(aer=z)} for k, (x, z) in aers.items()}
    report = TuneReport(a, dev, {}, {}, {}, {}, searched=[a, b, c])
    assert report.best_dev_aer() == {"xx-yy": 0.6, "zz-yy": 0.06}
    assert min([a, b, c], key=lambda k: report.objective_value(k, "mean")) == a
    assert min([a, b, c], key=lambda k: report.objective_value(k, "relative")) == b
    assert min([a, b, c], key=lambda k: report.objective_value(k, "regret")) == a
    assert report.objective_value(a, "relative") == pytest.approx(1.25)
    assert report.objective_value(c, "regret") == pytest.approx(0.14)
    assert report.objective == "relative"  # the default
    perfect = {"xx-yy": 0.0, "zz-yy": 0.06}  # a set aligned perfectly by some candidate: 1 + AER
    assert report.objective_value(b, "relative", perfect) == pytest.approx((1.64 + 1.0) / 2)


def test_regret_objective_end_to_end(tmp_path):
    """Two gold sets whose gold links differ: layer 1 (diagonal everywhere) is perfect on
    one and wrong on the other; layer 2 is half right on one dev split and perfect on the
    other; the regret objective and the report's JSON say so."""
    sets = _two_sets(tmp_path)
    report = tune_extraction(TuneConfig(sets, layers=(1, 2), methods=("argmax",), objective="regret"),
                             backend=TwoFamilies())
    assert report.chosen == Candidate(2, "argmax")
    assert report.objective_value(Candidate(1, "argmax")) == 1.0
    assert report.objective_value(Candidate(2, "argmax")) == 0.5
    data = report.to_dict()
    assert data["objective"] == "regret" and {"mean_dev", "regret_dev"} <= set(data["dev"][0])
    assert TuneConfig(sets, objective="best").check() == ["objective 'best' is not one of: relative, mean, regret"]


def test_references_are_scored_but_never_chosen(tmp_path):
    ref = Candidate.parse("layer=2,method=argmax")
    config = TuneConfig((_gold(tmp_path),), layers=(1,), methods=("argmax",), references=(ref,))
    report = tune_extraction(config, backend=StubBackend())
    assert report.chosen == Candidate(1, "argmax") and report.searched == [Candidate(1, "argmax")]
    assert report.dev[ref]["xx-yy"].aer == 1.0 and report.test[ref]["xx-yy"].aer == 0.0
    assert [r["layer"] for r in report.to_dict()["references"]] == [2]


@pytest.mark.parametrize("text, message", [
    ("layer=8", "needs layer= and method="),
    ("layer=x,method=argmax", "layer 'x' is not a int"),
    ("layer=8,method=argmax,color=red", "'color=red' is not KEY=VALUE"),
])
def test_a_bad_reference_is_one_line(text, message):
    with pytest.raises(ConfigError, match=message):
        Candidate.parse(text)


def test_a_reference_needs_the_method_s_own_settings(tmp_path):
    ref = Candidate.parse("layer=1,method=softmax")
    assert TuneConfig((_gold(tmp_path),), references=(ref,)).check() == [
        "reference '--aligner embedding --layer 1 --method softmax': softmax needs threshold and temperature"]


def test_the_cache_is_reused_for_the_same_gold_and_layers(tmp_path):
    class Counting(StubBackend):
        calls = 0

        def iter_similarities(self, pairs, layers, progress=None):
            Counting.calls += 1
            yield from super().iter_similarities(pairs, layers, progress)

    config = TuneConfig((_gold(tmp_path),), layers=(1, 2), methods=("argmax",), cache=tmp_path / "cache")
    first = tune_extraction(config, backend=Counting())
    second = tune_extraction(config, backend=Counting())
    assert Counting.calls == 1 and len(list((tmp_path / "cache").glob("xx-yy-*.npz"))) == 1
    assert first.dev == second.dev and second.chosen == Candidate(1, "argmax")
    tune_extraction(TuneConfig((_gold(tmp_path),), layers=(1,), methods=("argmax",), cache=tmp_path / "cache"),
                    backend=Counting())
    assert Counting.calls == 2  # other layers: embedded again


def test_a_rewritten_model_folder_misses_the_cache(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"one")
    calls = []

    class Counting(StubBackend):
        def iter_similarities(self, pairs, layers, progress=None):
            calls.append(1)
            yield from super().iter_similarities(pairs, layers, progress)

    from xladjust.align.config import EmbeddingOptions

    config = TuneConfig((_gold(tmp_path),), EmbeddingOptions(model=str(model)), layers=(1,), methods=("argmax",),
                        cache=tmp_path / "cache")
    tune_extraction(config, backend=Counting())
    tune_extraction(config, backend=Counting())
    assert len(calls) == 1
    (model / "weights.bin").write_bytes(b"two, longer")  # another checkpoint written into the same folder
    tune_extraction(config, backend=Counting())
    assert len(calls) == 2


def test_gold_dir_takes_every_set_of_a_folder(tmp_path, tiny_checkpoints, capsys):
    folder = tmp_path / "gold"
    folder.mkdir()
    for name in ("aa-bb", "cc-dd"):
        write_lines(folder / f"{name}.src-tgt", ["a b ||| c d"] * 6)
        write_lines(folder / f"{name}.gold", ["1-1 2-2"] * 6)
    write_lines(folder / "ee-ff.src-tgt", ["a ||| b"])  # no links beside it: not a gold set
    report = tmp_path / "tune.json"
    code, out, err = run_cli(["-q", "align", "tune", "--gold-dir", str(folder), "--model",
                              str(tiny_checkpoints["wordpiece"]), "--layers", "1", "--methods", "argmax",
                              "--embedding-threads", "1", "--out", str(report)], capsys)
    assert code == 0, err
    assert "(aa-bb: 2 dev / 4 test, cc-dd: 2 dev / 4 test)" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(["align", "tune", "--gold-dir", str(empty)], capsys)
    assert code == 2 and err.strip() == (f"xladjust: error: --gold-dir {empty}: no NAME.src-tgt file with a "
                                         "NAME.gold beside it")
