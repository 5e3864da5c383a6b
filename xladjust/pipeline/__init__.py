"""``xladjust run PIPELINE.yaml``: align → adjust → probe → transfer (optional) in one go.

Each stage writes its own directory under ``out``. A stage is keyed by the hash of its
config, its input files and the keys of the stages it reads; a stage whose key matches
its last complete run is skipped, and an interrupted adjust run resumes from its last
checkpoint. The plan can be printed without running anything (``--dry-run``).

Relative paths in the file are taken relative to the current directory.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from xladjust.adjust.config import RUN_CONTROL_KEYS, AdjustConfig, apply_preset
from xladjust.adjust.run import adjust
from xladjust.adjust.selftrain import adjust_round
from xladjust.align.config import AlignConfig, InputSpec
from xladjust.align.corpus import iter_pairs, read_manifest, write_aligned_corpus
from xladjust.align.pipeline import align_corpus
from xladjust.align.readers import filter_pairs, open_bitext
from xladjust.claims import load_claims
from xladjust.config import Renamed, build_config, config_to_dict, load_kind, result_keys
from xladjust.errors import ConfigError, InputError
from xladjust.io import (
    COMPLETE_MARKER,
    is_complete,
    mark_complete,
    read_json,
    real_path,
    sha256_file,
    sha256_json,
    write_json_atomic,
)
from xladjust.models import OFFLINE_SPEC
from xladjust.names import name_problem
from xladjust.outputs import claim_output
from xladjust.pipeline.inputs import (
    InputReport,
    check_finetune_inputs,
    check_parallel,
    check_task_files,
)
from xladjust.probes.cells import write_cells
from xladjust.probes.config import CheckpointSpec, ProbeConfig
from xladjust.probes.geometry import adjust_hook, finetune_hook
from xladjust.probes.landscape import parse_alphas, parse_radii
from xladjust.probes.landscape_run import EvalSettings, run_flatness, run_interpolation
from xladjust.probes.landscape_seeds import run_landscape_summary
from xladjust.probes.report import TRIPLES_FILE
from xladjust.probes.run import run_probes
from xladjust.report.gather import compare_runs
from xladjust.report.verdicts import write_verdicts
from xladjust.resume import content_hashes
from xladjust.tasks.config import FinetuneConfig, TransferConfig, trained_weights
from xladjust.tasks.finetune import finetune, rerun_flags
from xladjust.tasks.transfer import run_config, transfer

log = logging.getLogger(__name__)

STATE_DIR = ".pipeline"
_PLACEHOLDER = Path("__pipeline__")
INPUT_FILE_KEYS = ("src", "tgt", "joint", "bitext", "tsv")  # the files of a pair's input (bitext: joint's old key)


@dataclass(frozen=True)
class LanguagePair:
    """One language pair: training text for adjustment and optional held-out text for
    the probes (aligned together with the training text, then split off)."""

    tgt_lang: str  # target language code (ISO 639-1)
    train: dict[str, Any]  # an align InputSpec: {src, tgt} | {joint} | {tsv} | {hf}
    heldout: dict[str, Any] | None = None  # held-out text for the probes, same forms as train
    src_lang: str = "en"  # source language code
    name: str | None = None  # default: SRC-TGT

    @property
    def label(self) -> str:
        return self.name if self.name is not None else f"{self.src_lang}-{self.tgt_lang}"


@dataclass(frozen=True)
class LandscapeStage:
    """Wu et al. 2022 on ``model``: for each seed, fine-tune a monolingual (source) and a
    bilingual (source + target) model with that seed and the same schedule, interpolate
    between them, and measure the flatness around the monolingual one (directions drawn
    with that seed), each under ``landscape/seed-N/``; then ``landscape/summary`` gives the
    mean and spread over seeds along the line and paired tests of metric(α) − metric(0)
    (docs/landscape.md)."""

    # old key -> the key that replaced it (xladjust.config.build_config reads both, for one release)
    RENAMED_KEYS: ClassVar[dict[str, str | Renamed]] = {
        "eval": "test", "max_eval_examples": "max_test_examples", "probe_bitexts": "bitexts"}

    task: str  # nli, ner or qa
    source_train: str  # source-language training data (the monolingual model)
    target_train: str  # target-language training data, added for the bilingual model
    test: dict[str, str]  # LANG: test data evaluated along the line and around the model
    # dev data for model selection; None: finetune gives dev_split (with dev_split_parallel, so
    # that the bilingual model trains on no translation of a dev row)
    dev: str | None = None
    finetune: dict[str, Any] = field(default_factory=dict)  # more FinetuneConfig keys
    alphas: str = "0:1:6"  # interpolation points START:STOP:COUNT or a list
    radii: str = "0,0.05,0.1"  # flatness radii, comma-separated
    directions: int = 3  # random directions of the flatness probe
    max_test_examples: int | None = None  # evaluate only the first N examples per language
    bitexts: dict[str, str] = field(default_factory=dict)  # NAME: held-out aligned corpus, probed at each α
    # fine-tuning seeds, each its own pair of endpoints; None: [finetune.seed, else the pipeline's seed, else 1]
    seeds: list[int] | None = None
    source_lang: str = "en"  # the test language of source_train (the flat-source comparison; the rest are targets)

    def seed_list(self, pipeline_seed: int) -> list[int]:
        """The seeds to run, in the order given."""
        if self.seeds is not None:
            return list(self.seeds)
        return [int(self.finetune.get("seed", pipeline_seed or 1))]


@dataclass(frozen=True)
class PipelineConfig:
    out: Path  # folder of every stage's run directory
    pairs: list[LanguagePair] = field(default_factory=list)  # language pairs to align and adjust on (see LanguagePair)
    model: str = OFFLINE_SPEC  # the model spec every stage starts from
    seed: int = 0  # seed of every stage
    align: dict[str, Any] = field(default_factory=dict)  # AlignConfig keys except src/tgt_lang, input, out
    adjust: dict[str, Any] = field(default_factory=dict)  # AdjustConfig keys except aligned, out, model
    # NAME: adjust keys that differ from `adjust`; checkpoint 'adjusted-NAME' beside 'adjusted' everywhere after
    adjust_variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    probe: dict[str, Any] | None = field(default_factory=dict)  # ProbeConfig keys except models, bitexts, out
    transfer: list[dict[str, Any]] = field(default_factory=list)  # TransferConfig keys except models, out
    landscape: LandscapeStage | None = None  # the Wu et al. 2022 landscape stages (see LandscapeStage)
    claims: Path | None = None  # a claims file (configs/claims/*.yaml) judged on the study's results
    # also adjust one model per language pair (adjust-SRC-TGT, the `adjust` settings on that pair
    # alone), as Efimov et al. do; transfer then has an arm 'adjusted-per-language' whose model
    # for each test language is that language's (the joint model stays the `adjusted` arm)
    adjust_per_language: bool = False

    def check(self) -> list[str]:
        problems: list[str] = []
        labels = [p.label for p in self.pairs]
        if not self.pairs and self.landscape is None:
            problems.append("pairs: give at least one language pair (or a landscape section)")
        for label in sorted({x for x in labels if labels.count(x) > 1}):
            problems.append(f"pairs: {label!r} appears twice; give each pair its own name")
        for pair in self.pairs:
            if problem := name_problem(pair.label, "pairs: name"):
                problems.append(problem)
        for name in self.adjust_variants:
            if problem := name_problem(name, "adjust_variants: name"):
                problems.append(problem)
            elif name == "continual":
                problems.append("adjust_variants: 'continual' names the continual arm; choose another name")
        if self.adjust_per_language:
            for name in set(self.adjust_variants) & set(labels):
                problems.append(f"adjust_variants: {name!r} is also a language pair's name; with "
                                "adjust_per_language both would write adjust-" + name)
        for stage in _stage_configs(self):
            problems += _problems(stage)
        if self.landscape is not None:
            problems += _landscape_problems(self)
        for spec in self.transfer:
            keeps = spec.get("keep_checkpoints", True) and spec.get("finetune", {}).get("save_model", True)
            if self.probe is not None and spec.get("probe_after", True) and not keeps:
                problems.append("transfer: probes after fine-tuning need the fine-tuned checkpoints; "
                                "set keep_checkpoints and save_model to true, or probe_after: false")
        problems += _claims_problems(self.claims)
        if self.pairs and self.probe is not None and not any(p.heldout for p in self.pairs) \
                and "tatoeba" not in self.probe:
            problems.append("probe: needs held-out text (pairs[].heldout) or probe.tatoeba; or set probe: null")
        return problems


def _problems(build: Callable[[], Any]) -> list[str]:
    try:
        build()
    except ConfigError as exc:
        return exc.problems
    return []


def _stage_configs(cfg: PipelineConfig) -> list[Callable[[], Any]]:
    """Builders of every stage config with placeholder paths, to validate them all."""
    builders: list[Callable[[], Any]] = [
        (lambda p=p: align_config(cfg, p, _PLACEHOLDER)) for p in cfg.pairs
    ]
    if cfg.pairs:
        builders.append(lambda: adjust_config(cfg, [_PLACEHOLDER / "a"], _PLACEHOLDER / "b"))
        for variant in cfg.adjust_variants.values():
            builders.append(lambda v=variant: adjust_config(cfg, [_PLACEHOLDER / "a"], _PLACEHOLDER / "b", **v))
        if cfg.probe is not None:
            builders.append(lambda: probe_config(cfg, _PLACEHOLDER / "c", [_PLACEHOLDER / "h"]))
        for spec in cfg.transfer:
            builders.append(lambda spec=spec: transfer_config(cfg, spec, _PLACEHOLDER / "c", _PLACEHOLDER / "d"))
    if cfg.landscape is not None:
        builders.append(lambda: landscape_finetune(cfg, cfg.landscape, bilingual=True, out=_PLACEHOLDER))
    return builders


def _landscape_problems(cfg: PipelineConfig) -> list[str]:
    land = cfg.landscape
    problems = []
    for parse, value, name in ((parse_alphas, land.alphas, "alphas"), (parse_radii, land.radii, "radii")):
        try:
            parse(value)
        except InputError as exc:
            problems.append(f"landscape.{name}: {exc}")
    if land.directions < 1:
        problems.append("landscape.directions must be at least 1")
    if land.seeds is not None:
        if not land.seeds:
            problems.append("landscape.seeds: give at least one seed (or leave it out for the pipeline's seed)")
        if len(set(land.seeds)) != len(land.seeds):
            problems.append(f"landscape.seeds: {land.seeds} names a seed twice; give each seed once")
        if "seed" in land.finetune:
            problems.append("landscape.finetune.seed: the seeds come from landscape.seeds; remove finetune.seed")
    if land.test and land.source_lang not in land.test:
        problems.append(f"landscape.source_lang: {land.source_lang!r} is not among the test languages "
                        f"({', '.join(land.test)}); set source_lang to the language of source_train")
    if not land.test:
        problems.append("landscape.test: give LANG: FILE test sets (source and target language)")
    if land.dev is None and "dev_split" not in land.finetune:
        problems.append("landscape: give dev (a file disjoint from the training files) or finetune.dev_split")
    if land.dev is not None and land.dev in (land.source_train, land.target_train):
        problems.append(f"landscape.dev: {land.dev} is a training file; selecting on it is not model selection "
                        "(give another file, or finetune.dev_split with dev_split_parallel)")
    problems += [p for lang in land.test if (p := name_problem(lang, "landscape.test: language"))]
    problems += [p for name in land.bitexts if (p := name_problem(name, "landscape.bitexts: name"))]
    for name, path in land.bitexts.items():
        if not (Path(path) / "pairs.jsonl").is_file():
            problems.append(f"landscape.bitexts[{name}]: {path} is not an aligned corpus (no pairs.jsonl)")
    return problems


def landscape_finetune(cfg: PipelineConfig, land: LandscapeStage, *, bilingual: bool, out: Path,
                       seed: int | None = None) -> Any:
    """The fine-tuning config of one endpoint; ``seed`` None: the first of the landscape's seeds."""
    train = [land.source_train, land.target_train] if bilingual else [land.source_train]
    if seed is None:
        seed = next(iter(land.seed_list(cfg.seed)), 1)
    data = {**land.finetune, "seed": seed, "task": land.task, "model": cfg.model, "train": train, "out": str(out), **({"dev": land.dev} if land.dev is not None else {})}
    return build_config(FinetuneConfig, data, where="landscape")


