"""``xladjust compare``: one report over many run directories.

Gathers probe, transfer, interpolation and flatness runs (any directory with a
``summary.json`` or a transfer ``comparison.json``) into ``report.md`` and a
self-contained ``report.html`` with the plots inline, and warns where the runs'
signatures differ in what matters (package versions, seeds, data).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.errors import InputError
from xladjust.io import (
    atomic_dir,
    is_complete,
    mark_complete,
    read_json,
    write_json_atomic,
    write_text_atomic,
)

TEXT_FILES = ("report.md", "table.md", "comparison.md")
SUMMARY_FILES = ("summary.json", "comparison.json", "xladjust.json")  # probe/landscape, transfer, finetune/adjust


@dataclass
class RunInfo:
    path: Path
    kind: str
    text: str
    signatures: list[dict[str, Any]]
    plots: list[Path] = field(default_factory=list)


def read_run(path: Path) -> RunInfo:
    """Read what a run directory offers for the report."""
    if not path.is_dir():
        raise InputError(f"run directory {path} does not exist")
    summary_file = next((path / n for n in SUMMARY_FILES if (path / n).is_file()), None)
    if summary_file is None:
        raise InputError(f"{path} holds no {', '.join(SUMMARY_FILES)}: not an xladjust run directory")
    if not is_complete(path) and not (path / "comparison.json").is_file():
        raise InputError(f"{path} is incomplete (interrupted run?); rerun it before comparing")
    try:
        summary = read_json(summary_file)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{summary_file} is not valid JSON: {exc}") from None
    kind = str(summary.get("kind") or summary.get("signature", {}).get("stage") or
               ("transfer" if summary_file.name == "comparison.json" else "run"))
    text_file = next((path / n for n in TEXT_FILES if (path / n).is_file()), None)
    if text_file is not None:
        text = text_file.read_text(encoding="utf-8")
    else:
        shown = read_json(path / "metrics.json") if (path / "metrics.json").is_file() else summary
        text = "```\n" + json.dumps(shown, indent=1)[:4000] + "\n```\n"
    plots = sorted(p for p in path.rglob("*.png") if ".tmp" not in p.name)[:24]
    return RunInfo(path=path, kind=kind, text=text, signatures=_signatures(summary), plots=plots)


def _signatures(summary: Any) -> list[dict[str, Any]]:
    """Every ``signature`` block in a summary (top level or nested one level)."""
    if not isinstance(summary, dict):
        return []
    found = [summary["signature"]] if isinstance(summary.get("signature"), dict) else []
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


def compare_runs(run_dirs: list[Path], out: Path) -> dict[str, Any]:
    """Write ``out/report.md``, ``out/report.html`` and ``out/summary.json``."""
    from xladjust.outputs import claim_output, summary_kind

    if not run_dirs:
        raise InputError("no run directories given")
    with claim_output(out, command="compare", inputs=run_dirs, legacy=[summary_kind("compare")]):
        return _compare_runs(run_dirs, out)


def _compare_runs(run_dirs: list[Path], out: Path) -> dict[str, Any]:
    runs = [read_run(Path(p)) for p in run_dirs]
    warnings = signature_warnings(runs)
    summary = {"kind": "compare", "runs": [{"path": str(r.path), "kind": r.kind} for r in runs],
               "warnings": warnings}
    with atomic_dir(out) as tmp:
        write_text_atomic(tmp / "report.md", _markdown(runs, warnings, out))
        write_text_atomic(tmp / "report.html", _html(runs, warnings))
        write_json_atomic(tmp / "summary.json", summary)
        mark_complete(tmp)
    return summary


def _markdown(runs: list[RunInfo], warnings: list[str], out: Path) -> str:
    parts = ["# xladjust comparison", ""]
    if warnings:
        parts += ["**Signature warnings** (results may not be comparable):", ""]
        parts += [f"- {w}" for w in warnings] + [""]
    for run in runs:
        parts += [f"## {run.kind}: `{run.path}`", "", _demote(run.text), ""]
        for plot in run.plots:
            parts.append(f"![{plot.stem}]({_relative(plot, out)})")
        parts.append("")
    return "\n".join(parts)


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), start.resolve())


def _demote(text: str) -> str:
    """Push a run's own headings one level down under its section."""
    return "\n".join("##" + line if line.startswith("#") else line for line in text.splitlines())


def _html(runs: list[RunInfo], warnings: list[str]) -> str:
    body = ["<h1>xladjust comparison</h1>"]
    if warnings:
        body.append('<div class="warn"><b>Signature warnings</b> (results may not be comparable):<ul>')
        body += [f"<li>{html.escape(w)}</li>" for w in warnings]
        body.append("</ul></div>")
    for run in runs:
        body.append(f"<h2>{html.escape(run.kind)}: <code>{html.escape(str(run.path))}</code></h2>")
        body.append(markdown_to_html(_demote(run.text), skip_images=True))
        for plot in run.plots:
            data = base64.b64encode(plot.read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(plot.stem)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(plot.name)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
             "text-align:right}th{background:#eee}img{max-width:100%}.warn{background:#fff3cd;padding:.5em 1em;"
             "border:1px solid #e0c36b}code{background:#f4f4f4}figure{margin:1em 0}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>xladjust comparison</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def markdown_to_html(text: str, skip_images: bool = False) -> str:
    """A small Markdown subset: headings, pipe tables, lists, code blocks, paragraphs."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            rows = [r for r in rows if not all(set(c) <= set("-: ") for c in r)]
            head, *rest = rows
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in rest)
                       + "</table>")
        elif line.startswith(("- ", "* ")):
            items = []
            while i < len(lines) and lines[i].startswith(("- ", "* ")):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif skip_images and (line.startswith("![") or line.startswith("([")):  # plots are inlined below
            i += 1
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
            i += 1
        else:
            i += 1
    return "\n".join(out)


def _inline(text: str) -> str:
    import re

    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", escaped)  # relative links do not survive inlining
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)
