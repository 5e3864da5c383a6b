"""The summary over seeds along the interpolation line, on hand-made per-example results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xladjust.errors import InputError
from xladjust.io import is_complete
from xladjust.probes.landscape_run import PER_EXAMPLE_FILE
from xladjust.probes.landscape_seeds import (
    load_seed_runs,
    paired_along_line,
    run_landscape_summary,
    seed_curves,
    summarize_line,
)
from xladjust.stats import holm
from xladjust.tasks.metrics import mean_of

ALPHAS = [0.0, 0.5, 1.0]
N = 400
ACCURACY = mean_of(0)


def _base(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(N) < 0.6).astype(float)


def line(gains: list[float], base: np.ndarray | None = None) -> np.ndarray:
    """Correctness ``(alphas, N, 1)``: at α, the first ``gain·α·N`` wrong rows become right."""
    base = _base() if base is None else base
    points = []
    for alpha in ALPHAS:
        v = base.copy()
        v[np.flatnonzero(v == 0)[: int(round(gains[0] * alpha * N))]] = 1
        points.append(v[:, None])
    return np.stack(points)


def seeds_with(gains: list[float]) -> dict[int, np.ndarray]:
    return {seed: line([g]) for seed, g in zip((1, 2, 3), gains, strict=True)}


def test_identical_points_give_zero_and_p_one():
    tests = paired_along_line(seeds_with([0.0, 0.0, 0.0]), ALPHAS, ACCURACY, n_resamples=2000)
    assert [t["alpha"] for t in tests] == [0.5, 1.0]
    for t in tests:
        assert t["estimate"] == 0.0 and t["ci_low"] == 0.0 == t["ci_high"]
        assert t["p"] == pytest.approx(1.0) and t["p_holm"] == pytest.approx(1.0) and t["sign_flip_p"] == 1.0


def test_a_clear_shift_is_detected_with_the_known_estimate():
    tests = paired_along_line(seeds_with([0.1, 0.1, 0.1]), ALPHAS, ACCURACY, n_resamples=2000)
    half, end = tests
    assert half["estimate"] == pytest.approx(0.05) and end["estimate"] == pytest.approx(0.1)
    assert end["ci_low"] > 0 and end["ci_low"] < 0.1 < end["ci_high"]
    assert end["p"] < 0.001 and end["p_holm"] < 0.01
    assert end["per_seed_difference"] == pytest.approx([0.1, 0.1, 0.1])
    assert end["sign_flip_p"] == pytest.approx(0.25)  # the floor with 3 seeds: 2/2³


def test_the_interval_widens_when_seeds_disagree():
    agree = paired_along_line(seeds_with([0.1, 0.1, 0.1]), ALPHAS, ACCURACY, n_resamples=4000)[-1]
    disagree = paired_along_line(seeds_with([0.0, 0.1, 0.2]), ALPHAS, ACCURACY, n_resamples=4000)[-1]
    assert agree["estimate"] == pytest.approx(disagree["estimate"])  # same mean shift
    width = {name: t["ci_high"] - t["ci_low"] for name, t in (("agree", agree), ("disagree", disagree))}
    assert width["disagree"] > 2 * width["agree"]
    assert disagree["se"] > agree["se"] and disagree["mde"] > agree["mde"]
    assert disagree["seed_mde"] > 0 and agree["seed_mde"] == 0  # no spread between agreeing seeds


def test_holm_is_applied_across_the_alpha_points_of_a_language():
    tests = paired_along_line(seeds_with([0.0, 0.03, 0.06]), ALPHAS, ACCURACY, n_resamples=2000)
    raw = [t["p"] for t in tests]
    assert [t["p_holm"] for t in tests] == pytest.approx(holm(raw))
    assert all(t["p_holm"] >= t["p"] for t in tests)


def test_the_alpha_points_share_one_set_of_draws():
    # the same resamples of seeds and rows at every α: a point that equals another gets the same interval
    stats = {s: np.concatenate([v, v[-1:]]) for s, v in seeds_with([0.05, 0.1, 0.15]).items()}  # α = 1 twice
    tests = paired_along_line(stats, [*ALPHAS, 1.0], ACCURACY, n_resamples=1000)
    assert (tests[-1]["ci_low"], tests[-1]["ci_high"], tests[-1]["p"]) == \
           (tests[-2]["ci_low"], tests[-2]["ci_high"], tests[-2]["p"])


def test_summary_reads_the_declared_comparisons():
    per_seed = {s: {"en": line([0.0], _base(1)), "es": line([g], _base(2))} for s, g in ((1, 0.1), (2, 0.12), (3, 0.08))}
    summary = summarize_line(per_seed, ALPHAS, ACCURACY, "en", n_resamples=2000)
    assert summary["targets"] == ["es"] and summary["seeds"] == [1, 2, 3]
    en, es = summary["languages"]["en"], summary["languages"]["es"]
    assert en["range_of_mean"] == 0.0 and es["range_of_mean"] == pytest.approx(0.1)
    assert es["by_alpha"][-1]["min"] == pytest.approx(es["by_alpha"][0]["mean"] + 0.08)
    assert es["by_alpha"][-1]["max"] == pytest.approx(es["by_alpha"][0]["mean"] + 0.12)
    assert np.allclose(seed_curves({s: per_seed[s]["es"] for s in per_seed}, ACCURACY)[:, -1]
                       - seed_curves({s: per_seed[s]["es"] for s in per_seed}, ACCURACY)[:, 0], [0.1, 0.12, 0.08])
    reading = summary["comparisons"]
    assert "no α differs from α0" in reading["flat_source"]["reading"]
    assert reading["target_rises"]["reading"].startswith("es: rises (+10.00 points at α = 1")
    assert es["end"]["mde"] > 0 and np.isfinite(es["end"]["seed_mde"])
    assert any("only 3 fine-tuning seed(s)" in w for w in summary["warnings"])


def _write_run(directory, seed_gains: float, ids=None, alphas=ALPHAS):
    directory.mkdir(parents=True)
    stats = {"en": line([0.0], _base(1)), "es": line([seed_gains], _base(2))}
    data = {"task": "nli", "metric": "accuracy", "columns": ["correct"], "alphas": alphas,
            "languages": {lang: {"ids": ids or [str(i) for i in range(N)], "stats": s.astype(int).tolist()}
                          for lang, s in stats.items()}}
    (directory / PER_EXAMPLE_FILE).write_text(json.dumps(data), encoding="utf-8")
    return directory


def test_summary_run_writes_json_markdown_and_plot(tmp_path):
    runs = {s: _write_run(tmp_path / f"seed-{s}", g) for s, g in ((1, 0.1), (2, 0.12), (3, 0.08))}
    out = tmp_path / "summary"
    summary = run_landscape_summary(runs, out, source_lang="en", n_resamples=500, seed=1)
    assert is_complete(out)
    for name in ("summary.json", "summary.md", "interpolation.png", "interpolation.svg"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert saved["kind"] == "landscape-summary" and saved["seeds"] == summary["seeds"] == [1, 2, 3]
    assert set(saved["signature"]["inputs"]) == {"seed 1", "seed 2", "seed 3"}
    page = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Paired tests along the line" in page and "| 1.00 | +10.00 |" in page
    assert "Minimum detectable effect at 80% power" in page and "**target_rises**" in page


def test_summary_refuses_runs_that_do_not_pair(tmp_path):
    a = _write_run(tmp_path / "a", 0.1)
    b = _write_run(tmp_path / "b", 0.1, ids=[f"x{i}" for i in range(N)])
    with pytest.raises(InputError, match="the en test rows differ from the first seed's"):
        load_seed_runs({1: a, 2: b})
    c = _write_run(tmp_path / "c", 0.1, alphas=[0.0, 0.4, 1.0])
    with pytest.raises(InputError, match="differs from the first seed's run in alphas"):
        load_seed_runs({1: a, 3: c})
    with pytest.raises(InputError, match="predates per-example results; rerun it"):
        load_seed_runs({1: tmp_path})
