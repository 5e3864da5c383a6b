"""One output rule for every command that writes a folder: a complete earlier run is
refused unless ``--overwrite`` (exit 2, the folder left byte-identical); an unfinished one
is continued with ``--resume`` where the command can (transfer), else refused with a line
saying so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_cli import fail_one_line, run_cli, tree_hashes
from helpers_tasks import write_nli

from xladjust.align.corpus import read_pairs, write_aligned_corpus
from xladjust.errors import OutputError
from xladjust.io import is_complete, mark_complete
from xladjust.outputs import MARKER_FILE, judge_existing

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "hand-aligned-en-es"


# ----------------------------------------------------------------------------- the rule


def _folder(path: Path, *, complete: bool, files: tuple[str, ...] = ("a.txt",)) -> Path:
    path.mkdir()
    (path / MARKER_FILE).write_text("{}")
    for name in files:
        (path / name).write_text("x")
    if complete:
        mark_complete(path)
    return path


def test_rule_on_an_absent_or_marker_only_folder_lets_the_run_start(tmp_path):
    assert judge_existing(tmp_path / "none", overwrite=False, resume=None) is False
    assert judge_existing(_folder(tmp_path / "m", complete=False, files=()), overwrite=False, resume=False) is False


@pytest.mark.parametrize("complete, resume, fragment", [
    (True, None, "already holds a complete run; pass --overwrite"),
    (True, False, "already holds a complete run; pass --overwrite"),
    (False, False, "an unfinished run (continue it with --resume)"),
    (False, None, "an unfinished run, which this command cannot resume; pass --overwrite"),
    (True, True, "holds a complete run; nothing to resume"),
])
def test_rule_refuses_with_a_line_saying_which_flag(tmp_path, complete, resume, fragment):
    out = _folder(tmp_path / "run", complete=complete)
    with pytest.raises(OutputError, match="^" + str(out).replace("(", r"\(")) as exc:
        judge_existing(out, overwrite=False, resume=resume)
    assert fragment in str(exc.value)


def test_rule_lets_overwrite_replace_and_resume_continue(tmp_path):
    done = _folder(tmp_path / "done", complete=True)
    unfinished = _folder(tmp_path / "unfinished", complete=False)
    assert judge_existing(done, overwrite=True, resume=False) is True
    assert judge_existing(unfinished, overwrite=True, resume=None) is True
    assert judge_existing(unfinished, overwrite=False, resume=True) is True
    with pytest.raises(OutputError, match="--resume and --overwrite conflict"):
        judge_existing(unfinished, overwrite=True, resume=True)


# ----------------------------------------------------------------------------- probe, compare


@pytest.fixture(scope="module")
def bitext(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rule-inputs")
    write_aligned_corpus(root / "bitext", read_pairs(SAMPLE), {"languages": {"src": "en", "tgt": "es"}})
    return root / "bitext"


def _probe_args(tiny_checkpoints, bitext: Path, out: Path, *extra: str) -> list[str]:
    return ["-q", "probe", "--model", f"tiny={tiny_checkpoints['wordpiece']}", "--bitext", str(bitext),
            "--probe", "distances", "--precision", "fp32", "--resamples", "100", "--out", str(out), *extra]


def test_probe_and_compare_refuse_a_complete_output_without_overwrite(tiny_checkpoints, bitext, tmp_path, capsys):
    probe = tmp_path / "probe"
    code, _, err = run_cli(_probe_args(tiny_checkpoints, bitext, probe), capsys)
    assert code == 0, err
    before = tree_hashes(probe)
    fail_one_line(capsys, _probe_args(tiny_checkpoints, bitext, probe)[1:],
                  "already holds a complete run; pass --overwrite to replace it")
    assert tree_hashes(probe) == before  # byte-identical, marker and .complete included
    report = tmp_path / "report"
    code, _, err = run_cli(["-q", "compare", str(probe), "--out", str(report)], capsys)
    assert code == 0, err
    first = tree_hashes(report)
    fail_one_line(capsys, ["compare", str(probe), "--out", str(report)], "already holds a complete run")
    assert tree_hashes(report) == first
    code, _, err = run_cli(["-q", "compare", str(probe), "--out", str(report), "--overwrite"], capsys)
    assert code == 0, err
    assert is_complete(report)
    code, _, err = run_cli(_probe_args(tiny_checkpoints, bitext, probe, "--overwrite"), capsys)
    assert code == 0, err
    assert is_complete(probe) and json.loads((probe / MARKER_FILE).read_text())["command"] == "probe"


def test_probe_refuses_an_unfinished_output_saying_it_cannot_resume(tiny_checkpoints, bitext, tmp_path, capsys):
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / MARKER_FILE).write_text(json.dumps({"command": "probe"}))
    (probe / "summary.json").write_text("{}")
    before = tree_hashes(probe)
    fail_one_line(capsys, _probe_args(tiny_checkpoints, bitext, probe)[1:], "which this command cannot resume")
    assert tree_hashes(probe) == before


# ----------------------------------------------------------------------------- transfer --resume


@pytest.fixture(scope="module")
def nli(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("rule-nli")
    return {"train": write_nli(d / "train.tsv", 48, 0), "es": write_nli(d / "es.tsv", 20, 2)}


def _transfer_args(tiny_checkpoints, nli, out: Path, *extra: str) -> list[str]:
    return ["-q", "transfer", "--task", "nli", "--model", f"vanilla={tiny_checkpoints['unigram']}",
            f"other={tiny_checkpoints['wordpiece']}", "--seeds", "1,2", "--train", str(nli["train"]),
            "--test", f"es={nli['es']}", "--max-steps", "2", "--batch-size", "16", "--precision", "fp32",
            "--no-keep-checkpoints", "--resamples", "200", "--out", str(out), *extra]


def _table(out: Path) -> dict:
    table = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    table.pop("signature")  # names its own --out
    return table


def test_transfer_resume_continues_an_interrupted_run_to_the_same_result(tiny_checkpoints, nli, tmp_path, capsys,
                                                                         monkeypatch):
    import xladjust.tasks.transfer as transfer_module

    whole = tmp_path / "whole"
    code, _, err = run_cli(_transfer_args(tiny_checkpoints, nli, whole), capsys)
    assert code == 0, err

    real, done = transfer_module.finetune, []

    def stop_after_the_first(cfg, **kwargs):  # the interruption lands after the first (model, seed) run
        real(cfg, **kwargs)
        done.append(cfg.out)
        raise KeyboardInterrupt

    cut = tmp_path / "cut"
    monkeypatch.setattr(transfer_module, "finetune", stop_after_the_first)
    code, _, err = run_cli(_transfer_args(tiny_checkpoints, nli, cut), capsys)
    monkeypatch.setattr(transfer_module, "finetune", real)
    assert code == 130 and len(done) == 1 and is_complete(done[0]) and not is_complete(cut)
    before = tree_hashes(cut)
    fail_one_line(capsys, _transfer_args(tiny_checkpoints, nli, cut)[1:],
                  "an unfinished run (continue it with --resume)")
    assert tree_hashes(cut) == before
    code, _, err = run_cli(_transfer_args(tiny_checkpoints, nli, cut, "--resume"), capsys)
    assert code == 0, err
    assert _table(cut) == _table(whole)
    for seed_dir in ("vanilla/seed-1", "other/seed-2"):
        ran = json.loads((cut / "runs" / seed_dir / "metrics.json").read_text())["test"]
        assert ran == json.loads((whole / "runs" / seed_dir / "metrics.json").read_text())["test"]

    fail_one_line(capsys, _transfer_args(tiny_checkpoints, nli, cut, "--resume")[1:], "nothing to resume")
    fail_one_line(capsys, _transfer_args(tiny_checkpoints, nli, cut)[1:], "already holds a complete run")
    (cut / "runs" / "stale.txt").write_text("from the earlier run")
    code, _, err = run_cli(_transfer_args(tiny_checkpoints, nli, cut, "--overwrite"), capsys)
    assert code == 0, err
    assert not (cut / "runs" / "stale.txt").exists() and _table(cut) == _table(whole)


def test_finetune_follows_the_rule_too(tiny_checkpoints, nli, tmp_path, capsys):
    out = tmp_path / "ft"
    args = ["-q", "finetune", "--task", "nli", "--model", str(tiny_checkpoints["unigram"]), "--train", str(nli["train"]),
            "--test", f"es={nli['es']}", "--max-steps", "2", "--batch-size", "16", "--precision", "fp32", "--out", str(out)]
    code, _, err = run_cli(args, capsys)
    assert code == 0 and is_complete(out), err
    (out / "stray.txt").write_text("from the earlier run", encoding="utf-8")
    before = tree_hashes(out)
    fail_one_line(capsys, args[1:], "--overwrite")
    assert tree_hashes(out) == before
    code, _, err = run_cli([*args, "--overwrite", "--seed", "3"], capsys)
    assert code == 0 and is_complete(out), err
    assert not (out / "stray.txt").exists()  # replaced whole at the end, not mixed with the earlier run
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["seed"] == 3