def align_config(cfg: PipelineConfig, pair: LanguagePair, out: Path, input_spec: dict[str, Any] | None = None) -> Any:
    data = {"seed": cfg.seed, **cfg.align, "src_lang": pair.src_lang, "tgt_lang": pair.tgt_lang,
            "out": str(out), "input": input_spec or pair.train, "overwrite": True}  # this stage is out of date
    return build_config(AlignConfig, data, where=f"pairs[{pair.label}] / align")


def adjust_config(cfg: PipelineConfig, aligned: list[Path], out: Path, **extra: Any) -> Any:
    """The adjust config of ``aligned``: ``adjust`` with a variant's keys (``extra``) on top;
    a ``preset`` (in either) brings every setting of that preset first, then the keys
    given beside it (a variant's preset overrides ``adjust``'s keys)."""
    if "preset" in extra:  # only the run-control keys of `adjust` carry over
        run_control = {k: v for k, v in cfg.adjust.items() if k in RUN_CONTROL_KEYS}
        base = {**run_control, **apply_preset(extra, "adjust_variants")}
    else:
        base = {**apply_preset(cfg.adjust), **extra}
    data = {"seed": cfg.seed, **base, "aligned": [str(a) for a in aligned], "out": str(out), "model": cfg.model}
    return build_config(AdjustConfig, data, where="adjust")


