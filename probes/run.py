"""The probe stage: setup → run → save.

:func:`run_probes` reads and checks every input and every model's layer range before any
model loads, then probes the checkpoints one at a time (each checkpoint's embeddings are
computed once and shared by all probes), compares each checkpoint with the first on the
same triples, and writes the run directory atomically (marked complete last).
:func:`probe_checkpoint` runs the probes on one already loaded model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from xladjust.embeddings import resolve_layers
from xladjust.errors import ConfigError, InputError, ModelError
from xladjust.io import sha256_file
from xladjust.models import LoadedModel, load_config, load_model, materialize
from xladjust.outputs import claim_output, judge_existing
from xladjust.probes.config import ProbeConfig
from xladjust.probes.inputs import Bitext, SentenceSet, load_bitext, read_tatoeba, tatoeba_languages
from xladjust.probes.paired import compare_distances, compare_word_retrieval
from xladjust.probes.registry import PROBES, ProbeResult, ProbeSettings
from xladjust.probes.report import SUMMARY_FILE, write_run
from xladjust.probes.views import CheckpointEmbedder, iter_views
from xladjust.signature import make_signature

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeInputs:
    bitexts: list[Bitext]
    sentence_sets: list[SentenceSet]

    def items(self) -> list[Bitext | SentenceSet]:
        return [*self.bitexts, *self.sentence_sets]


@dataclass
class CheckpointRun:
    """One checkpoint's results: ``results[input name][probe name]``."""

    name: str
    spec: str
    path: str
    num_layers: int
    layers: tuple[int, ...]
    sentence_layers: tuple[int, ...]
    tokenizer_sha256: str
    results: dict[str, dict[str, ProbeResult]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    invalid_words: int = 0


@dataclass
class ProbeRun:
    """Everything a run found, ready to be written (see :mod:`xladjust.probes.report`)."""

    config: ProbeConfig
    inputs: ProbeInputs
    checkpoints: list[CheckpointRun]
    comparisons: dict[str, dict[str, Any]]  # "other-vs-reference" -> input name -> comparison
    notes: list[str]
    signature: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)  # seconds: inputs, compare, results (total so far)


def prepare_inputs(config: ProbeConfig) -> ProbeInputs:
    """Read the bitexts (building their triples) and the Tatoeba files; raise on bad input."""
    probes = config.selected_probes()
    bitexts: list[Bitext] = []
    if any(PROBES.entry(p).input == "bitext" for p in probes):
        for spec in config.bitexts:
            bitexts.append(load_bitext(
                spec.path, spec.name, unrelated=config.unrelated, seed=config.seed,
                keep_punctuation=config.keep_punctuation, max_sentences=config.max_pairs,
                alignments=spec.alignments, one_indexed=spec.one_indexed,
            ))
    names = [b.name for b in bitexts]
    for name in sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"two bitexts are named {name!r}; name them apart with --bitext NAME=DIR")
    sentence_sets: list[SentenceSet] = []
    if any(PROBES.entry(p).input == "sentences" for p in probes) and config.tatoeba is not None:
        for lang in tatoeba_languages(config.tatoeba_langs, bitexts):
            sentence_sets.append(read_tatoeba(config.tatoeba, lang, config.max_tatoeba_pairs))
    return ProbeInputs(bitexts, sentence_sets)


def model_layers(spec: str, config: ProbeConfig, name: str) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """A model's layer count and the word and sentence layers to probe, checked against it
    (reads the model's config only, not its weights)."""
    source = materialize(spec)
    try:
        num_layers = int(load_config(source, spec).num_hidden_layers)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ModelError(f"cannot read the layer count of model {name!r} ({spec}): {exc}") from None
    try:
        layers = resolve_layers(config.layers, num_layers)
        sentence_layers = resolve_layers(config.tatoeba_layers, num_layers)
    except InputError as exc:
        raise InputError(f"model {name!r} ({spec}): {exc}") from None
    if config.layer is not None and config.layer not in layers:
        raise InputError(
            f"primary layer {config.layer} is not among the layers probed for model "
            f"{name!r}: {list(layers)}; add it to --layers"
        )
    return num_layers, layers, sentence_layers


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """SHA-256 of the fast tokenizer's full definition (vocabulary, normalizer, ...)."""
    return hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode("utf-8")).hexdigest()


