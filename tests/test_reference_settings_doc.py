"""The reference's settings have one definition (the adjust stage's ``reference`` preset):
docs/objectives.md prints it, the benchmark runs it and the study configs use it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _benchmark_settings() -> dict:
    spec = importlib.util.spec_from_file_location("bench_adjust", REPO / "benchmarks" / "adjust.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.REFERENCE_SETTINGS


def _documented_settings() -> dict:
    text = (REPO / "docs" / "objectives.md").read_text(encoding="utf-8")
    section = text.split("## The reference's settings", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    return yaml.safe_load(block)


def test_documented_reference_settings_match_the_benchmark_arm():
    documented = _documented_settings()
    assert documented["kind"] == "adjust"
    for key, value in _benchmark_settings().items():
        assert key in documented, f"docs/objectives.md lacks {key}: {value!r}"
        assert documented[key] == value, f"{key}: docs say {documented[key]!r}, the benchmark runs {value!r}"


def test_the_documented_block_is_the_preset_whole():
    from xladjust.adjust.config import REFERENCE_PRESET

    documented = {k: v for k, v in _documented_settings().items() if k != "kind"}
    assert documented == REFERENCE_PRESET
    assert _benchmark_settings() == REFERENCE_PRESET


@pytest.mark.parametrize("name", ["efimov2022-offline.yaml", "efimov2022-offline-full.yaml"])
def test_the_study_configs_reference_arm_is_the_preset(name):
    from xladjust.adjust.config import REFERENCE_PRESET
    from xladjust.pipeline import PipelineConfig, adjust_config

    data = yaml.safe_load((REPO / "configs" / name).read_text(encoding="utf-8"))
    assert data["adjust_variants"]["reference"] == {"preset": "reference"}
    cfg = PipelineConfig(out=Path("runs"), model=data["model"], adjust=data["adjust"],
                         adjust_variants=data["adjust_variants"])
    built = adjust_config(cfg, [Path("a")], Path("b"), **cfg.adjust_variants["reference"])
    for key, value in REFERENCE_PRESET.items():
        got = getattr(built, key)
        got = getattr(got, "value", got)
        if key == "objective_options":
            got = dict(got)
        assert got == value, f"{name}: the reference arm's {key} is {got!r}, the preset's {value!r}"
    assert built.checkpoint_every == cfg.adjust.get("checkpoint_every", built.checkpoint_every)


def test_an_unknown_preset_is_one_error_naming_the_known_ones():
    from xladjust.errors import ConfigError
    from xladjust.pipeline import PipelineConfig, adjust_config

    cfg = PipelineConfig(out=Path("runs"), adjust_variants={"ref": {"preset": "referense"}})
    with pytest.raises(ConfigError, match="adjust_variants: unknown preset 'referense'; known presets: reference"):
        adjust_config(cfg, [Path("a")], Path("b"), preset="referense")
