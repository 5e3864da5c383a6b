"""Claims as data, verdicts by rule.

A claims file (``configs/claims/*.yaml``) lists a paper's claims, declared before the run:
for each, the stage output it is read from, the measure, the two checkpoints or arms it
compares, the languages, the direction (``increase``, ``decrease`` or ``no change``), a
margin for "no change" claims, how many languages must agree, and the family within which
p-values are corrected. :func:`judge` takes the claims and one record per (claim, language)
(estimate, interval, p, standard error, minimum detectable effect) and returns a verdict
per claim: *supported*, *contradicted* or *inconclusive*. The rules:

- Each test adds one p to its family: the two-sided p of the difference for a directional
  claim, the TOST p (:func:`xladjust.stats.tost`, against the claim's margin) for a "no
  change" claim. p-values are Holm-corrected within each family
  (:func:`xladjust.stats.holm`).
- Directional test: *supported* when the corrected p < α and the estimate has the claimed
  sign; *contradicted* when the corrected p < α with the opposite sign, or when the claim
  declares a margin and the TOST shows the effect lies within it (uncorrected, at α);
  otherwise *inconclusive*.
- "No change" test: *supported* when the corrected TOST p < α (the (1 − 2α) interval lies
  inside ±margin); *contradicted* when the (1 − 2α) interval lies wholly beyond one margin;
  otherwise *inconclusive* — a failure to find a difference is never read as "no change".
- A claim over languages (``require``): ``all`` is supported when every test is, and
  contradicted when any is; ``at least K`` is supported when K tests are, and contradicted
  when more than n − K are contradicted (K can no longer be reached); else inconclusive. A
  language without results is inconclusive and says so.

:func:`read_records` reads the records from a study's run folder (``probe``,
``probe-after-TASK``, ``transfer-TASK``); :func:`write_verdicts` writes ``verdicts.md`` and
``verdicts.json``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from xladjust.config import build_config, load_yaml
from xladjust.stats import holm, tost

GEOMETRY_MEASURES = ("share_delta_positive", "ratio", "mean_delta", "mean_related", "mean_unrelated")
TRANSFER_MEASURE = "score"  # the task's primary metric (accuracy, F1)
VERDICTS = ("supported", "contradicted", "inconclusive")
_AT_LEAST = re.compile(r"^at least ([1-9][0-9]*)$")


class Source(str, Enum):
    """The stage output a claim is read from."""

    PROBE = "probe"  # probes before fine-tuning: checkpoint vs checkpoint
    PROBE_AFTER = "probe-after"  # probes after fine-tuning on ``task``: cell vs cell
    TRANSFER = "transfer"  # zero-shot transfer on ``task``: arm vs arm over seeds


class Direction(str, Enum):
    INCREASE = "increase"
    DECREASE = "decrease"
    NO_CHANGE = "no change"


@dataclass(frozen=True)
class Claim:
    """One claim: ``after`` compared with ``before`` on ``measure``, per language."""

    id: str  # short name, unique in the file
    text: str  # the claim as the paper words it
    source: Source  # probe, probe-after or transfer
    measure: str  # a geometry measure (probe sources) or 'score' (transfer)
    before: str  # the checkpoint, cell or arm compared against
    after: str  # the checkpoint, cell or arm the claim is about
    direction: Direction  # increase, decrease or 'no change'
    family: str  # p-values are Holm-corrected within a family
    languages: list[str]  # target languages, each one test
    task: str | None = None  # nli, ner, qa (probe-after and transfer)
    margin: float | None = None  # |effect| below it counts as no change (required for 'no change')
    require: str = "all"  # 'all', or 'at least K' languages

    def check(self) -> list[str]:
        where = f"claim {self.id!r}"
        problems = []
        if self.source is Source.TRANSFER and self.measure != TRANSFER_MEASURE:
            problems.append(f"{where}: a transfer claim is read on measure {TRANSFER_MEASURE!r}, not {self.measure!r}")
        if self.source in (Source.PROBE, Source.PROBE_AFTER) and self.measure not in GEOMETRY_MEASURES:
            problems.append(f"{where}: measure {self.measure!r} is not one of {', '.join(GEOMETRY_MEASURES)}")
        if self.source is not Source.PROBE and not self.task:
            problems.append(f"{where}: a {self.source.value} claim needs 'task' (nli, ner or qa)")
        if self.direction is Direction.NO_CHANGE and self.margin is None:
            problems.append(f"{where}: a 'no change' claim needs a 'margin' (the effect that still counts as none)")
        if self.margin is not None and not self.margin > 0:
            problems.append(f"{where}: margin must be positive, got {self.margin}")
        if not self.languages:
            problems.append(f"{where}: list at least one language")
        k = required_count(self.require)
        if k is None:
            problems.append(f"{where}: require must be 'all' or 'at least K', got {self.require!r}")
        elif k > len(self.languages):
            problems.append(f"{where}: require {self.require!r} but only {len(self.languages)} language(s) listed")
        return problems

    @property
    def stage(self) -> str:
        """The stage folder the claim is read from."""
        return "probe" if self.source is Source.PROBE else f"{self.source.value}-{self.task}"


@dataclass(frozen=True)
class ClaimsFile:
    paper: str  # the paper the claims come from
    claims: list[Claim] = field(default_factory=list)  # the claims (see Claim)
    alpha: float = 0.05  # level of every test (two-sided), and of TOST's one-sided tests

    def check(self) -> list[str]:
        problems = [p for c in self.claims for p in c.check()]
        ids = [c.id for c in self.claims]
        problems += [f"claim id {x!r} appears twice; give each claim its own id"
                     for x in sorted({x for x in ids if ids.count(x) > 1})]
        if not 0 < self.alpha < 0.5:
            problems.append(f"alpha must lie in (0, 0.5), got {self.alpha}")
        if not self.claims:
            problems.append("list at least one claim under 'claims'")
        return problems


def required_count(require: str) -> int | None:
    """K of ``at least K``; 0 for ``all`` (every language); None when malformed."""
    if require == "all":
        return 0
    m = _AT_LEAST.match(require)
    return int(m.group(1)) if m else None


def load_claims(path: str | Path) -> ClaimsFile:
    """Read and check a claims file; every problem is reported at once."""
    data = load_yaml(path)
    return build_config(ClaimsFile, data, where=str(path))


# -- verdicts (pure) ---------------------------------------------------------------------

def judge(claims: ClaimsFile, records: Mapping[tuple[str, str], Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """Verdict per claim from ``records[(claim id, language)]``: a mapping with
    ``estimate``, ``ci_low``, ``ci_high``, ``p`` (two-sided, of the estimate), ``se`` and
    ``mde``, or None when the results are missing (see the module docstring for the rules)."""
    alpha = claims.alpha
    tests: list[dict[str, Any]] = []
    for claim in claims.claims:
        for lang in claim.languages:
            rec = records.get((claim.id, lang))
            test: dict[str, Any] = {"claim": claim.id, "family": claim.family, "language": lang}
            if rec is None:
                test.update(family_p=math.nan, note="no results")
            else:
                test.update({k: _number(rec.get(k)) for k in ("estimate", "ci_low", "ci_high", "p", "se", "mde")})
                if claim.margin is not None:
                    test["tost"] = tost(test["estimate"], test["se"], claim.margin, alpha=alpha)
                test["family_p"] = test["tost"]["p"] if claim.direction is Direction.NO_CHANGE else test["p"]
            tests.append(test)
    for family in dict.fromkeys(t["family"] for t in tests):
        members = [t for t in tests if t["family"] == family]
        for t, corrected in zip(members, holm([t["family_p"] for t in members]), strict=True):
            t["p_corrected"] = corrected
    out = []
    for claim in claims.claims:
        mine = [t for t in tests if t["claim"] == claim.id]
        for t in mine:
            t["verdict"] = _test_verdict(claim, t, alpha)
        mine = [{k: v for k, v in t.items() if k not in ("claim", "family")} for t in mine]
        out.append({"id": claim.id, "text": claim.text, "source": claim.source.value, "stage": claim.stage,
                    "task": claim.task, "measure": claim.measure, "before": claim.before, "after": claim.after,
                    "direction": claim.direction.value, "margin": claim.margin, "family": claim.family,
                    "require": claim.require, "verdict": claim_verdict(claim.require, [t["verdict"] for t in mine]),
                    "tests": mine})
    return out


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _test_verdict(claim: Claim, t: Mapping[str, Any], alpha: float) -> str:
    if "estimate" not in t or not math.isfinite(t["p_corrected"]):
        return "inconclusive"
    if claim.direction is Direction.NO_CHANGE:
        if t["p_corrected"] < alpha:
            return "supported"
        return "contradicted" if t["tost"]["outcome"] == "not equivalent" else "inconclusive"
    sign = 1.0 if claim.direction is Direction.INCREASE else -1.0
    if t["p_corrected"] < alpha and sign * t["estimate"] != 0:
        return "supported" if sign * t["estimate"] > 0 else "contradicted"
    if "tost" in t and t["tost"]["outcome"] == "equivalent":
        return "contradicted"  # the effect is shown to lie within the declared margin
    return "inconclusive"


def claim_verdict(require: str, verdicts: list[str]) -> str:
    """Combine per-language verdicts (see the module docstring)."""
    k = required_count(require)
    if k is None:
        raise ValueError(f"require must be 'all' or 'at least K', got {require!r}")
    n = len(verdicts)
    k = k or n
    supported, contradicted = verdicts.count("supported"), verdicts.count("contradicted")
    if supported >= k:
        return "supported"
    if contradicted > n - k:
        return "contradicted"
    return "inconclusive"
