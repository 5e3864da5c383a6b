"""``validate`` and ``run --dry-run`` read the data: each bad input is one line, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from helpers_cli import run_cli
from helpers_tasks import write_ner, write_nli, write_squad

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples" / "demo-en-es"


@pytest.fixture()
def files(tmp_path) -> dict[str, Path]:
    return {"nli-train": write_nli(tmp_path / "nli-train.tsv", 20, 0), "nli-dev": write_nli(tmp_path / "nli-dev.tsv", 8, 1),
            "nli-es": write_nli(tmp_path / "nli-es.tsv", 8, 2), "ner": write_ner(tmp_path / "ner.tsv", 10, 0),
            "qa": write_squad(tmp_path / "qa.json", 6, 0)}


def pipeline(tmp_path: Path, transfer: list[dict], src: Path = SAMPLES / "train.en") -> Path:
    cfg = {"kind": "pipeline", "out": str(tmp_path / "runs"), "model": str(tmp_path / "model"),
           "pairs": [{"tgt_lang": "es", "train": {"src": str(src), "tgt": str(SAMPLES / "train.es")}}],
           "align": {"aligner": {"name": "eflomal", "symmetrize": "intersect"}}, "probe": None,
           "transfer": transfer}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def nli(train: Path, dev: Path | None, test: dict[str, Path]) -> dict:
    ft = {"task": "nli", "train": [str(train)], "test": {k: str(v) for k, v in test.items()}}
    if dev is not None:
        ft["dev"] = str(dev)
    return {"seeds": [1], "finetune": ft}


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("xladjust: error:")]


def test_good_inputs_validate(tmp_path, files, capsys):
    path = pipeline(tmp_path, [nli(files["nli-train"], files["nli-dev"], {"es": files["nli-es"]})])
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert code == 0 and "valid PipelineConfig" in out and err == ""


def test_parallel_line_counts_that_differ(tmp_path, files, capsys):
    short = tmp_path / "short.en"
    short.write_text("".join((SAMPLES / "train.en").read_text().splitlines(keepends=True)[:5]), encoding="utf-8")
    path = pipeline(tmp_path, [nli(files["nli-train"], None, {"es": files["nli-es"]})], src=short)
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and len(errors(err)) == 1
    assert "pairs[en-es].train: line counts differ" in err and str(short) in err


def test_nli_label_outside_the_label_set(tmp_path, files, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text(files["nli-es"].read_text() + "a b\tc d\tmaybe\n", encoding="utf-8")
    path = pipeline(tmp_path, [nli(files["nli-train"], None, {"es": bad})])
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and errors(err) == [
        f"xladjust: error: transfer nli test[es]: {bad}:9: label 'maybe' is not in the label set "
        "(entailment, neutral, contradiction)"]


def test_ner_tag_outside_the_tag_set(tmp_path, files, capsys):
    bad = tmp_path / "bad-ner.tsv"
    bad.write_text("Paris\tB-CITY\n", encoding="utf-8")
    ft = {"task": "ner", "train": [str(files["ner"])], "test": {"es": str(bad)}}
    code, _, err = run_cli(["validate", str(pipeline(tmp_path, [{"seeds": [1], "finetune": ft}]))], capsys)
    assert code == 2 and len(errors(err)) == 1 and f"{bad}:1: tag 'B-CITY'" in err


def _squad_with(tmp_path: Path, answer: dict) -> Path:
    doc = {"data": [{"paragraphs": [{"context": "the house is red", "qas": [
        {"id": "q1", "question": "what is red", "answers": [answer]}]}]}]}
    path = tmp_path / "qa-bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(("answer", "says"), [
    ({"text": "", "answer_start": 0}, "empty answer text"),
    ({"text": "boat", "answer_start": 4}, "it is not in the context at all"),
])
def test_qa_answers_empty_or_not_in_their_context(tmp_path, files, capsys, answer, says):
    bad = _squad_with(tmp_path, answer)
    ft = {"task": "qa", "train": [str(files["qa"])], "dev": str(bad), "test": {"es": str(files["qa"])}}
    code, _, err = run_cli(["validate", str(pipeline(tmp_path, [{"seeds": [1], "finetune": ft}]))], capsys)
    assert code == 2 and len(errors(err)) == 1 and says in err and f"transfer qa dev: {bad}" in err


def test_a_test_language_with_no_rows(tmp_path, files, capsys):
    empty = tmp_path / "test-vi.tsv"
    empty.write_text("\n", encoding="utf-8")
    path = pipeline(tmp_path, [nli(files["nli-train"], None, {"es": files["nli-es"], "vi": empty})])
    code, _, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 2 and errors(err) == [f"xladjust: error: transfer nli test[vi]: {empty} holds no examples"]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("same", ["path", "content"])
def test_a_dev_set_identical_to_a_training_set_is_a_warning(tmp_path, files, capsys, same):
    dev = files["nli-train"] if same == "path" else shutil.copy(files["nli-train"], tmp_path / "copy.tsv")
    path = pipeline(tmp_path, [nli(files["nli-train"], Path(dev), {"es": files["nli-es"]})])
    code, out, err = run_cli(["validate", str(path)], capsys)
    warnings = [line for line in err.splitlines() if line.startswith("xladjust: warning:")]
    assert code == 0 and "valid PipelineConfig" in out and len(warnings) == 1
    assert ("the same file" if same == "path" else "identical in content") in warnings[0]
    code, out, _ = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0 and "warning: transfer nli: the dev set" in out


def test_every_problem_is_reported_one_line_each(tmp_path, files, capsys):
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tyes\n", encoding="utf-8")
    path = pipeline(tmp_path, [nli(bad, None, {"es": empty, "ru": bad})])
    code, _, err = run_cli(["validate", str(path)], capsys)
    lines = errors(err)
    assert code == 2 and lines[0] == "xladjust: error: 3 problems in the input data:" and len(lines) == 4
    assert sum(str(bad) in line for line in lines) == 2 and sum(str(empty) in line for line in lines) == 1


def test_validate_reads_a_finetune_configs_data_too(tmp_path, files, capsys):
    bad = _squad_with(tmp_path, {"text": "", "answer_start": 0})
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump({"kind": "finetune", "task": "qa", "model": "m", "train": [str(files["qa"])],
                                    "dev": str(bad), "out": str(tmp_path / "o")}), encoding="utf-8")
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and len(errors(err)) == 1 and f"finetune dev: {bad}" in err


def test_a_file_two_stages_share_is_read_once_and_reported_for_each(tmp_path, files, monkeypatch):
    from xladjust.pipeline.inputs import check_task_files
    from xladjust.tasks.registry import get_task

    bad = tmp_path / "bad.tsv"
    bad.write_text(files["nli-es"].read_text() + "a b\tc d\tmaybe\n", encoding="utf-8")
    task, reads = get_task("nli"), []
    real_read = task.read_file
    monkeypatch.setattr(task, "read_file", lambda path: reads.append(path) or real_read(path))
    seen: dict[str, str | None] = {}
    first = check_task_files("nli", {"test[es]": str(bad)}, "transfer nli", seen)
    second = check_task_files("nli", {"test[es]": str(bad), "train[0]": str(files["nli-train"])}, "landscape", seen)
    assert [len(reads), len(seen)] == [2, 2]  # the bad file once, the training file once
    assert first.problems == [f"transfer nli test[es]: {bad}:9: label 'maybe' is not in the label set "
                              "(entailment, neutral, contradiction)"]
    assert second.problems == [first.problems[0].replace("transfer nli", "landscape")]
