"""Every config kind runs with `xladjust run`, KEY=VALUE overrides are typed and checked,
and the shipped configs are reachable without a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers_adjust import write_sample_corpus
from helpers_cli import fail_one_line, run_cli

from xladjust.config import apply_overrides
from xladjust.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_overrides_set_nested_keys_and_list_items_with_yaml_values():
    data = {"seed": 0, "adjust": {"lr": 5e-5}, "pairs": [{"src_lang": "en", "tgt_lang": "es"}]}
    out = apply_overrides(data, ["seed=3", "adjust.lr=3e-5", "pairs.0.name=spanish", "adjust.layers=[6, 8]",
                                 "probe.layers=all", "align.self_train=null", "adjust.dropout=no"])
    assert out == {"seed": 3, "adjust": {"lr": 3e-5, "layers": [6, 8], "dropout": "no"},
                   "pairs": [{"src_lang": "en", "tgt_lang": "es", "name": "spanish"}],
                   "probe": {"layers": "all"}, "align": {"self_train": None}}
    assert data["seed"] == 0 and "probe" not in data  # the input is left as it was


@pytest.mark.parametrize(("override", "fragment"), [
    ("seed", "is not KEY=VALUE"),
    ("adjust..lr=1", "is not KEY=VALUE"),
    ("pairs.3.name=x", "indexes a list of 1 items"),
    ("seed.x=1", "seed is a value, not a section"),
    ("adjust.lr=[1", "override adjust.lr"),
])
def test_bad_overrides_say_what_is_wrong(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.").replace("[", r"\[")):
        apply_overrides({"seed": 0, "pairs": [{}], "adjust": {}}, [override])


def test_validate_checks_the_overridden_config(capsys):
    demo = str(REPO / "configs" / "demo.yaml")
    code, out, err = run_cli(["validate", demo, "seed=7", "adjust.lr=3e-5"], capsys)
    assert code == 0 and "valid PipelineConfig" in out, err
    fail_one_line(capsys, ["validate", demo, "seed=-1"], "seed")
    fail_one_line(capsys, ["run", demo, "--dry-run", "adjust.no_such_key=1"], "no_such_key")
    fail_one_line(capsys, ["run", demo, "--dry-run", "--overwrite"], "--overwrite is for one stage's config")


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_run_runs_a_stage_config_with_overrides(tiny_checkpoints, tmp_path, capsys):
    corpus = write_sample_corpus(tmp_path / "corpus", repeat=4)
    config = _write(tmp_path / "adjust.yaml", {"kind": "adjust", "model": str(tiny_checkpoints["unigram"]),
                                               "aligned": [str(corpus)], "out": str(tmp_path / "adjusted"),
                                               "max_steps": 50, "batch_size": 4})
    code, out, err = run_cli(["-q", "run", str(config), "max_steps=2"], capsys)
    assert code == 0, err
    assert (tmp_path / "adjusted" / ".complete").is_file() and "written to" in out
    import json

    record = json.loads((tmp_path / "adjusted" / "xladjust.json").read_text(encoding="utf-8"))
    assert record["metrics"]["steps"] == 2  # the override, not the file's 50

    probe = _write(tmp_path / "probe.yaml", {"kind": "probe", "out": str(tmp_path / "probe"), "precision": "fp32",
                                             "models": [{"name": "a", "spec": str(tmp_path / "adjusted")}],
                                             "bitexts": [{"path": str(corpus)}], "probes": ["distances"],
                                             "resamples": 50})
    code, out, err = run_cli(["-q", "run", str(probe)], capsys)
    assert code == 0 and (tmp_path / "probe" / ".complete").is_file(), err
    fail_one_line(capsys, ["run", str(probe)], "--overwrite")  # a complete run is not replaced silently
    code, _, err = run_cli(["-q", "run", str(probe), "--overwrite"], capsys)
    assert code == 0, err


def test_config_list_and_copy(tmp_path, capsys):
    code, out, _ = run_cli(["config", "list"], capsys)
    names = [line.split()[0] for line in out.splitlines()]
    assert code == 0 and {"demo", "efimov2022-offline", "wu2022-landscape", "claims/efimov2022"} <= set(names)
    code, _, err = run_cli(["config", "copy", "demo", str(tmp_path)], capsys)
    assert code == 0, err
    assert (tmp_path / "demo.yaml").read_bytes() == (REPO / "configs" / "demo.yaml").read_bytes()
    before = (tmp_path / "demo.yaml").read_bytes()
    fail_one_line(capsys, ["config", "copy", "demo", str(tmp_path / "demo.yaml")], "--overwrite")
    assert (tmp_path / "demo.yaml").read_bytes() == before
    fail_one_line(capsys, ["config", "copy", "nonesuch", str(tmp_path)], "xladjust config list")


@pytest.mark.slow
def test_the_wheel_ships_the_configs(tmp_path):
    import shutil

    source = tmp_path / "source"  # the build writes build/ and *.egg-info beside its sources: not in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv*", "build", "runs", "*.egg-info",
                                                                "__pycache__", ".ruff_cache", ".pytest_cache"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("xladjust-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"xladjust/configs/{p.relative_to(REPO / 'configs')}" for p in (REPO / "configs").rglob("*.yaml")}
    assert shipped and shipped <= names


def test_a_preset_expands_in_a_stage_config_file_too(tmp_path, capsys):
    from xladjust.adjust.config import PRESETS
    from xladjust.config import validate_file

    config = _write(tmp_path / "adjust.yaml", {"kind": "adjust", "aligned": [str(tmp_path)], "out": str(tmp_path / "o"),
                                               "preset": "reference", "seed": 4})
    cfg = validate_file(config)
    reference = PRESETS["reference"]
    assert cfg.batch_size == reference["batch_size"] and cfg.adam_beta2 == reference["adam_beta2"] and cfg.seed == 4
    fail_one_line(capsys, ["validate", str(config), "preset=nonesuch"], "unknown preset 'nonesuch'")
