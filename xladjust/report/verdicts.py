"""The verdict table of a study: read each claim's results from the run folder, judge them
(:func:`xladjust.claims.judge`) and write ``verdicts.md`` and ``verdicts.json``.

Where each record comes from (the test printed is the test of the estimate printed):

- ``probe``: ``probe/summary.json``, comparison ``AFTER-vs-BEFORE``, the bitext of the
  language, ``measures[MEASURE]`` — the change, its sentence-level bootstrap interval,
  the bootstrap p of the same change, its standard error and MDE;
- ``probe-after``: ``probe-after-TASK/summary.json``, ``measures["AFTER vs BEFORE"]`` of
  the language's bitext, the same fields;
- ``transfer``: ``transfer-TASK/comparison.json``, the language's comparison
  ``AFTER - BEFORE``, its seed-level part: the mean per-seed difference, the hierarchical
  bootstrap interval and p (seeds × examples), its standard error and MDE.

Warnings: fewer than 5 fine-tuning seeds in a transfer, and fewer than 2 adjustment runs of
an adjusted arm a claim compares (one unless the results record ``adjust_seeds``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xladjust.claims import ClaimsFile, Source, judge, load_claims
from xladjust.io import (
    atomic_dir,
    mark_complete,
    read_json,
    sha256_file,
    write_json_atomic,
    write_text_atomic,
)
from xladjust.outputs import claim_output
from xladjust.probes.report import clean_json
from xladjust.stats import seed_warnings

log = logging.getLogger(__name__)

VERDICTS_JSON = "verdicts.json"
VERDICTS_MD = "verdicts.md"


def _bitext_of(names: list[str], lang: str) -> str | None:
    """The bitext of a language: named ``lang`` or ending in ``-lang``."""
    for name in names:
        if name == lang or name.endswith(f"-{lang}"):
            return name
    return None


def read_records(run_dir: Path, claims: ClaimsFile) -> tuple[dict[tuple[str, str], dict[str, Any] | None],
                                                              dict[str, list[str]]]:
    """Per (claim, language) its record (None when missing), and per claim its warnings."""
    cache: dict[Path, Any] = {}

    def load(path: Path) -> Any:
        if path not in cache:
            cache[path] = read_json(path) if path.is_file() else None
        return cache[path]

    records: dict[tuple[str, str], dict[str, Any] | None] = {}
    warnings: dict[str, list[str]] = {}
    for claim in claims.claims:
        stage = run_dir / claim.stage
        data = load(stage / ("comparison.json" if claim.source is Source.TRANSFER else "summary.json"))
        notes = warnings.setdefault(claim.id, [])
        if data is None:
            notes.append(f"{claim.stage} has no results in {run_dir}: not tested")
            continue
        for lang in claim.languages:
            records[(claim.id, lang)] = _record(claim.source, data, claim.before, claim.after, claim.measure, lang)
        notes += _seed_notes(claim.source, data, (claim.before, claim.after))
    return records, warnings


def _record(source: Source, data: Mapping[str, Any], before: str, after: str, measure: str,
            lang: str) -> dict[str, Any] | None:
    if source is Source.TRANSFER:
        comp = data.get("languages", {}).get(lang, {}).get("comparisons", {}).get(f"{after} - {before}")
        seed = (comp or {}).get("seed_level")
        if not seed:
            return None
        return {"estimate": seed["mean_difference"], "ci_low": seed["hier_ci_low"], "ci_high": seed["hier_ci_high"],
                "p": seed["hier_p"], "se": seed.get("hier_se"), "mde": seed.get("mde"),
                "metric": data.get("metric"), "n_seeds": len(seed.get("seeds", []))}
    if source is Source.PROBE:
        by_bitext = data.get("comparisons", {}).get(f"{after}-vs-{before}", {})
        bitext = _bitext_of(list(by_bitext), lang)
        found = by_bitext.get(bitext, {}).get("measures") if bitext else None
    else:
        bitexts = data.get("bitexts", {})
        bitext = _bitext_of(list(bitexts), lang)
        found = bitexts.get(bitext, {}).get("measures", {}).get(f"{after} vs {before}") if bitext else None
    if not found or measure not in found:
        return None
    m = found[measure]
    return {"estimate": m["change"], "ci_low": m["ci_low"], "ci_high": m["ci_high"], "p": m["p"], "se": m["se"],
            "mde": m["mde"], "before_value": m["before"], "after_value": m["after"], "unit": found.get("unit")}


def _seed_notes(source: Source, data: Mapping[str, Any], arms: tuple[str, ...]) -> list[str]:
    adjusted = {a.split("+")[0] for a in arms if not a.split("+")[0].startswith("vanilla")}
    recorded = data.get("adjust_seeds") or {}
    finetune = len(data.get("seeds", [])) if source is Source.TRANSFER else None
    return seed_warnings(finetune, {a: int(recorded.get(a, 1)) for a in sorted(adjusted)})


def verdicts_table(run_dir: Path, claims_path: Path) -> dict[str, Any]:
    """Every claim of ``claims_path`` judged on the study in ``run_dir``."""
    claims = load_claims(claims_path)
    records, warnings = read_records(run_dir, claims)
    judged = judge(claims, records)
    for claim in judged:
        claim["warnings"] = warnings.get(claim["id"], [])
        for test in claim["tests"]:
            rec = records.get((claim["id"], test["language"]))
            if rec:
                test.update({k: v for k, v in rec.items() if k not in test})
    return {"kind": "claim-verdicts", "paper": claims.paper, "alpha": claims.alpha,
            "claims_file": str(claims_path), "claims_sha256": sha256_file(claims_path), "claims": judged,
            "tasks": task_facts(run_dir)}


def task_facts(run_dir: Path) -> dict[str, Any]:
    """Per transfer stage of the study (``transfer-TASK/comparison.json``): the metric, the
    fine-tuning seeds, and each model's mean score per language (the baseline's English
    score says whether the task was learned at all)."""
    out: dict[str, Any] = {}
    for path in sorted(Path(run_dir).glob("transfer-*/comparison.json")):
        table = read_json(path)
        out[table.get("task", path.parent.name)] = {
            "metric": table.get("metric"), "seeds": table.get("seeds", []), "baseline_model": table.get("baseline_model"),
            "mean_scores": {lang: {name: s["mean"] for name, s in entry.get("scores", {}).items()}
                            for lang, entry in table.get("languages", {}).items()},
            "warnings": table.get("warnings", [])}
    return out


def _num(x: Any, digits: int = 3) -> str:
    return "–" if x is None or x != x else f"{x:+.{digits}f}"


def _p(x: Any) -> str:
    if x is None or x != x:
        return "–"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def verdicts_markdown(table: Mapping[str, Any]) -> str:
    """The verdict table: one row per claim and language, the claim's verdict on its first row."""
    lines = [f"# Claims of {table['paper']}: verdicts", "",
             f"Declared in `{table['claims_file']}` (sha256 {table['claims_sha256'][:12]}). α = {table['alpha']}, "
             "p-values Holm-corrected within each family; a directional claim is supported when its corrected p "
             "< α with the claimed sign; a 'no change' claim only when the equivalence test (TOST) against its "
             "margin has corrected p < α. MDE: the effect the test detects with 80% power at α = 0.05.", "",
             "| claim | verdict | measure | compares | language | estimate | 95% CI | p (corrected) | MDE "
             "| language verdict |", "|---|---|---|---|---|---:|---|---:|---:|---|"]
    for claim in table["claims"]:
        compares = f"{claim['after']} vs {claim['before']} ({claim['stage']})"
        wanted = claim["direction"] + (f", margin {claim['margin']:g}" if claim["margin"] is not None else "")
        for k, t in enumerate(claim["tests"]):
            head = [f"**{claim['id']}**: {claim['text']}", f"**{claim['verdict']}** ({claim['require']})",
                    f"{claim['measure']} ({wanted})", compares] if k == 0 else ["", "", "", ""]
            ci = f"[{_num(t.get('ci_low'))}, {_num(t.get('ci_high'))}]" if "ci_low" in t else "–"
            p = _p(t.get("p_corrected"))
            if "tost" in t and claim["direction"] == "no change":
                p += " (TOST)"
            lines.append("| " + " | ".join(head + [t["language"], _num(t.get("estimate")), ci, p,
                                                  _num(t.get("mde")).lstrip("+"), t["verdict"] + _note(t)]) + " |")
    notes = [f"- {c['id']}: {w}" for c in table["claims"] for w in c.get("warnings", [])]
    if notes:
        lines += ["", "Warnings:", "", *dict.fromkeys(notes)]
    return "\n".join(lines) + "\n"


def _note(test: Mapping[str, Any]) -> str:
    return f" ({test['note']})" if test.get("note") else ""


def write_verdicts(run_dir: Path, claims_path: Path, out: Path) -> dict[str, Any]:
    """Judge the claims on the study in ``run_dir``; write ``verdicts.json`` and
    ``verdicts.md`` into the folder ``out`` (claimed first, replaced whole, marked complete)."""
    run_dir, claims_path = Path(run_dir), Path(claims_path)
    stages = sorted({run_dir / c.stage for c in load_claims(claims_path).claims})
    with claim_output(out, command="verdicts", inputs=[claims_path, *stages]):
        table = verdicts_table(run_dir, claims_path)
        with atomic_dir(out) as tmp:
            write_json_atomic(tmp / VERDICTS_JSON, clean_json(table))
            write_text_atomic(tmp / VERDICTS_MD, verdicts_markdown(table))
            mark_complete(tmp)
    for claim in table["claims"]:
        log.info("claim %s: %s", claim["id"], claim["verdict"])
    return table
