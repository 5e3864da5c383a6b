"""docs/config.md is generated from the typed configs and must be current."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from xladjust.config_docs import main, render, undocumented

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def test_committed_config_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/config.md is stale: run  python -m xladjust.config_docs docs/config.md")


def test_every_key_has_a_type_default_and_meaning():
    assert undocumented() == []
    from xladjust.adjust.config import AdjustConfig

    text = render()
    for f in dataclasses.fields(AdjustConfig):
        row = next(line for line in text.splitlines() if line.startswith(f"| `{f.name}` |"))
        assert len([c for c in row.split(" | ") if c.strip()]) >= 4, row
    assert "| `precision` | Precision: `auto`, `fp32`, `bf16`, `fp16` | `'auto'` |" in text  # enums list choices
    assert "| `model` | str | required |" in text  # FinetuneConfig.model has no default


def test_generator_writes_the_file(tmp_path):
    assert main([str(tmp_path / "config.md")]) == 0
    assert (tmp_path / "config.md").read_text(encoding="utf-8") == render()
