"""The one config loader: YAML 1.2 scalars, bounded depth and size, paths checked by
validate, and device names refused with one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers_cli import fail_one_line

from xladjust.config import MAX_YAML_BYTES, MAX_YAML_DEPTH, load_yaml, parse_yaml
from xladjust.errors import ConfigError

# YAML text -> the value YAML 1.2's core schema gives (PyYAML's YAML 1.1 differs on each)
SCALARS = {
    "010": 10,  # 1.1: octal 8
    "0o10": 8,
    "0x1F": 31,
    "-007": -7,
    "+12": 12,
    "1:30": "1:30",  # 1.1: sexagesimal 90
    "1_000": "1_000",  # 1.1: 1000
    "no": "no",  # 1.1: False (Norwegian's code)
    "No": "No",
    "yes": "yes",
    "on": "on",
    "off": "off",
    "y": "y",
    "n": "n",
    "true": True,
    "False": False,
    "TRUE": True,
    "5e-5": 5e-5,  # 1.1: a string
    "1E3": 1000.0,
    ".5": 0.5,
    "-1.5": -1.5,
    "2024-01-02": "2024-01-02",  # 1.1: a date
    "~": None,
    "null": None,
    "": None,
    "0b101": "0b101",  # 1.1: 5
    "=": "=",
}


@pytest.mark.parametrize("text", list(SCALARS))
def test_scalars_follow_yaml_1_2(text):
    value = parse_yaml(f"v: {text}\n")["v"]
    assert value == SCALARS[text] and type(value) is type(SCALARS[text]), (text, value)


def test_inf_and_nan_are_floats_for_the_bounds_to_refuse():
    data = parse_yaml("a: .inf\nb: -.Inf\nc: .nan\n")
    assert data["a"] == float("inf") and data["b"] == float("-inf") and data["c"] != data["c"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _adjust(tmp_path: Path, extra: str) -> Path:
    return _write(tmp_path / "c.yaml", f"kind: adjust\nmodel: m\naligned: [{tmp_path}/corpus]\nout: {tmp_path}/o\n{extra}")


def test_max_steps_010_is_ten(tmp_path):
    from xladjust.config import validate_file

    assert validate_file(_adjust(tmp_path, "max_steps: 010\n")).max_steps == 10


BAD_DOCUMENTS = {
    # name: (document text, fragment of the one line)
    "20,000-deep flow lists": ("v: " + "[" * 20_000 + "]" * 20_000 + "\n", f"deeper than {MAX_YAML_DEPTH} levels"),
    "20,000-deep block mappings": ("".join(" " * k + "a:\n" for k in range(2_000)) + " " * 2_000 + "a: 1\n",
                                   f"deeper than {MAX_YAML_DEPTH} levels"),
    "5,000-digit integer": ("kind: adjust\nmax_steps: " + "9" * 5_000 + "\n", "an integer of 5000 digits"),
    "5,000-digit negative integer": ("kind: adjust\nseed: -" + "1" * 5_000 + "\n", "an integer of 5000 digits"),
    "5,000-digit octal": ("kind: adjust\nseed: 0o" + "7" * 5_000 + "\n", "digits"),
    "explicit int tag on a word": ('kind: adjust\nseed: !!int "abc"\n', "'abc' is not a valid int"),
    "explicit float tag on a word": ('kind: adjust\nlr: !!float "fast"\n', "'fast' is not a valid float"),
    "explicit timestamp tag on a word": ('kind: adjust\nx: !!timestamp "soon"\n', "is not a valid timestamp"),
    "nested explicit tag": ('kind: adjust\nx: {y: [1, !!int ""]}\n', "line 2: '' is not a valid int"),
    "document too large": ("kind: adjust\n# " + "x" * MAX_YAML_BYTES + "\n", "larger than"),
    "home of no such user": (None, "no such user"),
}


@pytest.mark.parametrize("case", list(BAD_DOCUMENTS))
def test_validate_refuses_with_one_line(tmp_path, capsys, case):
    text, fragment = BAD_DOCUMENTS[case]
    if text is None:
        path = _adjust(tmp_path, "").with_name("u.yaml")
        _write(path, f"kind: adjust\nmodel: m\naligned: {tmp_path}\nout: ~nosuchuser-xladjust/r\n")
    else:
        path = _write(tmp_path / "c.yaml", text)
    line = fail_one_line(capsys, ["validate", str(path)], fragment)
    assert len(line) < 500


def test_home_of_no_such_user_is_refused_by_run_too(tmp_path, capsys):
    path = _write(tmp_path / "p.yaml", "kind: pipeline\nout: ~nosuchuser-xladjust/r\nmodel: m\npairs: []\n")
    fail_one_line(capsys, ["run", str(path), "--dry-run"], "no such user")


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.yaml"
    os.mkfifo(path)
    return path


CONFIG_PATHS = {
    # name: (make the path, fragment)
    "/dev/zero": (lambda t: Path("/dev/zero"), "is a device"),
    "a FIFO": (_fifo, "is a FIFO"),
    "a folder": (lambda t: t, "is a "),
    "missing": (lambda t: t / "missing.yaml", "does not exist"),
}


@pytest.mark.parametrize("case", list(CONFIG_PATHS))
@pytest.mark.parametrize("command", [["validate"], ["run", "--dry-run"], ["adjust", "--config"], ["align", "--config"],
                                     ["align", "evaluate", "--config"]])
def test_a_config_path_that_is_not_a_file_says_what_it_is(tmp_path, capsys, case, command):
    make, fragment = CONFIG_PATHS[case]
    path = make(tmp_path)
    args = [*command[:1], str(path), *command[1:]] if command[0] == "run" else [*command, str(path)]
    line = fail_one_line(capsys, args, fragment)
    if case == "a folder":  # click's own check where the option takes files only
        assert "is a folder" in line or "is a directory" in line


def test_load_yaml_is_the_loader_of_every_config_command(tmp_path):
    path = _write(tmp_path / "c.yaml", "tgt_lang: no\nmax_steps: 010\nwhen: 1:30\n")
    assert load_yaml(path) == {"tgt_lang": "no", "max_steps": 10, "when": "1:30"}
    with pytest.raises(ConfigError, match="is a FIFO"):
        load_yaml(_fifo(tmp_path))
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo.yaml").st_mode)


def test_adjust_option_values_use_the_same_rules():
    from xladjust.cli.adjust import _parse_options

    assert _parse_options(("a=010", "b=no", "c=1:30")) == {"a": 10, "b": "no", "c": "1:30"}


@pytest.mark.parametrize("device", ["bogus:9", "gpu", "cuda:x", "meta", "cuda:-1"])
def test_bad_device_names_are_refused_with_one_line(tiny_checkpoints, tmp_path, capsys, device):
    fail_one_line(capsys, ["probe", "--model", f"v={tiny_checkpoints['unigram']}", "--bitext", f"b={tmp_path}",
                           "--device", device, "--out", str(tmp_path / "p")], f"device {device!r} is not one of")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:7"])
def test_cuda_without_cuda_is_refused_with_one_line(tmp_path, capsys, device):
    import torch

    from xladjust.errors import ModelError
    from xladjust.models import resolve_device

    if torch.cuda.is_available() and device != "cuda:7":
        assert resolve_device(device).type == "cuda"
        return
    with pytest.raises(ModelError, match=f"device '{device}' cannot be used"):
        resolve_device(device)
    assert resolve_device("cpu").type == "cpu" and resolve_device(None).type in ("cpu", "cuda")


@pytest.mark.parametrize("device", ["cuda", "cuda:3"])
def test_probe_on_a_missing_cuda_device_is_one_line(tiny_checkpoints, tmp_path, capsys, device):
    import torch
    from helpers_adjust import write_sample_corpus

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    corpus = write_sample_corpus(tmp_path / "corpus")
    out = tmp_path / "p"
    fail_one_line(capsys, ["probe", "--model", f"v={tiny_checkpoints['unigram']}", "--bitext", str(corpus),
                           "--device", device, "--out", str(out), "--precision", "fp32"], f"device '{device}' cannot be used")
    assert not (out / ".complete").exists()


@pytest.mark.parametrize(("value", "fragment"), [("9" * 500, "--option a: line 1: an integer of 500 digits"),
                                                 ("[" * 300 + "]" * 300, "--option a: line 1 nests"),
                                                 ('!!int "x"', "--option a: line 1: 'x' is not a valid int")])
def test_adjust_option_values_are_bounded_like_files(tmp_path, capsys, value, fragment):
    fail_one_line(capsys, ["adjust", "--aligned", str(tmp_path), "--out", str(tmp_path / "o"), "--option",
                           f"a={value}"], fragment)
