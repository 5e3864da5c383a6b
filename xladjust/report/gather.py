"""``xladjust compare``: one report over many run directories.

Reads probe, transfer, adjust, fine-tuning, interpolation and flatness runs (any
directory with a ``summary.json``, a transfer ``comparison.json`` or an ``xladjust.json``)
and writes ``report.md`` (its figures copied under ``figures/``), a self-contained
``report.html`` with the plots inline, and ``summary.json``; it warns where the runs'
signatures differ in what matters (package versions, seeds, data). The sections are
built in :mod:`xladjust.report.compare`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.errors import InputError
from xladjust.io import (
    atomic_dir,
    is_complete,
    mark_complete,
    read_json_object,
    write_json_atomic,
    write_text_atomic,
)
from xladjust.probes.report_doc import Block, Text, blocks_markdown, table_of_contents

# 'xladjust compare --help' imports this module: the report's builders and the output rule
# are imported inside the functions that write a report, so that --help loads none of them.

TITLE = "xladjust comparison"
UNITS = ("accuracies, P@1, F1 and other task metrics are percentages (0–100; a run's own table may write "
         "them as 45.0% or as ×100); distances, Δ and their intervals are cosine distances 1 − cos (0–2); "
         "p-values are probabilities (0–1).")
TEXT_FILES = ("report.md", "table.md", "comparison.md")
SUMMARY_FILES = ("summary.json", "comparison.json", "xladjust.json")  # probe/landscape, transfer, finetune/adjust


@dataclass
class RunInfo:
    path: Path
    kind: str
    text: str
    signatures: list[dict[str, Any]]
    plots: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def read_run(path: Path) -> RunInfo:
    """Read what a run directory offers for the report."""
    if not path.is_dir():
        raise InputError(f"run directory {path} does not exist")
    summary_file = next((path / n for n in SUMMARY_FILES if (path / n).is_file()), None)
    if summary_file is None:
        raise InputError(f"{path} holds no {', '.join(SUMMARY_FILES)}: not an xladjust run directory")
    if not is_complete(path) and not (path / "comparison.json").is_file():
        raise InputError(f"{path} is incomplete (interrupted run?); rerun it before comparing")
    summary = read_json_object(summary_file, "the run's summary")
    kind = str(summary.get("kind") or summary.get("stage") or summary.get("signature", {}).get("stage") or
               ("transfer" if summary_file.name == "comparison.json" else "run"))
    text_file = next((path / n for n in TEXT_FILES if (path / n).is_file()), None)
    text = text_file.read_text(encoding="utf-8") if text_file is not None else ""
    plots = sorted(p for p in path.glob("*.png") if not p.name.startswith("."))
    return RunInfo(path=path, kind=kind, text=text, signatures=_signatures(summary), plots=plots,
                   summary=summary)


def _signatures(summary: Any) -> list[dict[str, Any]]:
    """Every ``signature`` block in a summary (top level or nested one level); an adjust
    run's ``xladjust.json`` is a signature itself."""
    if not isinstance(summary, dict):
        return []
    found = [summary["signature"]] if isinstance(summary.get("signature"), dict) else []
    if "versions" in summary and "stage" in summary:
        found.append(summary)
    for value in summary.values():
        if isinstance(value, dict) and isinstance(value.get("signature"), dict):
            found.append(value["signature"])
    return found


