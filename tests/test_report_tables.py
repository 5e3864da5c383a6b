"""``xladjust compare`` on hand-made runs: the headline never merges runs, every table is
written as Markdown, CSV and LaTeX with its numbers in ``summary.json``, the report names
no file that is not in its folder, and plots agree with their legends."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from xladjust.io import mark_complete, write_json_atomic
from xladjust.probes.gather import compare_runs


def _probe_run(path: Path, checkpoints: dict[str, dict], *, seed: int = 0, text: str = "") -> Path:
    """A finished probe run with one en-es bitext; ``checkpoints``: name -> {delta, ci,
    p1, tatoeba, weights}."""
    path.mkdir(parents=True)
    models, results = [], {}
    for name, c in checkpoints.items():
        models.append({"name": name, "spec": f"/somewhere/{name}",
                       "files_sha256": {"config.json": "c" * 64, "model.safetensors": c["weights"]}})
        by_layer = {"2": {"cosine": {"mean_delta": c["delta"], "mean_delta_ci_low": c["ci"][0],
                                     "mean_delta_ci_high": c["ci"][1]}}}
        results[name] = {"spec": f"/somewhere/{name}", "results": {
            "en-es": {"distances": {"metrics": {"primary_layer": 2, "by_layer": by_layer}},
                      "word-retrieval": {"metrics": {"primary_layer": 2, "p_at_1_csls": c["p1"]}}},
            "tatoeba-es": {"sentence-retrieval": {"metrics": {"best_accuracy": c["tatoeba"]}}}}}
    summary = {"signature": {"stage": "probe", "seed": seed, "models": models},
               "inputs": {"bitexts": [{"name": "en-es", "src_lang": "en", "tgt_lang": "es"}]},
               "checkpoints": results, "notes": []}
    write_json_atomic(path / "summary.json", summary)
    if text:
        (path / "report.md").write_text(text, encoding="utf-8")
    mark_complete(path)
    return path


def _headline(report: Path) -> list[dict[str, str]]:
    with open(report / "tables" / "headline.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_two_probe_runs_of_one_checkpoint_keep_both_rows_and_figures(tmp_path):
    same = {"weights": "a" * 64}
    one = _probe_run(tmp_path / "seed-1", {"adjusted": {**same, "delta": 0.10, "ci": (0.08, 0.12), "p1": 0.40,
                                                        "tatoeba": 0.50}}, seed=1)
    two = _probe_run(tmp_path / "seed-2", {"adjusted": {**same, "delta": 0.20, "ci": (0.18, 0.22), "p1": 0.45,
                                                        "tatoeba": 0.60}}, seed=2)
    report = tmp_path / "report"
    summary = compare_runs([one, two], report)
    rows = _headline(report)
    assert [(r["run"], r["checkpoint"]) for r in rows] == [("seed-1", "adjusted"), ("seed-2", "adjusted")]
    assert [float(r["mean_delta_cosine"]) for r in rows] == [0.10, 0.20]
    assert [float(r["mean_delta_ci_high"]) for r in rows] == [0.12, 0.22]
    assert [float(r["tatoeba_best_p_at_1_pct"]) for r in rows] == [50.0, 60.0]  # the first run's kept
    text = (report / "report.md").read_text(encoding="utf-8")
    head = text.split("## Headline", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in head.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| language | run | checkpoint |")
    assert "| es | seed-1 | adjusted | 0.100 [0.080, 0.120] | 40.0 | 50.0 |" in lines
    assert "| es | seed-2 | adjusted | 0.200 [0.180, 0.220] | 45.0 | 60.0 |" in lines
    entry = next(t for t in summary["tables"] if t["name"] == "headline")
    assert [r[entry["columns"].index("tatoeba_best_p_at_1_pct")] for r in entry["rows"]] == [50.0, 60.0]


def test_two_checkpoints_named_alike_show_apart_by_their_weights(tmp_path):
    one = _probe_run(tmp_path / "a", {"adjusted": {"weights": "1" * 64, "delta": 0.1, "ci": (0.0, 0.2), "p1": 0.3,
                                                   "tatoeba": 0.4}})
    two = _probe_run(tmp_path / "b", {"adjusted": {"weights": "2" * 64, "delta": 0.3, "ci": (0.2, 0.4), "p1": 0.5,
                                                   "tatoeba": 0.6}})
    report = tmp_path / "report"
    compare_runs([one, two], report)
    rows = _headline(report)
    assert len(rows) == 2 and rows[0]["weights_sha256"] != rows[1]["weights_sha256"]
    text = (report / "report.md").read_text(encoding="utf-8")
    cells = re.findall(r"^\| es \| (\w+) \| (adjusted \(`[0-9a-f]{8}`\)) \|", text, flags=re.MULTILINE)
    assert [run for run, _ in cells] == ["a", "b"]
    assert cells[0][1] != cells[1][1]  # the short hashes differ
    assert rows[0]["weights_sha256"].startswith(cells[0][1][len("adjusted (`"):-2])


def test_one_run_needs_no_run_column(tmp_path):
    run = _probe_run(tmp_path / "p", {"vanilla": {"weights": "1" * 64, "delta": 0.1, "ci": (0.0, 0.2), "p1": 0.3,
                                                  "tatoeba": 0.4},
                                      "adjusted": {"weights": "2" * 64, "delta": 0.3, "ci": (0.2, 0.4), "p1": 0.5,
                                                   "tatoeba": 0.6}})
    compare_runs([run], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| language | checkpoint |" in text and "| es | vanilla |" in text and "`" not in text.split(
        "## Headline")[1].split("## Runs")[0].split("| language")[1]
