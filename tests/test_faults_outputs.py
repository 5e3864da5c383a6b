"""Fault injection, output side: every stage's CLI with an output that overlaps an
input, an output folder of someone else, a second run holding the lock, an overwrite that
fails late, SIGTERM and SIGINT at several points, a damaged or changed resume checkpoint,
and a full disk.

Every case asserts the exit status, a single error line, that every input is intact
(hashes before and after) and that nothing incomplete looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_adjust import write_sample_corpus
from helpers_align import install_fake_tools, write_lines
from helpers_cli import assert_nothing_complete, fail_one_line, run_cli, tree_hashes
from helpers_tasks import write_nli

from xladjust.outputs import MARKER_FILE, lock_path

EN = ["the house is big .", "the dog drinks water .", "a small blue house ."]
ES = ["la casa es grande .", "el perro bebe agua .", "una casa azul pequeña ."]
FAST_ALIGN = ["--aligner", "fast_align", "--symmetrize-with", "builtin", "--workers", "1"]


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    return install_fake_tools(tmp_path, monkeypatch)


@pytest.fixture
def world(tmp_path, tiny_checkpoints):
    """Inputs of every stage, small: text, an aligned corpus, a model copy, NLI files."""
    w = {"tmp": tmp_path}
    w["src"], w["tgt"] = write_lines(tmp_path / "text" / "a.en", EN), write_lines(tmp_path / "text" / "a.es", ES)
    w["aligned"] = write_sample_corpus(tmp_path / "aligned")
    w["model"] = Path(shutil.copytree(tiny_checkpoints["wordpiece"], tmp_path / "model"))
    (tmp_path / "nli").mkdir()
    w["nli"] = write_nli(tmp_path / "nli" / "train.tsv", 6)
    w["tokens"] = write_lines(tmp_path / "tokens.txt", ["the house is big", "la casa"])
    w["run_a"] = _fake_run(tmp_path / "runs" / "a", "flatness")
    w["task_model"] = Path(shutil.copytree(tiny_checkpoints["wordpiece"], tmp_path / "task-model"))
    return w


def _fake_run(path: Path, kind: str) -> Path:
    path.mkdir(parents=True)
    (path / "summary.json").write_text(json.dumps({"kind": kind}), encoding="utf-8")
    (path / "table.md").write_text("| a |\n", encoding="utf-8")
    (path / ".complete").write_text("", encoding="utf-8")
    return path


def args_for(stage: str, w: dict, out: Path) -> list[str]:
    """A small command line of ``stage`` writing to ``out``."""
    if stage == "align":
        return ["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(w["src"]), "--tgt", str(w["tgt"]),
                "--out", str(out), *FAST_ALIGN]
    if stage == "adjust":
        return ["adjust", "--model", str(w["model"]), "--aligned", str(w["aligned"]), "--out", str(out),
                "--max-steps", "1", "--batch-size", "2", "--device", "cpu", "--overwrite"]
    if stage == "probe":
        return ["probe", "--model", f"tiny={w['model']}", "--bitext", str(w["aligned"]), "--out", str(out),
                "--resamples", "10", "--precision", "fp32", "--device", "cpu"]
    if stage == "embed":
        return ["embed", "--model", str(w["model"]), "--input", str(w["tokens"]), "--out", str(out)]
    if stage == "finetune":
        return ["finetune", "--model", str(w["model"]), "--task", "nli", "--train", str(w["nli"]), "--out", str(out),
                "--max-steps", "1", "--batch-size", "2", "--precision", "fp32", "--threads", "1"]
    if stage == "evaluate":
        return ["evaluate", "--model", str(w["task_model"]), "--test", f"en={w['nli']}", "--out", str(out),
                "--precision", "fp32"]
    if stage == "transfer":
        return ["transfer", "--task", "nli", "--models", f"base={w['model']}", "--seeds", "1", "--train",
                str(w["nli"]), "--test", f"en={w['nli']}", "--out", str(out), "--max-steps", "1", "--precision", "fp32",
                "--resamples", "100"]
    if stage == "interpolate":
        return ["interpolate", "--from", str(w["task_model"]), "--to", str(w["task_model"]), "--alphas", "0,1",
                "--eval", f"en={w['nli']}", "--out", str(out)]
    if stage == "flatness":
        return ["flatness", "--model", str(w["task_model"]), "--directions", "1", "--radii", "0,0.1",
                "--eval", f"en={w['nli']}", "--out", str(out)]
    if stage == "compare":
        return ["compare", str(w["run_a"]), "--out", str(out)]
    if stage == "run":
        config = w["tmp"] / "pipeline.yaml"
        config.write_text(
            f"kind: pipeline\nout: {out}\nmodel: {w['model']}\nprobe: null\nalign:\n  aligner: {{name: fast_align, "
            f"symmetrize_with: builtin}}\n  workers: 1\npairs:\n  - tgt_lang: es\n    train: {{src: {w['src']}, "
            f"tgt: {w['tgt']}}}\n", encoding="utf-8")
        return ["run", str(config)]
    raise AssertionError(stage)


STAGES = ["align", "adjust", "probe", "embed", "finetune", "evaluate", "transfer", "interpolate", "flatness", "compare",
          "run"]
ALL_INPUTS = ("text", "aligned", "model", "nli", "tokens", "runs", "task-model")


def inputs_of(w: dict) -> dict[str, str]:
    return tree_hashes(*(w["tmp"] / name for name in ALL_INPUTS))


# ------------------------------------------------------------------ output overlaps an input

OVERLAPS = [  # (stage, how --out is chosen, fragment)
    ("align", lambda w: w["src"].parent, "contains the input"),
    ("align", lambda w: w["src"], "is the input"),
    ("adjust", lambda w: w["model"], "is the input"),
    ("adjust", lambda w: w["aligned"], "would replace the aligned corpus"),  # adjust's own config check
    ("adjust", lambda w: w["aligned"] / "run", "lies inside the input"),
    ("probe", lambda w: w["aligned"], "is the input"),
    ("probe", lambda w: w["model"], "is the input"),
    ("embed", lambda w: w["tokens"], "is the input"),
    ("finetune", lambda w: w["model"], "is the input"),
    ("finetune", lambda w: w["nli"].parent, "contains the input"),
    ("evaluate", lambda w: w["task_model"], "is the input"),
    ("transfer", lambda w: w["model"], "is the input"),
    ("interpolate", lambda w: w["task_model"], "is the input"),
    ("flatness", lambda w: w["task_model"], "is the input"),
    ("compare", lambda w: w["run_a"], "is the input"),
    ("compare", lambda w: w["run_a"].parent, "contains the input"),
    ("run", lambda w: w["src"].parent, "contains the input"),
]


@pytest.mark.parametrize(("stage", "choose", "fragment"), OVERLAPS,
                         ids=[f"{s}-{f.split()[0]}-{i}" for i, (s, _, f) in enumerate(OVERLAPS)])
def test_output_overlapping_an_input(stage, choose, fragment, world, capsys, fake_tools):
    out = choose(world)
    if stage == "embed":  # embed's --out must end in .npy: the input is named so
        out = world["tokens"].rename(world["tokens"].with_suffix(".npy"))
        world["tokens"] = out
    before = inputs_of(world)
    line = fail_one_line(capsys, args_for(stage, world, out), fragment)
    assert "would destroy it" in line or "would replace" in line
    assert inputs_of(world) == before
    assert not any(p.name.endswith(MARKER_FILE) for p in world["tmp"].rglob("*")), "nothing was written"
    assert not lock_path(out).exists()


# -------------------------------------------------------- an output folder of someone else


@pytest.mark.parametrize("stage", STAGES)
def test_foreign_output_folder_is_never_replaced(stage, world, capsys, fake_tools):
    out = world["tmp"] / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    if stage == "embed":
        out = out / "vectors.npy"
        out.mkdir()
        fragment = "is a directory"
    else:
        fragment = f"is not a{'n' if stage[0] in 'aeiou' else ''} {stage} run"
    before = {**inputs_of(world), **tree_hashes(world["tmp"] / "mine")}
    fail_one_line(capsys, args_for(stage, world, out), fragment)
    assert {**inputs_of(world), **tree_hashes(world["tmp"] / "mine")} == before
    assert_nothing_complete(world["tmp"] / "mine")


@pytest.mark.parametrize(("stage", "other"), [("probe", "align"), ("interpolate", "flatness"),
                                             ("compare", "flatness"), ("adjust", "probe")])
def test_output_of_another_command_is_not_replaced(stage, other, world, capsys, fake_tools):
    out = world["tmp"] / "earlier"
    if other == "flatness":
        _fake_run(out, "flatness")
    else:
        out.mkdir()
        (out / MARKER_FILE).write_text(json.dumps({"command": other}), encoding="utf-8")
        (out / "result.txt").write_text("earlier result", encoding="utf-8")
    before = tree_hashes(out)
    fail_one_line(capsys, args_for(stage, world, out), f"not a{'n' if stage[0] in 'aeiou' else ''} {stage} run")
    assert tree_hashes(out) == before


# ------------------------------------------------------------- a second run holds the lock


@pytest.mark.parametrize("stage", STAGES)
def test_second_run_exits_naming_the_lock_holder(stage, world, capsys, fake_tools):
    from xladjust.outputs import _lock

    out = world["tmp"] / ("out.npy" if stage == "embed" else "out")
    before = inputs_of(world)
    _, fd = _lock(out, "adjust", "--out")  # another run holds it (flock: a second open file conflicts)
    try:
        line = fail_one_line(capsys, args_for(stage, world, out), "is in use by another run")
    finally:
        os.close(fd)
    assert f"xladjust adjust, pid {os.getpid()}" in line
    assert inputs_of(world) == before
    assert not out.exists()


def _adjust_process(w: dict, out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "xladjust.cli", "-q", "adjust", "--model", str(w["model"]), "--aligned",
               str(w["aligned"]), "--out", str(out), "--max-steps", "3", "--batch-size", "2", "--device", "cpu",
               "--precision", "fp32", *extra]
    return subprocess.Popen(command, env=_child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_signals)


def _child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def _default_signals() -> None:
    """In the child before exec: SIGINT and SIGTERM handled by default, as from a terminal.
    A test session started in the background (``cmd &`` without job control) inherits an
    ignored SIGINT, and Python keeps an ignored SIGINT ignored: the signal tests would
    then test nothing."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.slow
