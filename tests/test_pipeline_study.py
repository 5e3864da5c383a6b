"""The Efimov et al. study as a pipeline: transfer with the continual arm, probes after
fine-tuning (the four cells), one report; and the shipped study configs validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from helpers_cli import run_cli
from helpers_tasks import write_nli

from xladjust.io import is_complete
from xladjust.pipeline import load_pipeline, run_pipeline
from xladjust.pipeline.tables import study_tables

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples" / "demo-en-es"


def study_config(tmp_path: Path, model: Path, claims: Path | None = None, **transfer_extra) -> Path:
    train = write_nli(tmp_path / "nli-train.tsv", 40, 0)
    test = write_nli(tmp_path / "nli-es.tsv", 12, 2)
    cfg = {
        "kind": "pipeline", "out": str(tmp_path / "runs"), "model": str(model),
        "pairs": [{"tgt_lang": "es",
                   "train": {"src": str(SAMPLES / "train.en"), "tgt": str(SAMPLES / "train.es"), "max_pairs": 40},
                   "heldout": {"src": str(SAMPLES / "heldout.en"), "tgt": str(SAMPLES / "heldout.es"), "max_pairs": 10}}],
        "align": {"aligner": {"name": "eflomal", "symmetrize": "intersect"}, "workers": 1},
        "adjust": {"max_steps": 2, "batch_size": 8, "precision": "fp32"},
        "probe": {"layers": "all", "precision": "fp32", "resamples": 50},
        "transfer": [{"seeds": [1, 2], "resamples": 200, "continual_arm": {"pairs_per_step": 4},
                      "finetune": {"task": "nli", "train": [str(train)], "dev_split": 0.25, "test": {"es": str(test)},
                                   "max_steps": 2, "batch_size": 16, "precision": "fp32", "progress": False},
                      **transfer_extra}],
    }
    if claims is not None:
        cfg["claims"] = str(claims)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def claims_file(tmp_path: Path, **change) -> Path:
    common = {"before": "vanilla", "after": "adjusted", "languages": ["es"]}
    claims = [{"id": "geometry", "text": "adjustment separates", "source": "probe", "measure": "share_delta_positive",
               "direction": "increase", "family": "geometry", **common},
              {"id": "after-nli", "text": "separation after NLI", "source": "probe-after", "task": "nli",
               "measure": "ratio", "direction": "increase", "family": "after", **{**common, "before": "vanilla+nli",
                                                                                   "after": "adjusted+nli"}},
              {"id": "nli", "text": "adjustment improves NLI", "source": "transfer", "task": "nli", "measure": "score",
               "direction": "no change", "margin": 0.05, "family": "transfer", **common, **change}]
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"paper": "Test", "claims": claims}), encoding="utf-8")
    return path


def test_a_claims_file_adds_the_verdicts_stage_and_is_checked_before_work(tmp_path, tiny_checkpoints, capsys):
    path = study_config(tmp_path, tiny_checkpoints["unigram"], claims=claims_file(tmp_path))
    code, out, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0, err
    assert "plan valid: 7 stages" in out and "[7/7] verdicts" in out
    path = study_config(tmp_path, tiny_checkpoints["unigram"], claims=claims_file(tmp_path, margin=None))
    code, _, err = run_cli(["validate", str(path)], capsys)
    assert code == 2 and "claims:" in err and "a 'no change' claim needs a 'margin'" in err


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
    cfg = load_pipeline(study_config(tmp_path, tiny_checkpoints["unigram"], claims=claims_file(tmp_path)))
    done = run_pipeline(cfg, progress=False, echo=lambda s: None)
    assert [a for _, a, _ in done] == ["ran"] * 7
    runs = tmp_path / "runs"
    table = json.loads((runs / "transfer-nli" / "comparison.json").read_text())
    assert table["trained_weights"] == "all" and set(table["continual"]) == {"adjusted-continual"}
    assert table["warnings"][0].startswith("only 2 fine-tuning seed(s)")  # under 5
    assert "**Warning:** only 2 fine-tuning seed(s)" in (runs / "transfer-nli" / "comparison.md").read_text()
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
    # the cells' tests resample the held-out sentences and carry the scale-free measures
    measures = entry["measures"]["adjusted+nli vs vanilla+nli"]
    assert measures["unit"] == "sentence" and measures["n_units"] <= 10 < measures["n"]
    # every claim gets a verdict read off the stages' own outputs
    verdicts = json.loads((runs / "verdicts" / "verdicts.json").read_text())
    assert [c["verdict"] in ("supported", "contradicted", "inconclusive") for c in verdicts["claims"]] == [True] * 3
    tests = {c["id"]: c["tests"][0] for c in verdicts["claims"]}
    assert tests["after-nli"]["estimate"] == pytest.approx(measures["ratio"]["change"])
    seed_level = table["languages"]["es"]["comparisons"]["adjusted - vanilla"]["seed_level"]
    assert tests["nli"]["estimate"] == pytest.approx(seed_level["mean_difference"])
    assert tests["nli"]["mde"] == pytest.approx(seed_level["mde"]) and "tost" in tests["nli"]
    assert any("only 2 fine-tuning seed(s)" in w for w in verdicts["claims"][2]["warnings"])
    assert "| **geometry**: adjustment separates |" in (runs / "verdicts" / "verdicts.md").read_text()
    assert any(t.startswith("# Claims of Test: verdicts") for t in study_tables(cfg))  # printed after the run
    again = run_pipeline(cfg, progress=False, echo=lambda s: None)
    assert [a for _, a, _ in again] == ["skipped"] * 7


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


def _offline_study(tmp_path: Path, model: Path, name: str = "efimov2022-offline.yaml") -> Path:
    """A study config with the tiny model and tiny sizes (structure kept)."""
    from conftest import shared_data_dir

    text = (REPO / "configs" / name).read_text(encoding="utf-8")
    cfg = yaml.safe_load(text.replace("../shared/data", str(shared_data_dir())))
    cfg.update(out=str(tmp_path / "runs"), model=str(model))
    if "claims" in cfg:  # a path relative to the checkout
        cfg["claims"] = str(REPO / cfg["claims"])
    for pair in cfg["pairs"]:
        pair["train"]["max_pairs"], pair["heldout"]["max_pairs"] = 30, 6
    cfg["align"]["workers"] = 1
    cfg["adjust"].update(epochs=None, max_steps=2, precision="fp32")
    cfg["probe"].update(layers="2", resamples=50, precision="fp32")
    for spec in cfg["transfer"]:  # one seed, one run at a time: seeds and side-by-side runs are tested on their own
        spec.update(seeds=[1], parallel=1, resamples=200)
        spec["finetune"].update(max_train_examples=32, max_test_examples=8, max_steps=2, batch_size=16,
                                precision="fp32", max_length=32, max_dev_examples=8)
        if spec["finetune"]["task"] == "qa":
            spec["finetune"].update(max_length=64, doc_stride=16, max_question_length=16)
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


@pytest.mark.slow  # reads the data pack
def test_the_full_study_config_plans_every_stage(tmp_path, capsys):
    from conftest import shared_data_dir

    if not shared_data_dir().is_dir():
        pytest.skip("the data pack is not beside the checkout")
    text = (REPO / "configs" / "efimov2022-offline-full.yaml").read_text(encoding="utf-8")
    path = tmp_path / "full.yaml"
    text = text.replace("../shared/data", str(shared_data_dir())).replace("claims: configs/", f"claims: {REPO}/configs/")
    path.write_text(text, encoding="utf-8")
    code, out, err = run_cli(["-q", "run", str(path), "--dry-run"], capsys)
    assert code == 0 and "plan valid: 19 stages" in out, err
    stages = [re.match(r"\[\d+/19\] (.+?) +run ", line).group(1) for line in out.splitlines() if line.startswith("[")]
    assert stages == ["align en-es", "align en-ru", "align en-vi", "align en-hi", "adjust", "adjust reference",
                      "adjust en-es", "adjust en-ru", "adjust en-vi", "adjust en-hi", "probe",
                      "transfer nli", "probe-after nli", "transfer ner", "probe-after ner",
                      "transfer qa", "probe-after qa", "report", "verdicts"]
    arms = "vanilla vs adjusted vs adjusted-reference vs adjusted-continual vs adjusted-per-language"
    assert out.count(arms) == 3 and out.count("seeds [1, 2, 3, 4, 5]") == 3


@pytest.mark.slow  # the whole study with QA and per-language arms on the tiny model and tiny sizes
def test_the_full_study_runs_sized_down(tmp_path, tiny_checkpoints, capsys):
    from conftest import shared_data_dir

    if not shared_data_dir().is_dir():
        pytest.skip("the data pack is not beside the checkout")
    config = _offline_study(tmp_path, tiny_checkpoints["unigram"], "efimov2022-offline-full.yaml")
    code, out, err = run_cli(["-q", "run", str(config)], capsys)
    assert code == 0, err
    assert "19 stage(s) ran" in out
    runs = tmp_path / "runs"
    qa = json.loads((runs / "transfer-qa" / "comparison.json").read_text())
    assert {"en", "es", "ru", "vi", "hi", "mlqa-es", "mlqa-vi", "mlqa-hi"} == set(qa["languages"])
    assert set(qa["languages"]["es"]["scores"]) >= {"vanilla", "adjusted-per-language", "adjusted-continual"}
    assert "adjusted-per-language" not in qa["languages"]["en"]["scores"]
    assert qa["per_language"]["adjusted-per-language"]["hi"].endswith("adjust-en-hi")
    assert is_complete(runs / "probe-after-qa") and is_complete(runs / "report") and is_complete(runs / "verdicts")
    verdicts = json.loads((runs / "verdicts" / "verdicts.json").read_text())
    assert verdicts["claims"] and all(c["verdict"] in {"supported", "contradicted", "inconclusive", "no results"}
                                      for c in verdicts["claims"])


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


def test_the_continual_arm_can_anchor_to_the_vanilla_model(tmp_path):
    from xladjust.pipeline import CONTINUAL_ARM, PipelineConfig, transfer_config

    data = write_nli(tmp_path / "nli.tsv", 8)
    cfg = PipelineConfig(out=tmp_path / "runs", model="some/vanilla-model")
    finetune = {"task": "nli", "train": [str(data)], "dev": str(data), "test": {"en": str(data)}}
    spec = {"seeds": [1], "finetune": finetune}
    vanilla = transfer_config(cfg, {**spec, "continual_arm": {"anchor": "vanilla"}}, tmp_path / "adj", tmp_path / "t")
    start = transfer_config(cfg, {**spec, "continual_arm": True}, tmp_path / "adj", tmp_path / "t")
    assert vanilla.continual[CONTINUAL_ARM].anchor == "some/vanilla-model"
    assert start.continual[CONTINUAL_ARM].anchor == "start"