def adjusted_arms(cfg: PipelineConfig, adjusted: Path) -> dict[str, Path]:
    """The adjusted checkpoints by name: ``adjusted`` and one ``adjusted-NAME`` per variant."""
    return {"adjusted": adjusted, **{f"adjusted-{name}": adjusted.parent / f"adjust-{name}"
                                     for name in cfg.adjust_variants}}


def probe_config(cfg: PipelineConfig, adjusted: Path, heldout: list[Path], out: Path | None = None) -> Any:
    data = {"seed": cfg.seed, **(cfg.probe or {}),
            "models": [{"name": "vanilla", "spec": cfg.model},
                       *({"name": k, "spec": str(v)} for k, v in adjusted_arms(cfg, adjusted).items())],
            "bitexts": [{"path": str(h)} for h in heldout], "out": str(out or _PLACEHOLDER)}
    return build_config(ProbeConfig, data, where="probe")


CONTINUAL_ARM = "adjusted-continual"
PER_LANGUAGE_ARM = "adjusted-per-language"


def per_language_models(cfg: PipelineConfig, adjusted: Path) -> dict[str, str]:
    """Target language -> its own adjusted checkpoint (``adjust-SRC-TGT`` beside ``adjusted``)."""
    if not cfg.adjust_per_language:
        return {}
    return {p.tgt_lang: str(adjusted.parent / f"adjust-{p.label}") for p in cfg.pairs}


def transfer_config(cfg: PipelineConfig, spec: dict[str, Any], adjusted: Path, out: Path,
                    aligned: list[Path] | None = None) -> Any:
    """The transfer stage's config: vanilla against adjusted and, with ``continual_arm``
    (true or ContinualConfig keys except ``corpus``; ``anchor: vanilla`` names the
    pipeline's starting model), ``adjusted-continual``: the adjusted checkpoint fine-tuned
    with continual learning on the pipeline's aligned training corpora (``aligned``; None
    while planning, when they are not written yet and ``.`` stands in for them). With
    ``adjust_per_language``, ``adjusted-per-language`` tests each language's own adjusted
    checkpoint on it. ``probe_after`` is the pipeline's, not the transfer's."""
    spec = dict(spec)
    arm = spec.pop("continual_arm", False)
    spec.pop("probe_after", None)
    finetune = {"model": cfg.model, "out": str(out / "runs"), **spec.pop("finetune", {})}
    models = {"vanilla": cfg.model, **{k: str(v) for k, v in adjusted_arms(cfg, adjusted).items()}}
    if arm:
        models[CONTINUAL_ARM] = str(adjusted)
        corpora = [str(a) for a in aligned] if aligned is not None else ["."]
        options = dict(arm) if isinstance(arm, dict) else {}
        if options.get("anchor") == "vanilla":  # the paper's code: the regularizer pulls toward the vanilla model
            options["anchor"] = cfg.model
        spec["continual"] = {CONTINUAL_ARM: {**options, "corpus": corpora}}
    own = {lang: model for lang, model in per_language_models(cfg, adjusted).items()
           if lang in finetune.get("test", {})}
    if own:
        spec["per_language"] = {PER_LANGUAGE_ARM: own}
    data = {**spec, "models": models, "out": str(out), "finetune": finetune}
    return build_config(TransferConfig, data, where="transfer")