def test_two_adjust_runs_half_a_second_apart(world):
    out = world["tmp"] / "run"
    before = inputs_of(world)
    first = _adjust_process(world, out)
    time.sleep(0.5)
    second = _adjust_process(world, out)
    errors = [p.communicate(timeout=300)[1] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 2], errors
    loser = errors[[first.returncode, second.returncode].index(2)].splitlines()
    assert len(loser) == 1 and "is in use by another run (xladjust adjust, pid" in loser[0], loser
    assert (out / ".complete").exists()
    manifest = json.loads((out / "xladjust.json").read_text(encoding="utf-8"))
    assert manifest["metrics"]["steps"] == 3
    assert inputs_of(world) == before
    assert not lock_path(out).exists()


# -------------------------------------------------------------- an overwrite that fails late


@pytest.fixture(scope="module")
def finished_adjust(tmp_path_factory, tiny_checkpoints):
    """A complete adjust run (template; copy it before use)."""
    root = tmp_path_factory.mktemp("finished")
    aligned = write_sample_corpus(root / "aligned")
    out = root / "run"
    from xladjust.cli import main

    with pytest.raises(SystemExit) as done:
        main(["-q", "adjust", "--model", str(tiny_checkpoints["wordpiece"]), "--aligned", str(aligned),
              "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--device", "cpu", "--precision", "fp32"])
        raise SystemExit(0)
    assert (done.value.code or 0) == 0
    return out


