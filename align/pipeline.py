"""The align stage: parallel text → Moses tokens → word alignments → aligned corpus.

:func:`align_corpus` is what ``xladjust align`` runs:

1. set-up: check the aligner can run (binary, package, model spec), open the input and
   read it once to report every problem (line counts, UTF-8, empty and over-long sides)
   before any heavy work;
2. tokenize in worker processes, streaming into a scratch ``src ||| tgt`` file;
3. align (both directions at once for statistical aligners), then symmetrize;
4. write ``pairs.jsonl``, ``links.pharaoh`` and ``manifest.json`` (aligner, exact command
   or options, versions, counts, input hashes, statistics) into a directory that appears
   complete only at the end; scratch files are removed even on an interrupt.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.align.backends import AlignerOutput, Backend, create_backend
from xladjust.align.config import AlignConfig, AlignerSpec
from xladjust.align.corpus import MANIFEST_FILE, PAIRS_FILE, read_manifest, write_aligned_corpus
from xladjust.align.finish import FinishSettings, finish_pairs
from xladjust.align.joint import parse_joint_words
from xladjust.align.parallel import default_workers
from xladjust.align.readers import FilterCounts, filter_pairs, open_bitext, scan_bitext
from xladjust.align.segment import one_word_warning
from xladjust.align.selftrain import rounds_dir, self_train
from xladjust.align.stats import AlignmentStats
from xladjust.align.symmetrizer import builtin_entry, pick_atools, run_atools
from xladjust.align.tokenize import JointFile, TokenizeSettings, tokenize_pairs
from xladjust.config import config_to_dict
from xladjust.errors import ConfigError, ExternalToolError
from xladjust.outputs import check_not_input, check_replaceable, claim_output, judge_existing
from xladjust.progress import progress as progress_bar
from xladjust.signature import make_signature

log = logging.getLogger(__name__)


@dataclass
class AlignResult:
    out: Path
    manifest: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def scratch_dir(near: Path | None, work_dir: Path | None, prefix: str) -> Iterator[Path]:
    """A scratch directory (in ``work_dir``, else beside ``near``, else the system's
    temporary directory), removed at the end whatever happens."""
    parent = work_dir or (near.parent if near is not None else None)
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)




def finish_settings(aligned: AlignerOutput, spec: AlignerSpec, tool: str, bitext: Path, n_pairs: int,
                    work: Path) -> tuple[FinishSettings, dict[str, Any]]:
    """How the final pass gets its links (symmetrizing with atools first when it is used),
    and the manifest's description of the symmetrization."""
    if not aligned.directional:
        assert aligned.links is not None
        return (FinishSettings(tool, str(bitext), (str(aligned.links),), None, spec.one_to_one),
                {"symmetrizer": "none (the aligner's links are symmetric)"})
    assert aligned.forward is not None and aligned.reverse is not None
    heuristic = spec.symmetrize.value
    atools = pick_atools(spec)
    if atools is not None:
        out = work / "symmetrized.pharaoh"
        info = run_atools(atools, aligned.forward, aligned.reverse, out, heuristic, n_pairs, work)
        return FinishSettings("atools", str(bitext), (str(out),), None, spec.one_to_one), info
    files = (str(aligned.forward), str(aligned.reverse))
    return FinishSettings(tool, str(bitext), files, heuristic, spec.one_to_one), builtin_entry(heuristic)


def tokenize_into(joint: JointFile, bitext: Any, config: AlignConfig, settings: TokenizeSettings, kept: int,
                  counts: FilterCounts, progress: bool) -> int:
    """Tokenize the filtered input into ``joint``; return how many pairs became empty."""
    empty = 0
    words: dict[str, list[int]] = {"src": [], "tgt": []}
    bar = progress_bar(total=kept, desc="tokenizing", unit="pair", enabled=progress)
    try:
        with joint:
            pairs = filter_pairs(bitext, config.input.max_words, config.input.strict, counts)
            for line in tokenize_pairs(pairs, settings, expected=kept, progress=bar):
                if line is None:
                    empty += 1
                else:
                    joint.write_line(line)
                    src, tgt = parse_joint_words(line, "tokenized text")
                    words["src"].append(len(src))
                    words["tgt"].append(len(tgt))
    finally:
        if bar is not None:
            bar.close()
    for side, lang in (("src", config.src_lang), ("tgt", config.tgt_lang)):
        if warning := one_word_warning(lang, words[side]):
            log.warning("%s", warning)
    return empty


