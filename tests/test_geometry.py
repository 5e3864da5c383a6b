"""Geometry curves during training (--probe-every) on tiny models: rows at the
right steps, step 0 equal to a standalone probe, the figure in the report, bad values."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers_adjust import sample_pairs, write_sample_corpus
from helpers_cli import run_cli
from helpers_tasks import write_nli

from xladjust.adjust import AdjustConfig, adjust
from xladjust.config import build_config
from xladjust.errors import ConfigError, InputError
from xladjust.models import load_model
from xladjust.probes.geometry import (
    adjust_hook,
    build_tracker,
    finetune_hook,
    geometry_probe_config,
    geometry_rows,
)
from xladjust.probes.run import prepare_inputs, probe_checkpoint
from xladjust.training_state import GEOMETRY_FILE

FAST = {"precision": "fp32", "progress": False, "batch_size": 4, "lr": 1e-3, "log_every": 1,
        "checkpoint_every": None}
KEYS = {"step", "layer", "d_related", "d_unrelated", "delta", "p_at_1", "p_at_1_cosine", "n_triples", "n_words"}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """Training pairs and held-out pairs: disjoint halves of the hand-aligned sample."""
    root = tmp_path_factory.mktemp("geometry")
    pairs = sample_pairs()
    return {"train": write_sample_corpus(root / "train", pairs[:6], repeat=3),
            "heldout": write_sample_corpus(root / "heldout", pairs[6:])}


@pytest.fixture(scope="module")
def adjust_run(tmp_path_factory, tiny_checkpoints, corpora) -> Path:
    out = tmp_path_factory.mktemp("adjust") / "run"
    config = build_config(AdjustConfig, {
        "aligned": [str(corpora["train"])], "out": str(out), "model": str(tiny_checkpoints["wordpiece"]),
        "max_steps": 5, "probe_every": 2, "bitext": str(corpora["heldout"]), **FAST})
    return adjust(config, on_step=adjust_hook(config))


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / GEOMETRY_FILE).read_text(encoding="utf-8").splitlines()]


def test_rows_at_step_zero_every_n_steps_and_the_end(adjust_run):
    rows = _rows(adjust_run)
    assert [r["step"] for r in rows] == [0, 2, 4, 5]
    assert all(set(r) == KEYS and r["layer"] == 2 for r in rows)  # tiny model: 2 layers, the last is aligned
    assert all(0 <= r["p_at_1"] <= 1 and r["n_triples"] > 0 for r in rows)
    assert all(abs(r["delta"] - (r["d_unrelated"] - r["d_related"])) < 1e-5 for r in rows)
    assert rows[0]["d_related"] != rows[-1]["d_related"]  # training moved the geometry


def test_step_zero_equals_a_standalone_probe_of_the_start_model(adjust_run, tiny_checkpoints, corpora):
    config = geometry_probe_config(corpora["heldout"], layers=-1)
    run = probe_checkpoint(load_model(str(tiny_checkpoints["wordpiece"])), prepare_inputs(config), config)
    (expected,) = geometry_rows(run, 0)
    (got,) = [r for r in _rows(adjust_run) if r["step"] == 0]
    for key in KEYS:
        assert got[key] == pytest.approx(expected[key], abs=1e-6), key


def test_the_hook_restores_train_mode_and_skips_steps_already_written(tiny_checkpoints, corpora, tmp_path):
    tracker = build_tracker(3, corpora["heldout"], model_spec=str(tiny_checkpoints["unigram"]), run_dir=tmp_path)
    model = load_model(str(tiny_checkpoints["unigram"])).model.train()
    for step in range(5):
        tracker(step, model, last=step == 4)
    assert model.training
    assert [r["step"] for r in _rows(tmp_path)] == [0, 3, 4]
    again = build_tracker(3, corpora["heldout"], model_spec=str(tiny_checkpoints["unigram"]), run_dir=tmp_path)
    again(3, model)  # a resumed run starting at step 3: step 4 is dropped, step 3 is not repeated
    assert [r["step"] for r in _rows(tmp_path)] == [0, 3]


def test_the_report_shows_the_curve_under_the_runs_heading(adjust_run, tmp_path):
    from xladjust.report.gather import compare_runs

    compare_runs([adjust_run], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", md, flags=re.MULTILINE)
    (own,) = [s for s in sections if s.startswith("Adjustment:")]
    figure = re.search(r"!\[([^\]]*)\]\(([^)]*geometry\.png)\)", own)
    assert figure is not None and "d(w,r)" in figure[1] and "P@1" in figure[1]
    assert (tmp_path / "report" / figure[2]).is_file()
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert page.index(">Adjustment: run<") < page.index("Geometry of the encoder during training")


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


# Written onto <body> once loaded: per figure, its caption, whether its image decoded, and
# the nearest h2 before it in document order.
_FIGURES = (
    "<script>window.addEventListener('load',()=>{const hs=[...document.querySelectorAll('h2')];"
    "document.body.dataset.figures=JSON.stringify([...document.querySelectorAll('figure')].map(f=>({"
    "caption:f.querySelector('figcaption').textContent,h2:hs.filter(h=>h.compareDocumentPosition(f)&"
    "Node.DOCUMENT_POSITION_FOLLOWING).map(h=>h.textContent).pop()||null,"
    "decoded:f.querySelector('img').complete&&f.querySelector('img').naturalWidth>0})))})</script>"
)


@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (Debian package chromium)")
def test_the_curve_sits_under_the_runs_heading_in_chromium(adjust_run, tmp_path):
    from xladjust.report.gather import compare_runs

    compare_runs([adjust_run], tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    checked = tmp_path / "report" / "checked.html"
    checked.write_text(page.replace("<head>", "<head>" + _FIGURES, 1), encoding="utf-8")
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=5000", "--dump-dom", checked.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body ([^>]*)>", dom)
    assert body, dom[:500]
    figures = json.loads(html.unescape(re.search(r'data-figures="([^"]*)"', body.group(1)).group(1)))
    (geometry,) = [f for f in figures if f["caption"].startswith("Geometry of the encoder during training")]
    assert geometry["h2"] == "Adjustment: run" and geometry["decoded"]


def test_finetune_probes_the_encoder_inside_the_task_model(tiny_checkpoints, corpora, tmp_path):
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune

    train = write_nli(tmp_path / "nli-train.tsv", 32, 0)
    cfg = build_config(FinetuneConfig, {
        "task": "nli", "model": str(tiny_checkpoints["unigram"]), "train": [str(train)], "out": str(tmp_path / "ft"),
        "max_steps": 3, "batch_size": 8, "precision": "fp32", "progress": False, "probe_every": 2,
        "bitext": str(corpora["heldout"])})
    out = finetune(cfg, on_step=finetune_hook(cfg))
    assert [r["step"] for r in _rows(out)] == [0, 2, 3]  # kept when the run folder is written at the end
    from xladjust.report.gather import compare_runs

    compare_runs([out], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    (own,) = [s for s in re.split(r"^## ", md, flags=re.MULTILINE) if s.startswith("Fine-tuning:")]
    assert "![Geometry of the encoder during training" in own


def test_a_training_stage_refuses_probe_every_without_the_hook(tiny_checkpoints, corpora, tmp_path):
    config = build_config(AdjustConfig, {
        "aligned": [str(corpora["train"])], "out": str(tmp_path / "run"), "model": str(tiny_checkpoints["wordpiece"]),
        "max_steps": 1, "probe_every": 2, "bitext": str(corpora["heldout"]), **FAST})
    with pytest.raises(ConfigError, match="adjust_hook"):
        adjust(config)
    assert not (tmp_path / "run").exists()


def test_a_training_corpus_is_refused_as_the_held_out_set(tiny_checkpoints, corpora, tmp_path):
    with pytest.raises(InputError, match="training corpus"):
        build_tracker(2, corpora["train"], model_spec=str(tiny_checkpoints["unigram"]), run_dir=tmp_path,
                      training=[corpora["train"]])


@pytest.mark.parametrize("value", ["0", "-3", "abc", "1.5"])
@pytest.mark.parametrize("command", ["adjust", "finetune"])
def test_a_bad_probe_every_is_one_line_and_exit_2(command, value, corpora, tmp_path, capsys):
    out = tmp_path / "out"
    args = (["adjust", "--aligned", str(corpora["train"])] if command == "adjust"
            else ["finetune", "--task", "nli", "--train", str(corpora["train"] / "pairs.jsonl")])
    code, _, err = run_cli([*args, "--out", str(out), "--probe-every", value,
                            "--bitext", str(corpora["heldout"])], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--probe-every" in err
    assert not out.exists()


def test_probe_every_without_a_held_out_corpus_is_refused(corpora, tmp_path, capsys):
    code, _, err = run_cli(["adjust", "--aligned", str(corpora["train"]), "--out", str(tmp_path / "o"),
                            "--probe-every", "5"], capsys)
    assert code == 2 and "probe_every needs bitext" in err and len(err.strip().splitlines()) == 1


def test_a_missing_held_out_corpus_fails_before_the_run_folder_is_touched(corpora, tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = run_cli(["adjust", "--aligned", str(corpora["train"]), "--out", str(out), "--probe-every", "5",
                            "--bitext", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "nowhere" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
