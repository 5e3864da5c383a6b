"""The probe registry and the interface every probe shares.

A probe is a function ``probe(view, settings) -> ProbeResult`` called on a checkpoint's
cached embeddings of one input (a :class:`~xladjust.probes.views.BitextView` or a
:class:`~xladjust.probes.views.SentenceView`). It returns its metrics as a dict, declares
its primary metric, and may hand back per-item arrays for tables, plots and paired tests.
Probes neither print nor write: the caller reports and saves.

:data:`PROBES` is the one list of probes; the CLI's choices, config validation and the
report read from it. Implementations are imported only when a probe runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from xladjust.registry import Entry, Registry

InputKind = Literal["bitext", "sentences"]


@dataclass
class ProbeResult:
    """What one probe found on one checkpoint and one input.

    ``metrics`` is JSON-ready; ``metrics[primary_metric]`` is the headline figure.
    ``per_item`` holds arrays such as per-triple distances (first axis: layers).
    """

    probe: str
    primary_metric: str
    metrics: dict[str, Any]
    per_item: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def primary(self) -> Any:
        return self.metrics[self.primary_metric]


@dataclass(frozen=True)
class ProbeSettings:
    """Settings shared by all probes of a run (from the run's config)."""

    layer: int | None = None  # the layer of headline figures; None: the last layer probed
    csls_k: int = 10
    resamples: int = 1000  # bootstrap resamples
    seed: int = 0


@dataclass(frozen=True)
class ProbeInfo(Entry):
    """A registered probe: its name, its function (``target``), one line about it, the
    input it reads and its primary metric."""

    input: InputKind
    primary_metric: str


PROBES: Registry[ProbeInfo] = Registry("probe", [
    ProbeInfo(
        "distances", "xladjust.probes.builtin:distance_probe",
        "d(w,r), d(w,u) and Δ = d(w,u) − d(w,r) per triple, cosine and Euclidean",
        input="bitext",
        primary_metric="share_delta_positive",  # scale-free; mean Δ shrinks when the whole space contracts
    ),
    ProbeInfo(
        "word-retrieval", "xladjust.probes.builtin:word_retrieval_probe",
        "nearest aligned word of the other language by cosine and CSLS (Cao et al. 2020)",
        input="bitext", primary_metric="p_at_1_csls",
    ),
    ProbeInfo(
        "sentence-retrieval", "xladjust.probes.builtin:sentence_retrieval_probe",
        "Tatoeba nearest sentence by cosine over mean-pooled vectors, per layer",
        input="sentences", primary_metric="best_accuracy",
    ),
])
