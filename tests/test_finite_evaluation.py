"""One finiteness rule for every evaluation: logits or distances that are NaN or infinite
stop the command with one line (exit 2), and nothing is marked complete."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers_cli import assert_nothing_complete, fail_one_line, tree_hashes
from helpers_tasks import write_nli

from xladjust.config import build_config
from xladjust.finite import NonFiniteError, check_finite_outputs
from xladjust.tasks.config import FinetuneConfig
from xladjust.tasks.finetune import finetune

FAST = {"precision": "fp32", "progress": False, "eval_batch_size": 16, "max_steps": 2, "batch_size": 16}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_checkpoints) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("finite")
    en, es = write_nli(d / "en.tsv", 24, 0), write_nli(d / "es.tsv", 12, 2)
    model = str(tiny_checkpoints["unigram"])
    runs = {}
    for name, seed in (("a", 1), ("b", 2)):
        cfg = build_config(FinetuneConfig, {"task": "nli", "model": model, "train": [str(en)], "dev": str(en),
                                            "out": str(d / name), "seed": seed, **FAST})
        runs[name] = Path(finetune(cfg))
    runs["overflow"] = _overflowing_copy(runs["a"], d / "overflow")
    return {**runs, "en": en, "es": es}


def _overflowing_copy(run: Path, dest: Path) -> Path:
    """A copy of ``run`` whose weights are all finite but whose logits overflow to inf:
    the pooler outputs tanh(100) = 1 everywhere and the classifier multiplies it by 3e38."""
    from safetensors.numpy import load_file, save_file

    shutil.copytree(run, dest)
    weights = load_file(dest / "model.safetensors")
    for key, value in weights.items():
        if key.endswith("pooler.dense.weight"):
            weights[key] = np.zeros_like(value)
        elif key.endswith("pooler.dense.bias"):
            weights[key] = np.full_like(value, 100.0)
        elif key.startswith("classifier."):
            weights[key] = np.full_like(value, 3e38)
    save_file(weights, dest / "model.safetensors", metadata={"format": "pt"})
    return dest


def _cases(runs: dict[str, Path], out: Path) -> dict[str, list[str]]:
    tests = ["--test", f"en={runs['en']}", "--test", f"es={runs['es']}", "--precision", "fp32"]
    return {
        "flatness at a huge radius": ["flatness", "--model", str(runs["a"]), "--radii", "0,1e30", *tests,
                                      "--out", str(out)],
        "interpolation at a huge alpha": ["interpolate", "--from", str(runs["a"]), "--to", str(runs["b"]),
                                          "--alphas", "0,1e20", *tests, "--out", str(out)],
        "evaluate a model whose logits overflow": ["evaluate", "--model", str(runs["overflow"]), *tests,
                                                   "--out", str(out)],
        "flatness around a model whose logits overflow": ["flatness", "--model", str(runs["overflow"]),
                                                          "--radii", "0,0.1", *tests, "--out", str(out)],
    }


@pytest.mark.parametrize("case", ["flatness at a huge radius", "interpolation at a huge alpha",
                                  "evaluate a model whose logits overflow",
                                  "flatness around a model whose logits overflow"])
def test_non_finite_evaluation_stops_with_one_line(runs, tmp_path, capsys, case):
    out = tmp_path / "out"
    inputs = [runs["a"], runs["b"], runs["overflow"], runs["en"], runs["es"]]
    before = tree_hashes(*inputs)
    line = fail_one_line(capsys, _cases(runs, out)[case], "NaN or infinite")
    assert "logits" in line and "nothing was marked complete" in line
    assert not out.exists() or not any(out.iterdir())
    assert_nothing_complete(tmp_path)
    assert tree_hashes(*inputs) == before


def test_the_message_names_the_point_of_the_sweep(runs, tmp_path, capsys):
    line = fail_one_line(capsys, _cases(runs, tmp_path / "o")["flatness at a huge radius"], "radius 1e+30")
    assert "direction 0" in line
    line = fail_one_line(capsys, _cases(runs, tmp_path / "o")["interpolation at a huge alpha"], "alpha 1e+20")


@pytest.mark.parametrize("values", [[np.nan], [np.inf], [-np.inf], [1.0, np.nan]])
def test_check_finite_outputs_refuses_every_non_finite_value(values):
    import torch

    with pytest.raises(NonFiniteError, match="'start_logits'|start_logits"):
        check_finite_outputs([("end_logits", torch.zeros(2)), ("start_logits", torch.tensor(values))], "evaluation")
    check_finite_outputs([("logits", torch.tensor([1.0, -3e38]))], "evaluation")  # large but finite passes


@pytest.mark.parametrize("broken", ["a zero vector", "an infinite vector"])
def test_the_distance_probe_refuses_non_finite_distances(broken):
    from types import SimpleNamespace

    from xladjust.probes.builtin import distance_probe
    from xladjust.probes.registry import ProbeSettings

    rng = np.random.default_rng(0)
    w, r, u = (rng.normal(size=(4, 8)) for _ in range(3))
    if broken == "a zero vector":
        w[2] = 0.0
    else:
        u[1, 3] = np.inf
    class Triples(list):  # four triples from four sentences
        sentence = np.arange(4)

    view = SimpleNamespace(layers=[3], bitext=SimpleNamespace(triples=Triples([None] * 4)),
                           triple_valid=lambda: np.ones(4, dtype=bool), triple_vectors=lambda k: (w, r, u))
    with pytest.raises(NonFiniteError, match="distances at layer 3 hold NaN or infinite values"):
        distance_probe(view, ProbeSettings(resamples=10))
    w[2], u[1, 3] = 1.0, 1.0
    assert np.isfinite(distance_probe(view, ProbeSettings(resamples=10)).metrics["mean_delta"])
