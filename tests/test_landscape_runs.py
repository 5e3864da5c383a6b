"""Interpolation, flatness and compare runs end to end on tiny task models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_tasks import write_ner, write_nli

from xladjust.cli import main
from xladjust.config import build_config
from xladjust.errors import InputError
from xladjust.io import is_complete
from xladjust.probes.landscape_run import EvalSettings, run_flatness, run_interpolation
from xladjust.report.gather import compare_runs, markdown_to_html, signature_warnings
from xladjust.tasks.config import FinetuneConfig
from xladjust.tasks.finetune import finetune

FAST = {"precision": "fp32", "progress": False, "eval_batch_size": 16, "max_steps": 3, "batch_size": 16}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_checkpoints) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("landscape")
    en, es = write_nli(d / "en.tsv", 48, 0), write_nli(d / "es.tsv", 24, 2)
    ner = write_ner(d / "ner.tsv", 30, 0)
    model = str(tiny_checkpoints["unigram"])

    def tune(name, task, train, seed=1):
        cfg = build_config(FinetuneConfig, {"task": task, "model": model, "train": [str(t) for t in train],
                                            "dev": str(train[0]), "out": str(d / name), "seed": seed, **FAST})
        return finetune(cfg)

    return {"mono": tune("mono", "nli", [en]), "bi": tune("bi", "nli", [en, es]),
            "ner": tune("ner", "ner", [ner]), "en": en, "es": es, "root": d}


def settings(runs, **kw):
    return EvalSettings(task="nli", tests={"en": str(runs["en"]), "es": str(runs["es"])}, bf16=False, **kw)


def test_interpolation_run_writes_table_plot_and_exact_endpoints(runs, tmp_path):
    out = tmp_path / "interp"
    summary = run_interpolation(str(runs["mono"]), str(runs["bi"]), [0.0, 0.5, 1.0], settings(runs), out,
                                progress=False)
    assert is_complete(out)
    for name in ("summary.json", "table.md", "interpolation.png", "interpolation.svg"):
        assert (out / name).is_file(), name
    mono = json.loads((runs["mono"] / "run.json").read_text()) if (runs["mono"] / "run.json").exists() else None
    rows = summary["rows"]
    assert [r["alpha"] for r in rows] == [0.0, 0.5, 1.0]
    # α = 0 is checkpoint A itself: evaluating A directly gives the same accuracy
    from xladjust.tasks.evaluation import evaluate_task_model, metrics_table

    direct = metrics_table(evaluate_task_model(str(runs["mono"]), "nli", {"en": str(runs["en"])}, bf16=False))
    assert rows[0]["metrics"]["en"]["accuracy"] == pytest.approx(direct["en"]["accuracy"])
    direct_b = metrics_table(evaluate_task_model(str(runs["bi"]), "nli", {"es": str(runs["es"])}, bf16=False))
    assert rows[-1]["metrics"]["es"]["accuracy"] == pytest.approx(direct_b["es"]["accuracy"])
    assert set(summary["spread"]) == {"en", "es"} and mono is None or True
    assert "| 0.50 |" in (out / "table.md").read_text()
    # per-example correctness at each α, the same rows at every α, adds up to the accuracies
    per_example = json.loads((out / "per_example.json").read_text())
    assert per_example["alphas"] == [0.0, 0.5, 1.0] and per_example["columns"] == ["correct"]
    for lang in ("en", "es"):
        entry = per_example["languages"][lang]
        assert len(entry["stats"]) == 3 and all(len(point) == len(entry["ids"]) for point in entry["stats"])
        for row, point in zip(rows, entry["stats"], strict=True):
            assert {v for (v,) in point} <= {0, 1}
            assert sum(v for (v,) in point) / len(point) == pytest.approx(row["metrics"][lang]["accuracy"])


def test_interpolation_probes_the_encoder_at_each_alpha(runs, tmp_path):
    from xladjust.align.corpus import AlignedPair, write_aligned_corpus
    from xladjust.probes.landscape_run import _prober
    from xladjust.tasks.model import load_task_model

    words = [("the", "la"), ("house", "casa"), ("is", "es"), ("big", "grande"), ("dog", "perro"), ("water", "agua")]
    pairs = [AlignedPair([a for a, _ in words[k:k + 4]], [b for _, b in words[k:k + 4]], [(i, i) for i in range(4)])
             for k in range(3)]
    bitext = write_aligned_corpus(tmp_path / "heldout", pairs, {"src_lang": "en", "tgt_lang": "es"})
    probed = settings(runs, probe_bitexts={"en-es": str(bitext)})
    out = tmp_path / "interp"
    summary = run_interpolation(str(runs["mono"]), str(runs["bi"]), [0.0, 0.5, 1.0], probed, out, progress=False)
    rows = summary["rows"]
    assert all(set(r["probes"]) == {"en-es"} for r in rows)
    for end, row in ((runs["mono"], rows[0]), (runs["bi"], rows[-1])):  # the endpoints are the checkpoints
        tm = load_task_model(str(end))
        direct = _prober(probed, tm)(tm.model)["en-es"]
        assert row["probes"]["en-es"]["mean_delta"] == pytest.approx(direct["mean_delta"], abs=1e-6)
        assert row["probes"]["en-es"]["p_at_1_csls"] == pytest.approx(direct["p_at_1_csls"])
    assert rows[0]["probes"]["en-es"]["mean_delta"] != rows[-1]["probes"]["en-es"]["mean_delta"]
    assert "en-es mean Δ" in (out / "table.md").read_text()
    assert summary["signature"]["config"]["probe_bitexts"] == {"en-es": str(bitext)}


def test_interpolation_refuses_different_heads(runs, tmp_path):
    with pytest.raises(InputError, match="'nli' model but .* 'ner' model"):
        run_interpolation(str(runs["mono"]), str(runs["ner"]), [0.0, 1.0], settings(runs), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_flatness_run_reports_sharpness_per_language(runs, tmp_path):
    out = tmp_path / "flat"
    summary = run_flatness(str(runs["mono"]), [0.05, 0.5], 2, 0, settings(runs, max_examples=16), out,
                           progress=False)
    assert is_complete(out) and (out / "flatness.png").is_file()
    assert summary["radii"] == [0.0, 0.05, 0.5]
    assert set(summary["sharpness"]) == {"en", "es"}
    assert len(summary["rows"]) == 2 * 3
    assert "r = 0.5" in (out / "table.md").read_text()


def test_eval_settings_need_a_test_set(runs, tmp_path):
    with pytest.raises(InputError, match="no evaluation sets"):
        run_flatness(str(runs["mono"]), [0.1], 1, 0, EvalSettings(task="nli", tests={}), tmp_path / "f")


def test_cli_interpolate_and_compare_with_html(runs, tmp_path, capsys):
    interp = tmp_path / "interp"
    with pytest.raises(SystemExit) as exc:
        main(["-q", "interpolate", "--from", str(runs["mono"]), "--to", str(runs["bi"]), "--alphas", "0:1:3",
              "--test", f"en={runs['en']}", "--test", f"es={runs['es']}", "--precision", "fp32", "--out", str(interp)])
        raise SystemExit(0)
    assert exc.value.code == 0
    assert "Interpolation (nli, accuracy)" in capsys.readouterr().out
    report = tmp_path / "report"
    summary = compare_runs([interp, runs["mono"]], report)
    page = (report / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 1 and "<table>" in page
    assert "Interpolation" in (report / "report.md").read_text()
    assert [r["kind"] for r in summary["runs"]][0] == "interpolate"


def test_interpolate_and_flatness_refuse_a_complete_run_without_overwrite(runs, tmp_path, capsys):
    from helpers_cli import fail_one_line, run_cli, tree_hashes

    for command, model in (("interpolate", ["--from", str(runs["mono"]), "--to", str(runs["bi"]), "--alphas", "0,1"]),
                           ("flatness", ["--model", str(runs["mono"]), "--directions", "1", "--radii", "0,0.1"])):
        out = tmp_path / command
        args = [command, *model, "--test", f"en={runs['en']}", "--max-test-examples", "8", "--precision", "fp32",
                "--out", str(out)]
        code, _, err = run_cli(["-q", *args], capsys)
        assert code == 0, err
        before = tree_hashes(out)
        fail_one_line(capsys, args, "already holds a complete run; pass --overwrite")
        assert tree_hashes(out) == before
        code, _, err = run_cli(["-q", *args, "--overwrite"], capsys)
        assert code == 0 and is_complete(out), err


def test_cli_rejects_bad_test_spec(runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["flatness", "--model", str(runs["mono"]), "--test", "en", "--out", str(tmp_path / "f")])
    assert exc.value.code == 2 and "use LANG=FILE" in capsys.readouterr().err


def test_named_values_are_parsed_once_each():
    from xladjust.cli.tasks import parse_pairs

    assert parse_pairs(("en= a.tsv", "es=b.tsv"), "--test") == {"en": "a.tsv", "es": "b.tsv"}
    with pytest.raises(InputError, match="--bitext 'en-es' is given twice"):
        parse_pairs(("en-es=a", "en-es=b"), "--bitext", "NAME=DIR")
    with pytest.raises(InputError, match="use NAME=DIR, e.g. en-es=x"):
        parse_pairs(("en-es",), "--bitext", "NAME=DIR", "en-es=x")


def test_compare_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        compare_runs([tmp_path / "none"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not an xladjust run directory"):
        compare_runs([tmp_path / "empty"], tmp_path / "out")
    half = tmp_path / "half"
    half.mkdir()
    (half / "summary.json").write_text("{}")
    with pytest.raises(InputError, match="incomplete"):
        compare_runs([half], tmp_path / "out")


def test_signature_warnings_name_what_differs(tmp_path):
    from xladjust.report.gather import RunInfo

    a = RunInfo(Path("a"), "probe", "", [{"versions": {"torch": "2.1"}, "seed": 1, "inputs": {"test-es": "x"}}])
    b = RunInfo(Path("b"), "probe", "", [{"versions": {"torch": "2.2"}, "seed": 2, "inputs": {"test-es": "y"}}])
    warnings = signature_warnings([a, b])
    assert len(warnings) == 3
    assert any("torch versions differ" in w for w in warnings)
    assert any("seeds differ" in w for w in warnings) and any("'test-es'" in w for w in warnings)
    assert signature_warnings([a, a]) == []
    other_kind = RunInfo(Path("c"), "flatness", "", [{"versions": {"torch": "2.1"}, "seed": 7}])
    assert signature_warnings([a, other_kind]) == []  # seeds of different kinds mean different things


def test_markdown_is_rendered_by_markdown_it():
    page = markdown_to_html("# T\n\n| a | b |\n|---|---|\n| 1 | `x` |\n\n- item **bold**\n")
    assert "<h1>T</h1>" in page and '<th style="text-align:right">a</th>' in page
    assert '<td style="text-align:left"><code>x</code></td>' in page
    assert "<li>item <strong>bold</strong></li>" in page


# Injected at the top of a copy of the page: records script errors and failed loads, then,
# once the page has loaded, writes them and the number of decoded images onto <body>.
_PAGE_PROBE = (
    "<script>window.__errors=[];window.addEventListener('error',e=>__errors.push(e.message||"
    "('failed to load '+(e.target&&(e.target.src||e.target.href)))),true);"
    "const ce=console.error;console.error=(...a)=>{__errors.push(a.join(' '));ce(...a)};"
    "window.addEventListener('load',()=>{const b=document.body;b.dataset.errors=JSON.stringify(__errors);"
    "b.dataset.images=document.images.length;"
    "b.dataset.decoded=[...document.images].filter(i=>i.complete&&i.naturalWidth>0).length})</script>"
)


def _chromium() -> str | None:
    import shutil

    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (Debian package chromium)")
def test_compare_html_opens_in_headless_chromium_with_its_plots(runs, tmp_path):
    import html
    import re
    import subprocess

    interp = tmp_path / "interp"
    run_interpolation(str(runs["mono"]), str(runs["bi"]), [0.0, 0.5, 1.0], settings(runs), interp, progress=False)
    flat = tmp_path / "flat"
    run_flatness(str(runs["mono"]), [0.5], 1, 0, settings(runs, max_examples=16), flat, progress=False)
    compare_runs([interp, flat], tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("<head>", "<head>" + _PAGE_PROBE, 1), encoding="utf-8")
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000"]
    dom = subprocess.run([*base, "--dump-dom", checked.as_uri()], capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body ([^>]*)>", dom)
    assert body, dom[:500]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    assert json.loads(html.unescape(attrs["errors"])) == []
    assert int(attrs["images"]) >= 2 and attrs["decoded"] == attrs["images"]  # every inline plot decodes
    shot = tmp_path / "report.png"
    subprocess.run([*base, "--window-size=1100,2400", f"--screenshot={shot}", checked.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000  # a page with plots, not a blank one


def test_pipeline_landscape_over_seeds_then_one_more_seed(runs, tiny_checkpoints, tmp_path):
    from xladjust.pipeline import PipelineConfig, run_pipeline

    def config(seeds):
        return build_config(PipelineConfig, {
            "out": str(tmp_path / "runs"), "model": str(tiny_checkpoints["unigram"]), "seed": 1,
            "landscape": {"task": "nli", "source_train": str(runs["en"]), "target_train": str(runs["es"]),
                          "test": {"en": str(runs["en"]), "es": str(runs["es"])}, "seeds": seeds,
                          "finetune": {**FAST, "dev_split": 0.25},
                          "alphas": "0:1:3", "radii": "0,0.1", "directions": 1, "max_test_examples": 16}},
            where="test")

    done = run_pipeline(config([1, 2]), progress=False, echo=lambda _: None)
    assert [a for _, a, _ in done] == ["ran"] * 9
    root = tmp_path / "runs" / "landscape"
    summary = json.loads((root / "summary" / "summary.json").read_text())
    assert summary["seeds"] == [1, 2] and summary["alphas"] == [0.0, 0.5, 1.0]
    assert [t["alpha"] for t in summary["languages"]["es"]["tests"]] == [0.5, 1.0]
    assert (root / "summary" / "interpolation.png").is_file() and is_complete(root / "summary")
    flat = json.loads((root / "seed-2" / "flatness" / "summary.json").read_text())
    assert flat["signature"]["seed"] == 2  # the directions come from the run's seed
    done = run_pipeline(config([1, 2, 3]), progress=False, echo=lambda _: None)
    ran = [name for name, action, _ in done if action == "ran"]
    assert ran == ["finetune monolingual s3", "finetune bilingual s3", "interpolate s3", "flatness s3",
                   "landscape summary"]
    assert json.loads((root / "summary" / "summary.json").read_text())["seeds"] == [1, 2, 3]
