"""The before/after fine-tuning cells on a hand-made triples.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from xladjust.errors import InputError
from xladjust.probes.cells import read_cells, summarize_cells, write_cells

REL = {"v": [0.2, 0.4, 0.6], "a": [0.1, 0.3, 0.5], "v.s1": [0.3, 0.5, 0.7], "v.s2": [0.5, "", 0.9]}
UNREL = {"v": [0.5, 0.5, 0.5], "a": [0.5, 0.4, 0.5], "v.s1": [0.6, 0.6, 0.6], "v.s2": [0.8, "", 0.6]}


def write_triples(path: Path) -> Path:
    names = list(REL)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bitext", "triple", "layer"] + [f"{n}.cosine.{q}" for n in names
                                                     for q in ("related", "unrelated", "delta")])
        for layer in (1, 2):
            for t in range(3):
                row: list = ["en-es", t, layer]
                for n in names:
                    r, u = REL[n][t], UNREL[n][t]
                    row += [r, u, "" if r == "" else round(u - r, 6)]
                w.writerow(row)
    return path


CELLS = {"vanilla": ["v"], "adjusted": ["a"], "vanilla+nli": ["v.s1", "v.s2"]}


def test_a_cell_of_seeds_averages_each_triple_over_the_seeds_it_has(tmp_path):
    series = read_cells(write_triples(tmp_path / "t.csv"), CELLS)
    cell = series["en-es"][2]["vanilla+nli"]
    np.testing.assert_allclose(cell["related"], [0.4, 0.5, 0.8])  # the NaN of seed 2 is left out
    np.testing.assert_allclose(cell["delta"], [0.3, 0.1, -0.2], atol=1e-9)
    np.testing.assert_allclose(series["en-es"][1]["vanilla"]["unrelated"], [0.5, 0.5, 0.5])


def test_summary_means_and_paired_tests_between_cells(tmp_path):
    series = read_cells(write_triples(tmp_path / "t.csv"), CELLS)
    summary = summarize_cells(series, [("vanilla", "vanilla+nli")], n_resamples=200)
    entry = summary["bitexts"]["en-es"]
    assert entry["primary_layer"] == 2 and set(entry["layers"]) == {"1", "2"}
    assert entry["layers"]["2"]["vanilla"]["mean_related"] == pytest.approx(0.4)
    assert entry["layers"]["2"]["vanilla+nli"]["mean_delta"] == pytest.approx(0.2 / 3)
    test = entry["tests"]["vanilla+nli vs vanilla"]
    assert test["related"]["mean_change"] == pytest.approx(np.mean([0.2, 0.1, 0.2]))
    assert test["delta"]["n"] == 3 and 0 <= test["delta"]["wilcoxon_p"] <= 1


def test_write_cells_writes_a_gatherable_run(tmp_path):
    summary = write_cells(tmp_path / "cells", write_triples(tmp_path / "t.csv"), CELLS, [("vanilla", "adjusted")],
                          n_resamples=100, extra={"task": "nli", "trained_weights": "all"})
    out = tmp_path / "cells"
    assert summary["kind"] == "probe-cells" and summary["task"] == "nli"
    assert (out / ".complete").exists() and (out / "plots" / "en-es.cells-delta.png").is_file()
    text = (out / "report.md").read_text()
    assert "| 2 | vanilla+nli | 3 | 0.567 | 0.633 | 0.067 | 66.7% |" in text and "adjusted vs vanilla" in text
    assert "Fine-tuning on nli trained these weights: all." in text


def test_a_checkpoint_missing_from_the_triples_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="has no checkpoint 'v.s3'"):
        read_cells(write_triples(tmp_path / "t.csv"), {"vanilla+nli": ["v.s1", "v.s3"]})
    with pytest.raises(InputError, match="do not exist"):
        read_cells(tmp_path / "none.csv", CELLS)