@pytest.mark.parametrize(("extra", "fragment"), [(["--layer", "9"], "out of range"),
                                                 (["--objective", "contrastive", "--option", "nope=1"], "nope")])
def test_adjust_overwrite_failing_late_keeps_the_old_run(extra, fragment, world, finished_adjust, capsys):
    out = Path(shutil.copytree(finished_adjust, world["tmp"] / "run"))
    before, inputs = tree_hashes(out), inputs_of(world)
    args = args_for("adjust", world, out)
    fail_one_line(capsys, [*args, *extra], fragment)
    assert tree_hashes(out) == before
    assert inputs_of(world) == inputs
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".run")] == []


def test_adjust_overwrite_replaces_only_at_the_end(world, finished_adjust, capsys):
    out = Path(shutil.copytree(finished_adjust, world["tmp"] / "run"))
    old = (out / "model.safetensors").read_bytes()
    code, _, err = run_cli(["-q", *args_for("adjust", world, out), "--seed", "5"], capsys)
    assert code == 0, err
    assert (out / ".complete").exists() and (out / "model.safetensors").read_bytes() != old
    assert json.loads((out / MARKER_FILE).read_text(encoding="utf-8"))["command"] == "adjust"
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".run")] == []


# ---------------------------------------------------------------------- SIGTERM and SIGINT


