"""Alignment evaluation against gold links (``xladjust align evaluate``).

Gold comes as pre-tokenized ``src ||| tgt`` lines and a file with one line of ``i-j``
(sure) and ``ipj`` (possible) links per sentence, 1-indexed unless ``one_indexed`` is off.
Statistical aligners learn from the text they align and a gold set is small, so
``extra`` parallel text (tokenized like ``xladjust align`` does) is aligned together with
the gold sentences, which come first; only the gold part is scored. The forward and
reverse directions are scored too, and the symmetrized links with the built-in heuristics
(identical to atools).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from xladjust.align.backends import AlignerOutput, Backend, create_backend
from xladjust.align.config import EvaluateConfig
from xladjust.align.joint import split_joint
from xladjust.align.links import GoldLinks, Link, check_range, iter_pharaoh_file, parse_gold
from xladjust.align.metrics import AlignmentScores, score_alignments
from xladjust.align.parallel import default_workers
from xladjust.align.pipeline import scratch_dir
from xladjust.align.readers import FilterCounts, filter_pairs, open_bitext, scan_bitext
from xladjust.align.symmetrize import one_to_one, symmetrize
from xladjust.align.tokenize import JointFile, TokenizeSettings, tokenize_pairs
from xladjust.config import config_to_dict
from xladjust.errors import ExternalToolError, InputError
from xladjust.io import iter_text_lines, sha256_file
from xladjust.signature import make_signature

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoldPair:
    src: list[str]
    tgt: list[str]
    links: GoldLinks


def read_gold(gold_text: Path, gold: Path, one_indexed: bool = True) -> list[GoldPair]:
    """Gold sentences and links, checked: same line counts, no empty side, links in range."""
    for path in (gold_text, gold):
        if not path.is_file():
            raise InputError(f"gold file {path} does not exist")
    texts = _read_lines(gold_text)
    links = _read_lines(gold)
    if len(texts) != len(links):
        raise InputError(f"{gold_text} has {len(texts)} sentence pairs but {gold} has {len(links)} link lines; "
                         "they must correspond line by line")
    hint = ("; the gold may be 0-indexed: pass --zero-indexed" if one_indexed
            else "; the gold may be 1-indexed: drop --zero-indexed")
    out = []
    for lineno, (text, line) in enumerate(zip(texts, links, strict=True), start=1):
        src_text, tgt_text = split_joint(text, f"{gold_text}:{lineno}")
        src, tgt = src_text.split(), tgt_text.split()
        if not src or not tgt:
            raise InputError(f"{gold_text}:{lineno}: empty {'source' if not src else 'target'} side in the gold text")
        g = parse_gold(line, f"{gold}:{lineno}", one_indexed)
        check_range(g.possible, len(src), len(tgt), f"{gold}:{lineno}", InputError, hint)
        out.append(GoldPair(src, tgt, g))
    if not out:
        raise InputError(f"{gold_text} holds no sentence pairs")
    return out


def _read_lines(path: Path) -> list[str]:
    return [text for _, text in iter_text_lines(path)]


@dataclass
class EvaluationReport:
    """Scores per alignment (``forward``, ``reverse``, the heuristic's name, or ``links``)."""

    scores: dict[str, AlignmentScores]
    primary: str  # the key of the final alignment's scores
    n_gold: int
    n_extra: int
    aligner: dict[str, Any] = field(default_factory=dict)
    signature: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"primary": self.primary, "scores": {k: v.to_dict() for k, v in self.scores.items()},
                "n_gold": self.n_gold, "n_extra": self.n_extra, "aligner": self.aligner,
                "signature": self.signature, "seconds": round(self.seconds, 3)}


def _head(path: Path, n: int, tool: str) -> list[list[Link]]:
    return list(islice(iter_pharaoh_file(path, tool), n))


