"""Determinism per stage: the same command twice with the same seed writes the
same bytes, on tiny models.

Each command runs twice into the same ``--out`` path (the first result is moved aside),
so recorded paths agree. Every file of the two outputs is compared byte for byte, except:

- JSON/JSONL files are compared after dropping fields that are legitimately
  time-dependent: wall-clock timings (keys ending in ``seconds``, rates ending in
  ``_per_s``, ``timing``/``timings`` blocks) and creation timestamps (``created``); Markdown reports are
  compared without their "Timing" section;
- plots (PNG/SVG) and the HTML page built from them, which embed the drawing library's
  metadata (the SVG a date); the numbers they draw are in the compared JSON/CSV files.

Align's determinism (eflomal's seed) is tested by the align stage's own suite.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers_adjust import write_sample_corpus
from helpers_cli import run_cli
from helpers_tasks import write_nli

TIME_KEYS = ("created", "started", "timing", "timings", "timestamp")  # started: the run-folder marker
SKIPPED_SUFFIXES = (".png", ".svg", ".html")


def without_time(obj):
    """``obj`` without its time-dependent fields (see module doc)."""
    if isinstance(obj, dict):
        return {k: without_time(v) for k, v in obj.items()
                if k not in TIME_KEYS and not k.endswith("seconds") and not k.endswith("_per_s")}
    if isinstance(obj, list):
        return [without_time(v) for v in obj]
    return obj


def _content(path: Path):
    if path.suffix == ".json":
        return without_time(json.loads(path.read_text(encoding="utf-8")))
    if path.suffix == ".jsonl":
        return [without_time(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]
    if path.suffix == ".md":
        return without_timing_section(path.read_text(encoding="utf-8"))
    return path.read_bytes()


def without_timing_section(markdown: str) -> str:
    kept, skipping = [], False
    for line in markdown.splitlines():
        if line.startswith("#"):
            skipping = line.lstrip("#").strip().lower().startswith("timing")
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def assert_same_outputs(a: Path, b: Path) -> int:
    """Every file of ``a`` and ``b`` agrees (see module doc); returns how many were compared."""
    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else [""]

    names_a, names_b = files(a), files(b)
    assert names_a == names_b
    compared = 0
    for name in names_a:
        pa, pb = (a / name, b / name) if name else (a, b)
        if pa.suffix in SKIPPED_SUFFIXES:
            continue
        assert _content(pa) == _content(pb), f"{name} differs between two runs with the same seed"
        compared += 1
    return compared


def twice(args: list[str], out: Path, capsys, *extra: Path) -> tuple[Path, Path]:
    """Run ``xladjust ARGS`` twice into ``out`` (and beside it ``extra`` outputs); return
    (first, second) result paths."""
    results = []
    for k in (1, 2):
        code, _, err = run_cli(["-q", "--threads", "1", *args], capsys)
        assert code == 0, err
        for path in (out, *extra):
            kept = path.with_name(f"{path.name}.run{k}")
            shutil.move(str(path), str(kept))
        results.append(out.with_name(f"{out.name}.run{k}"))
    return results[0], results[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("determinism")
    text = root / "words.txt"
    text.write_text("the house is big\nla casa es grande\nthe dog and the cat\n", encoding="utf-8")
    return {"root": root, "corpus": write_sample_corpus(root / "corpus"), "text": text,
            "nli": write_nli(root / "nli.tsv", 48, 0), "nli-es": write_nli(root / "nli-es.tsv", 24, 2)}


def test_adjust_writes_the_same_weights_twice(tiny_checkpoints, data, tmp_path, capsys):
    out = tmp_path / "adjust"
    a, b = twice(["adjust", "--model", str(tiny_checkpoints["unigram"]), "--aligned", str(data["corpus"]),
                  "--out", str(out), "--max-steps", "3", "--batch-size", "4", "--precision", "fp32", "--seed", "3",
                  "--lr", "1e-3"], out, capsys)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert assert_same_outputs(a, b) >= 5


def test_probe_writes_the_same_summary_and_tables_twice(tiny_checkpoints, data, tmp_path, capsys):
    out = tmp_path / "probe"
    a, b = twice(["probe", "--model", f"m={tiny_checkpoints['wordpiece']}", "--bitext", str(data["corpus"]),
                  "--out", str(out), "--seed", "4", "--resamples", "50", "--precision", "fp32"], out, capsys)
    assert (a / "summary.json").is_file() and (a / "triples.csv").is_file()
    assert assert_same_outputs(a, b) >= 3


def test_embed_writes_the_same_vectors_twice(tiny_checkpoints, data, tmp_path, capsys):
    out = tmp_path / "v.npy"
    index = tmp_path / "v.npy.index.json"
    twice(["embed", "--model", str(tiny_checkpoints["unigram"]), "--input", str(data["text"]), "--out", str(out),
           "--layers", "all"], out, capsys, index)
    for name in ("v.npy", "v.npy.index.json"):
        assert (tmp_path / f"{name}.run1").read_bytes() == (tmp_path / f"{name}.run2").read_bytes(), name


@pytest.fixture(scope="module")
def finetuned(tiny_checkpoints, data, tmp_path_factory) -> tuple[Path, Path]:
    from xladjust.cli import main

    out = tmp_path_factory.mktemp("finetune-twice") / "ft"
    args = ["-q", "--threads", "1", "finetune", "--task", "nli", "--model", str(tiny_checkpoints["unigram"]),
            "--train", str(data["nli"]), "--dev", str(data["nli"]), "--test", f"es={data['nli-es']}",
            "--out", str(out), "--max-steps", "4", "--batch-size", "8", "--seed", "5", "--precision", "fp32"]
    runs = []
    for k in (1, 2):
        main(args)
        runs.append(out.with_name(f"ft.run{k}"))
        shutil.move(str(out), str(runs[-1]))
    return runs[0], runs[1]


def test_finetune_writes_the_same_weights_and_metrics_twice(finetuned):
    a, b = finetuned
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "metrics.json").is_file()
    assert assert_same_outputs(a, b) >= 5


def test_interpolate_gives_the_same_results_twice(finetuned, data, tmp_path, capsys):
    out = tmp_path / "interp"
    a, b = twice(["interpolate", "--from", str(finetuned[0]), "--to", str(finetuned[1]), "--alphas", "0,0.5,1",
                  "--test", f"es={data['nli-es']}", "--out", str(out), "--precision", "fp32"], out, capsys)
    assert (a / "summary.json").is_file()
    assert assert_same_outputs(a, b) >= 2


def test_flatness_gives_the_same_results_twice(finetuned, data, tmp_path, capsys):
    out = tmp_path / "flat"
    a, b = twice(["flatness", "--model", str(finetuned[0]), "--directions", "2", "--radii", "0,0.1", "--seed", "6",
                  "--test", f"es={data['nli-es']}", "--out", str(out), "--precision", "fp32"], out, capsys)
    assert assert_same_outputs(a, b) >= 2
    summary = json.loads((a / "summary.json").read_text())
    assert summary  # a result was written


def test_the_comparison_ignores_only_time_fields():
    assert without_timing_section("# A\nx\n## Timing\n| 0.1 |\n## B\ny") == "# A\nx\n## B\ny"
    assert without_time({"created": 1, "run_seconds": 2, "pairs_per_s": 3, "loss": 4, "nested": [{"seconds": 5}]}) \
        == {"loss": 4, "nested": [{}]}