def align_corpus(config: AlignConfig, *, progress: bool = False, backend: Backend | None = None,
                 extra_manifest: dict[str, Any] | None = None,
                 adjust_round: Callable[..., Path] | None = None) -> AlignResult:
    """Align ``config``'s parallel text and write the aligned corpus to ``config.out``.

    With ``config.workers`` other than 1, tokenization and the final pass run in worker
    processes (spawned): a script calling this must guard its entry point with
    ``if __name__ == "__main__":``. ``backend`` replaces the one ``config.aligner`` names
    (e.g. an embedding aligner holding a model already in memory). With
    ``config.self_train.rounds`` the embedding aligner self-trains
    (:mod:`xladjust.align.selftrain`) with the adjust stage's ``adjust_round``, which the
    caller passes (:func:`xladjust.adjust.selftrain.adjust_round`); ``extra_manifest`` is merged into the manifest.
    The output folder is claimed first (:func:`xladjust.outputs.claim_output`); a
    self-training run checks it before its first round and claims it for the last.
    """
    given = config.input
    inputs = [given.src, given.tgt, given.joint, given.tsv, given.hf, config.aligner.embedding.model]
    legacy = [(PAIRS_FILE, MANIFEST_FILE)]
    if config.self_train.rounds:
        if adjust_round is None:
            raise ConfigError("self-training needs the adjust stage: pass "
                              "adjust_round=xladjust.adjust.selftrain.adjust_round to align_corpus")
        check_not_input(Path(config.out), inputs)
        rounds = rounds_dir(Path(config.out))
        check_not_input(rounds, inputs, label=f"the self-training rounds folder {rounds} (from --out)")
        if check_replaceable(Path(config.out), "align", legacy):
            judge_existing(Path(config.out), overwrite=config.overwrite, resume=None)
        return self_train(config, align=align_corpus, adjust_round=adjust_round, progress=progress)
    with claim_output(config.out, command="align", inputs=inputs, legacy=legacy):
        judge_existing(Path(config.out), overwrite=config.overwrite, resume=None)  # replaced whole at the end
        return _align_corpus(config, progress=progress, backend=backend, extra_manifest=extra_manifest)


def _align_corpus(config: AlignConfig, *, progress: bool, backend: Backend | None,
                  extra_manifest: dict[str, Any] | None) -> AlignResult:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    backend = backend or create_backend(config.aligner, seed=config.seed)
    backend.check()
    bitext = open_bitext(config.input, config.src_lang, config.tgt_lang)
    scanned = scan_bitext(bitext, config.input.max_words, config.input.strict)
    workers = config.workers or default_workers()
    tok = TokenizeSettings(config.src_lang, config.tgt_lang, config.input.tokenize, config.input.normalize_punct,
                           workers)
    timings["validate"] = time.perf_counter() - t0
    log.info("%s: %d pairs to align (%d lines read)", bitext.name, scanned.kept, scanned.lines)

    with scratch_dir(Path(config.out), config.work_dir, f".{Path(config.out).name}.work.") as work:
        t = time.perf_counter()
        counts = FilterCounts()
        joint = JointFile(work / "bitext.txt")
        tokenized_empty = tokenize_into(joint, bitext, config, tok, scanned.kept, counts, progress)
        timings["tokenize"] = time.perf_counter() - t
        if joint.n_pairs == 0:
            raise ExternalToolError("no sentence pair is left after tokenization; check the input languages")

        t = time.perf_counter()
        aligned = backend.align(joint, work, progress)
        timings["align"] = time.perf_counter() - t

        t = time.perf_counter()
        finish, sym_info = finish_settings(aligned, config.aligner, backend.name, joint.path, joint.n_pairs, work)
        timings["symmetrize"] = time.perf_counter() - t  # atools only; the built-in code runs while writing

        t = time.perf_counter()
        stats = AlignmentStats()
        bar = progress_bar(total=joint.n_pairs, desc="writing", unit="pair", enabled=progress)

        def manifest() -> dict[str, Any]:
            timings["write"] = time.perf_counter() - t
            return {**_manifest(config, backend, bitext.hashes(), tok.describe(), aligned.info, sym_info,
                                counts, tokenized_empty, stats, timings, workers), **(extra_manifest or {})}

        try:
            pairs = finish_pairs(joint.path, joint.n_pairs, finish, stats, workers=workers, progress=bar)
            write_aligned_corpus(config.out, pairs, manifest, pharaoh=config.pharaoh)
        finally:
            if bar is not None:
                bar.close()
    timings["total"] = time.perf_counter() - t0
    return AlignResult(Path(config.out), read_manifest(config.out), timings)


def _manifest(config: AlignConfig, backend: Backend, hashes: dict[str, str], tokenizer: dict[str, Any],
              aligner_info: dict[str, Any], sym_info: dict[str, Any], counts: FilterCounts, tokenized_empty: int,
              stats: AlignmentStats, timings: dict[str, float], workers: int) -> dict[str, Any]:
    spec = config.aligner
    aligner = {"name": backend.name, **aligner_info, "symmetrization": sym_info, "one_to_one": spec.one_to_one}
    return {
        "kind": "aligned-corpus",
        "src_lang": config.src_lang,
        "tgt_lang": config.tgt_lang,
        "aligner": aligner,
        "tokenizer": tokenizer,
        "input": {"form": config.input.given(), "checksums": hashes},
        "counts": {**counts.to_dict(), "tokenized_empty": tokenized_empty},
        "statistics": stats.result(),
        "workers": workers,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "signature": make_signature(stage="align", config=config_to_dict(config), seed=config.seed, inputs=hashes,
                                    extra={"aligner": {"name": backend.name,
                                                       **{k: v for k, v in aligner_info.items()
                                                          if k in ("binary", "package", "model")}}}),
    }