def score_output(aligned: AlignerOutput, gold: Sequence[GoldPair], heuristic: str, keep_one_to_one: bool,
                 tool: str) -> tuple[dict[str, AlignmentScores], str]:
    """Scores of an aligner's output on the first ``len(gold)`` lines."""
    n = len(gold)
    gold_links = [g.links for g in gold]
    scores: dict[str, AlignmentScores] = {}

    def checked(rows: list[list[Link]], path: Path) -> list[list[Link]]:
        if len(rows) != n:
            raise ExternalToolError(f"{tool} output {path} has {len(rows)} lines for {n} gold sentences")
        for lineno, (links, g) in enumerate(zip(rows, gold, strict=True), start=1):
            check_range(links, len(g.src), len(g.tgt), f"{tool} output {path}:{lineno}", ExternalToolError)
        return rows

    if aligned.directional:
        assert aligned.forward is not None and aligned.reverse is not None
        fwd = checked(_head(aligned.forward, n, tool), aligned.forward)
        rev = checked(_head(aligned.reverse, n, tool), aligned.reverse)
        scores["forward"] = score_alignments(fwd, gold_links)
        scores["reverse"] = score_alignments(rev, gold_links)
        final = [symmetrize(f, r, heuristic) for f, r in zip(fwd, rev, strict=True)]
        primary = heuristic
    else:
        assert aligned.links is not None
        final = checked(_head(aligned.links, n, tool), aligned.links)
        primary = "links"
    scores[primary] = score_alignments(final, gold_links)
    if keep_one_to_one:
        primary = f"{primary}+one-to-one"
        scores[primary] = score_alignments([one_to_one(x) for x in final], gold_links)
    return scores, primary


def evaluate_aligner(config: EvaluateConfig, *, progress: bool = False, backend: Backend | None = None) -> EvaluationReport:
    """Align the gold sentences (after them the extra text, for statistical aligners) and
    score the gold part."""
    t0 = time.perf_counter()
    backend = backend or create_backend(config.aligner, seed=config.seed)
    backend.check()
    gold = read_gold(config.gold_text, config.gold, config.one_indexed)
    inputs = {str(config.gold_text): sha256_file(config.gold_text), str(config.gold): sha256_file(config.gold)}
    extra = None
    if config.extra is not None and not backend.uses_extra_text:
        log.info("the %s aligner aligns each pair on its own: the extra text is not needed and is ignored",
                 backend.name)
    elif config.extra is not None:
        extra = open_bitext(config.extra, config.src_lang, config.tgt_lang)
        scanned = scan_bitext(extra, config.extra.max_words, config.extra.strict)
    workers = config.workers or default_workers()
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
        log.info("aligning %d gold pairs + %d extra pairs with %s", len(gold), n_extra, backend.name)
        aligned = backend.align(joint, work, progress)
        scores, primary = score_output(aligned, gold, config.aligner.symmetrize.value, config.aligner.one_to_one,
                                       backend.name)
    info = {"name": backend.name, **aligned.info}
    if aligned.directional:
        info["symmetrization"] = {"symmetrizer": "builtin (identical to atools)",
                                  "heuristic": config.aligner.symmetrize.value}
    signature = make_signature(stage="align-evaluate", config=config_to_dict(config), seed=config.seed, inputs=inputs)
    return EvaluationReport(scores, primary, len(gold), n_extra, info, signature, time.perf_counter() - t0)


def evaluate_predictions(predicted: Path, gold_text: Path, gold: Path, one_indexed: bool = True) -> AlignmentScores:
    """Score existing alignments: a Pharaoh file (0-indexed, one line per gold sentence) or
    an aligned-corpus directory whose pairs are the gold sentences."""
    pairs = read_gold(gold_text, gold, one_indexed)
    if predicted.is_dir():
        from xladjust.align.corpus import check_aligned_corpus, iter_pairs

        check_aligned_corpus(predicted)
        rows = []
        for k, pair in enumerate(islice(iter_pairs(predicted), len(pairs))):
            if (pair.src, pair.tgt) != (pairs[k].src, pairs[k].tgt):
                raise InputError(f"{predicted}: pair {k + 1} has other words than gold sentence {k + 1}; "
                                 "align the gold text itself (xladjust align --bitext GOLD_TEXT --no-tokenize)")
            rows.append(pair.links)
    elif predicted.is_file():
        rows = _head(predicted, len(pairs), "")
    else:
        raise InputError(f"predicted alignments {predicted} do not exist")
    if len(rows) != len(pairs):
        raise InputError(f"{predicted} has {len(rows)} alignments for {len(pairs)} gold sentences")
    for lineno, (links, g) in enumerate(zip(rows, pairs, strict=True), start=1):
        check_range(links, len(g.src), len(g.tgt), f"{predicted}:{lineno}", InputError)
    return score_alignments(rows, [g.links for g in pairs])
