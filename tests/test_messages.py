"""Error messages name the real problem and never advise deleting good data: a resume
under other settings, config shapes that disagree with the weights, a damaged or missing
tokenizer.json, a full disk, a file where a folder is expected, an unwritable stderr."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_adjust import write_sample_corpus
from helpers_cli import fail_one_line, tree_hashes

import xladjust.adjust.train as train_module
from xladjust.errors import OutputError
from xladjust.io import atomic_dir, disk_full_names

ADJUST = ["--max-steps", "4", "--batch-size", "3", "--checkpoint-every", "2", "--precision", "fp32", "--lr", "1e-3"]


class Crash(Exception):
    pass


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, tiny_checkpoints) -> dict[str, Path]:
    """An adjust run (l2 objective) stopped after its step-2 checkpoint, kept as a template."""
    from xladjust.cli import main

    root = tmp_path_factory.mktemp("interrupted")
    corpus = write_sample_corpus(root / "corpus")
    model = tiny_checkpoints["unigram"]
    original = train_module.save_checkpoint

    def crash_after_step_2(loop, state):
        path = original(loop, state)
        if state.step == 2:
            raise Crash
        return path

    train_module.save_checkpoint = crash_after_step_2
    try:
        with pytest.raises(Crash):
            main(["-q", "adjust", "--model", str(model), "--aligned", str(corpus), "--out", str(root / "run"),
                  "--objective", "l2", *ADJUST])
    finally:
        train_module.save_checkpoint = original
    assert (root / "run" / "checkpoints").is_dir()
    return {"run": root / "run", "corpus": corpus, "model": model}


RESUME_CHANGES = {
    # name: (changed options, the setting named, its recorded value)
    "objective": (["--objective", "contrastive"], "'objective'", '"l2"'),
    "learning rate": (["--lr", "2e-3"], "'lr'", "0.001"),
    "seed": (["--seed", "7"], "'seed'", "0"),
    "max steps": (["--max-steps", "6"], "'max_steps'", "4"),
}


@pytest.mark.parametrize("change", list(RESUME_CHANGES))
def test_resume_under_other_settings_names_the_setting(interrupted, tmp_path, capsys, change):
    run = tmp_path / "run"
    shutil.copytree(interrupted["run"], run)
    before = tree_hashes(run)
    options, key, was = RESUME_CHANGES[change]
    args = ["adjust", "--model", str(interrupted["model"]), "--aligned", str(interrupted["corpus"]),
            "--out", str(run), "--objective", "l2", *ADJUST, *options, "--resume"]
    line = fail_one_line(capsys, args, f"the setting {key} differs from the interrupted run's")
    assert f"({was} then" in line and "--overwrite" in line
    assert "damaged" not in line and "delete" not in line
    assert tree_hashes(run) == before  # its checkpoints are kept, each still marked whole
    assert not (run / ".complete").exists()


def test_resume_with_the_same_settings_still_works(interrupted, tmp_path, capsys):
    from helpers_cli import run_cli

    run = tmp_path / "run"
    shutil.copytree(interrupted["run"], run)
    code, _, err = run_cli(["-q", "adjust", "--model", str(interrupted["model"]), "--aligned",
                            str(interrupted["corpus"]), "--out", str(run), "--objective", "l2", *ADJUST, "--resume"],
                           capsys)
    assert code == 0, err
    assert json.loads((run / "xladjust.json").read_text())["training"]["resumed_from_step"] == 2


def _copy(tiny: Path, dest: Path, edit) -> Path:
    shutil.copytree(tiny, dest)
    edit(dest)
    return dest


def _config(d: Path, **changes) -> None:
    config = json.loads((d / "config.json").read_text())
    config.update({k: (v(config) if callable(v) else v) for k, v in changes.items()})
    (d / "config.json").write_text(json.dumps(config))


def _tokenizer(d: Path, text: str | None) -> None:
    path = d / "tokenizer.json"
    path.unlink()
    if text == "folder":
        path.mkdir()
    elif text is not None:
        path.write_text(text)


CHECKPOINTS = {
    # name: (edit, fragments of the one line)
    "config with a wider feed-forward": (lambda d: _config(d, intermediate_size=lambda c: 2 * c["intermediate_size"]),
                                         ["intermediate.dense", "in the weights but", "by config.json"]),
    "config with a wider hidden size": (lambda d: _config(d, hidden_size=lambda c: 2 * c["hidden_size"]),
                                        ["do not belong together", "by config.json"]),
    "tokenizer.json missing": (lambda d: _tokenizer(d, None), ["has no tokenizer.json"]),
    "tokenizer.json cut short": (lambda d: _tokenizer(d, '{"version": "1.0", "added_tokens": ['),
                                 ["tokenizer.json is not valid JSON", "cut short"]),
    "tokenizer.json without added_tokens": (lambda d: _tokenizer(d, '{"version": "1.0", "model": {}}'),
                                            ["not a tokenizer", "'added_tokens'"]),
    "tokenizer.json a folder": (lambda d: _tokenizer(d, "folder"), ["tokenizer.json is not a regular file"]),
    "tokenizer.json missing, vocab.txt broken": (lambda d: (_tokenizer(d, None), (d / "vocab.txt").write_bytes(b"\xff")),
                                                ["has no tokenizer.json and a fast tokenizer could not be built from "
                                                 "vocab.txt"]),
    "tokenizer_config.json cut short": (lambda d: (d / "tokenizer_config.json").write_text('{"model_max'),
                                        ["tokenizer_config.json", "truncated or corrupt"]),
    "special_tokens_map.json cut short": (lambda d: (d / "special_tokens_map.json").write_text('{"cls'),
                                          ["special_tokens_map.json is not valid JSON"]),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
@pytest.mark.parametrize("command", ["embed", "model-prepare"])
def test_checkpoint_problems_are_named(tiny_checkpoints, tmp_path, capsys, case, command):
    edit, fragments = CHECKPOINTS[case]
    model = _copy(tiny_checkpoints["wordpiece"], tmp_path / "model", edit)
    words = tmp_path / "w.txt"
    words.write_text("the house\n")
    before = tree_hashes(model, words)
    args = {"embed": ["embed", "--model", str(model), "--input", str(words), "--out", str(tmp_path / "v.npy")],
            "model-prepare": ["model", "prepare", str(model)]}[command]
    line = fail_one_line(capsys, args, fragments[0])
    for fragment in fragments[1:]:
        assert fragment in line, line
    for vague in ("above report", "from one of:", "ignore_mismatched_sizes"):
        assert vague not in line
    assert tree_hashes(model, words) == before and not (tmp_path / "v.npy").exists()


def _enospc(path: Path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_disk_full_names_the_file_being_written_not_a_temporary(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(OutputError) as info, atomic_dir(target) as tmp:
        raise _enospc(tmp / "summary.json")
    message = str(info.value)
    assert f"while writing {target / 'summary.json'};" in message and ".tmp" not in message
    with pytest.raises(OutputError) as info, atomic_dir(target) as tmp:
        raise _enospc(Path("/elsewhere/scratch.bin"))  # not inside the output: the output is named
    assert f"while writing {target};" in str(info.value)
    with pytest.raises(OutputError, match=r"while writing .*file\.txt;"), disk_full_names(tmp_path / "file.txt"):
        raise OSError(errno.ENOSPC, "No space left on device")  # no file name at all


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_a_file_where_a_folder_is_expected(tiny_checkpoints, tmp_path, capsys, depth):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    out = blocker.joinpath(*["sub"] * depth, "v.npy") if depth else blocker / "v.npy"
    words = tmp_path / "w.txt"
    words.write_text("the house\n")
    fail_one_line(capsys, ["embed", "--model", str(tiny_checkpoints["wordpiece"]), "--input", str(words),
                           "--out", str(out)], f"{blocker} is a file where a folder is expected")
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("how", ["closed", "a full device", "a pipe nobody reads"])
def test_an_error_with_stderr_unwritable_still_exits_2(tmp_path, how):
    import os

    missing = tmp_path / "missing.yaml"
    command = [sys.executable, "-m", "xladjust.cli", "validate", str(missing)]
    if how == "closed":
        done = subprocess.run(["/bin/sh", "-c", '"$@" 2>&-', "sh", *command], stdout=subprocess.PIPE, check=False)
    elif how == "a full device":
        with open("/dev/full", "w") as full:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=full, check=False)
    else:
        read_end, write_end = os.pipe()
        os.close(read_end)  # every write to stderr fails with EPIPE
        try:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=write_end, check=False)
        finally:
            os.close(write_end)
    assert done.returncode == 2
