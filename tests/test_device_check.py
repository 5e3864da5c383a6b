"""benchmarks/device_check.py keeps working without a GPU: its CPU smoke run and the
folder it prepares for a GPU machine."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "device_check.py"

pytestmark = pytest.mark.slow


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_the_cpu_smoke_run_measures_every_step_and_writes_its_json(tmp_path):
    out = tmp_path / "check.json"
    done = run_script("--cpu", "--out", str(out), "--work", str(tmp_path / "work"))
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text(encoding="utf-8"))
    assert r["environment"]["device"] == "cpu" and r["mode"] == "cpu"
    assert r["matmul"]["fp32"] > 0 and r["matmul"]["bf16"] > 0
    assert [(a["model"], a["arm"]) for a in r["adjust"]] == [
        ("mbert", "defaults"), ("mbert", "reference"), ("xlmr", "defaults"), ("xlmr", "reference")]
    for a in r["adjust"]:
        assert a["pairs_per_s"] > 0 and math.isfinite(a["tflops"]) and a["peak_gpu_mb"] is None
    # the mBERT and XLM-R shapes run as tiny models on the CPU, each with its tokenizer kind
    assert {m["shape"] for m in r["models"].values()} == {"tiny"}
    assert r["models"]["mbert"]["vocab_rows"] != r["models"]["xlmr"]["vocab_rows"]
    assert [c["batch_size"] for c in r["batch_curve"]] == r["sizes"]["batches"][: len(r["batch_curve"])]
    f = r["fidelity"]
    assert f["device"] == "cpu" and f["within_tolerance"]
    for precision in ("fp32", "bf16"):
        p = f[precision]
        assert all(0 < p[where][k] < 2 for where in ("cpu", "device") for k in ("related", "unrelated"))
        assert p["cpu"]["triples"] == p["device"]["triples"] > 0
    (nli,) = r["nli"]["runs"]
    assert nli["steps"] == r["sizes"]["nli_steps"] and 0 <= nli["test_es"] <= 1
    assert r["probe"]["triples"] > 0 and r["probe"]["triples_per_s"] > 0
    assert set(r["section_seconds"]) >= {"adjust", "batch_curve", "fidelity", "nli", "probe"}
    assert "fidelity fp32" in done.stdout and "wrote" in done.stdout


def test_prepare_writes_what_a_gpu_machine_needs_and_nothing_else(tmp_path):
    folder = tmp_path / "carry"
    done = run_script("--prepare", str(folder), "--pairs", "40")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in folder.iterdir()) == [".complete", "heldout", "nli", "train"]
    train = (folder / "train" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    heldout = (folder / "heldout" / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(train) == 40 and len(heldout) == 500
    nli = {p.name: p.read_text(encoding="utf-8").splitlines() for p in (folder / "nli").iterdir()}
    assert set(nli) == {"train-en.tsv", "dev-en.tsv", "test-es.tsv"}
    assert not set(nli["train-en.tsv"]) & set(nli["dev-en.tsv"])  # the English dev rows are not trained on
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 8 * 2**20  # travels easily