def _align_process(w: dict, out: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "xladjust.cli", "-q", *args_for("align", w, out), *extra]
    return subprocess.Popen(command, env={**_child_env(), **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_signals)


def _wait_for(predicate, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("point", ["scratch", "aligner", "previous-output"])
def test_align_interrupted(point, signum, world, fake_tools):
    out = world["tmp"] / "aligned-out"
    old = None
    if point == "previous-output":
        old = tree_hashes(write_sample_corpus(out))
    proc = _align_process(world, out, {"FAKE_FAST_ALIGN_SLEEP": "60"}, *(["--overwrite"] if old else []))
    before = inputs_of(world)

    def scratch(name: str = "") -> bool:  # the scratch folder exists (and holds ``name``)
        found = [p for p in world["tmp"].iterdir() if p.name.startswith(".aligned-out.work.")]
        return bool(found) and (not name or (found[0] / name).exists())

    try:  # "aligner": fast_align (sleeping) writes its output file in the scratch folder
        _wait_for(lambda: scratch("reverse.stderr" if point != "scratch" else ""), proc)
        proc.send_signal(signum)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"xladjust: interrupted ({signal.Signals(signum).name})"), err
    leftovers = [p.name for p in world["tmp"].iterdir() if p.name.startswith(".aligned-out")]
    assert leftovers == [], leftovers
    assert inputs_of(world) == before
    if old is None:
        assert not out.exists()
    else:
        assert tree_hashes(out) == old


STEPS = 16


def _adjust_resumable(model: Path, aligned: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "xladjust.cli", "-q", "adjust", "--model", str(model), "--aligned",
            str(aligned), "--out", str(out), "--max-steps", str(STEPS), "--batch-size", "2",
            "--checkpoint-every", "1", "--precision", "fp32", "--seed", "3", "--device", "cpu", *extra]


def _last_step(out: Path) -> int:
    found = sorted((out / "checkpoints").glob("step-*")) if (out / "checkpoints").is_dir() else []
    return int(found[-1].name.removeprefix("step-")) if found else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_checkpoints):
    """(model, aligned corpus, the uninterrupted run's weights)."""
    from safetensors.torch import load_file

    root = tmp_path_factory.mktemp("uninterrupted")
    model = Path(shutil.copytree(tiny_checkpoints["wordpiece"], root / "model"))
    aligned = write_sample_corpus(root / "aligned", repeat=8)
    done = subprocess.run(_adjust_resumable(model, aligned, root / "reference"), env=_child_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return model, aligned, load_file(root / "reference" / "model.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "after"), [(signal.SIGTERM, 2), (signal.SIGINT, 3), (signal.SIGTERM, 0)],
                         ids=["SIGTERM-step2", "SIGINT-step3", "SIGTERM-setup"])
def test_adjust_interrupted_then_resumed_matches(signum, after, uninterrupted, tmp_path):
    from safetensors.torch import load_file

    model, aligned, expected = uninterrupted
    out = tmp_path / "interrupted"
    before = tree_hashes(model, aligned)
    proc = subprocess.Popen(_adjust_resumable(model, aligned, out), env=_child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals)
    try:
        if after:
            _wait_for(lambda: _last_step(out) >= after, proc)
        else:
            _wait_for(lambda: (out / MARKER_FILE).exists(), proc)
        proc.send_signal(signum)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    assert len(err.splitlines()) == 1 and "interrupted" in err, err
    assert not (out / ".complete").exists() and not (out / "model.safetensors").exists()
    assert not any(p.name.endswith(".tmp") for p in out.rglob("*"))
    resume = subprocess.run(_adjust_resumable(model, aligned, out, "--resume"), env=_child_env(),
                            capture_output=True, text=True, timeout=300)
    assert resume.returncode == 0, resume.stderr
    resumed = load_file(out / "model.safetensors")
    assert resumed.keys() == expected.keys()
    for name, tensor in expected.items():
        assert (resumed[name].float() - tensor.float()).abs().max().item() <= 1e-6, name
    assert tree_hashes(model, aligned) == before


# ------------------------------------------------------------- damaged or changed resume state


@pytest.fixture(scope="module")
def interrupted_adjust(tmp_path_factory, tiny_checkpoints):
    """An adjust run stopped after its checkpoint at step 1 (template; copy before use),
    with its inputs: (run, aligned, model)."""
    root = tmp_path_factory.mktemp("interrupted")
    aligned = write_sample_corpus(root / "aligned")
    model = Path(shutil.copytree(tiny_checkpoints["wordpiece"], root / "model"))
    out = root / "run"
    config = root / "adjust.yaml"
    config.write_text("kind: adjust\nkeep_checkpoints_at_end: true\nlog_every: 1\n", encoding="utf-8")
    from xladjust.cli import main

    with pytest.raises(SystemExit) as done:
        main(["-q", "adjust", "--config", str(config), "--model", str(model), "--aligned", str(aligned),
              "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--checkpoint-every", "1", "--device", "cpu",
              "--precision", "fp32"])
        raise SystemExit(0)
    assert (done.value.code or 0) == 0
    for name in (".complete", "model.safetensors", "xladjust.json"):
        (out / name).unlink()
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    (out / "metrics.jsonl").write_text(lines[0] + "\n", encoding="utf-8")  # the log as at step 1
    return root


def _rehash(ckpt: Path) -> None:
    from xladjust.io import sha256_file

    hashes = json.loads((ckpt / "files.json").read_text(encoding="utf-8"))
    (ckpt / "files.json").write_text(json.dumps({name: sha256_file(ckpt / name) for name in hashes}), encoding="utf-8")


def _damage(kind: str, run: Path, aligned: Path, model: Path) -> str:
    ckpt = run / "checkpoints" / "step-00000001"
    if kind == "missing-tensor":
        from safetensors.torch import load_file, save_file

        tensors = load_file(ckpt / "trainable.safetensors")
        tensors.pop(sorted(tensors)[0])
        save_file(tensors, str(ckpt / "trainable.safetensors"))
        _rehash(ckpt)  # a checkpoint whole on disk (files.json agrees) that lacks a tensor this run trains
        return "lacks tensor"
    if kind == "bit-flip":
        weights = ckpt / "trainable.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0x01
        weights.write_bytes(bytes(data))
        return "does not match its recorded SHA-256"
    if kind == "cut-metrics":
        text = (run / "metrics.jsonl").read_text(encoding="utf-8")
        (run / "metrics.jsonl").write_text(text[: len(text) // 2], encoding="utf-8")
        return "metrics.jsonl:1: the line is cut short"
    if kind == "trainer-key":
        trainer = json.loads((ckpt / "trainer.json").read_text(encoding="utf-8"))
        del trainer["schedulers"]
        (ckpt / "trainer.json").write_text(json.dumps(trainer), encoding="utf-8")
        return "trainer.json has no 'schedulers'"
    if kind == "trainer-not-json":
        (ckpt / "trainer.json").write_text('{"step": 1, ', encoding="utf-8")
        return "trainer.json is missing or not valid JSON"
    if kind == "optimizer-garbage":
        (ckpt / "optimizer-0.pt").write_bytes(b"\x80\x04 not a torch file" * 4)
        return "optimizer-0.pt does not match its recorded SHA-256"
    if kind == "optimizer-garbage-rehashed":  # whole on disk by files.json, still not a torch file
        (ckpt / "optimizer-0.pt").write_bytes(b"\x80\x04 not a torch file" * 4)
        _rehash(ckpt)
        return "is damaged or unreadable"
    if kind == "no-files-json":  # written before checkpoints recorded their files' hashes
        (ckpt / "files.json").unlink()
        return "files.json is missing or empty"
    if kind == "optimizer-missing":
        (ckpt / "optimizer-0.pt").unlink()
        return "optimizer-0.pt is missing or empty"
    if kind == "rng-empty":
        (ckpt / "rng.safetensors").write_bytes(b"")
        return "rng.safetensors is missing or empty"
    if kind == "corpus-changed":
        pairs = aligned / "pairs.jsonl"
        pairs.write_text(pairs.read_text(encoding="utf-8").replace('"house"', '"home"', 1), encoding="utf-8")
        return f"the contents of aligned corpus {aligned} changed since the interrupted run"
    if kind == "weights-changed":
        from safetensors.torch import load_file, save_file

        tensors = load_file(model / "model.safetensors")
        name = sorted(tensors)[-1]
        tensors[name] = tensors[name] + 0.5
        save_file(tensors, str(model / "model.safetensors"), metadata={"format": "pt"})
        return "model weights changed since the interrupted run"
    if kind == "no-recorded-inputs":
        record = json.loads((run / "run.json").read_text(encoding="utf-8"))
        record.pop("inputs")
        (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
        return "recorded no input hashes"
    raise AssertionError(kind)


DAMAGE = ["missing-tensor", "bit-flip", "cut-metrics", "trainer-key", "trainer-not-json", "optimizer-garbage",
          "optimizer-garbage-rehashed", "no-files-json",
          "optimizer-missing", "rng-empty", "corpus-changed", "weights-changed", "no-recorded-inputs"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_resume_refuses_damaged_or_changed_state(kind, interrupted_adjust, tmp_path, capsys):
    root = Path(shutil.copytree(interrupted_adjust, tmp_path / "copy"))
    run, aligned, model = root / "run", root / "aligned", root / "model"
    fragment = _damage(kind, run, aligned, model)
    before = tree_hashes(run, aligned, model)
    fail_one_line(capsys, ["adjust", "--model", str(model), "--aligned", str(aligned), "--out", str(run),
                           "--max-steps", "2", "--batch-size", "2", "--checkpoint-every", "1", "--device", "cpu",
                           "--precision", "fp32", "--resume"], fragment)
    assert tree_hashes(run, aligned, model) == before
    assert not (run / ".complete").exists()  # (its checkpoint is complete: it is kept for a later resume)


def test_resume_of_the_undamaged_run_succeeds(interrupted_adjust, tmp_path, capsys):
    root = Path(shutil.copytree(interrupted_adjust, tmp_path / "copy"))
    run = root / "run"
    code, _, err = run_cli(["-q", "adjust", "--model", str(root / "model"), "--aligned", str(root / "aligned"),
                            "--out", str(run), "--max-steps", "2", "--batch-size", "2", "--checkpoint-every", "1",
                            "--device", "cpu", "--precision", "fp32", "--resume"], capsys)
    assert code == 0, err
    assert (run / ".complete").exists()
    assert json.loads((run / "xladjust.json").read_text(encoding="utf-8"))["training"]["resumed_from_step"] == 1


# ------------------------------------------------------------------------------ a full disk


def no_space(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_disk_full_during_an_adjust_checkpoint(world, capsys, monkeypatch):
    import safetensors.torch

    out = world["tmp"] / "run"
    before = inputs_of(world)
    monkeypatch.setattr(safetensors.torch, "save_file", no_space)
    line = fail_one_line(capsys, [*args_for("adjust", world, out)[:-1], "--max-steps", "3", "--checkpoint-every", "1"],
                         "the disk is full")
    assert f"{out / 'checkpoints' / 'step-00000001'}" in line
    assert inputs_of(world) == before
    assert_nothing_complete(out)
    assert not list((out / "checkpoints").glob(".*")) if (out / "checkpoints").exists() else True


def test_disk_full_while_embed_writes_the_index(world, capsys, monkeypatch):
    out = world["tmp"] / "vectors.npy"
    code, _, err = run_cli(["-q", *args_for("embed", world, out)], capsys)
    assert code == 0, err
    index = out.with_name(out.name + ".index.json")
    old = tree_hashes(out, index)
    world["tokens"].write_text("the dog\nel perro y el gato\n", encoding="utf-8")
    before = inputs_of(world)
    real_replace = os.replace

    def replace(src, dst, *a, **k):
        if str(src).endswith(".tmp") and str(dst).endswith(".index.json"):  # the new index, not a rollback
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    line = fail_one_line(capsys, args_for("embed", world, out), "the disk is full")
    assert str(index) in line
    assert tree_hashes(out, index) == old, "new vectors beside the old index"
    assert inputs_of(world) == before
    assert sorted(p.name for p in world["tmp"].iterdir() if "vectors" in p.name) == [out.name, index.name]


@pytest.mark.parametrize("stage", ["align", "probe", "finetune"])
def test_disk_full_keeps_the_previous_output(stage, world, capsys, monkeypatch, fake_tools):
    import xladjust.io

    out = world["tmp"] / "out"
    code, _, err = run_cli(["-q", *args_for(stage, world, out)], capsys)
    assert code == 0, err
    old, before = tree_hashes(out), inputs_of(world)
    monkeypatch.setattr(xladjust.io.os, "replace", no_space)
    fail_one_line(capsys, [*args_for(stage, world, out), "--overwrite"], "the disk is full")  # replaced only so
    assert tree_hashes(out) == old
    assert inputs_of(world) == before
    assert [p.name for p in world["tmp"].iterdir() if p.name.startswith(".out.") and p.name != ".out.lock"] == []


# ------------------------------------------------- xladjust run: a changed adjust stage


@pytest.fixture(scope="module")
def finished_pipeline(tmp_path_factory, tiny_checkpoints):
    """A complete pipeline run (align, adjust, probe) on the tiny model (template)."""
    import yaml

    root = tmp_path_factory.mktemp("pipeline")
    samples = Path(__file__).resolve().parents[1] / "data" / "samples" / "demo-en-es"
    cfg = {
        "kind": "pipeline", "out": str(root / "runs"), "model": str(tiny_checkpoints["wordpiece"]),
        "pairs": [{"tgt_lang": "es",
                   "train": {"src": str(samples / "train.en"), "tgt": str(samples / "train.es"), "max_pairs": 30},
                   "heldout": {"src": str(samples / "heldout.en"), "tgt": str(samples / "heldout.es"), "max_pairs": 8}}],
        "align": {"aligner": {"name": "eflomal", "symmetrize": "intersect"}, "workers": 1},
        "adjust": {"max_steps": 2, "batch_size": 8, "precision": "fp32"},
        "probe": {"layers": "last", "precision": "fp32", "resamples": 20},
    }
    from xladjust.pipeline import load_pipeline, run_pipeline

    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    run_pipeline(load_pipeline(path), progress=False, echo=lambda _: None)
    return root, cfg


def _pipeline_copy(finished_pipeline, tmp_path: Path, **adjust: object) -> tuple[Path, Path]:
    import yaml

    root, cfg = finished_pipeline
    runs = Path(shutil.copytree(root / "runs", tmp_path / "runs"))
    cfg = {**cfg, "out": str(runs), "adjust": {**cfg["adjust"], **adjust}}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return runs, path


def test_run_with_a_bad_new_adjust_layer_keeps_adjust_and_probe(finished_pipeline, tmp_path, capsys):
    runs, config = _pipeline_copy(finished_pipeline, tmp_path, layer=9)
    before = tree_hashes(runs / "adjust", runs / "probe")
    fail_one_line(capsys, ["run", str(config)], "layer 9 is out of range")
    assert tree_hashes(runs / "adjust", runs / "probe") == before, "the checkpoint the probe run points to is intact"
    assert [p.name for p in runs.iterdir() if p.name.startswith(".adjust")] == []


def test_run_with_a_new_adjust_layer_rebuilds_adjust_then_reruns_probe(finished_pipeline, tmp_path, capsys):
    runs, config = _pipeline_copy(finished_pipeline, tmp_path, layer=1)
    old_weights = (runs / "adjust" / "model.safetensors").read_bytes()
    old_probe = (runs / "probe" / "summary.json").read_bytes()
    code, out, err = run_cli(["run", str(config)], capsys)
    assert code == 0, err
    assert "done:" in out and "up to date" in out, out  # (the copy's paths differ, so align reruns too)
    assert (runs / "adjust" / ".complete").exists() and (runs / "probe" / ".complete").exists()
    assert (runs / "adjust" / "model.safetensors").read_bytes() != old_weights
    assert (runs / "probe" / "summary.json").read_bytes() != old_probe


# ------------------------------------------------------------------ the guard itself


def test_claim_releases_and_removes_the_lock(tmp_path):
    from xladjust.outputs import claim_output

    out = tmp_path / "out"
    with claim_output(out, command="align") as claim:
        info = json.loads(lock_path(out).read_text(encoding="utf-8"))
        assert info["pid"] == os.getpid() and info["command"] == "align"
        with pytest.raises(Exception, match="already being written by this process"):
            with claim_output(out, command="align"):
                pass
        claim.mark()
    assert not lock_path(out).exists()
    assert json.loads((out / MARKER_FILE).read_text(encoding="utf-8"))["command"] == "align"
    with claim_output(out, command="align"):  # an own output may be claimed again
        pass


def test_claim_removes_scratch_of_a_killed_run_only(tmp_path):
    from xladjust.outputs import claim_output

    out = tmp_path / "out"
    stale = [tmp_path / ".out.abcd1234.tmp", tmp_path / ".out.staging.tmp", tmp_path / ".out.old"]
    for path in stale:
        path.mkdir()
    others = [tmp_path / ".out.b.abcd1234.tmp", tmp_path / ".output.abcd1234.tmp", tmp_path / "out.txt"]
    for path in others:
        path.write_text("not ours", encoding="utf-8")
    with claim_output(out, command="align"):
        assert not any(p.exists() for p in stale)
    assert all(p.read_text(encoding="utf-8") == "not ours" for p in others)


def test_interrupt_inside_atomic_dir_keeps_the_old_output(tmp_path):
    from xladjust.cli import Interrupted
    from xladjust.io import atomic_dir
    from xladjust.outputs import claim_output

    out = write_sample_corpus(tmp_path / "out")
    before = tree_hashes(out)
    with pytest.raises(Interrupted):
        with claim_output(out, command="align", legacy=[("pairs.jsonl", "manifest.json")]), atomic_dir(out) as tmp:
            (tmp / "pairs.jsonl").write_text("half", encoding="utf-8")
            raise Interrupted(signal.SIGTERM)
    assert tree_hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
