"""The reference's settings printed in docs/objectives.md are the ones the benchmark runs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

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