# ---------------------------------------------------------------- the plan


@dataclass
class Stage:
    name: str
    directory: Path
    key: str
    run: Callable[[], None]
    summary: str
    resumable: bool = False
    after: list[str] = field(default_factory=list)  # the stages whose outputs it reads
    inside: list[Path] = field(default_factory=list)  # what it reads in the pipeline's folder: checked by content

    def reading(self, after: Sequence[Stage], inside: Sequence[Path] = ()) -> Stage:
        """This stage, reading the outputs of ``after`` (a rerun of one reruns it) and the
        files or folders ``inside`` the pipeline's folder (an edit of one reruns it)."""
        self.after, self.inside = [s.name for s in after], list(inside)
        return self


def _input_hashes(spec: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key in INPUT_FILE_KEYS:
        if spec.get(key):
            path = Path(spec[key])
            if not path.is_file():
                raise InputError(f"pipeline input {key}: {path} does not exist")
            out[str(path)] = sha256_file(path)
    if spec.get("hf"):
        out["hf"] = str(spec["hf"])
    return out


# config keys that name what a stage writes, not what it reads
_WRITTEN_KEYS = ("out", "work_dir")


def _reads(cfg: PipelineConfig, *configs: Any) -> dict[str, str]:
    """Content hashes of every local file or folder that the stage configs name outside the
    pipeline's folder: data files, model checkpoints (their weights), aligned corpora and
    Tatoeba files given as inputs. Each stage's key includes them, so a changed input
    reruns the stages that read it and only those; what the pipeline writes itself is
    covered by the key of the stage that writes it."""
    root = real_path(cfg.out)
    found: dict[str, str] = {}
    for key, value in _named_strings(configs):
        if not value.strip():
            continue  # an empty string is no path (Path("") would be the working folder)
        path = Path(os.path.expanduser(value))
        candidates = [path] if os.path.exists(path) else []
        if key == "tatoeba" and not candidates:  # a prefix: PREFIX.XX-en.XX files
            candidates = sorted(path.parent.glob(f"{path.name}.*")) if path.parent.is_dir() else []
        for candidate in candidates:
            real = real_path(candidate)
            if not real.is_relative_to(root) and not root.is_relative_to(real):  # not in or around the output
                found[str(candidate)] = _content_hash(real)
    return found


# (path, each file's name, size and mtime) -> content hash: a checkpoint read by several
# stages is hashed once per process, and again as soon as any of its files changes
_HASHED: dict[tuple[Any, ...], str] = {}


def _content_hash(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    stamp = (str(path), *((str(f), st.st_size, st.st_mtime_ns) for f in files for st in [f.stat()]))
    if stamp not in _HASHED:
        _HASHED[stamp] = content_hashes({"path": path})["path"]
    return _HASHED[stamp]


def _named_strings(data: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(the innermost key, value) for every string in nested dicts and lists, except under
    the keys of :data:`_WRITTEN_KEYS`."""
    if isinstance(data, str):
        yield key, data
    elif isinstance(data, dict):
        for name, value in data.items():
            if name not in _WRITTEN_KEYS:
                yield from _named_strings(value, str(name))
    elif isinstance(data, (list, tuple)):
        for value in data:
            yield from _named_strings(value, key)


def plan(cfg: PipelineConfig, *, progress: bool = True) -> list[Stage]:
    """The stages to run, in order, each with its key."""
    stages: list[Stage] = []
    if cfg.pairs:
        stages += _adjust_stages(cfg, progress)
    if cfg.landscape is not None:
        stages += _landscape_stages(cfg, cfg.landscape, progress)
    return stages


def _adjust_stages(cfg: PipelineConfig, progress: bool) -> list[Stage]:
    stages: list[Stage] = []
    train_dirs: list[Path] = []
    heldout_dirs: list[Path] = []
    align_keys: list[str] = []
    aligns: list[Stage] = []
    for pair in cfg.pairs:
        stage = _align_stage(cfg, pair, progress)
        stages.append(stage)
        aligns.append(stage)
        align_keys.append(stage.key)
        train_dirs.append(stage.directory / "train")
        if pair.heldout:
            heldout_dirs.append(stage.directory / "heldout")

    adjust_dir = cfg.out / "adjust"
    adjust_stages = [_adjust_stage(cfg, "adjust", adjust_dir, train_dirs, align_keys, progress)]
    adjust_stages += [_adjust_stage(cfg, f"adjust {name}", cfg.out / f"adjust-{name}", train_dirs, align_keys,
                                    progress, **variant) for name, variant in cfg.adjust_variants.items()]
    if cfg.adjust_per_language:
        adjust_stages += [_adjust_stage(cfg, f"adjust {pair.label}", cfg.out / f"adjust-{pair.label}",
                                        [train_dir], [align_key], progress)
                          for pair, train_dir, align_key in zip(cfg.pairs, train_dirs, align_keys, strict=True)]
    stages += [s.reading(aligns, train_dirs) for s in adjust_stages]
    keys = [s.key for s in adjust_stages]
    adjust_key = keys[0] if len(keys) == 1 else sha256_json(keys)  # every adjusted checkpoint

    if cfg.probe is not None:
        probe_dir = cfg.out / "probe"
        probe_cfg = probe_config(cfg, adjust_dir, heldout_dirs, probe_dir)
        probe_key = sha256_json({"config": _plain(probe_cfg), "upstream": [adjust_key, *align_keys],
                                 "reads": _reads(cfg, _plain(probe_cfg))})

        def run_probe() -> None:
            run_probes(probe_cfg, progress=progress, overwrite=True)  # this stage is out of date

        probe_stage = Stage("probe", probe_dir, probe_key, run_probe,
                            f"{' vs '.join(m.name for m in probe_cfg.models)} on {len(heldout_dirs)} held-out bitext(s)")
        stages.append(probe_stage.reading([*adjust_stages, *aligns], heldout_dirs))

    report_stages = [probe_stage] if cfg.probe is not None else []
    report_dirs = [probe_dir] if cfg.probe is not None else []
    report_keys = [probe_key] if cfg.probe is not None else []
    for spec in cfg.transfer:
        task = spec.get("finetune", {}).get("task", "task")
        transfer_dir = cfg.out / f"transfer-{task}"
        # the continual arm's corpora are written by the align stages: named at run time
        transfer_cfg = transfer_config(cfg, spec, adjust_dir, transfer_dir)
        upstream = [adjust_key, *([str(d) for d in train_dirs] + align_keys if transfer_cfg.continual else [])]
        transfer_key = sha256_json({"config": _plain(transfer_cfg), "upstream": upstream,
                                    "reads": _reads(cfg, _plain(transfer_cfg))})

        def run_transfer(spec: dict[str, Any] = spec, transfer_dir: Path = transfer_dir) -> None:
            # out of date or interrupted: its finished (model, seed) runs with unchanged settings are reused
            (transfer_dir / COMPLETE_MARKER).unlink(missing_ok=True)
            transfer(transfer_config(cfg, spec, adjust_dir, transfer_dir, aligned=train_dirs), hook_for=finetune_hook,
                     resume=True)

        transfer_stage = Stage(f"transfer {task}", transfer_dir, transfer_key, run_transfer,
                               f"{task}: {' vs '.join([*transfer_cfg.models, *transfer_cfg.per_language])}, "
                               f"seeds {list(transfer_cfg.seeds)}"
                               + (f", {transfer_cfg.parallel} at a time" if transfer_cfg.parallel > 1 else ""))
        stages.append(transfer_stage.reading([*adjust_stages, *(aligns if transfer_cfg.continual else [])],
                                             train_dirs if transfer_cfg.continual else []))
        report_stages.append(transfer_stage)
        report_dirs.append(transfer_dir)
        report_keys.append(transfer_key)
        if cfg.probe is not None and heldout_dirs and spec.get("probe_after", True):
            stage = _probe_after_stage(cfg, transfer_cfg, probe_cfg, [probe_key, transfer_key], progress)
            stages.append(stage.reading([probe_stage, transfer_stage, *adjust_stages], heldout_dirs))
            report_stages.append(stage)
            report_dirs.append(stage.directory)
            report_keys.append(stage.key)
    if cfg.transfer:
        stages.append(_report_stage(cfg, report_dirs, report_keys).reading(report_stages))
    if cfg.claims is not None:
        stages.append(_verdicts_stage(cfg, cfg.claims, report_keys).reading(report_stages))
    return stages


def _claims_problems(path: Path | None) -> list[str]:
    if path is None:
        return []

    try:
        load_claims(path)
    except ConfigError as exc:
        return [f"claims: {p}" for p in exc.problems]
    return []


def _verdicts_stage(cfg: PipelineConfig, claims: Path, keys: list[str]) -> Stage:
    """The verdict of every claim of ``claims`` (:mod:`xladjust.report.verdicts`) on the study's results."""
    directory = cfg.out / "verdicts"

    def run() -> None:
        write_verdicts(cfg.out, claims, directory)

    key = sha256_json({"claims": sha256_file(claims) if claims.is_file() else None, "upstream": keys})
    return Stage("verdicts", directory, key, run, f"the claims of {claims} judged on the results")


def _adjust_stage(cfg: PipelineConfig, name: str, directory: Path, train_dirs: list[Path], align_keys: list[str],
                  progress: bool, **variant: Any) -> Stage:
    adjust_cfg = adjust_config(cfg, train_dirs, directory, progress=progress, **variant)
    key = sha256_json({"config": _controlled(adjust_cfg), "upstream": align_keys,
                       "reads": _reads(cfg, _plain(adjust_cfg))})

    def run() -> None:
        resume = (directory / "checkpoints").is_dir() and not is_complete(directory)
        config = replace(adjust_cfg, resume=resume, overwrite=not resume and directory.exists())
        adjust(config, on_step=adjust_hook(config))

    options = ", ".join(f"{k}={v}" for k, v in variant.items())
    return Stage(name, directory, key, run,
                 f"{adjust_cfg.objective} on {len(train_dirs)} aligned corpora, model {cfg.model}"
                 + (f" ({options})" if options else ""), resumable=True)


def _probe_after_stage(cfg: PipelineConfig, transfer_cfg: Any, probe_cfg: Any, upstream: list[str],
                       progress: bool) -> Stage:
    """Probe every fine-tuned checkpoint (each arm x seed) beside vanilla and adjusted on the
    held-out triples of the probe stage, then write the before/after cells
    (:mod:`xladjust.probes.cells`; a cell averages its seeds per triple)."""
    task = transfer_cfg.finetune.task
    directory = cfg.out / f"probe-after-{task}"
    models = list(probe_cfg.models)
    cells: dict[str, list[str]] = {m.name: [m.name] for m in models}
    for arm in transfer_cfg.models:
        names = []
        for seed in transfer_cfg.seeds:
            names.append(f"{arm}.{task}.s{seed}")
            models.append(CheckpointSpec(name=names[-1], spec=str(run_config(transfer_cfg, arm, seed).out)))
        cells[f"{arm}+{task}"] = names
    after_cfg = replace(probe_cfg, models=models, out=directory / "probe")
    tests = [("vanilla", f"vanilla+{task}")]
    for arm in [m.name for m in probe_cfg.models[1:]]:  # each adjusted checkpoint
        tests += [("vanilla", arm), (arm, f"{arm}+{task}"), (f"vanilla+{task}", f"{arm}+{task}")]
    if CONTINUAL_ARM in transfer_cfg.models:
        tests.append((f"adjusted+{task}", f"{CONTINUAL_ARM}+{task}"))
    key = sha256_json({"config": _plain(after_cfg), "cells": cells, "tests": tests, "upstream": upstream,
                       "reads": _reads(cfg, _plain(after_cfg))})

    def run() -> None:
        (directory / COMPLETE_MARKER).unlink(missing_ok=True)
        run_probes(after_cfg, progress=progress, overwrite=True)
        write_cells(directory, after_cfg.out / TRIPLES_FILE, cells, tests, primary_layer=after_cfg.layer,
                    n_resamples=after_cfg.resamples, seed=after_cfg.seed, bins=after_cfg.bins,
                    extra={"task": task, "trained_weights": _trained(transfer_cfg)})

    return Stage(f"probe-after {task}", directory, key, run,
                 f"{len(models)} checkpoints before/after {task} fine-tuning on the held-out triples")


def _trained(transfer_cfg: Any) -> str:
    return trained_weights(transfer_cfg.finetune)


def _report_stage(cfg: PipelineConfig, dirs: list[Path], keys: list[str]) -> Stage:
    """One report over the probe, transfer and after-fine-tuning probe stages."""
    directory = cfg.out / "report"

    def run() -> None:
        compare_runs(dirs, directory, overwrite=True)

    return Stage("report", directory, sha256_json({"runs": [str(d) for d in dirs], "upstream": keys}), run,
                 f"one report over {len(dirs)} runs")


def _landscape_stages(cfg: PipelineConfig, land: LandscapeStage, progress: bool) -> list[Stage]:
    """Per seed: two fine-tunings, the interpolation and the flatness (``landscape/seed-N/``);
    then the summary over seeds (``landscape/summary``). Each seed's stages are keyed by
    that seed alone, so adding or dropping a seed reruns only the summary."""
    root = cfg.out / "landscape"
    stages: list[Stage] = []
    interpolations: dict[int, Stage] = {}
    for seed in land.seed_list(cfg.seed):
        seed_stages = _landscape_seed_stages(cfg, land, seed, root / f"seed-{seed}", progress)
        stages += seed_stages
        interpolations[seed] = seed_stages[2]
    stages.append(_landscape_summary_stage(cfg, land, interpolations, root / "summary"))
    return stages


def _landscape_seed_stages(cfg: PipelineConfig, land: LandscapeStage, seed: int, root: Path,
                           progress: bool) -> list[Stage]:
    """Fine-tune monolingual and bilingual with ``seed``, interpolate, measure the flatness."""
    stages = []
    keys = {}
    for name, bilingual in (("monolingual", False), ("bilingual", True)):
        ft = landscape_finetune(cfg, land, bilingual=bilingual, out=root / name, seed=seed)
        keys[name] = sha256_json({"config": _plain(ft), "reads": _reads(cfg, _plain(ft))})

        def run_ft(ft: Any = ft) -> None:
            config = replace(ft, **rerun_flags(ft.out))
            finetune(config, on_step=finetune_hook(config))

        stages.append(Stage(f"finetune {name} s{seed}", root / name, keys[name], run_ft,
                            f"{land.task} on {', '.join(ft.train)}, seed {seed}"))
    finetunes = stages[:2]

    def settings(**more: Any) -> Any:
        return EvalSettings(task=land.task, tests=dict(land.test), max_examples=land.max_test_examples, **more)

    alphas, radii = parse_alphas(land.alphas), parse_radii(land.radii)
    interp_key = sha256_json({"alphas": alphas, "eval": land.test, "n": land.max_test_examples,
                              "reads": _reads(cfg, land.test, land.bitexts),
                              "upstream": [keys["monolingual"], keys["bilingual"]], "per_example": True,
                              **({"probe_bitexts": land.bitexts} if land.bitexts else {})})

    def run_interp() -> None:
        run_interpolation(str(root / "monolingual"), str(root / "bilingual"), alphas,
                          settings(probe_bitexts=dict(land.bitexts)), root / "interpolate", progress=progress,
                          overwrite=True)

    stages.append(Stage(f"interpolate s{seed}", root / "interpolate", interp_key, run_interp,
                        f"{len(alphas)} points monolingual -> bilingual on {', '.join(land.test)}").reading(finetunes))
    flat_key = sha256_json({"radii": radii, "directions": land.directions, "seed": seed, "eval": land.test,
                            "reads": _reads(cfg, land.test),
                            "n": land.max_test_examples, "upstream": [keys["monolingual"]]})

    def run_flat() -> None:
        run_flatness(str(root / "monolingual"), radii, land.directions, seed, settings(),
                     root / "flatness", progress=progress, overwrite=True)

    stages.append(Stage(f"flatness s{seed}", root / "flatness", flat_key, run_flat,
                        f"{land.directions} directions (seed {seed}), radii {land.radii}, around the monolingual model")
                  .reading(finetunes[:1]))
    return stages


LANDSCAPE_RESAMPLES = 10000  # bootstrap resamples of the summary's paired tests


def _landscape_summary_stage(cfg: PipelineConfig, land: LandscapeStage, interpolations: dict[int, Stage],
                             directory: Path) -> Stage:
    """The mean and spread over seeds along the line and the paired tests of metric(α) −
    metric(0) (:func:`xladjust.probes.landscape_seeds.run_landscape_summary`)."""
    dirs = {seed: stage.directory for seed, stage in interpolations.items()}
    key = sha256_json({"seeds": list(dirs), "source_lang": land.source_lang, "resamples": LANDSCAPE_RESAMPLES,
                       "bootstrap_seed": cfg.seed, "upstream": [s.key for s in interpolations.values()]})

    def run() -> None:
        run_landscape_summary(dirs, directory, source_lang=land.source_lang, n_resamples=LANDSCAPE_RESAMPLES,
                              seed=cfg.seed, overwrite=True)

    return Stage("landscape summary", directory, key, run,
                 f"mean and spread over seeds {', '.join(map(str, dirs))}; paired tests along the line "
                 f"(seeds x test rows, Holm per language)").reading(list(interpolations.values()))


def _align_stage(cfg: PipelineConfig, pair: LanguagePair, progress: bool) -> Stage:
    directory = cfg.out / f"align-{pair.label}"
    train_cfg = align_config(cfg, pair, directory / "joint")
    hashes = {"train": _input_hashes(pair.train), "heldout": _input_hashes(pair.heldout or {})}
    key = sha256_json({"config": _plain(train_cfg), "heldout": pair.heldout, "inputs": hashes,
                       "reads": _reads(cfg, _plain(train_cfg))})

    def run() -> None:
        _run_align(cfg, pair, directory, progress)

    what = "train" + (" + held-out" if pair.heldout else "")
    return Stage(f"align {pair.label}", directory, key, run, f"{aligner_label(train_cfg)} on {what} text")


def aligner_label(align_cfg: AlignConfig) -> str:
    """What aligns, for the plan: the embedding aligner's extraction (its links need no
    symmetrization), a statistical aligner's heuristic, and any self-training rounds."""
    aligner = align_cfg.aligner
    if aligner.name == "embedding":
        layer = "default layer" if aligner.embedding.layer is None else f"layer {aligner.embedding.layer}"
        label = f"embedding ({aligner.embedding.method}, {layer})"
    else:
        label = f"{aligner.name} ({aligner.symmetrize.value})"
    rounds = align_cfg.self_train.rounds
    return label + (f", {rounds} self-training round{'s' * (rounds != 1)}" if rounds else "")


def _run_align(cfg: PipelineConfig, pair: LanguagePair, directory: Path, progress: bool) -> None:
    """Align held-out and training text together (statistical aligners need the text),
    then split them into ``heldout/`` and ``train/`` aligned corpora."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / COMPLETE_MARKER).unlink(missing_ok=True)  # complete again only at the end
    work = directory / "inputs"
    work.mkdir(exist_ok=True)
    counts = {}
    with open(work / "joint.src", "w", encoding="utf-8") as fs, open(work / "joint.tgt", "w", encoding="utf-8") as ft:
        for part, spec in (("heldout", pair.heldout), ("train", pair.train)):
            if not spec:
                counts[part] = 0
                continue
            input_spec = build_config(InputSpec, dict(spec), where=f"pairs[{pair.label}].{part}")
            n = 0
            for raw in filter_pairs(open_bitext(input_spec, pair.src_lang, pair.tgt_lang),
                                    input_spec.max_words, input_spec.strict):
                fs.write(" ".join(raw.src.split()) + "\n")
                ft.write(" ".join(raw.tgt.split()) + "\n")
                n += 1
            counts[part] = n
    tokenize = pair.train.get("tokenize", True)
    joint_input = {"src": str(work / "joint.src"), "tgt": str(work / "joint.tgt"), "tokenize": tokenize,
                   "strict": True}

    align_corpus(align_config(cfg, pair, directory / "joint", joint_input), progress=progress,
                 adjust_round=adjust_round)
    manifest = read_manifest(directory / "joint")
    total = manifest["counts"]["pairs"]
    if total != counts["heldout"] + counts["train"]:
        raise InputError(f"pairs {pair.label}: {counts['heldout'] + counts['train']} pairs went into the aligner "
                         f"but {total} came out (a side became empty after tokenization?); clean the input")
    pairs = iter_pairs(directory / "joint")
    heldout = [next(pairs) for _ in range(counts["heldout"])]
    for part, items in (("heldout", heldout), ("train", pairs)):
        if part == "heldout" and not counts["heldout"]:
            continue
        write_aligned_corpus(directory / part, items, {**manifest, "split": {"part": part, **counts}})
    mark_complete(directory)


def _plain(cfg: Any) -> Any:
    return config_to_dict(cfg)


def _controlled(cfg: Any) -> dict[str, Any]:
    """Adjust's config without the keys that steer a run but not its result."""
    return result_keys(cfg)


# ---------------------------------------------------------------- running


def _state_file(cfg: PipelineConfig, stage: Stage | str) -> Path:
    name = stage if isinstance(stage, str) else stage.name
    return cfg.out / STATE_DIR / (name.replace(" ", "-") + ".json")


def _read_state(cfg: PipelineConfig, stage: Stage | str) -> dict[str, Any]:
    path = _state_file(cfg, stage)
    state = read_json(path) if path.is_file() else {}
    return state if isinstance(state, dict) else {}


def _state_now(cfg: PipelineConfig, stage: Stage) -> dict[str, Any]:
    """What a stage's result depends on, as it is now: its key, the contents of what it
    reads inside the pipeline's folder, and the run of each stage it reads from."""
    return {"key": stage.key,
            "inside": {str(p): _content_hash(real_path(p)) for p in stage.inside if p.exists()},
            "upstream": {name: _read_state(cfg, name).get("run") for name in stage.after}}


def stage_status(cfg: PipelineConfig, stage: Stage) -> str:
    """'up to date', 'resume' (an interrupted resumable run) or 'run'. Up to date: complete,
    with the same key, the same contents of what it reads inside the pipeline's folder (an
    aligned corpus edited by hand), and no stage it reads from run again since."""
    recorded = _read_state(cfg, stage)
    now = _state_now(cfg, stage)
    if is_complete(stage.directory) and all(recorded.get(k) == v for k, v in now.items()):
        return "up to date"
    if stage.resumable and stage.directory.exists() and not is_complete(stage.directory):
        return "resume"
    return "run"


def run_pipeline(cfg: PipelineConfig, *, dry_run: bool = False, progress: bool = True,
                 echo: Callable[[str], None] = print) -> list[tuple[str, str, float]]:
    """Check the input data, then run (or with ``dry_run`` only print) the plan; returns
    (stage, action, seconds). Input problems raise before anything runs; warnings are echoed.
    The output root is claimed first (:func:`xladjust.outputs.claim_output`); each stage
    claims its own folder."""
    report = check_pipeline_inputs(cfg)
    for warning in report.warnings:
        echo(f"warning: {warning}")
    report.raise_problems()
    if dry_run:
        return _run_plan(cfg, dry_run=True, progress=progress, echo=echo)
    with claim_output(cfg.out, command="run", inputs=_input_paths(cfg), legacy=[(STATE_DIR,)]) as claim:
        claim.mark()
        return _run_plan(cfg, dry_run=False, progress=progress, echo=echo)


def check_pipeline_inputs(cfg: PipelineConfig) -> InputReport:
    """Read every input file a pipeline config names (:mod:`xladjust.pipeline.inputs`)."""
    report = InputReport()
    seen: dict[str, str | None] = {}  # file -> its first problem (None: fine), so each is read once
    for pair in cfg.pairs:
        for part in ("train", "heldout"):
            spec = getattr(pair, part)
            if spec:
                report.extend(check_parallel(spec, pair.src_lang, pair.tgt_lang, f"pairs[{pair.label}].{part}", seen))
    for spec in cfg.transfer:
        ft = transfer_config(cfg, spec, _PLACEHOLDER / "c", _PLACEHOLDER / "d").finetune
        report.extend(check_finetune_inputs(ft, f"transfer {ft.task}", seen))
    if cfg.landscape is not None:
        land = cfg.landscape
        ft = landscape_finetune(cfg, land, bilingual=True, out=_PLACEHOLDER)
        report.extend(check_finetune_inputs(ft, "landscape", seen))
        report.extend(check_task_files(ft.task, {f"test[{k}]": v for k, v in land.test.items()}, "landscape", seen))
    return report


def _input_paths(cfg: PipelineConfig) -> list[Any]:
    specs = [spec for p in cfg.pairs for spec in (p.train, p.heldout or {})]
    paths: list[Any] = [spec.get(k) for spec in specs for k in INPUT_FILE_KEYS]
    if cfg.landscape is not None:
        land = cfg.landscape
        paths += [land.source_train, land.target_train, *([land.dev] if land.dev else []), *land.test.values(),
                  *land.bitexts.values()]
    return paths


def _run_plan(cfg: PipelineConfig, *, dry_run: bool, progress: bool,
              echo: Callable[[str], None]) -> list[tuple[str, str, float]]:
    stages = plan(cfg, progress=progress)
    width = max([14, *(len(s.name) for s in stages)])
    done: list[tuple[str, str, float]] = []
    for i, stage in enumerate(stages, start=1):
        status = stage_status(cfg, stage)
        action = "skip (up to date)" if status == "up to date" else status
        echo(f"[{i}/{len(stages)}] {stage.name:<{width}} {action:<18} {stage.summary} -> {stage.directory}")
        if dry_run or status == "up to date":
            done.append((stage.name, "skipped" if status == "up to date" else "planned", 0.0))
            continue
        start = time.perf_counter()
        stage.run()
        write_json_atomic(_state_file(cfg, stage), {"stage": stage.name, **_state_now(cfg, stage),
                                                    "run": uuid.uuid4().hex})
        done.append((stage.name, "ran", time.perf_counter() - start))
    return done


def load_pipeline(path: str | Path) -> PipelineConfig:
    return build_config(PipelineConfig, load_kind(path, "pipeline"), where=str(path))
