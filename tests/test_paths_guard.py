"""Names and paths that could escape, outputs that could land on inputs or in other runs,
symlinks, and unfinished runs read as results: each mechanism tried over its variants.

Every refusal asserts exit status 2, one ``xladjust: error:`` line, inputs and other runs
byte-identical (hashes before and after) and nothing newly marked complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import test_faults_outputs as faults
import yaml
from helpers_cli import assert_nothing_complete, fail_one_line, run_cli, tree_hashes
from helpers_faults import task_checkpoint

from xladjust.io import is_complete
from xladjust.names import MAX_NAME_LENGTH, check_name, name_problem
from xladjust.outputs import MARKER_FILE, _lock

# the stages, their small command lines and inputs, shared with the fault-injection tests
STAGES, args_for, inputs_of = faults.STAGES, faults.args_for, faults.inputs_of
world, fake_tools = faults.world, faults.fake_tools  # fixtures

BAD_NAMES = ["..", "../victim", "../../victim/pairs", "/abs/path", "a/b", "a\\b", ".hidden", "-dash", "a b",
             "x" * (MAX_NAME_LENGTH + 1)]


# ------------------------------------------------------------------ 1. one name validator


@pytest.mark.parametrize("name", [*BAD_NAMES, "", "   "])
def test_name_validator_refuses_names_that_leave_their_folder(name):
    problem = name_problem(name, "--test LANG")
    assert problem and "\n" not in problem and problem.startswith("--test LANG")
    with pytest.raises(Exception, match="--test LANG"):
        check_name(name, "--test LANG")


@pytest.mark.parametrize("name", ["en", "en-es", "zh_Hant", "adjusted.v2", "x" * MAX_NAME_LENGTH])
def test_name_validator_accepts_ordinary_names(name):
    assert name_problem(name, "name") is None and check_name(name, "name") == name


def test_name_validator_names_a_non_string():
    assert "got False" in name_problem(False, "tgt_lang")  # YAML reads `no` as false


def _victim(w: dict) -> Path:
    """A finished run beside the output that an escaping name would reach."""
    victim = w["tmp"] / "victim"
    victim.mkdir()
    (victim / "pairs.jsonl").write_text('{"src": ["a"], "tgt": ["b"], "links": [[0, 0]]}\n', encoding="utf-8")
    (victim / MARKER_FILE).write_text(json.dumps({"command": "align"}), encoding="utf-8")
    (victim / ".complete").write_text("", encoding="utf-8")
    return victim


def _name_cases(w: dict, name: str, out: Path) -> dict[str, list[str]]:
    nli, model, task_model = str(w["nli"]), str(w["model"]), str(w["task_model"])
    return {
        "evaluate --test": ["evaluate", "--model", task_model, "--test", f"{name}={nli}", "--out", str(out),
                            "--precision", "fp32"],
        "finetune --test": ["finetune", "--model", model, "--task", "nli", "--train", nli, "--test", f"{name}={nli}",
                            "--out", str(out), "--max-steps", "1", "--precision", "fp32"],
        "transfer --model": ["transfer", "--task", "nli", "--model", f"{name}={model}", "--seeds", "1", "--train", nli,
                             "--test", f"en={nli}", "--out", str(out), "--max-steps", "1", "--precision", "fp32"],
        "transfer --test": ["transfer", "--task", "nli", "--model", f"a={model}", "--seeds", "1", "--train", nli,
                            "--test", f"{name}={nli}", "--out", str(out), "--max-steps", "1", "--precision", "fp32"],
        "interpolate --test": ["interpolate", "--from", task_model, "--to", task_model, "--alphas", "0,1",
                               "--test", f"{name}={nli}", "--out", str(out)],
        "flatness --test": ["flatness", "--model", task_model, "--directions", "1", "--radii", "0,0.1",
                            "--test", f"{name}={nli}", "--out", str(out)],
        "probe --model": ["probe", "--model", f"{name}={model}", "--bitext", str(w["aligned"]), "--out", str(out),
                          "--precision", "fp32", "--device", "cpu"],
        "align --tgt-lang": ["align", "--src-lang", "en", "--tgt-lang", name, "--src", str(w["src"]),
                             "--tgt", str(w["tgt"]), "--out", str(out), "--aligner", "fast_align"],
    }


COMMANDS = list(_name_cases({"nli": "", "model": "", "task_model": "", "aligned": "", "src": "", "tgt": ""},
                            "x", Path()))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", ["../../victim/pairs", "/abs", "a/b", ".hidden", "x" * (MAX_NAME_LENGTH + 1)])
def test_every_command_refuses_a_name_that_would_become_a_bad_path(command, name, world, capsys):
    victim = _victim(world)
    out = world["tmp"] / "out"
    before = {**inputs_of(world), **tree_hashes(victim)}
    if command.startswith("align"):
        fragment = "language code"
    elif command.startswith("probe") and "/" in name:
        fragment = "model spec"  # probe reads NAME=SPEC with a '/' before '=' as a path: no name
    else:
        fragment = "characters long" if len(name) > MAX_NAME_LENGTH else "is not a usable name"
    fail_one_line(capsys, _name_cases(world, name, out)[command], fragment)
    assert {**inputs_of(world), **tree_hashes(victim)} == before
    assert not out.exists()
    assert_nothing_complete(out)


@pytest.mark.parametrize("where", ["pair", "variant", "landscape-eval"])
@pytest.mark.parametrize("name", ["../../victimalign", "a/b", "/abs", ".hidden", ""])
def test_pipeline_names_go_through_the_validator(where, name, tmp_path, capsys):
    data = tmp_path / "a.en"
    data.write_text("a\n", encoding="utf-8")
    cfg = {"kind": "pipeline", "out": str(tmp_path / "runs"), "probe": None,
           "pairs": [{"tgt_lang": "es", "train": {"src": str(data), "tgt": str(data)}}]}
    if where == "pair":
        cfg["pairs"][0]["name"] = name
    elif where == "variant":
        cfg["adjust_variants"] = {name: {"lr": 1e-5}}
    else:
        cfg["landscape"] = {"task": "nli", "source_train": str(data), "target_train": str(data), "dev": str(data),
                            "test": {name: str(data)}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    line = fail_one_line(capsys, ["validate", str(path)], "name")
    assert repr(name) in line or "empty" in line
    fail_one_line(capsys, ["run", str(path)], "name")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "victimalign").exists()


# ---------------------------------------------- 2. one output claim for files and folders


def _gold(tmp: Path) -> dict[str, Path]:
    files = {"gold_text": ("gold.txt", "the house ||| la casa\nthe dog ||| el perro\n"),
             "gold": ("gold.links", "1-1 2-2\n1-1 2-2\n"), "predicted": ("pred.links", "0-0 1-1\n0-0\n")}
    out = {}
    for key, (name, text) in files.items():
        out[key] = tmp / "gold" / name
        out[key].parent.mkdir(exist_ok=True)
        out[key].write_text(text, encoding="utf-8")
    return out


def _align_evaluate(g: dict[str, Path], json_out: Path) -> list[str]:
    return ["align", "evaluate", "--gold-text", str(g["gold_text"]), "--gold", str(g["gold"]),
            "--predicted", str(g["predicted"]), "--out", str(json_out)]


def _align_tune(g: dict[str, Path], json_out: Path) -> list[str]:
    return ["align", "tune", "--gold-set", "g", str(g["gold_text"]), str(g["gold"]), "--out", str(json_out)]


@pytest.mark.parametrize("command", [_align_evaluate, _align_tune])
@pytest.mark.parametrize("target", ["gold_text", "gold", "predicted", "inside-run", "symlink-to-gold"])
def test_report_files_go_through_the_output_claim(command, target, world, capsys):
    g = _gold(world["tmp"])
    if command is _align_tune and target == "predicted":
        pytest.skip("align tune reads no predictions")
    if target == "inside-run":
        json_out, fragment = world["run_a"] / "report.json", "lies inside the run folder"
    elif target == "symlink-to-gold":
        json_out, fragment = world["tmp"] / "link.json", "is the input"
        json_out.symlink_to(g["gold"])
    else:
        json_out, fragment = g[target], "is the input"
    before = {**tree_hashes(world["tmp"] / "gold"), **inputs_of(world)}
    fail_one_line(capsys, command(g, json_out), fragment)
    assert {**tree_hashes(world["tmp"] / "gold"), **inputs_of(world)} == before


def test_a_report_file_elsewhere_is_written(world, capsys):
    g = _gold(world["tmp"])
    json_out = world["tmp"] / "reports" / "aer.json"
    code, _, err = run_cli(["-q", *_align_evaluate(g, json_out)], capsys)
    assert code == 0, err
    assert "scores" in json.loads(json_out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("stage", STAGES)
def test_no_command_writes_inside_another_run(stage, world, capsys, fake_tools):
    """``embed --out adj/model.safetensors`` and its siblings: every command that writes,
    a file or a folder, refuses an output inside a finished run (and through a symlinked
    folder that leads there)."""
    finished = world["tmp"] / "adj"
    shutil.copytree(world["model"], finished)
    (finished / MARKER_FILE).write_text(json.dumps({"command": "adjust"}), encoding="utf-8")
    (finished / ".complete").write_text("", encoding="utf-8")
    (world["tmp"] / "via").symlink_to(finished)
    names = sorted(p.name for p in finished.iterdir())
    for parent in (finished, world["tmp"] / "via"):
        out = parent / ("model.npy" if stage == "embed" else "sub")
        before = {**inputs_of(world), **tree_hashes(finished)}
        fail_one_line(capsys, args_for(stage, world, out), "lies inside the run folder")
        assert {**inputs_of(world), **tree_hashes(finished)} == before
        assert sorted(p.name for p in finished.iterdir()) == names


# ---------------------------------------------------------------- 3. symlinks and locks


@pytest.mark.parametrize("stage", STAGES)
def test_a_symlink_to_a_live_run_is_locked_like_the_run(stage, world, capsys, fake_tools):
    live = world["tmp"] / ("live.npy" if stage == "embed" else "live")
    link = world["tmp"] / ("link.npy" if stage == "embed" else "link")
    if stage != "embed":
        live.mkdir()
    link.symlink_to(live)
    before = inputs_of(world)
    _, fd = _lock(live, "adjust", "--out")  # a live run holds the real folder
    try:
        line = fail_one_line(capsys, args_for(stage, world, link), "is in use by another run")
    finally:
        os.close(fd)
    assert f"pid {os.getpid()}" in line
    assert inputs_of(world) == before
    assert link.is_symlink() and not (world["tmp"] / ".link.old").exists()


@pytest.mark.parametrize("stage", ["align", "adjust", "embed"])
def test_overwriting_through_a_symlink_replaces_the_target_and_leaves_nothing_stray(stage, world, capsys,
                                                                                     fake_tools):
    runs = world["tmp"] / "outs"
    runs.mkdir()
    real = runs / ("real.npy" if stage == "embed" else "real")
    link = runs / ("link.npy" if stage == "embed" else "link")
    code, _, err = run_cli(["-q", *args_for(stage, world, real)], capsys)
    assert code == 0, err
    link.symlink_to(real.name)
    before = inputs_of(world)
    names = sorted(p.name for p in runs.iterdir())
    code, _, err = run_cli(["-q", *args_for(stage, world, link), *(["--overwrite"] if stage == "align" else [])], capsys)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == real.name
    assert sorted(p.name for p in runs.iterdir()) == names  # no .link.old, no scratch, no lock file
    assert stage == "embed" or is_complete(real)
    assert inputs_of(world) == before


def test_a_symlink_to_an_input_is_the_input(world, capsys, fake_tools):
    link = world["tmp"] / "link"
    link.symlink_to(world["model"])
    before = inputs_of(world)
    fail_one_line(capsys, args_for("adjust", world, link), "is the input")
    assert inputs_of(world) == before and link.is_symlink()


# ----------------------------------------------- 8. unfinished runs are never read as results


def _unfinished(path: Path, command: str) -> Path:
    (path / MARKER_FILE).write_text(json.dumps({"command": command}), encoding="utf-8")
    return path


READERS = {  # command -> its arguments with a model spec MODEL (encoder) or TASK (fine-tuned)
    "embed": lambda w, m, t: ["embed", "--model", m, "--input", str(w["tokens"]), "--out", str(w["tmp"] / "v.npy")],
    "adjust": lambda w, m, t: ["adjust", "--model", m, "--aligned", str(w["aligned"]), "--out", str(w["tmp"] / "o"),
                               "--max-steps", "1", "--device", "cpu"],
    "probe": lambda w, m, t: ["probe", "--model", f"a={m}", "--bitext", str(w["aligned"]), "--out",
                              str(w["tmp"] / "o"), "--precision", "fp32", "--device", "cpu"],
    "finetune": lambda w, m, t: ["finetune", "--model", m, "--task", "nli", "--train", str(w["nli"]), "--out",
                                 str(w["tmp"] / "o"), "--max-steps", "1", "--precision", "fp32"],
    "transfer": lambda w, m, t: ["transfer", "--task", "nli", "--model", f"a={m}", "--seeds", "1", "--train",
                                 str(w["nli"]), "--test", f"en={w['nli']}", "--out", str(w["tmp"] / "o"),
                                 "--max-steps", "1", "--precision", "fp32", "--resamples", "100"],
    "evaluate": lambda w, m, t: ["evaluate", "--model", t, "--test", f"en={w['nli']}", "--precision", "fp32"],
    "interpolate-from": lambda w, m, t: ["interpolate", "--from", t, "--to", str(w["finished_task"]), "--alphas",
                                         "0,1", "--test", f"en={w['nli']}", "--out", str(w["tmp"] / "o")],
    "interpolate-to": lambda w, m, t: ["interpolate", "--from", str(w["finished_task"]), "--to", t, "--alphas",
                                       "0,1", "--test", f"en={w['nli']}", "--out", str(w["tmp"] / "o")],
    "flatness": lambda w, m, t: ["flatness", "--model", t, "--directions", "1", "--radii", "0,0.1", "--test",
                                 f"en={w['nli']}", "--out", str(w["tmp"] / "o")],
}


@pytest.mark.parametrize("reader", list(READERS))
def test_an_unfinished_run_is_not_read_as_a_model(reader, world, tiny_checkpoints, capsys):
    w = world
    encoder = _unfinished(Path(shutil.copytree(w["model"], w["tmp"] / "adjust-run")), "adjust")
    task = _unfinished(task_checkpoint(tiny_checkpoints["wordpiece"], w["tmp"] / "ft-run"), "finetune")
    w["finished_task"] = task_checkpoint(tiny_checkpoints["wordpiece"], w["tmp"] / "ft-done")
    before = {**inputs_of(w), **tree_hashes(encoder, task)}
    fail_one_line(capsys, READERS[reader](w, str(encoder), str(task)), "is an unfinished")
    assert {**inputs_of(w), **tree_hashes(encoder, task)} == before
    assert not (w["tmp"] / "o").exists() and not (w["tmp"] / "v.npy").exists()  # refused before writing
    assert_nothing_complete(encoder, task)


def test_a_plain_checkpoint_without_the_marker_still_loads(world, capsys):
    """A Hugging Face checkpoint that no xladjust command wrote has no marker: it loads."""
    out = world["tmp"] / "v.npy"
    code, _, err = run_cli(["-q", *READERS["embed"](world, str(world["model"]), "")], capsys)
    assert code == 0, err
    assert out.is_file()


def test_a_finished_run_loads(world, capsys):
    finished = _unfinished(Path(shutil.copytree(world["model"], world["tmp"] / "adjust-run")), "adjust")
    (finished / ".complete").write_text("", encoding="utf-8")
    code, _, err = run_cli(["-q", *READERS["embed"](world, str(finished), "")], capsys)
    assert code == 0, err


# ---------------------------------------- 6. "up to date" covers the content of every input


def test_a_changed_input_reruns_exactly_the_stages_that_read_it(tmp_path, tiny_checkpoints):
    """Data (held-out text, Tatoeba files), model weights, an aligned corpus given as
    input and the one the align stage wrote, each changed in place with the same path:
    the stages that read it run again, the others stay up to date."""
    import test_pipeline
    from helpers_adjust import write_sample_corpus
    from helpers_probes import write_tatoeba
    from safetensors.torch import load_file, save_file

    from xladjust.pipeline import load_pipeline, run_pipeline

    model = Path(shutil.copytree(tiny_checkpoints["unigram"], tmp_path / "model"))
    heldout = Path(shutil.copy(test_pipeline.SAMPLES / "heldout.en", tmp_path / "heldout.en"))
    corpus = write_sample_corpus(tmp_path / "corpus")
    tatoeba = write_tatoeba(tmp_path / "tatoeba", "es", ["the house", "a dog", "water"], ["la casa", "un perro", "agua"])
    path = test_pipeline.write_config(
        tmp_path, model,
        adjust={"max_steps": 2, "batch_size": 8, "precision": "fp32", "probe_every": 2, "bitext": str(corpus)},
        probe={"layers": "last", "precision": "fp32", "resamples": 50, "tatoeba": str(tatoeba)})
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["pairs"][0]["heldout"]["src"] = str(heldout)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def rerun() -> list[str]:
        done = run_pipeline(load_pipeline(path), progress=False, echo=lambda s: None)
        return [name for name, action, _ in done if action == "ran"]

    assert rerun() == ["align en-es", "adjust", "probe"]
    assert rerun() == []

    def edit_weights() -> None:
        tensors = load_file(str(model / "model.safetensors"))
        name = next(iter(tensors))
        tensors[name] = tensors[name] + 0.01
        save_file(tensors, str(model / "model.safetensors"), metadata={"format": "pt"})

    def drop_last_pair(corpus_dir: Path) -> None:  # an edit by hand of what the pipeline wrote
        pairs = corpus_dir / "pairs.jsonl"
        pairs.write_text("".join(pairs.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), encoding="utf-8")

    changes = [
        ("tatoeba", lambda: (tatoeba.parent / "tatoeba.es-en.es").write_text("la casa\nun gato\nagua\n"), ["probe"]),
        ("weights", edit_weights, ["adjust", "probe"]),
        ("aligned corpus", lambda: write_sample_corpus(corpus, repeat=2), ["adjust", "probe"]),
        ("the align stage's corpus", lambda: drop_last_pair(tmp_path / "runs" / "align-en-es" / "train"),
         ["adjust", "probe"]),
        ("data", lambda: heldout.write_text(heldout.read_text(encoding="utf-8") + "one more line .\n"),
         ["align en-es", "adjust", "probe"]),
    ]
    for what, change, expected in changes:
        change()
        assert rerun() == expected, what
        assert rerun() == [], what
