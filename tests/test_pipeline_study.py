"""The Efimov et al. study as a pipeline: transfer with the continual arm, probes after
fine-tuning (the four cells), one report; and the shipped study configs validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers_cli import run_cli
from helpers_tasks import write_nli

from xladjust.io import is_complete
from xladjust.pipeline import load_pipeline, run_pipeline

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples" / "demo-en-es"


def study_config(tmp_path: Path, model: Path, **transfer_extra) -> Path:
    train = write_nli(tmp_path / "nli-train.tsv", 40, 0)
    test = write_nli(tmp_path / "nli-es.tsv", 12, 2)
    cfg = {
        "kind": "pipeline", "out": str(tmp_path / "runs"), "model": str(model),
        "pairs": [{"tgt_lang": "es",
                   "train": {"src": str(SAMPLES / "train.en"), "tgt": str(SAMPLES / "train.es"), "limit": 40},
                   "heldout": {"src": str(SAMPLES / "heldout.en"), "tgt": str(SAMPLES / "heldout.es"), "limit": 10}}],
        "align": {"aligner": {"name": "eflomal", "symmetrize": "intersect"}, "workers": 1},
        "adjust": {"max_steps": 2, "batch_size": 8, "precision": "fp32"},
        "probe": {"layers": "all", "bf16": False, "bootstrap": 50},
        "transfer": [{"seeds": [1, 2], "n_resamples": 200, "continual_arm": {"pairs_per_step": 4},
                      "finetune": {"task": "nli", "train": [str(train)], "dev_split": 0.25, "test": {"es": str(test)},
                                   "max_steps": 2, "batch_size": 16, "bf16": False, "progress": False},
                      **transfer_extra}],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_dry_run_plans_transfer_probes_after_fine_tuning_and_the_report(tmp_path, tiny_checkpoints, capsys):
    code, out, err = run_cli(["run", str(study_config(tmp_path, tiny_checkpoints["unigram"])), "--dry-run"], capsys)
    assert code == 0, err
    assert "plan valid: 6 stages" in out
    assert "transfer nli" in out and "vanilla vs adjusted vs adjusted-continual, seeds [1, 2]" in out
    assert "[5/6] probe-after nli" in out and "8 checkpoints" in out and "[6/6] report" in out
    path = study_config(tmp_path, tiny_checkpoints["unigram"], probe_after=False)
    code, out, _ = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0 and "plan valid: 5 stages" in out and "probe-after" not in out


def test_probes_after_fine_tuning_without_checkpoints_is_a_config_problem(tmp_path, tiny_checkpoints, capsys):
    path = study_config(tmp_path, tiny_checkpoints["unigram"], keep_checkpoints=False)
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "probes after fine-tuning need the fine-tuned checkpoints" in err


def test_study_runs_end_to_end_with_the_four_cells(tmp_path, tiny_checkpoints):
    cfg = load_pipeline(study_config(tmp_path, tiny_checkpoints["unigram"]))
    done = run_pipeline(cfg, progress=False, echo=lambda s: None)
    assert [a for _, a, _ in done] == ["ran"] * 6
    runs = tmp_path / "runs"
    table = json.loads((runs / "transfer-nli" / "comparison.json").read_text())
    assert table["trained_weights"] == "all" and set(table["continual"]) == {"adjusted-continual"}
    arm = json.loads((runs / "transfer-nli/runs/adjusted-continual/seed-1/xladjust.local.json").read_text())
    assert arm["signature"]["config"]["continual"]["corpus"] == [str(runs / "align-en-es" / "train")]
    cells = json.loads((runs / "probe-after-nli" / "summary.json").read_text())
    entry = cells["bitexts"]["en-es"]
    assert set(entry["layers"]["2"]) == {"vanilla", "adjusted", "vanilla+nli", "adjusted+nli",
                                         "adjusted-continual+nli"}
    assert cells["cells"]["vanilla+nli"] == ["vanilla.nli.s1", "vanilla.nli.s2"]
    assert set(entry["tests"]) == {"adjusted vs vanilla", "vanilla+nli vs vanilla", "adjusted+nli vs adjusted",
                                   "adjusted+nli vs vanilla+nli", "adjusted-continual+nli vs adjusted+nli"}
    # the pre-fine-tuning cells are the probe stage's numbers: the same triples, re-measured
    before = json.loads((runs / "probe" / "summary.json").read_text())
    metrics = before["checkpoints"]["adjusted"]["results"]["en-es"]["distances"]["metrics"]
    assert entry["layers"]["2"]["adjusted"]["mean_delta"] == pytest.approx(
        metrics["by_layer"]["2"]["cosine"]["mean_delta"], abs=1e-5)
    assert (runs / "probe-after-nli" / "plots" / "en-es.cells-delta.png").is_file()
    report = (runs / "report" / "report.md").read_text()
    assert "Probes before and after task fine-tuning" in report and "Weights trained in fine-tuning: all" in report
    assert is_complete(runs / "report")
    again = run_pipeline(cfg, progress=False, echo=lambda s: None)
    assert [a for _, a, _ in again] == ["skipped"] * 6


@pytest.mark.slow  # reads the whole data pack the config names (about 10 s)
def test_the_mbert_study_config_validates_and_its_old_qa_dev_does_not(tmp_path, capsys):
    from conftest import shared_data_dir

    if not shared_data_dir().is_dir():
        pytest.skip("the data pack is not beside the checkout")
    text = (REPO / "configs" / "efimov2022-mbert.yaml").read_text(encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(text.replace("../shared/data", str(shared_data_dir())), encoding="utf-8")
    code, out, err = run_cli(["-q", "validate", str(good)], capsys)
    assert code == 0 and "valid PipelineConfig" in out, err
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("qa/mlqa-dev.context-en-question-en.json", "qa/tydiqa-goldp.en.dev.json"),
                   encoding="utf-8")
    code, _, err = run_cli(["-q", "validate", str(bad)], capsys)
    errors = [line for line in err.splitlines() if line.startswith("xladjust: error:")]
    assert code == 2 and len(errors) == 1 and "tydiqa-goldp.en.dev.json" in errors[0] and "empty answer" in errors[0]


def _offline_study(tmp_path: Path, model: Path) -> Path:
    """configs/efimov2022-offline.yaml with the tiny model and tiny sizes (structure kept)."""
    from conftest import shared_data_dir

    text = (REPO / "configs" / "efimov2022-offline.yaml").read_text(encoding="utf-8")
    cfg = yaml.safe_load(text.replace("../shared/data", str(shared_data_dir())))
    cfg.update(out=str(tmp_path / "runs"), model=str(model))
    for pair in cfg["pairs"]:
        pair["train"]["limit"], pair["heldout"]["limit"] = 30, 6
    cfg["align"]["workers"] = 1
    cfg["adjust"].update(epochs=None, max_steps=2, precision="fp32")
    cfg["probe"].update(layers="2", bootstrap=50, bf16=False)
    for spec in cfg["transfer"]:  # one seed, one run at a time: seeds and side-by-side runs are tested on their own
        spec.update(seeds=[1], parallel=1, n_resamples=200)
        spec["finetune"].update(max_train_examples=32, max_test_examples=8, max_steps=2, batch_size=16,
                                bf16=False, max_length=32, max_dev_examples=8)
    path = tmp_path / "offline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.mark.slow  # reads the data pack
def test_the_offline_study_config_plans_every_stage(tmp_path, capsys):
    from conftest import shared_data_dir

    if not shared_data_dir().is_dir():
        pytest.skip("the data pack is not beside the checkout")
    text = (REPO / "configs" / "efimov2022-offline.yaml").read_text(encoding="utf-8")
    path = tmp_path / "offline.yaml"
    path.write_text(text.replace("../shared/data", str(shared_data_dir())), encoding="utf-8")
    code, out, err = run_cli(["-q", "run", str(path), "--dry-run"], capsys)
    assert code == 0 and "plan valid: 12 stages" in out, err
    assert "adjust reference" in out and "vanilla vs adjusted vs adjusted-reference vs adjusted-continual" in out
    assert out.count("15 checkpoints before/after") == 2 and "2 at a time" in out


@pytest.mark.slow  # the whole offline study on the tiny model and tiny sizes
def test_the_offline_study_runs_sized_down(tmp_path, tiny_checkpoints, capsys):
    from conftest import shared_data_dir

    if not shared_data_dir().is_dir():
        pytest.skip("the data pack is not beside the checkout")
    code, out, err = run_cli(["-q", "run", str(_offline_study(tmp_path, tiny_checkpoints["unigram"]))], capsys)
    assert code == 0, err
    assert "12 stage(s) ran" in out and "wall time" in out and "adjusted-continual+ner" in out
    assert "probes before/after ner fine-tuning" in out and "adjusted-reference+nli" in out
    runs = tmp_path / "runs"
    for task, langs in (("nli", {"en", "es", "ru", "vi", "hi"}), ("ner", {"es", "ru", "vi", "hi"})):
        table = json.loads((runs / f"transfer-{task}" / "comparison.json").read_text())
        assert set(table["languages"]) == langs and table["seeds"] == [1]
        cells = json.loads((runs / f"probe-after-{task}" / "summary.json").read_text())
        assert set(cells["bitexts"]) == {"en-es", "en-ru", "en-vi", "en-hi"}
    assert is_complete(runs / "report")
