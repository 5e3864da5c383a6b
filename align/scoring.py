"""Scoring aligners and alignment files against gold links (``xladjust align evaluate``).

Gold comes as pre-tokenized ``src ||| tgt`` lines and a file with one line of ``i-j``
(sure) and ``ipj`` (possible) links per sentence, 1-indexed unless ``one_indexed`` is off.
Statistical aligners learn from the text they align and a gold set is small, so
``extra`` parallel text (tokenized like ``xladjust align`` does) is aligned together with
the gold sentences, which come first; only the gold part is scored (all of it, or its
``dev`` or ``test`` split, :func:`xladjust.align.gold.split_gold`). The forward and
reverse directions are scored too, and the symmetrized links, by atools or the built-in
heuristics as ``symmetrize_with`` says (the same rule as ``xladjust align``). With several
``seeds`` an aligner that samples (eflomal) runs once per seed on the same tokenized text
and the report gives the mean and spread of its scores.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from xladjust.align.backends import AlignerOutput, Backend, create_backend
from xladjust.align.config import EvaluateConfig
from xladjust.align.corpus import check_aligned_corpus, iter_pairs
from xladjust.align.gold import GoldDrops, GoldPair, read_gold, split_gold
from xladjust.align.links import Link, check_range, iter_pharaoh_file
from xladjust.align.metrics import AlignmentScores, score_alignments
from xladjust.align.parallel import default_workers
from xladjust.align.pipeline import scratch_dir
from xladjust.align.readers import FilterCounts, filter_pairs, open_bitext, scan_bitext
from xladjust.align.symmetrize import HEURISTICS, one_to_one, symmetrize
from xladjust.align.symmetrizer import builtin_entry, pick_atools, run_atools
from xladjust.align.tokenize import JointFile, TokenizeSettings, tokenize_pairs
from xladjust.config import config_to_dict
from xladjust.errors import ConfigError, ExternalToolError, InputError
from xladjust.io import sha256_file
from xladjust.signature import make_signature

log = logging.getLogger(__name__)


@dataclass
class EvaluationReport:
    """Scores per alignment (``forward`` and ``reverse``, or the combined aligner's
    ``statistical`` and ``embedding``; the heuristic's name, or ``links``)."""

    scores: dict[str, AlignmentScores]
    primary: str  # the key of the final alignment's scores
    n_gold: int
    n_extra: int
    aligner: dict[str, Any] = field(default_factory=dict)
    signature: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    split: str = "all"
    n_scored: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    seed_runs: list[tuple[int, AlignmentScores]] = field(default_factory=list)  # primary scores per seed

    def seed_summary(self) -> dict[str, dict[str, float]]:
        """Mean and sample standard deviation of AER, precision and recall over the seeds."""
        out = {}
        for key in ("aer", "precision", "recall"):
            values = [getattr(s, key) for _, s in self.seed_runs]
            out[key] = {"mean": statistics.fmean(values),
                        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "min": min(values), "max": max(values)}
        return out

    def to_dict(self) -> dict[str, Any]:
        out = {"primary": self.primary, "scores": {k: v.to_dict() for k, v in self.scores.items()},
               "n_gold": self.n_gold, "n_extra": self.n_extra, "split": self.split, "n_scored": self.n_scored,
               "dropped_gold_links": self.dropped, "aligner": self.aligner,
               "signature": self.signature, "seconds": round(self.seconds, 3)}
        if len(self.seed_runs) > 1:
            out["seeds"] = {"runs": [{"seed": seed, **s.to_dict()} for seed, s in self.seed_runs],
                            "summary": self.seed_summary()}
        return out


def _head(path: Path, n: int, tool: str) -> list[list[Link]]:
    return list(islice(iter_pharaoh_file(path, tool), n))


def score_output(aligned: AlignerOutput, gold: Sequence[GoldPair], heuristic: str, keep_one_to_one: bool,
                 tool: str, symmetrized: Path | None = None, subset: Sequence[int] | None = None,
                 all_heuristics: bool = False) -> tuple[dict[str, AlignmentScores], str]:
    """Scores of an aligner's output on the first ``len(gold)`` lines (only the sentences
    in ``subset`` when given). ``symmetrized`` holds atools' final links; without it the
    built-in heuristics symmetrize the two directions. With ``all_heuristics`` every other
    built-in heuristic is scored too, as extra rows."""
    n = len(gold)
    keep = list(range(n)) if subset is None else list(subset)
    gold_links = [gold[k].links for k in keep]
    scores: dict[str, AlignmentScores] = {}

    def checked(path: Path) -> list[list[Link]]:
        rows = _head(path, n, tool)
        if len(rows) != n:
            raise ExternalToolError(f"{tool} output {path} has {len(rows)} lines for {n} gold sentences")
        for lineno, (links, g) in enumerate(zip(rows, gold, strict=True), start=1):
            check_range(links, len(g.src), len(g.tgt), f"{tool} output {path}:{lineno}", ExternalToolError)
        return rows

    def score(rows: list[list[Link]]) -> AlignmentScores:
        return score_alignments([rows[k] for k in keep], gold_links)

    if aligned.directional:
        assert aligned.forward is not None and aligned.reverse is not None
        fwd, rev = checked(aligned.forward), checked(aligned.reverse)
        scores[aligned.halves[0]] = score(fwd)
        scores[aligned.halves[1]] = score(rev)
        final = (checked(symmetrized) if symmetrized is not None
                 else [symmetrize(f, r, heuristic) for f, r in zip(fwd, rev, strict=True)])
        primary = heuristic
        for other in HEURISTICS if all_heuristics else ():
            if other != heuristic:
                scores[other] = score([symmetrize(f, r, other) for f, r in zip(fwd, rev, strict=True)])
    else:
        assert aligned.links is not None
        final = checked(aligned.links)
        primary = "links"
    scores[primary] = score(final)
    if keep_one_to_one:
        primary = f"{primary}+one-to-one"
        scores[primary] = score([one_to_one(x) for x in final])
    return scores, primary


def score_aligner(config: EvaluateConfig, *, progress: bool = False, backend: Backend | None = None) -> EvaluationReport:
    """Align the gold sentences (after them the extra text, for statistical aligners) and
    score the gold part, once per seed of ``config.seeds`` (else once, with ``config.seed``)."""
    t0 = time.perf_counter()
    seeds = list(config.seeds) if config.seeds else [config.seed]
    backend = backend or create_backend(config.aligner, seed=seeds[0])
    backend.check()
    if len(seeds) > 1 and not getattr(backend, "samples", False):
        raise ConfigError(f"--seeds: the {backend.name} aligner has no randomness, every seed gives the same "
                          "links; pass one seed (--seed)")
    atools = pick_atools(config.aligner) if getattr(backend, "directional", True) else None
    drops = GoldDrops()
    gold = read_gold(config.gold_text, config.gold, config.one_indexed, config.drop_invalid_gold, drops)
    subset = split_gold(gold, config.split)
    if hasattr(backend, "score_lines"):  # the combined aligner: embed only the gold lines, the scored ones
        backend.score_lines = len(gold)
    inputs = {str(config.gold_text): sha256_file(config.gold_text), str(config.gold): sha256_file(config.gold)}
    extra = None
    if config.extra is not None and not backend.uses_extra_text:
        log.info("the %s aligner aligns each pair on its own: the extra text is not needed and is ignored",
                 backend.name)
    elif config.extra is not None:
        extra = open_bitext(config.extra, config.src_lang, config.tgt_lang)
        scanned = scan_bitext(extra, config.extra.max_words, config.extra.strict)
    workers = config.workers or default_workers()
    heuristic = config.aligner.symmetrize.value
    runs: list[tuple[int, AlignmentScores]] = []
    with scratch_dir(None, config.work_dir, "xladjust-align-eval-") as work:
        joint = JointFile(work / "bitext.txt")
        with joint:
            for g in gold:
                joint.write_words(g.src, g.tgt)
            if extra is not None:
                inputs.update(extra.hashes())
                settings = TokenizeSettings(config.src_lang, config.tgt_lang, config.extra.tokenize,
                                            config.extra.normalize_punct, workers)
                counts = FilterCounts()
                pairs = filter_pairs(extra, config.extra.max_words, config.extra.strict, counts)
                for line in tokenize_pairs(pairs, settings, expected=scanned.kept):
                    if line is not None:
                        joint.write_line(line)
        n_extra = joint.n_pairs - len(gold)
        for k, seed in enumerate(seeds):
            if k > 0:
                backend = create_backend(config.aligner, seed=seed)
                if hasattr(backend, "score_lines"):
                    backend.score_lines = len(gold)
            log.info("aligning %d gold pairs + %d extra pairs with %s (seed %d)", len(gold), n_extra,
                     backend.name, seed)
            run_dir = work / f"seed-{seed}"
            run_dir.mkdir()
            aligned = backend.align(joint, run_dir, progress)
            sym_info: dict[str, Any] = {}
            symmetrized = None
            if aligned.directional:
                if atools is not None:
                    symmetrized = run_dir / "symmetrized.pharaoh"
                    sym_info = run_atools(atools, aligned.forward, aligned.reverse, symmetrized,  # type: ignore[arg-type]
                                          heuristic, joint.n_pairs, run_dir)
                else:
                    sym_info = builtin_entry(heuristic)
            scores, primary = score_output(aligned, gold, heuristic, config.aligner.one_to_one, backend.name,
                                           symmetrized, subset, config.all_heuristics)
            if k == 0:
                first_scores, first_primary, info = scores, primary, {"name": backend.name, **aligned.info}
                if sym_info:
                    info["symmetrization"] = sym_info
            runs.append((seed, scores[primary]))
    signature = make_signature(stage="align-evaluate", config=config_to_dict(config), seed=seeds[0], inputs=inputs)
    return EvaluationReport(first_scores, first_primary, len(gold), n_extra, info, signature,
                            time.perf_counter() - t0, config.split, len(subset), drops.to_dict(), runs)


def score_predictions(predicted: Path, gold_text: Path, gold: Path, one_indexed: bool = True,
                         drop_invalid: bool = False, split: str = "all",
                         drops: GoldDrops | None = None) -> AlignmentScores:
    """Score existing alignments: a Pharaoh file (0-indexed, one line per gold sentence) or
    an aligned-corpus directory whose pairs are the gold sentences."""
    pairs = read_gold(gold_text, gold, one_indexed, drop_invalid, drops)
    subset = split_gold(pairs, split)
    if predicted.is_dir():
        check_aligned_corpus(predicted)
        rows = []
        for k, pair in enumerate(islice(iter_pairs(predicted), len(pairs) + 1)):
            if k < len(pairs) and (pair.src, pair.tgt) != (pairs[k].src, pairs[k].tgt):
                raise InputError(f"{predicted}: pair {k + 1} has other words than gold sentence {k + 1}; "
                                 "align the gold text itself (xladjust align --joint GOLD_TEXT --no-tokenize)")
            rows.append(pair.links)
    elif predicted.is_file():
        rows = _head(predicted, len(pairs) + 1, "")
    else:
        raise InputError(f"predicted alignments {predicted} do not exist")
    if len(rows) != len(pairs):
        count = f"more than {len(pairs)}" if len(rows) > len(pairs) else str(len(rows))
        raise InputError(f"{predicted} has {count} alignments for {len(pairs)} gold sentences; "
                         "score predictions of exactly the gold text, one line per gold sentence")
    for lineno, (links, g) in enumerate(zip(rows, pairs, strict=True), start=1):
        check_range(links, len(g.src), len(g.tgt), f"{predicted}:{lineno}", InputError)
    return score_alignments([rows[k] for k in subset], [pairs[k].links for k in subset])
