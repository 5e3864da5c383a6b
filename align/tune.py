"""Choosing the embedding aligner's layer, method, threshold and temperature on dev gold.

:func:`tune_extraction` (``xladjust align tune``) embeds each gold set's sentences once at
every candidate layer, extracts links with every candidate (method, threshold,
temperature) of :data:`xladjust.align.similarity.METHODS`, and scores them on the fixed
dev split of each gold set (:func:`xladjust.align.gold.split_gold`). The configuration
with the lowest mean dev AER over the gold sets is chosen; only then are the test splits
looked at, for that choice and for the best dev choice of each method. Test scores never
take part in a choice.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.align.config import AlignerSpec, EmbeddingOptions
from xladjust.align.gold import GoldDrops, GoldPair, read_gold, split_gold
from xladjust.align.links import Link
from xladjust.align.metrics import AlignmentScores, score_alignments
from xladjust.align.similarity import (
    METHODS,
    align_by_similarity,
    apply_distortion,
    direction_probabilities,
    threshold_links,
)
from xladjust.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoldSet:
    name: str  # e.g. en-fr
    gold_text: Path
    gold: Path

    def __post_init__(self) -> None:
        for attr in ("gold_text", "gold"):
            if isinstance(getattr(self, attr), str):
                object.__setattr__(self, attr, Path(getattr(self, attr)))


@dataclass(frozen=True)
class TuneConfig:
    """What ``xladjust align tune`` searches over."""

    gold_sets: tuple[GoldSet, ...]
    embedding: EmbeddingOptions = field(default_factory=EmbeddingOptions)  # model, pooling, batch, threads
    layers: tuple[int, ...] = (6, 7, 8, 9, 10)
    methods: tuple[str, ...] = tuple(METHODS)
    thresholds: tuple[float, ...] = (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5)
    temperatures: tuple[float, ...] = (0.05, 0.1, 0.2)
    distortions: tuple[float, ...] = (0.0,)  # SimAlign's diagonal prior, applied to the cached similarities
    one_indexed: bool = True
    drop_invalid_gold: bool = False

    def check(self) -> list[str]:
        problems = [f"method {m!r} is not one of: {', '.join(METHODS)}" for m in self.methods if m not in METHODS]
        if not self.gold_sets:
            problems.append("no gold set given: pass --gold-set NAME TEXT GOLD")
        names = [g.name for g in self.gold_sets]
        if len(set(names)) != len(names):
            problems.append(f"gold set names must differ, got {names}")
        if not self.layers or not self.methods:
            problems.append("give at least one layer and one method")
        problems += [f"threshold {t} is not in [0, 1)" for t in self.thresholds if not 0 <= t < 1]
        problems += [f"temperature {t} is not positive" for t in self.temperatures if not t > 0]
        problems += [f"distortion {d} is not in [0, 1]" for d in self.distortions if not 0 <= d <= 1]
        if not self.distortions:
            problems.append("give at least one distortion (0 for none)")
        if any(METHODS[m].probabilistic for m in self.methods if m in METHODS) and not (
                self.thresholds and self.temperatures):
            problems.append("the probability methods need at least one threshold and one temperature")
        return problems


@dataclass(frozen=True)
class Candidate:
    layer: int
    method: str
    threshold: float | None = None
    temperature: float | None = None
    distortion: float = 0.0

    def flags(self) -> str:
        """The ``xladjust align`` options that select this candidate."""
        out = f"--aligner embedding --layer {self.layer} --method {self.method}"
        if self.threshold is not None:
            out += f" --threshold {self.threshold:g} --temperature {self.temperature:g}"
        if self.distortion:
            out += f" --distortion {self.distortion:g}"
        return out


def candidates(config: TuneConfig, layers: Sequence[int]) -> list[Candidate]:
    out = []
    for dist, layer, method in itertools.product(config.distortions, layers, config.methods):
        if METHODS[method].probabilistic:
            out += [Candidate(layer, method, t, temp, dist) for temp in config.temperatures for t in config.thresholds]
        else:
            out.append(Candidate(layer, method, distortion=dist))
    return out


def links_for(sims: Sequence[dict[int, np.ndarray]], cands: Sequence[Candidate]) -> dict[Candidate, list[list[Link]]]:
    """Links of every pair under every candidate (pure); probabilities are computed once
    per (layer, method, temperature) and thresholded for each threshold."""
    out: dict[Candidate, list[list[Link]]] = {c: [] for c in cands}
    groups: dict[tuple[int, str, float | None, float], list[Candidate]] = {}
    for c in cands:
        groups.setdefault((c.layer, c.method, c.temperature, c.distortion), []).append(c)
    for (layer, method, temperature, distortion), group in groups.items():
        for pair in sims:
            sim = apply_distortion(pair[layer], distortion)
            if temperature is None:
                out[group[0]].append(align_by_similarity(sim, method) if sim.size else [])
                continue
            fwd, rev = direction_probabilities(sim, method, temperature) if sim.size else (sim, sim)
            for c in group:
                out[c].append(threshold_links(fwd, rev, c.threshold) if sim.size else [])  # type: ignore[arg-type]
    return out


@dataclass
class TuneReport:
    chosen: Candidate
    dev: dict[Candidate, dict[str, AlignmentScores]]  # candidate -> gold set -> dev scores
    test: dict[Candidate, dict[str, AlignmentScores]]  # chosen and each method's dev best -> test scores
    best_per_method: dict[str, Candidate]
    sizes: dict[str, dict[str, int]]
    dropped: dict[str, dict[str, int]]
    seconds: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)

    def mean_dev_aer(self, c: Candidate) -> float:
        return statistics.fmean(s.aer for s in self.dev[c].values())

    def to_dict(self) -> dict[str, Any]:
        def row(c: Candidate, part: dict[Candidate, dict[str, AlignmentScores]]) -> dict[str, Any]:
            return {"layer": c.layer, "method": c.method, "threshold": c.threshold, "temperature": c.temperature,
                    "distortion": c.distortion, "flags": c.flags(), "scores": {k: v.to_dict() for k, v in part[c].items()}}

        return {"chosen": row(self.chosen, self.test),
                "best_per_method": {m: row(c, self.test) for m, c in self.best_per_method.items()},
                "dev": [{**row(c, self.dev), "mean_dev_aer": self.mean_dev_aer(c)} for c in self.dev],
                "split": {"rule": "sentence k (0-based) is dev when k % 3 == 0, else test", "sizes": self.sizes},
                "dropped_gold_links": self.dropped, "model": self.model, "seconds": round(self.seconds, 3)}


def tune_extraction(config: TuneConfig, *, backend: Any = None, progress: bool = False) -> TuneReport:
    """Choose the layer and extraction on the dev splits; score that choice on the test splits."""
    from xladjust.align.embedding_aligner import EmbeddingBackend
    from xladjust.embeddings import resolve_layers

    problems = config.check()
    if problems:
        raise ConfigError("; ".join(problems))
    t0 = time.perf_counter()
    gold: dict[str, list[GoldPair]] = {}
    dropped = {}
    for g in config.gold_sets:
        drops = GoldDrops()
        gold[g.name] = read_gold(g.gold_text, g.gold, config.one_indexed, config.drop_invalid_gold, drops)
        dropped[g.name] = drops.to_dict()
    import dataclasses

    plain = dataclasses.replace(config.embedding, distortion=0.0)  # the candidates apply their own
    backend = backend or EmbeddingBackend(AlignerSpec(name="embedding", embedding=plain))
    backend.check()
    loaded = backend._model()
    layers = resolve_layers(list(config.layers), loaded.num_layers)
    cands = candidates(config, layers)
    dev: dict[Candidate, dict[str, AlignmentScores]] = {c: {} for c in cands}
    links: dict[str, dict[Candidate, list[list[Link]]]] = {}
    splits = {}
    for name, pairs in gold.items():
        log.info("tune: embedding %d %s gold pairs at layers %s", len(pairs), name, list(layers))
        sims = list(backend.iter_similarities([(p.src, p.tgt) for p in pairs], layers))
        links[name] = links_for(sims, cands)
        splits[name] = {"dev": split_gold(pairs, "dev"), "test": split_gold(pairs, "test")}
        for c in cands:
            dev[c][name] = _score(links[name][c], pairs, splits[name]["dev"])
    report = TuneReport(cands[0], dev, {}, {}, {n: {k: len(v) for k, v in s.items()} for n, s in splits.items()},
                        dropped, model={"spec": config.embedding.model, "num_layers": loaded.num_layers})
    order = sorted(cands, key=lambda c: (report.mean_dev_aer(c), c.layer, c.method))
    report.chosen = order[0]
    for c in order:
        report.best_per_method.setdefault(c.method, c)
    for c in {report.chosen, *report.best_per_method.values()}:
        report.test[c] = {name: _score(links[name][c], gold[name], splits[name]["test"]) for name in gold}
    report.seconds = time.perf_counter() - t0
    return report


def _score(rows: list[list[Link]], pairs: list[GoldPair], subset: list[int]) -> AlignmentScores:
    return score_alignments([rows[k] for k in subset], [pairs[k].links for k in subset])