class ForwardTimer:
    """Accumulates wall time spent inside a model's forward passes (via hooks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._start = 0.0

    @contextlib.contextmanager
    def watch(self, model: Any) -> Iterator[ForwardTimer]:
        def before(*_: Any) -> None:
            self._start = time.perf_counter()

        def after(*_: Any) -> None:
            self.seconds += time.perf_counter() - self._start
            self.calls += 1

        handles = [model.register_forward_pre_hook(before), model.register_forward_hook(after)]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()


def settings_of(config: ProbeConfig) -> ProbeSettings:
    return ProbeSettings(layer=config.layer, csls_k=config.csls_k,
                         resamples=config.resamples, seed=config.seed)


def probe_checkpoint(
    loaded: LoadedModel,
    inputs: ProbeInputs,
    config: ProbeConfig,
    *,
    name: str = "model",
    layers: tuple[int, ...] | None = None,
    sentence_layers: tuple[int, ...] | None = None,
    progress: bool = False,
) -> CheckpointRun:
    """Run the selected probes of ``config`` on one loaded model."""
    num_layers = loaded.num_layers
    layers = layers or resolve_layers(config.layers, num_layers)
    sentence_layers = sentence_layers or resolve_layers(config.tatoeba_layers, num_layers)
    run = CheckpointRun(
        name=name, spec=loaded.spec, path=str(loaded.path), num_layers=num_layers, layers=layers,
        sentence_layers=sentence_layers, tokenizer_sha256=tokenizer_fingerprint(loaded.tokenizer),
    )
    embedder = CheckpointEmbedder(
        loaded, layers=layers, sentence_layers=sentence_layers, pooling=config.pooling,
        batch_size=config.batch_size, bf16=config.bf16, sentence_prefix=config.sentence_prefix,
        progress=progress,
    )
    settings = settings_of(config)
    selected = [PROBES.entry(p) for p in config.selected_probes()]
    timer = ForwardTimer()
    embed_seconds = probe_seconds = 0.0
    with timer.watch(loaded.model):
        kinds = {info.input for info in selected}
        needed = [item for item in inputs.items() if _input_kind(item) in kinds]
        views = iter_views(embedder, needed)
        while True:
            start = time.perf_counter()
            item_view = next(views, None)
            embed_seconds += time.perf_counter() - start
            if item_view is None:
                break
            item, view = item_view
            start = time.perf_counter()
            run.results[item.name] = {info.name: info.load()(view, settings) for info in selected
                                      if info.input == _input_kind(item)}
            probe_seconds += time.perf_counter() - start
            log.info("%s: probed %s", name, item.name)
    run.invalid_words = embedder.invalid_words
    run.timing = {"forward": timer.seconds, "forward_calls": timer.calls,
                  "embedding_outside_forward": embed_seconds - timer.seconds, "probes": probe_seconds}
    return run


def _input_kind(item: Bitext | SentenceSet) -> str:
    return "bitext" if isinstance(item, Bitext) else "sentences"


def _model_hashes(path: str) -> dict[str, str]:
    """SHA-256 of a local checkpoint's config and weight files (nothing for hub names)."""
    p = Path(path)
    if not p.is_dir():
        return {}
    files = [p / "config.json", *sorted(p.glob("*.safetensors"))]
    return {f.name: sha256_file(f) for f in files if f.is_file()}


# probe runs written before the run-folder marker existed
LEGACY_OUTPUT = [(SUMMARY_FILE, "triples.csv"), (SUMMARY_FILE, "report.md", "plots")]


def probe_inputs(config: ProbeConfig) -> list[Any]:
    """Every input path of a probe run (for the output guard)."""
    return [*(m.spec for m in config.models), *(b.path for b in config.bitexts),
            *(b.alignments for b in config.bitexts if b.alignments is not None), config.tatoeba]


def run_probes(
    config: ProbeConfig, *, progress: bool = False, loaded: Mapping[str, LoadedModel] | None = None,
    overwrite: bool = False,
) -> Path:
    """Probe every checkpoint of ``config`` and write the run directory ``config.out``.

    ``loaded`` may hand over already loaded models by checkpoint name (their specs must
    match the config). Returns the run directory, claimed first
    (:func:`xladjust.outputs.claim_output`); an earlier probe run there is replaced only
    with ``overwrite`` (:func:`xladjust.outputs.judge_existing`; a probe run cannot resume).
    """
    with claim_output(config.out, command="probe", inputs=probe_inputs(config), legacy=LEGACY_OUTPUT):
        judge_existing(Path(config.out), overwrite=overwrite, resume=None)
        return _run_probes(config, progress=progress, loaded=loaded)