def signature_warnings(runs: list[RunInfo]) -> list[str]:
    """Differences in versions, seeds and same-named inputs across the runs. Seeds are
    compared between runs of the same kind only: a transfer run's significance seed and a
    flatness run's direction seed are different things."""
    warnings: list[str] = []
    versions: dict[str, dict[str, str]] = {}
    seeds: dict[str, dict[str, Any]] = {}
    inputs: dict[str, dict[str, str]] = {}
    for run in runs:
        for sig in run.signatures:
            for pkg, version in sig.get("versions", {}).items():
                versions.setdefault(pkg, {})[str(run.path)] = version
            if sig.get("seed") is not None:
                seeds.setdefault(run.kind, {})[str(run.path)] = sig["seed"]
            for name, digest in (sig.get("inputs") or {}).items():
                if isinstance(digest, str):
                    inputs.setdefault(name, {})[str(run.path)] = digest
    for pkg, by_run in sorted(versions.items()):
        if len(set(by_run.values())) > 1:
            warnings.append(f"{pkg} versions differ: " + ", ".join(f"{v} ({r})" for r, v in by_run.items()))
    for kind, by_run in seeds.items():
        if len(set(map(str, by_run.values()))) > 1:
            warnings.append(f"seeds differ between {kind} runs: " + ", ".join(f"{s} ({r})" for r, s in by_run.items()))
    for name, by_run in sorted(inputs.items()):
        if len(set(by_run.values())) > 1:
            warnings.append(f"input {name!r} differs between runs: " + ", ".join(sorted(by_run)))
    return warnings


def compare_runs(run_dirs: list[Path], out: Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Write ``out/report.md``, ``out/report.html``, ``out/figures/`` and ``out/summary.json``;
    an earlier report in ``out`` is replaced only with ``overwrite``."""
    from xladjust.outputs import claim_output, judge_existing, summary_kind

    if not run_dirs:
        raise InputError("no run directories given")
    with claim_output(out, command="compare", inputs=run_dirs, legacy=[summary_kind("compare")]):
        judge_existing(Path(out), overwrite=overwrite, resume=None)
        return _compare_runs(run_dirs, out)


def _compare_runs(run_dirs: list[Path], out: Path) -> dict[str, Any]:
    runs = [read_run(Path(p)) for p in run_dirs]
    warnings = signature_warnings(runs)
    summary = {"kind": "compare", "runs": [{"path": str(r.path), "kind": r.kind} for r in runs],
               "warnings": warnings}
    with atomic_dir(out) as tmp:
        _, tables = write_report(runs, warnings, tmp, Path(out))
        summary["units"] = UNITS
        summary["tables"] = tables
        write_json_atomic(tmp / "summary.json", summary)
        mark_complete(tmp)
    return summary


def write_report(runs: list[RunInfo], warnings: list[str], work: Path, final: Path
                 ) -> tuple[list[Block], list[dict[str, Any]]]:
    """Fill ``work`` (renamed to ``final`` afterwards) with the report and its tables
    (``tables/``: Markdown, CSV, LaTeX); return its blocks and the tables' entries."""
    from xladjust.report.compare import Context, build_sections
    from xladjust.report.html import render_html
    from xladjust.report.tables import export_tables

    ctx = Context(work=work, final=final)
    sections = build_sections(runs, ctx)
    blocks, tables = export_tables(report_blocks(runs, warnings, sections), work, ctx.tables)
    write_text_atomic(work / "report.md", blocks_markdown(blocks))
    write_text_atomic(work / "report.html", render_html(blocks, title=TITLE, base=work))
    return blocks, tables


def report_blocks(runs: list[RunInfo], warnings: list[str], sections: list[Any]) -> list[Block]:
    """Title, warnings, table of contents, then every section with its heading."""
    kinds = ", ".join(f"{n} {k}" for k, n in Counter(r.kind for r in runs).items())
    head = [f"# {TITLE}", "", f"{len(runs)} run(s): {kinds}.", "", f"*Units:* {UNITS}"]
    if warnings:
        head += ["", "> **Signature warnings** (results may not be comparable):", ">"]
        head += [f"> - {w}" for w in warnings]
    body: list[Block] = []
    for section in sections:
        body += [Text(f"## {section.title}"), *section.blocks]
    toc = table_of_contents(blocks_markdown([Text("\n".join(head)), *body]))
    return [Text("\n".join(head)), Text("**Contents**\n\n" + toc), *body]


def markdown_to_html(text: str) -> str:
    """Markdown as an HTML fragment, rendered by markdown-it-py."""
    from xladjust.report.html import markdown_to_html as render

    return render(text)
