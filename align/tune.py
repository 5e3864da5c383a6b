"""Choosing the embedding aligner's layer, method, threshold and temperature on dev gold.

:func:`tune_extraction` (``xladjust align tune``) embeds each gold set's sentences once at
every candidate layer, extracts links with every candidate (method, threshold,
temperature) of :data:`xladjust.align.similarity.METHODS`, and scores them on the fixed
dev split of each gold set (:func:`xladjust.align.gold.split_gold`). The configuration
with the best dev objective over the gold sets is chosen (:data:`OBJECTIVES`: the mean dev
AER, or the worst pair's dev AER above that pair's own best, so that a setting that helps
one language family and hurts another loses); only then are the test splits looked at, for
that choice, for the best dev choice of each method and for the named reference
configurations. Test scores never take part in a choice.

The similarity matrices are the costly part (one forward pass per sentence); with a cache
folder they are kept as ``.npz`` files keyed by the model, pooling, precision, layers and
the gold text's content, so another grid over the same gold sets reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
from xladjust.align.embedding_aligner import EmbeddingBackend
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
from xladjust.embeddings import resolve_layers
from xladjust.errors import ConfigError
from xladjust.io import atomic_path

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

    def check(self) -> list[str]:
        if self.method not in METHODS:
            return [f"method {self.method!r} is not one of: {', '.join(METHODS)}"]
        if METHODS[self.method].probabilistic != (self.threshold is not None and self.temperature is not None):
            return [f"{self.method} {'needs' if METHODS[self.method].probabilistic else 'takes no'} "
                    "threshold and temperature"]
        return []

    @classmethod
    def parse(cls, text: str) -> Candidate:
        """A candidate from ``layer=8,method=argmax[,threshold=T,temperature=T][,distortion=D]``."""
        kinds = {"layer": int, "method": str, "threshold": float, "temperature": float, "distortion": float}
        fields: dict[str, Any] = {}
        for part in text.split(","):
            key, _, value = part.partition("=")
            key = key.strip()
            if key not in kinds or not value:
                raise ConfigError(f"reference {text!r}: {part!r} is not KEY=VALUE with KEY one of "
                                  f"{', '.join(kinds)}; e.g. layer=8,method=argmax")
            try:
                fields[key] = kinds[key](value.strip())
            except ValueError:
                raise ConfigError(f"reference {text!r}: {key} {value!r} is not a {kinds[key].__name__}") from None
        if "layer" not in fields or "method" not in fields:
            raise ConfigError(f"reference {text!r} needs layer= and method=, e.g. layer=8,method=argmax")
        return cls(**fields)


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
    objective: str = "relative"  # a key of OBJECTIVES
    references: tuple[Candidate, ...] = ()  # scored on dev and test beside the choice, never chosen
    cache: Path | None = None  # folder of cached similarity matrices

    def __post_init__(self) -> None:
        if isinstance(self.cache, str):
            object.__setattr__(self, "cache", Path(self.cache))

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
        if self.objective not in OBJECTIVES:
            problems.append(f"objective {self.objective!r} is not one of: {', '.join(OBJECTIVES)}")
        problems += [f"reference {r.flags()!r}: {p}" for r in self.references for p in r.check()]
        if any(METHODS[m].probabilistic for m in self.methods if m in METHODS) and not (
                self.thresholds and self.temperatures):
            problems.append("the probability methods need at least one threshold and one temperature")
        return problems


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


def _mean(aers: dict[str, float], best: dict[str, float]) -> float:
    return statistics.fmean(aers.values())


def _relative(aers: dict[str, float], best: dict[str, float]) -> float:
    # a set that some candidate aligns perfectly (best 0) counts 1 + AER: 1 for the best, as a ratio would
    return statistics.fmean(aers[name] / best[name] if best[name] else 1.0 + aers[name] for name in aers)


def _regret(aers: dict[str, float], best: dict[str, float]) -> float:
    return max(aers[name] - best[name] for name in aers)


# How a candidate's dev AERs over the gold sets become one number to minimize; each takes
# the candidate's dev AER per gold set and the best dev AER of any candidate per gold set.
# ``relative`` (the default) averages each set's AER divided by that set's best, so every
# set weighs the same whatever its AER's scale: with the plain ``mean`` a set at AER 0.6
# (ja-en) outweighs one at 0.06 (en-fr), and a setting that gains 0.04 on the first while
# losing 0.03 on the second (half that set's AER) wins. ``regret`` is the worst set's excess
# over its own best.
OBJECTIVES = {"relative": _relative, "mean": _mean, "regret": _regret}


@dataclass
class TuneReport:
    chosen: Candidate
    dev: dict[Candidate, dict[str, AlignmentScores]]  # candidate -> gold set -> dev scores
    test: dict[Candidate, dict[str, AlignmentScores]]  # chosen, each method's dev best, references -> test
    best_per_method: dict[str, Candidate]
    sizes: dict[str, dict[str, int]]
    dropped: dict[str, dict[str, int]]
    seconds: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)
    objective: str = "relative"
    references: tuple[Candidate, ...] = ()
    searched: list[Candidate] = field(default_factory=list)  # the grid; empty: every candidate of dev

    def mean_dev_aer(self, c: Candidate) -> float:
        return statistics.fmean(s.aer for s in self.dev[c].values())

    def best_dev_aer(self) -> dict[str, float]:
        """Per gold set, the lowest dev AER of any searched candidate (references excluded)."""
        searched = self.searched or list(self.dev)
        return {n: min(self.dev[c][n].aer for c in searched) for n in self.dev[searched[0]]}

    def objective_value(self, c: Candidate, objective: str | None = None,
                        best: dict[str, float] | None = None) -> float:
        aers = {n: s.aer for n, s in self.dev[c].items()}
        return OBJECTIVES[objective or self.objective](aers, best if best is not None else self.best_dev_aer())

    def to_dict(self) -> dict[str, Any]:
        best = self.best_dev_aer()

        def row(c: Candidate, part: dict[Candidate, dict[str, AlignmentScores]]) -> dict[str, Any]:
            return {"layer": c.layer, "method": c.method, "threshold": c.threshold, "temperature": c.temperature,
                    "distortion": c.distortion, "flags": c.flags(), "scores": {k: v.to_dict() for k, v in part[c].items()}}

        def dev_row(c: Candidate) -> dict[str, Any]:
            return {"layer": c.layer, "method": c.method, "threshold": c.threshold, "temperature": c.temperature,
                    "distortion": c.distortion, "dev_aer": {n: round(s.aer, 5) for n, s in self.dev[c].items()},
                    **{f"{name}_dev": round(self.objective_value(c, name, best), 5) for name in OBJECTIVES}}

        return {"objective": self.objective, "best_dev_aer": best,
                "chosen": {**row(self.chosen, self.test), "dev_scores": row(self.chosen, self.dev)["scores"]},
                "best_per_method": {m: row(c, self.test) for m, c in self.best_per_method.items()},
                "references": [{**row(c, self.test), "dev_scores": row(c, self.dev)["scores"]}
                               for c in self.references],
                "dev": [dev_row(c) for c in self.searched or self.dev],
                "split": {"rule": "sentence k (0-based) is dev when k % 3 == 0, else test", "sizes": self.sizes},
                "dropped_gold_links": self.dropped, "model": self.model, "seconds": round(self.seconds, 3)}


def tune_extraction(config: TuneConfig, *, backend: Any = None, progress: bool = False) -> TuneReport:
    """Choose the layer and extraction on the dev splits; score that choice on the test splits."""
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
    plain = dataclasses.replace(config.embedding, distortion=0.0)  # the candidates apply their own
    backend = backend or EmbeddingBackend(AlignerSpec(name="embedding", embedding=plain))
    backend.check()
    loaded = backend._model()
    layers = resolve_layers(list(config.layers), loaded.num_layers)
    cands = candidates(config, layers)
    refs = tuple(dataclasses.replace(r, layer=resolve_layers(r.layer, loaded.num_layers)[0])
                 for r in config.references)
    embedded = sorted({*layers, *(r.layer for r in refs)})
    scored = list(dict.fromkeys([*cands, *refs]))
    dev: dict[Candidate, dict[str, AlignmentScores]] = {c: {} for c in scored}
    links: dict[str, dict[Candidate, list[list[Link]]]] = {}
    splits = {}
    for g in config.gold_sets:
        name, pairs = g.name, gold[g.name]
        sims = _similarities(backend, config, g, pairs, embedded)
        links[name] = links_for(sims, scored)
        splits[name] = {"dev": split_gold(pairs, "dev"), "test": split_gold(pairs, "test")}
        for c in scored:
            dev[c][name] = _score(links[name][c], pairs, splits[name]["dev"])
    report = TuneReport(cands[0], dev, {}, {}, {n: {k: len(v) for k, v in s.items()} for n, s in splits.items()},
                        dropped, model={"spec": config.embedding.model, "num_layers": loaded.num_layers},
                        objective=config.objective, references=refs, searched=cands)
    best = report.best_dev_aer()
    order = sorted(cands, key=lambda c: (report.objective_value(c, best=best), c.layer, c.method))
    report.chosen = order[0]
    for c in order:
        report.best_per_method.setdefault(c.method, c)
    for c in {report.chosen, *report.best_per_method.values(), *refs}:
        report.test[c] = {name: _score(links[name][c], gold[name], splits[name]["test"]) for name in gold}
    report.seconds = time.perf_counter() - t0
    return report


def _similarities(backend: Any, config: TuneConfig, g: GoldSet, pairs: list[GoldPair],
                  layers: list[int]) -> list[dict[int, np.ndarray]]:
    """The gold pairs' similarity matrices at ``layers``, from the cache folder when it holds them."""
    path = None
    if config.cache is not None:
        opts = config.embedding
        model_dir = Path(opts.model)  # a checkpoint folder: its files' sizes and times, so a rewritten one misses
        files = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in model_dir.iterdir() if f.is_file()) \
            if model_dir.is_dir() else []
        key = hashlib.sha256(repr((opts.model, files, opts.pooling, opts.bf16, layers,
                                   g.gold_text.read_bytes())).encode())
        path = config.cache / f"{g.name}-{key.hexdigest()[:16]}.npz"
        if path.is_file():
            log.info("tune: %s similarities from %s", g.name, path)
            with np.load(path) as data:
                return [{layer: data[f"{k}.{layer}"] for layer in layers} for k in range(len(pairs))]
    log.info("tune: embedding %d %s gold pairs at layers %s", len(pairs), g.name, layers)
    sims = list(backend.iter_similarities([(p.src, p.tgt) for p in pairs], layers))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{f"{k}.{layer}": m for k, pair in enumerate(sims) for layer, m in pair.items()})
    return sims


def _score(rows: list[list[Link]], pairs: list[GoldPair], subset: list[int]) -> AlignmentScores:
    return score_alignments([rows[k] for k in subset], [pairs[k].links for k in subset])
