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
                              "--torch-threads", "1", "--json", str(report)], capsys)
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
