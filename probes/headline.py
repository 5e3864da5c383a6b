"""The headline figures of a probe run, read back from its ``summary.json``.

:func:`headline_rows` is the one reader of them: ``xladjust run``'s closing table
(:mod:`xladjust.pipeline.tables`) and ``xladjust compare``'s headline
(:mod:`xladjust.report.compare`) take its rows and only choose and format columns;
``xladjust probe`` prints each result's primary metric through :func:`primary_figures`.
A summary written by an older or interrupted run may lack a probe: its figures are then
empty, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HeadlineRow:
    """One held-out bitext and one checkpoint of a probe run."""

    bitext: str  # the bitext's name in the run
    language: str  # its target language (the bitext's name when none is recorded)
    checkpoint: str  # the checkpoint's name in the run
    spec: Any  # the checkpoint's model spec, as the run recorded it
    path: Any  # the folder the run loaded it from (None when not recorded)
    layer: int | None  # the primary layer of the figures
    distances: dict[str, Any]  # the distance probe's metrics ({} when it did not run)
    words: dict[str, Any]  # word retrieval's metrics
    sentences: dict[str, Any]  # sentence retrieval's metrics on the Tatoeba set of the same language

    @property
    def cosine(self) -> dict[str, Any]:
        """The distance probe's cosine figures at the primary layer: mean Δ, the share of
        Δ > 0, the ratio d(w,u)/d(w,r) and their 95% intervals."""
        return self.distances.get("by_layer", {}).get(str(self.layer), {}).get("cosine", {})


def headline_rows(summary: dict[str, Any]) -> list[HeadlineRow]:
    """One row per bitext and checkpoint of a probe run's summary, bitext by bitext, in
    the run's order."""
    checkpoints = summary.get("checkpoints", {})
    rows = []
    for bitext in summary.get("inputs", {}).get("bitexts", []):
        for name, ckpt in checkpoints.items():
            results = ckpt.get("results", {})
            found = results.get(bitext["name"], {})
            distances = _metrics(found, "distances")
            words = _metrics(found, "word-retrieval")
            rows.append(HeadlineRow(
                bitext=bitext["name"], language=bitext.get("tgt_lang") or bitext["name"], checkpoint=name,
                spec=ckpt.get("spec", name), path=ckpt.get("path"),
                layer=(distances or words).get("primary_layer"), distances=distances, words=words,
                sentences=_metrics(results.get(f"tatoeba-{bitext.get('tgt_lang')}", {}), "sentence-retrieval"),
            ))
    return rows


def primary_figures(summary: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str, Any]]]]:
    """Per checkpoint and input of a probe run's summary: each probe's (name, primary
    metric, value)."""
    return [(name, input_name, [(probe, r["primary_metric"], r["primary"]) for probe, r in results.items()])
            for name, ckpt in summary["checkpoints"].items()
            for input_name, results in ckpt["results"].items()]


def _metrics(results: dict[str, Any], probe: str) -> dict[str, Any]:
    return (results.get(probe) or {}).get("metrics") or {}
