"""Integration: the offline model on FLORES devtest and Tatoeba (sized down for CI).

FLORES is aligned here with the align stage's eflomal (tests/helpers_probes.py), 120
sentences per language together with 1,000 extra parallel pairs; Tatoeba uses its first 100
pairs per language.
"""

from __future__ import annotations

import pytest
from helpers_probes import build_flores_bitext

from xladjust.config import build_config
from xladjust.io import read_json
from xladjust.models import OFFLINE_SPEC
from xladjust.probes.config import ProbeConfig
from xladjust.probes.run import run_probes

LANGS = ("es", "ru", "vi", "hi")
N_SENTENCES = 120
N_TATOEBA = 100

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flores(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("flores")
    return {lang: build_flores_bitext(shared_data, lang, root / f"en-{lang}", n_sentences=N_SENTENCES, n_extra=1000)
            for lang in LANGS}


def test_offline_model_related_words_closer_and_retrieval_above_chance(offline_model, flores, shared_data, tmp_path):
    cfg = build_config(ProbeConfig, {
        "models": [{"name": "vanilla", "spec": OFFLINE_SPEC}],
        "bitexts": [{"path": str(flores[lang])} for lang in LANGS],
        "tatoeba": str(shared_data / "tatoeba" / "tatoeba"),
        "max_tatoeba_pairs": N_TATOEBA,
        "resamples": 300,
        "out": str(tmp_path / "run"),
    })
    out = run_probes(cfg, loaded={"vanilla": offline_model})
    results = read_json(out / "summary.json")["checkpoints"]["vanilla"]["results"]
    for lang in LANGS:
        dist = results[f"en-{lang}"]["distances"]["metrics"]
        top = dist["by_layer"]["12"]["cosine"]
        assert dist["n_triples"] > 800
        assert top["mean_delta"] > 0 and top["mean_delta_ci_low"] > 0, lang  # related words closer
        assert top["share_delta_positive"] > 0.6, lang
        assert dist["by_layer"]["12"]["euclidean"]["mean_delta"] > 0, lang
        words = results[f"en-{lang}"]["word-retrieval"]["metrics"]
        assert words["p_at_1_csls"] > 0.3 and words["p_at_1_cosine"] > 0.2, lang
        tatoeba = results[f"tatoeba-{lang}"]["sentence-retrieval"]["metrics"]
        assert tatoeba["chance"] == 1 / N_TATOEBA
        assert tatoeba["best_accuracy"] > 0.5, lang  # chance is 1%


def test_offline_model_against_itself_is_identical_with_zero_change(offline_model, flores, shared_data, tmp_path):
    cfg = build_config(ProbeConfig, {
        "models": [{"name": "first", "spec": OFFLINE_SPEC}, {"name": "second", "spec": OFFLINE_SPEC}],
        "bitexts": [{"path": str(flores["es"])}],
        "max_pairs": 60,
        "tatoeba": str(shared_data / "tatoeba" / "tatoeba"),
        "max_tatoeba_pairs": 50,
        "tatoeba_layers": "last",
        "resamples": 200,
        "out": str(tmp_path / "self"),
    })
    summary = read_json(run_probes(cfg) / "summary.json")  # loads the model twice by its spec
    first, second = summary["checkpoints"]["first"], summary["checkpoints"]["second"]
    assert first["results"] == second["results"]
    assert first["tokenizer_sha256"] == second["tokenizer_sha256"] and summary["notes"] == []
    change = summary["comparisons"]["second-vs-first"]["en-es"]["by_layer"]["12"]
    for distance in ("cosine", "euclidean"):
        for quantity in ("delta", "related", "unrelated"):
            c = change[distance][quantity]
            assert c["n"] > 300
            assert c["mean_change"] == 0.0 and c["share_unchanged"] == 1.0 and c["wilcoxon_p"] == 1.0
