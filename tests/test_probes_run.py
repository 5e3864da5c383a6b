"""The probe stage end to end on tiny models: run directory, report, CLI, error paths."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from helpers_probes import write_tatoeba

from xladjust.align.corpus import read_pairs, write_aligned_corpus
from xladjust.config import build_config
from xladjust.errors import InputError
from xladjust.io import is_complete, read_json
from xladjust.probes.config import ProbeConfig
from xladjust.probes.registry import PROBES, ProbeResult
from xladjust.probes.run import ProbeInputs, prepare_inputs, probe_checkpoint, run_probes

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "hand-aligned-en-es"


@pytest.fixture(scope="module")
def inputs_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("probe-inputs")
    pairs = read_pairs(SAMPLE)
    write_aligned_corpus(root / "bitext", pairs, {"languages": {"src": "en", "tgt": "es"}})
    write_tatoeba(root / "tatoeba", "es", [" ".join(p.src) for p in pairs], [" ".join(p.tgt) for p in pairs])
    return root


def config(inputs_dir: Path, out: Path, models: dict[str, Path | str], **extra) -> ProbeConfig:
    data = {
        "models": [{"name": name, "spec": str(spec)} for name, spec in models.items()],
        "bitexts": [{"path": str(inputs_dir / "bitext")}],
        "tatoeba": str(inputs_dir / "tatoeba" / "tatoeba"),
        "out": str(out),
        "precision": "fp32",
        "resamples": 200,
        **extra,
    }
    return build_config(ProbeConfig, data)


def test_run_writes_a_complete_run_directory(tiny_checkpoints, inputs_dir, tmp_path):
    cfg = config(inputs_dir, tmp_path / "run", {"wp": tiny_checkpoints["wordpiece"], "ug": tiny_checkpoints["unigram"]},
                 layers="all")
    out = run_probes(cfg)
    assert is_complete(out)
    summary = read_json(out / "summary.json")
    sig = summary["signature"]
    assert sig["stage"] == "probe" and sig["seed"] == 0 and "torch" in sig["versions"]
    assert [m["spec"] for m in sig["models"]] == [str(tiny_checkpoints["wordpiece"]), str(tiny_checkpoints["unigram"])]
    assert all(len(h) == 64 for h in sig["inputs"].values()) and len(sig["inputs"]) == 3
    assert "model.safetensors" in sig["models"][0]["files_sha256"]

    n_triples = summary["inputs"]["bitexts"][0]["counts"]["triples"]
    for name in ("wp", "ug"):
        results = summary["checkpoints"][name]["results"]
        assert set(results) == {"en-es", "tatoeba-es"}
        assert set(results["en-es"]) == {"distances", "word-retrieval"}
        dist = results["en-es"]["distances"]
        assert dist["primary_metric"] == "share_delta_positive"  # scale-free
        assert dist["primary"] == dist["metrics"]["share_delta_positive"]
        assert dist["metrics"]["layers"] == [0, 1, 2] and dist["metrics"]["n_triples"] == n_triples
        assert set(results["tatoeba-es"]["sentence-retrieval"]["metrics"]["by_layer"]) == {"0", "1", "2"}

    # different tokenizers: allowed, paired on the same words, and said so
    assert any("different tokenizers" in note for note in summary["notes"])
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "different tokenizers" in report and "|  | wp | ug |" in report  # side by side
    assert "Paired change ug − wp" in report and "Wilcoxon p" not in report  # the p printed is the bootstrap's
    assert "Geometry measures, ug − wp" in report and "bootstrap over sentences" in report
    measures = summary["comparisons"]["ug-vs-wp"]["en-es"]["measures"]
    assert measures["unit"] == "sentence" and measures["primary"] == ["share_delta_positive", "ratio"]
    share = measures["share_delta_positive"]
    assert share["ci_low"] <= share["change"] <= share["ci_high"] and 0 <= share["p"] <= 1 and share["mde"] > 0

    with open(out / "triples.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * n_triples
    assert measures["n_units"] == len({r["sentence"] for r in rows}) < measures["n"]  # triples share sentences
    assert {"wp.cosine.delta", "ug.euclidean.related", "src_word", "unrelated_word"} <= set(rows[0])
    first = rows[0]
    assert float(first["wp.cosine.delta"]) == pytest.approx(
        float(first["wp.cosine.unrelated"]) - float(first["wp.cosine.related"]), abs=2e-6)

    for stem in ("en-es.delta", "en-es.distances", "en-es.delta-change.ug-vs-wp", "en-es.delta-by-layer",
                 "tatoeba-by-layer"):
        for fmt in ("png", "svg"):
            assert (out / "plots" / f"{stem}.{fmt}").stat().st_size > 1000
        assert f"plots/{stem}.png" in report
    assert "Δ = d(w,u) − d(w,r)" in (out / "plots" / "en-es.delta.svg").read_text(encoding="utf-8")


def test_checkpoint_against_itself_gives_identical_figures_and_zero_change(tiny_checkpoints, inputs_dir, tmp_path):
    spec = tiny_checkpoints["wordpiece"]
    out = run_probes(config(inputs_dir, tmp_path / "self", {"a": spec, "b": spec}))
    summary = read_json(out / "summary.json")
    a, b = summary["checkpoints"]["a"]["results"], summary["checkpoints"]["b"]["results"]
    assert a == b
    assert summary["notes"] == []  # same tokenizer: nothing to warn about
    comparison = summary["comparisons"]["b-vs-a"]["en-es"]["by_layer"]["2"]
    for distance in ("cosine", "euclidean"):
        for quantity in ("delta", "related", "unrelated"):
            c = comparison[distance][quantity]
            assert c["mean_change"] == 0.0 and c["median_change"] == 0.0
            assert c["share_unchanged"] == 1.0 and c["wilcoxon_p"] == 1.0 and c["rank_biserial"] == 0.0
            if distance == "cosine" and quantity == "delta":  # the primary layer: the bootstrap ran
                assert c["bootstrap_p"] == 1.0 and c["bootstrap_ci_low"] == 0.0 == c["bootstrap_ci_high"]
    measures = summary["comparisons"]["b-vs-a"]["en-es"]["measures"]
    for name in ("share_delta_positive", "ratio", "mean_delta"):
        assert measures[name]["change"] == 0.0 and measures[name]["p"] == 1.0 and measures[name]["mde"] == 0.0


def test_probes_share_one_interface_and_neither_print_nor_write(tiny_model, inputs_dir, tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config(inputs_dir, tmp_path / "unused", {"m": "x"}, unrelated="other-sentence")
    inputs = prepare_inputs(cfg)
    run = probe_checkpoint(tiny_model, inputs, cfg, name="m")
    assert capsys.readouterr() == ("", "") and list(tmp_path.iterdir()) == []
    for results in run.results.values():
        for probe, result in results.items():
            assert isinstance(result, ProbeResult) and result.probe == probe
            assert result.primary_metric == PROBES.entry(probe).primary_metric
            assert np.isfinite(result.primary)
    assert run.timing["forward_calls"] >= 1 and run.timing["forward"] > 0


def test_a_shared_side_is_embedded_once(tiny_model, inputs_dir, tmp_path):
    cfg = config(inputs_dir, tmp_path / "o", {"m": "x"}, probes=["distances"])
    one = prepare_inputs(cfg)
    calls_one = probe_checkpoint(tiny_model, one, cfg).timing["forward_calls"]
    bitext = one.bitexts[0]
    twin = dataclasses.replace(bitext, name="twin")
    two = probe_checkpoint(tiny_model, ProbeInputs([bitext, twin], []), cfg)
    assert two.timing["forward_calls"] == calls_one  # both sides of the twin were cached
    assert two.results["en-es"]["distances"].metrics == two.results["twin"]["distances"].metrics


# --- error paths -----------------------------------------------------------------------------

def test_layer_out_of_range_fails_before_any_work(tiny_checkpoints, inputs_dir, tmp_path):
    cfg = config(inputs_dir, tmp_path / "run", {"tiny": tiny_checkpoints["wordpiece"]}, layers="1,5")
    with pytest.raises(InputError, match=r"model 'tiny'.*layer 5 is out of range.*0\.\.2"):
        run_probes(cfg)
    assert not (tmp_path / "run").exists()


def test_primary_layer_must_be_probed(tiny_checkpoints, inputs_dir, tmp_path):
    cfg = config(inputs_dir, tmp_path / "run", {"tiny": tiny_checkpoints["wordpiece"]}, layers="2", layer=1)
    with pytest.raises(InputError, match="primary layer 1 is not among the layers probed"):
        run_probes(cfg)


def test_empty_tatoeba_file_fails_before_models_load(inputs_dir, tmp_path):
    prefix = write_tatoeba(tmp_path / "tat", "es", [], [])
    cfg = config(inputs_dir, tmp_path / "run", {"m": "/no/such/model"}, tatoeba=str(prefix))
    with pytest.raises(InputError, match="is empty"):
        run_probes(cfg)


def test_bitext_without_usable_links_fails_with_counts(tmp_path, inputs_dir):
    from xladjust.align.corpus import AlignedPair

    bad = write_aligned_corpus(tmp_path / "bad", [AlignedPair(["a", "b"], ["c", "d"], [])], {})
    cfg = config(inputs_dir, tmp_path / "run", {"m": "/no/such/model"}, bitexts=[{"path": str(bad)}])
    with pytest.raises(InputError, match=r"has no usable links: 1 sentence pairs, 0 links"):
        run_probes(cfg)


def test_out_dir_is_never_a_foreign_directory(tiny_checkpoints, inputs_dir, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    cfg = config(inputs_dir, foreign, {"m": tiny_checkpoints["wordpiece"]})
    with pytest.raises(InputError, match="not a probe run"):
        run_probes(cfg)
    assert (foreign / "notes.txt").read_text() == "keep me"


# --- CLI -------------------------------------------------------------------------------------

def test_cli_pins_figures_for_a_fixed_seed(tiny_checkpoints, inputs_dir, tmp_path, capsys):
    from xladjust.cli import main

    out = tmp_path / "cli"
    main(["-q", "probe", "--model", f"tiny={tiny_checkpoints['wordpiece']}", "--bitext", str(inputs_dir / "bitext"),
          "--tatoeba", str(inputs_dir / "tatoeba"), "--precision", "fp32", "--resamples", "100", "--seed", "0",
          "--out", str(out)])
    printed = capsys.readouterr().out
    assert "tiny en-es: distances share_delta_positive=" in printed and "wrote" in printed
    summary = read_json(out / "summary.json")
    res = summary["checkpoints"]["tiny"]["results"]
    dist = res["en-es"]["distances"]["metrics"]
    assert dist["n_triples"] == 64 and dist["primary_layer"] == 2
    top = dist["by_layer"]["2"]["cosine"]
    assert top["mean_delta"] == pytest.approx(PINNED["mean_delta"], abs=1e-4)
    assert top["share_delta_positive"] == pytest.approx(PINNED["share_delta_positive"])
    words = res["en-es"]["word-retrieval"]["metrics"]
    assert words["p_at_1_csls"] == pytest.approx(PINNED["p_at_1_csls"])
    assert res["tatoeba-es"]["sentence-retrieval"]["metrics"]["n_sentences"] == 12


PINNED = {"mean_delta": 0.1016, "share_delta_positive": 49 / 64, "p_at_1_csls": 9 / 64}


def test_cli_errors_are_one_line_with_status_2(tiny_checkpoints, inputs_dir, tmp_path, capsys):
    from xladjust.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["probe", "--model", f"tiny={tiny_checkpoints['wordpiece']}", "--bitext", str(inputs_dir / "bitext"),
              "--layers", "7", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "layer 7 is out of range" in err


def test_cli_rejects_duplicate_names(tiny_checkpoints, inputs_dir, tmp_path, capsys):
    from xladjust.cli import main

    spec = str(tiny_checkpoints["wordpiece"])
    with pytest.raises(SystemExit) as exc:
        main(["probe", "--model", f"a={spec}", "--model", f"a={spec}", "--bitext", str(inputs_dir / "bitext"),
              "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "used twice" in capsys.readouterr().err


def test_summary_is_strict_json(tiny_checkpoints, inputs_dir, tmp_path):
    out = run_probes(config(inputs_dir, tmp_path / "j", {"m": tiny_checkpoints["unigram"]}, probes=["distances"]))
    text = (out / "summary.json").read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_word_retrieval_alone_reports_without_distances(tiny_checkpoints, inputs_dir, tmp_path):
    out = run_probes(config(inputs_dir, tmp_path / "w", {"m": tiny_checkpoints["wordpiece"]},
                            probes=["word-retrieval"], csls_k=3))
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "P@1 CSLS en→es" in report and "cosine: mean d(w,r)" not in report
    assert (out / "triples.csv").read_text(encoding="utf-8").count("\n") == 1  # header only
    metrics = read_json(out / "summary.json")["checkpoints"]["m"]["results"]["en-es"]["word-retrieval"]["metrics"]
    assert metrics["csls_k"] == 3 and metrics["n_words"] == 64


def test_tatoeba_alone_with_explicit_language(tiny_checkpoints, inputs_dir, tmp_path):
    out = run_probes(config(inputs_dir, tmp_path / "t", {"m": tiny_checkpoints["unigram"]}, bitexts=[],
                            tatoeba_langs=["es"], tatoeba_layers="last"))
    summary = read_json(out / "summary.json")
    result = summary["checkpoints"]["m"]["results"]["tatoeba-es"]["sentence-retrieval"]
    assert list(summary["checkpoints"]["m"]["results"]) == ["tatoeba-es"]
    assert result["metrics"]["layers"] == [2] and result["primary"] == result["metrics"]["best_accuracy"]
    assert "## Sentence retrieval (Tatoeba)" in (out / "report.md").read_text(encoding="utf-8")


def test_handed_over_models_must_match_the_config(tiny_model, inputs_dir, tmp_path):
    from xladjust.errors import ConfigError

    cfg = config(inputs_dir, tmp_path / "h", {"m": "some/other/spec"})
    with pytest.raises(ConfigError, match="loaded model 'm'"):
        run_probes(cfg, loaded={"m": tiny_model})


def test_two_checkpoints_get_a_paired_retrieval_test_and_a_held_out_tatoeba_layer(tiny_checkpoints, inputs_dir,
                                                                                   tmp_path):
    spec_a, spec_b = tiny_checkpoints["wordpiece"], tiny_checkpoints["unigram"]
    out = run_probes(config(inputs_dir, tmp_path / "mc", {"a": spec_a, "b": spec_b}, layers="all", csls_k=3))
    summary = read_json(out / "summary.json")
    test = summary["comparisons"]["b-vs-a"]["en-es"]["word_retrieval"]
    assert test["layer"] == 2
    for method in ("cosine", "csls"):
        pooled = test[method]["mean"]
        halves = [test[method][d] for d in ("src_to_tgt", "tgt_to_src")]
        assert pooled["n"] == sum(h["n"] for h in halves) == 2 * 64
        assert pooled["gained"] == sum(h["gained"] for h in halves) and 0 <= pooled["mcnemar_p"] <= 1
        for d in ("src_to_tgt", "tgt_to_src"):  # the P@1 the test pairs are the probes' own
            for name, side in (("a", "p_at_1_before"), ("b", "p_at_1_after")):
                scores = summary["checkpoints"][name]["results"]["en-es"]["word-retrieval"]["metrics"]["by_layer"]["2"]
                assert test[method][d][side] == pytest.approx(scores[method][d])
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "**Word retrieval, b − a** at layer 2" in report and "McNemar p" not in report
    boot = test["csls"]["mean"]["bootstrap"]  # the printed test: a bootstrap over sentences
    assert boot["unit"] == "sentence" and boot["n_units"] < 64 and boot["mde"] > 0
    assert boot["bootstrap_ci_low"] <= test["csls"]["mean"]["change"] <= boot["bootstrap_ci_high"]
    assert (boot["bootstrap_p"] < 0.05) == (boot["bootstrap_ci_low"] > 0 or boot["bootstrap_ci_high"] < 0)

    tatoeba = summary["checkpoints"]["a"]["results"]["tatoeba-es"]["sentence-retrieval"]["metrics"]
    choice = tatoeba["layer_choice"]
    assert (choice["n_select"], choice["n_report"]) == (6, 6) and choice["chosen_on"] == "select"
    scores = choice["select_accuracy"]
    assert tatoeba["best_layer"] == max(sorted(map(int, scores)), key=lambda x: (scores[str(x)], -x))
    assert "held-out half" in report


def test_retrieval_test_of_a_checkpoint_against_itself_changes_nothing(tiny_checkpoints, inputs_dir, tmp_path):
    spec = tiny_checkpoints["wordpiece"]
    out = run_probes(config(inputs_dir, tmp_path / "same", {"a": spec, "b": spec}, probes=["word-retrieval"]))
    test = read_json(out / "summary.json")["comparisons"]["b-vs-a"]["en-es"]["word_retrieval"]
    assert test["csls"]["mean"]["gained"] == test["csls"]["mean"]["lost"] == 0
    assert test["csls"]["mean"]["mcnemar_p"] == 1.0 and test["csls"]["mean"]["bootstrap"]["bootstrap_p"] == 1.0
    assert "Paired change" not in (out / "report.md").read_text(encoding="utf-8")  # no distances were probed