def _run_probes(config: ProbeConfig, *, progress: bool, loaded: Mapping[str, LoadedModel] | None) -> Path:
    start = time.perf_counter()
    for name, model in (loaded or {}).items():
        expected = {m.name: m.spec for m in config.models}.get(name)
        if expected != model.spec:
            raise ConfigError(f"loaded model {name!r} is {model.spec!r} but the config names {expected!r}")
    inputs = prepare_inputs(config)
    plans = {m.name: model_layers(m.spec, config, m.name) for m in config.models}
    timing = {"inputs": time.perf_counter() - start}
    settings = settings_of(config)
    checkpoints: list[CheckpointRun] = []
    model_hashes: dict[str, dict[str, str]] = {}
    for ckpt in config.models:
        t0 = time.perf_counter()
        model = (loaded or {}).get(ckpt.name) or load_model(ckpt.spec, device=config.device)
        model_hashes[ckpt.name] = _model_hashes(model.path)
        load_seconds = time.perf_counter() - t0
        _, layers, sentence_layers = plans[ckpt.name]
        run = probe_checkpoint(model, inputs, config, name=ckpt.name, layers=layers,
                               sentence_layers=sentence_layers, progress=progress)
        run.timing["load"] = load_seconds
        checkpoints.append(run)
        del model
    t0 = time.perf_counter()
    comparisons = compare_checkpoints(checkpoints, inputs, settings)
    timing["compare"] = time.perf_counter() - t0
    notes = run_notes(checkpoints)
    for note in notes:
        log.warning(note)
    signature = make_signature(
        stage="probe", config=config_json(config), seed=config.seed, inputs=input_hashes(inputs),
        extra={"models": [
            {"name": c.name, "spec": c.spec, "path": c.path, "num_layers": c.num_layers,
             "tokenizer_sha256": c.tokenizer_sha256, "files_sha256": model_hashes[c.name]}
            for c in checkpoints
        ]},
    )
    timing["results"] = time.perf_counter() - start
    result = ProbeRun(config, inputs, checkpoints, comparisons, notes, signature, timing)
    out = write_run(result)
    log.info("probe run written to %s", out)
    return out


def config_json(config: ProbeConfig) -> dict[str, Any]:
    """The config as plain JSON values (nested specs as dicts, enums as values, paths as strings)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(config))


def input_hashes(inputs: ProbeInputs) -> dict[str, str]:
    hashes = {path: sha for b in inputs.bitexts for path, sha in b.files.items()}
    for s in inputs.sentence_sets:
        hashes.update(s.sha256)
    return hashes


def compare_checkpoints(
    checkpoints: Sequence[CheckpointRun], inputs: ProbeInputs, settings: ProbeSettings
) -> dict[str, dict[str, Any]]:
    """Each checkpoint after the first against the first, on the same triples."""
    out: dict[str, dict[str, Any]] = {}
    if len(checkpoints) < 2:
        return out
    reference = checkpoints[0]
    for other in checkpoints[1:]:
        key = f"{other.name}-vs-{reference.name}"
        out[key] = {}
        for bitext in inputs.bitexts:
            found: dict[str, Any] = {}
            for probe in ("distances", "word-retrieval"):
                ref = reference.results.get(bitext.name, {}).get(probe)
                oth = other.results.get(bitext.name, {}).get(probe)
                if ref is None or oth is None:
                    continue
                primary = ref.metrics["primary_layer"]
                if primary not in oth.metrics["layers"]:
                    primary = max(set(ref.metrics["layers"]) & set(oth.metrics["layers"]), default=primary)
                if probe == "distances":
                    found.update(compare_distances(ref, oth, primary, settings.resamples, settings.seed,
                                                   clusters=bitext.triples.sentence))
                elif primary in oth.metrics["layers"] and ref.per_item and oth.per_item:
                    found["word_retrieval"] = compare_word_retrieval(
                        ref, oth, primary, clusters=bitext.links.sentence, n_resamples=settings.resamples,
                        seed=settings.seed)
            if found:
                out[key][bitext.name] = found
    return out


def run_notes(checkpoints: Sequence[CheckpointRun]) -> list[str]:
    """Things a reader of the comparison must know."""
    notes: list[str] = []
    if len({c.tokenizer_sha256 for c in checkpoints}) > 1:
        groups: dict[str, list[str]] = {}
        for c in checkpoints:
            groups.setdefault(c.tokenizer_sha256[:12], []).append(c.name)
        listed = "; ".join(f"{', '.join(names)} (tokenizer {h})" for h, names in groups.items())
        notes.append(
            f"The checkpoints use different tokenizers: {listed}. The pairs are word-level, so "
            "every checkpoint is measured on the same words and triples and the comparison stays "
            "paired; only the subword split of each word differs."
        )
    if len({c.layers for c in checkpoints}) > 1:
        notes.append("The checkpoints have different numbers of layers; comparisons use the layers they share.")
    for c in checkpoints:
        if c.invalid_words:
            notes.append(
                f"{c.name}: {c.invalid_words} word(s) got no vector (cut by the length limit or "
                "tokenized to nothing); triples and links with such words are left out for it."
            )
    return notes
