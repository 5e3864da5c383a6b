"""The built-in probes (listed in :data:`xladjust.probes.registry.PROBES`).

Each takes a checkpoint's cached view of one input and :class:`ProbeSettings`, and
returns a :class:`ProbeResult`; none prints or writes.
"""

from __future__ import annotations

import numpy as np

from xladjust.errors import InputError
from xladjust.finite import check_finite_outputs
from xladjust.probes.distances import Distance, triple_distances
from xladjust.probes.registry import PROBES, ProbeResult, ProbeSettings
from xladjust.probes.retrieval import DIRECTIONS, retrieval_hits, scores_of_hits
from xladjust.probes.stats import summarize_triples
from xladjust.probes.views import BitextView, SentenceView


def primary_layer(layers: tuple[int, ...], settings: ProbeSettings) -> int:
    """The layer of headline figures: the one asked for, else the last probed."""
    if settings.layer is None:
        return layers[-1]
    if settings.layer not in layers:
        raise InputError(
            f"primary layer {settings.layer} is not among the probed layers {list(layers)}; "
            "add it to --layers or pick one of them"
        )
    return settings.layer


def distance_probe(view: BitextView, settings: ProbeSettings) -> ProbeResult:
    """Per triple d(w, r), d(w, u) and Δ, cosine and Euclidean, at every probed layer.

    Metrics per layer and distance: mean and median of each, share of Δ > 0, the ratio
    d(w,u)/d(w,r), and sentence-level bootstrap 95% intervals of the share, the ratio and
    the mean Δ (see :func:`~xladjust.probes.stats.summarize_triples`). Primary: the share of
    triples with cosine Δ > 0 at the primary layer (scale-free, like the ratio beside it;
    the mean Δ is secondary because it shrinks when the whole space contracts). ``per_item`` holds
    ``{distance}.{related|unrelated|delta}`` arrays ``(n_layers, n_triples)``, NaN for
    triples with a word that got no vector.
    """
    info = PROBES.entry("distances")
    valid = view.triple_valid()
    n = len(view.bitext.triples)
    per_item = {f"{d.value}.{q}": np.full((len(view.layers), n), np.nan)
                for d in Distance for q in ("related", "unrelated", "delta")}
    by_layer: dict[str, dict[str, dict[str, float]]] = {}
    for k, layer in enumerate(view.layers):
        w, r, u = view.triple_vectors(k)
        by_layer[str(layer)] = {}
        for dist in Distance:
            found = triple_distances(w[valid], r[valid], u[valid], dist)
            check_finite_outputs(((f"{dist.value} distances at layer {layer}", v) for v in found.values()),
                                 "distance probe")
            for q, values in found.items():
                per_item[f"{dist.value}.{q}"][k, valid] = values
            by_layer[str(layer)][dist.value] = summarize_triples(
                found["related"], found["unrelated"], settings.resamples, settings.seed,
                clusters=view.bitext.triples.sentence[valid],
            )
    top = by_layer[str(primary_layer(view.layers, settings))][Distance.COSINE.value]
    metrics = {
        "layers": list(view.layers),
        "primary_layer": primary_layer(view.layers, settings),
        "n_triples": n,
        "n_valid": int(valid.sum()),
        "mean_delta": top["mean_delta"],
        "share_delta_positive": top["share_delta_positive"],
        "ratio": top["ratio"],
        "by_layer": by_layer,
    }
    return ProbeResult("distances", info.primary_metric, metrics, per_item)


def word_retrieval_probe(view: BitextView, settings: ProbeSettings) -> ProbeResult:
    """Cao et al. (2020) word retrieval: for each 1-to-1 aligned word, its nearest
    neighbour among all aligned words of the other language in the set, by cosine and by
    CSLS (k = ``settings.csls_k``); P@1 in both directions at every probed layer.
    Primary: mean P@1 of both directions by CSLS at the primary layer."""
    info = PROBES.entry("word-retrieval")
    valid = view.link_valid()
    by_layer: dict[str, dict[str, dict[str, float]]] = {}
    per_item = {f"{m}.{d}": np.full((len(view.layers), valid.size), np.nan)
                for m in ("cosine", "csls") for d in DIRECTIONS}
    for k, layer in enumerate(view.layers):
        x, y = view.link_vectors(k)
        hits = retrieval_hits(x[valid], y[valid], settings.csls_k, csls=True)
        for method, by_direction in hits.items():
            for direction, h in by_direction.items():
                per_item[f"{method}.{direction}"][k, valid] = h
        by_layer[str(layer)] = scores_of_hits(hits)
    top = by_layer[str(primary_layer(view.layers, settings))]
    metrics = {
        "layers": list(view.layers),
        "primary_layer": primary_layer(view.layers, settings),
        "n_words": int(valid.sum()),
        "csls_k": settings.csls_k,
        "p_at_1_cosine": top["cosine"]["mean"],
        "p_at_1_csls": top["csls"]["mean"],
        "by_layer": by_layer,
    }
    return ProbeResult("word-retrieval", info.primary_metric, metrics, per_item)


def split_for_layer_choice(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the pairs that choose the best layer (``select``, ⌊n/2⌋ of them, a seeded
    random draw) and of the pairs that report its accuracy (``report``, the rest)."""
    order = np.random.default_rng([seed, n]).permutation(n)
    half = n // 2
    return np.sort(order[:half]), np.sort(order[half:])


def sentence_retrieval_probe(view: SentenceView, settings: ProbeSettings) -> ProbeResult:
    """XTREME Tatoeba retrieval: each sentence's nearest neighbour among the other
    language's sentences by cosine of mean-pooled vectors, accuracy in both directions at
    every layer (all pairs). Primary: the mean accuracy of both directions at the best
    layer, with the layer chosen on a held-out half of the pairs and the accuracy measured
    on the other half, so the choice never sees the pairs it is scored on (see
    :func:`split_for_layer_choice`; every query searches all N pairs of the other side)."""
    info = PROBES.entry("sentence-retrieval")
    by_layer: dict[str, dict[str, float]] = {}
    hits = []
    for k, layer in enumerate(view.layers):
        found = retrieval_hits(view.src[k], view.tgt[k], csls=False)["cosine"]
        hits.append(np.stack([found[d] for d in DIRECTIONS]))  # (2, n)
        by_layer[str(layer)] = scores_of_hits({"cosine": found})["cosine"]
    n = len(view.sentences.src)
    select, report = split_for_layer_choice(n, settings.seed)
    if select.size:
        choice = {layer: float(hits[k][:, select].mean()) for k, layer in enumerate(view.layers)}
        best = max(view.layers, key=lambda layer: (choice[layer], -layer))
        split = "select"
    else:  # one pair: nothing to hold out; the last layer, chosen without looking
        best, choice, split = view.layers[-1], {}, "none"
    best_accuracy = float(hits[view.layers.index(best)][:, report].mean())
    metrics = {
        "layers": list(view.layers),
        "n_sentences": n,
        "chance": 1.0 / n,
        "best_layer": best,
        "best_accuracy": best_accuracy,
        "layer_choice": {"chosen_on": split, "reported_on": "report", "seed": settings.seed,
                         "n_select": int(select.size), "n_report": int(report.size),
                         "select_accuracy": {str(layer): a for layer, a in choice.items()},
                         "best_layer_all_pairs_accuracy": by_layer[str(best)]["mean"]},
        "last_layer_accuracy": by_layer[str(view.layers[-1])]["mean"],
        "by_layer": by_layer,
    }
    return ProbeResult("sentence-retrieval", info.primary_metric, metrics)
