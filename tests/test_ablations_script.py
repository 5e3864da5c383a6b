"""The ablation benchmark's settings and table, without running it (it takes hours)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from xladjust.adjust.config import AdjustConfig, apply_preset
from xladjust.config import build_config
from xladjust.names import name_problem  # the rule for every name that becomes a path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "efimov_ablations.py"


@pytest.fixture(scope="module")
def ablations():
    spec = importlib.util.spec_from_file_location("efimov_ablations", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_a_valid_adjust_config_changing_one_thing(ablations, tmp_path):
    corpus = tmp_path / "aligned"
    corpus.mkdir()
    names = [s.name for s in ablations.SETTINGS]
    assert len(set(names)) == len(names) and names[0] == "default"
    for s in ablations.SETTINGS:
        cfg = build_config(AdjustConfig, {"aligned": [str(corpus)], "out": str(tmp_path / s.name),
                                          **apply_preset(s.adjust)})
        assert cfg.check() == [], s.name
        assert cfg.objective_config() is not None
        changed = len(s.adjust) + (s.pairs_share != 1.0)
        assert changed == (0 if s.name == "default" else 1), s.name
    assert next(s for s in ablations.SETTINGS if s.name == "reference").adjust == {"preset": "reference"}


def test_quick_preset_fills_sizes_and_unknown_settings_fail(ablations, tmp_path):
    args = ablations.parse_args(["--quick", "--out", str(tmp_path)])
    assert args.pairs == ablations.QUICK["pairs"] and args.seeds == ablations.QUICK["seeds"]
    args = ablations.parse_args(["--quick", "--pairs", "50", "--out", str(tmp_path)])
    assert args.pairs == 50
    with pytest.raises(SystemExit, match="unknown setting"):
        ablations.pick_settings("default,nope")
    with pytest.raises(SystemExit):
        ablations.parse_args(["--nli-train", "2400", "--nli-dev", "200", "--out", str(tmp_path)])


def test_table_marks_english_within_half_a_point(ablations):
    cell = {"related": 0.1, "unrelated": 0.2, "delta": 0.1}
    adjusted = {"related": 0.05, "unrelated": 0.15, "delta": 0.1}
    nli = {"seeds": [1], "freeze_embeddings": True, "languages": {
        "en": {"vanilla": {"mean": 60.0, "std": 1.0}, "a": {"mean": 59.6, "std": 0.5}, "b": {"mean": 58.0, "std": 0.5}}}}
    result = {"model": "m", "sizes": {"pairs": 10, "heldout": 5, "nli_train": 4, "nli_dev": 2, "nli_test": 3,
                                      "seeds": "1", "nli_epochs": 1.0},
              "vanilla": cell, "nli": nli, "not_expressible": [], "command": "python x",
              "settings": {"a": {"what": "A", **adjusted}, "b": {"what": "B", **cell}}}
    md = ablations.ablation_markdown(result)
    assert "| a | A | 0.050 | 0.150 | 0.100 | -50% | -25% | 59.6 ± 0.5 (-0.4) | yes |" in md
    assert "| b | B | 0.100 | 0.200 | 0.100 | +0% | +0% | 58.0 ± 0.5 (-2.0) | no |" in md
    assert "Command: `python x`" in md


def test_table_gives_english_tests_and_the_continual_arm(ablations):
    cell = {"related": 0.1, "unrelated": 0.2, "delta": 0.1}
    arm = ablations.CONTINUAL_ARM
    nli = {"seeds": [1, 2], "freeze_embeddings": False,
           "languages": {"en": {"vanilla": {"mean": 60.0, "std": 1.0}, "a": {"mean": 59.0, "std": 0.5},
                                arm: {"mean": 61.0, "std": 0.2}},
                         "es": {"vanilla": {"mean": 50.0, "std": 1.0}, "a": {"mean": 52.0, "std": 0.5},
                                arm: {"mean": 49.5, "std": 0.3}}},
           "tests": {"en": {"a": {"example_p": 0.0123, "seed_p": 0.5, "hier_p": 0.3},
                            arm: {"example_p": 0.2, "seed_p": 1.0, "hier_p": 0.6}}}}
    result = {"model": "m", "sizes": {"pairs": 10, "heldout": 5, "nli_train": 4, "nli_dev": 2, "nli_test": 3,
                                      "seeds": "1,2", "nli_epochs": 1.0},
              "vanilla": cell, "nli": nli, "not_expressible": [], "command": "python x",
              "settings": {"a": {"what": "A", **cell}}}
    md = ablations.ablation_markdown(result)
    assert "| 59.0 ± 0.5 (-1.0) | 52.0 ± 0.5 (+2.0) | no | 0.012 / 0.500 |" in md
    assert f"| {arm} | " in md
    assert "|  |  |  |  |  | 61.0 ± 0.2 (+1.0) | 49.5 ± 0.3 (-0.5) | no | 0.200 / 1.000 |" in md
    assert "embeddings trained in fine-tuning" in md


def test_continual_arm_option_names_the_arm(ablations, tmp_path):
    args = ablations.parse_args(["--quick", "--continual-arm", "--out", str(tmp_path)])
    assert args.continual_arm
    assert not ablations.parse_args(["--quick", "--out", str(tmp_path)]).continual_arm
    for name in ["vanilla", ablations.CONTINUAL_ARM, *(s.name for s in ablations.SETTINGS)]:
        assert name_problem(name, "arm") is None, name
