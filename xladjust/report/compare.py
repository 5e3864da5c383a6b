"""The sections of ``xladjust compare``'s report, built from the gathered runs.

The report is: a title, signature warnings, a table of contents, then the sections of
:data:`SECTIONS` in order: the headline table (probes and transfer joined per language
and checkpoint), the list of runs, and one section per run. Each run's own figures stay
in its section, copied into the report's ``figures/RUN/`` folder so every link in
``report.md`` resolves from the report folder; adjust and fine-tuning runs get their loss
curves plotted instead of a dump of their JSON.

To add a section, write ``builder(runs, context) -> list[Section]`` and append it to
:data:`SECTIONS` (or insert it where it should appear).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.io import sha256_file, sha256_json
from xladjust.probes import plots
from xladjust.probes.headline import headline_rows
from xladjust.probes.report_doc import (
    Block,
    Figure,
    Text,
    map_blocks,
    parse_blocks,
    shift_headings,
    table,
)
from xladjust.probes.report_md import fmt, pct
from xladjust.report.tables import DataTable
from xladjust.training_state import GEOMETRY_FILE


@dataclass
class Section:
    """A level-2 section; ``blocks`` may hold level-3 and deeper headings."""

    title: str
    blocks: list[Block]


@dataclass
class Context:
    """Where the report is written: ``work`` is the folder being filled (renamed to
    ``final`` when complete); figures go under ``work/figures/LABEL/``."""

    work: Path
    final: Path
    labels: dict[Path, str] = field(default_factory=dict)
    tables: list[Any] = field(default_factory=list)  # DataTables the sections registered

    def label(self, run: Any) -> str:
        if run.path not in self.labels:
            base = re.sub(r"[^\w.-]+", "-", run.path.resolve().name).strip("-") or "run"
            taken = set(self.labels.values())
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            self.labels[run.path] = name
        return self.labels[run.path]

    def figure_stem(self, run: Any, name: str) -> Path:
        """Where a plot made for the report goes (without suffix)."""
        return self.work / "figures" / self.label(run) / name

    def relative(self, path: Path) -> str:
        """``path`` (inside ``work``) relative to the report folder."""
        return Path(path).relative_to(self.work).as_posix()

    def adopt(self, run: Any, source: Path, folder: str = "figures") -> str | None:
        """Copy a run's file into the report's ``folder`` (``figures``, or ``files`` for
        tables and data) and return its link, or None when the file does not exist: the
        report names no file outside its own folder."""
        source = Path(source)
        if not source.is_file():
            return None
        inside = source.resolve().relative_to(run.path.resolve()) if source.resolve().is_relative_to(
            run.path.resolve()) else Path(source.name)
        target = self.work / folder / self.label(run) / "_".join(inside.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return self.relative(target)


SectionBuilder = Callable[[Sequence[Any], Context], list[Section]]


# ------------------------------------------------------------------- headline table

def _checkpoint_key(spec: Any) -> str:
    text = str(spec)
    path = Path(text)
    return str(path.resolve()) if path.exists() else text


def weights_id(spec: Any, files_sha256: dict[str, str] | None = None, path: Any = None) -> str:
    """What a checkpoint is. A checkpoint folder (``spec`` is a folder, or was the folder
    the probe run loaded, ``path``): the SHA-256 over its weight files' hashes, as the probe
    run recorded them or hashed now. A hub or offline model name: the name itself, so one
    named alike in a probe and a transfer run is one checkpoint."""
    folder = Path(str(spec))
    local = folder.is_dir() or (path is not None and str(path) in (str(spec), _checkpoint_key(spec)))
    if not local:
        return f"spec:{_checkpoint_key(spec)}"
    hashes = sorted(v for k, v in (files_sha256 or {}).items() if k.endswith(".safetensors"))
    if not hashes and folder.is_dir():
        hashes = sorted(sha256_file(f) for f in folder.glob("*.safetensors"))
    return f"sha256:{sha256_json(hashes)}" if hashes else f"spec:{_checkpoint_key(spec)}"


def _probe_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (target language, checkpoint) of a probe run: the primary-layer figures,
    checkpoint by checkpoint."""
    recorded = {m.get("name"): m.get("files_sha256") for m in summary.get("signature", {}).get("models", [])
                if isinstance(m, dict)}
    order = list(summary.get("checkpoints", {}))
    identities: dict[str, str] = {}  # hashing a checkpoint's weights once, not once per bitext
    rows = []
    for row in sorted(headline_rows(summary), key=lambda r: order.index(r.checkpoint)):
        if row.checkpoint not in identities:
            identities[row.checkpoint] = weights_id(row.spec, recorded.get(row.checkpoint), row.path)
        d = row.cosine
        rows.append({
            "language": row.language, "checkpoint": row.checkpoint, "key": identities[row.checkpoint],
            "layer": row.layer,
            "mean_delta": d.get("mean_delta"), "ci": (d.get("mean_delta_ci_low"), d.get("mean_delta_ci_high")),
            "p_at_1_csls": row.words.get("p_at_1_csls"), "tatoeba": row.sentences.get("best_accuracy"),
        })
    return rows


def _transfer_scores(summary: dict[str, Any]) -> tuple[str, dict[tuple[str, str], dict[str, Any]]]:
    """``(column name, {(language, checkpoint key): score entry})`` of a transfer run."""
    column = f"{summary.get('task', 'task')} {summary.get('metric', '')}".strip()
    models = summary.get("models", {})
    continual = summary.get("continual") or {}
    identities = {name: weights_id(spec) for name, spec in models.items()}
    scores = {}
    for lang, entry in summary.get("languages", {}).items():
        for name, score in entry.get("scores", {}).items():
            key = identities.get(name) or weights_id(name)
            if name in continual:  # same start as another arm, other training: its own row
                key = f"{key} + continual learning ({name})"
            if (lang, key) in scores:  # two names for one spec: never one row for both
                key = f"{key} ({name})"
            scores[(lang, key)] = {**score, "name": name}
    return column, scores


def join_probes_and_transfer(runs: Sequence[Any], ctx: Context) -> tuple[list[dict[str, Any]], list[str]]:
    """The headline's rows and its transfer columns. Every row belongs to one probe run
    (its label in ``runs``) and one checkpoint; rows of different runs are never merged. A
    transfer score joins the probe row of the same language and the same weights when
    exactly one such row exists and has no score in that column; otherwise it gets a row
    of its own."""
    rows: list[dict[str, Any]] = []
    for run in (r for r in runs if r.kind == "probe"):
        rows += [{**row, "runs": [ctx.label(run)]} for row in _probe_rows(run.summary)]
    columns: list[str] = []
    for run in (r for r in runs if r.kind == "transfer"):
        column, scores = _transfer_scores(run.summary)
        if column in columns:
            column = f"{column} ({ctx.label(run)})"
        columns.append(column)
        for (lang, key), score in scores.items():
            matches = [r for r in rows if r["language"] == lang and r["key"] == key]
            if len(matches) == 1 and column not in matches[0]:
                row = matches[0]
                row["runs"].append(ctx.label(run))
            else:
                row = {"language": lang, "checkpoint": score["name"], "key": key, "runs": [ctx.label(run)]}
                rows.append(row)
            row[column] = score
    order = list(dict.fromkeys(r["language"] for r in rows))
    rows.sort(key=lambda r: (r["language"] != "en", order.index(r["language"])))
    return rows, columns


def _names_shown(rows: list[dict[str, Any]]) -> tuple[bool, dict[int, str]]:
    """(whether the table needs a run column; each row's checkpoint cell): a run column
    when a checkpoint name has rows from two runs in one language, the weights' short hash
    beside a name that stands for different weights."""
    seen: dict[tuple[str, str], int] = {}
    identities: dict[str, set[str]] = {}
    for r in rows:
        seen[(r["language"], r["checkpoint"])] = seen.get((r["language"], r["checkpoint"]), 0) + 1
        identities.setdefault(r["checkpoint"], set()).add(r["key"].split(" ")[0])
    cells = {}
    for k, r in enumerate(rows):
        cell = r["checkpoint"]
        if len(identities[r["checkpoint"]]) > 1:
            kind, _, value = r["key"].split(" ")[0].partition(":")
            cell += f" (`{value[:8]}`)" if kind == "sha256" else f" (`{value}`)"
        cells[k] = cell
    return any(n > 1 for n in seen.values()), cells


def headline_section(runs: Sequence[Any], ctx: Context) -> list[Section]:
    """Probe figures and transfer scores side by side, per language, run and checkpoint.

    Checkpoints are joined by what they are (the hash of their weights, else the model
    spec), so ``adjusted`` in the probe run and in the transfer run is one row when both
    are the same weights; a checkpoint found on one side only gets its row too, with ``–``
    where the other side has nothing. Figures of two runs never overwrite each other: a
    probe run's rows are its own (see :func:`join_probes_and_transfer`), the table gets a run column
    when a checkpoint name has rows from two runs, and a name that stands for different
    weights shows the weights' short hash. The table is registered for the CSV and LaTeX
    copies with its raw numbers (percentages in percent)."""
    rows, columns = join_probes_and_transfer(runs, ctx)
    if not rows:
        return []
    with_run, names = _names_shown(rows)
    layers = sorted({str(r["layer"]) for r in rows if r.get("layer") is not None})
    header = ["language", *(["run"] if with_run else []), "checkpoint",
              f"mean Δ cosine [95% CI] (layer {', '.join(layers) or '–'})", "word P@1 CSLS (%)",
              "Tatoeba best P@1 (%)", *[f"{c} (%)" for c in columns]]
    raw_columns = ["language", "run", "checkpoint", "weights_sha256", "layer", "mean_delta_cosine",
                   "mean_delta_ci_low", "mean_delta_ci_high", "word_p_at_1_csls_pct", "tatoeba_best_p_at_1_pct"]
    for c in columns:
        slug = re.sub(r"\W+", "_", c).strip("_")
        raw_columns += [f"{slug}_mean_pct", f"{slug}_std_pct", f"{slug}_seeds"]
    cells, raw = [], []
    for k, r in enumerate(rows):
        ci = r.get("ci") or (None, None)
        delta = "–" if r.get("mean_delta") is None else f"{fmt(r['mean_delta'])} [{fmt(ci[0])}, {fmt(ci[1])}]"
        scores = [r.get(c) for c in columns]
        cells.append([r["language"], *([" + ".join(r["runs"])] if with_run else []), names[k], delta,
                      _percent(r.get("p_at_1_csls")), _percent(r.get("tatoeba")),
                      *["–" if s is None else f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f} "
                        f"({len(s.get('per_seed', {}))} seeds)" for s in scores]])
        kind, _, value = r["key"].split(" ")[0].partition(":")
        raw.append([r["language"], " + ".join(r["runs"]), r["checkpoint"], value if kind == "sha256" else None,
                    r.get("layer"), r.get("mean_delta"), ci[0], ci[1], _scaled(r.get("p_at_1_csls")),
                    _scaled(r.get("tatoeba"))])
        for s in scores:
            raw[-1] += [None, None, None] if s is None else [_scaled(s["mean"]), _scaled(s["std"]),
                                                              len(s.get("per_seed", {}))]
    keep = [k for k in range(len(header)) if header[k] in ("language", "run", "checkpoint")
            or any(row[k] != "–" for row in cells)]  # drop empty columns
    header, cells = [header[k] for k in keep], [[row[k] for k in keep] for row in cells]
    ctx.tables.append(DataTable("headline", "Headline: probe figures and transfer scores per language, run "
                                "and checkpoint", header, cells, raw_columns, raw))
    note = ("Probe figures at each probe run's primary layer: Δ = d(w,u) − d(w,r) (positive: the "
            "related word is closer), word retrieval P@1 with CSLS, the best layer's Tatoeba sentence "
            "retrieval accuracy; transfer: the task metric as mean ± std over seeds."
            + (" Rows of different runs are never merged; *run* names the report section each row's "
               "figures come from." if with_run else "")
            + (" A checkpoint name that stands for different weights is followed by the first 8 characters "
               "of its weights' SHA-256." if any(names[k] != r["checkpoint"] for k, r in enumerate(rows)) else ""))
    return [Section("Headline", [Text("\n".join([note, "", *table(header, cells)]))])]


def _percent(x: Any) -> str:
    """A fraction as a percentage without the sign (the report states its units once)."""
    return "–" if x is None or not isinstance(x, (int, float)) or x != x else f"{100 * x:.1f}"


def _scaled(x: Any) -> float | None:
    return None if x is None or not isinstance(x, (int, float)) or x != x else round(100 * float(x), 10)


# ------------------------------------------------------------------- list of runs

def runs_section(runs: Sequence[Any], ctx: Context) -> list[Section]:
    rows = [[r.kind, f"`{ctx.label(r)}`", f"`{r.path}`"] for r in runs]
    return [Section("Runs", [Text("\n".join(table(["kind", "section", "directory"], rows)))])]


# ------------------------------------------------------------------- one section per run

KIND_TITLES = {"probe": "Probe", "transfer": "Transfer", "adjust": "Adjustment", "finetune": "Fine-tuning",
               "interpolate": "Interpolation", "flatness": "Flatness"}

KNOWN_PLOTS = {
    "interpolation.png": "Task metric per test language along the straight line θ(α) = (1 − α)·A + α·B between "
                         "two checkpoints (α = 0 is A, α = 1 is B); right panel, when probed: mean cosine Δ "
                         "of the encoder at each α.",
    "flatness.png": "Error (1 − metric) per test language at θ + r·d for random filter-normalized directions d, "
                    "one line per direction: how fast the error rises around the checkpoint.",
}


def embed_run_text(run: Any, ctx: Context, markdown: str, *, drop_title: bool) -> list[Block]:
    """A run's own Markdown under its section: headings start at level 3, figures and
    relative links are made to work from the report folder."""
    levels = [len(m) for m in re.findall(r"^(#{1,6})\s", markdown, flags=re.MULTILINE)]
    top = min((x for x in levels if not (drop_title and x == 1)), default=3)
    text = shift_headings(markdown, 3 - top, drop_title=drop_title)

    def figure(f: Figure) -> Figure:
        src = ctx.adopt(run, run.path / f.src) or f.src
        svg = ctx.adopt(run, run.path / f.svg) if f.svg else None
        pdf = ctx.adopt(run, run.path / (f.pdf or Path(f.src).with_suffix(".pdf")))
        return Figure(src, f.caption, svg, pdf)

    def links(md: str) -> str:
        def fix(m: re.Match[str]) -> str:
            target = m["target"]
            if "://" in target or target.startswith(("#", "/", "mailto:")):
                return m[0]
            copied = ctx.adopt(run, run.path / target, "files")
            return m[0] if copied is None else f"]({copied})"

        def name(m: re.Match[str]) -> str:  # a file of the run named in the text: copied and linked
            copied = ctx.adopt(run, run.path / m["name"], "files")
            return m[0] if copied is None else f"[`{m['name']}`]({copied})"

        md = re.sub(r"\]\((?P<target>[^)\s]+)\)", fix, md)
        return re.sub(r"(?<!\[)`(?P<name>[\w.-]+\.[A-Za-z]{2,5})`", name, md)

    return map_blocks(parse_blocks(text), text=links, figure=figure)


NOT_LOSS = {"step", "lr", "grad_norm", "pairs", "tokens", "seconds", "pairs_per_s", "tokens_per_s",
            "train_seconds", "epoch", "dev"}


def _records(run_dir: Path) -> list[dict[str, Any]]:
    """Logged training steps: ``metrics.jsonl`` lines, else ``metrics.json``'s ``train.history``."""
    jsonl = run_dir / "metrics.jsonl"
    if jsonl.is_file():
        records = []
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records
    if (run_dir / "metrics.json").is_file():
        try:
            history = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("train", {}).get(
                "history", [])
            return history if isinstance(history, list) else []
        except (json.JSONDecodeError, AttributeError):
            return []
    return []


def loss_curves(run_dir: Path, *, parts: bool = False) -> dict[str, tuple[list[int], list[float]]]:
    """``{"loss": (steps, values)}`` of a training run, plus each logged part of the loss
    (an objective's alignment and regularizer terms) with ``parts``; empty when nothing
    was logged."""
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for r in _records(run_dir):
        if not isinstance(r, dict) or not isinstance(r.get("step"), int):
            continue
        for key, value in r.items():
            if (key == "loss" or (parts and key not in NOT_LOSS)) and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                steps, values = curves.setdefault(key, ([], []))
                steps.append(int(r["step"]))
                values.append(float(value))
    return dict(sorted(curves.items(), key=lambda kv: kv[0] != "loss"))


def loss_history(run_dir: Path) -> tuple[list[int], list[float]]:
    """``(steps, losses)`` of a training run (see :func:`loss_curves`)."""
    return loss_curves(run_dir).get("loss", ([], []))


REGULARIZER_TERMS = {"reg": "regularizer"}
"""Logged loss terms drawn on their own axis (another scale than the alignment loss)."""


def _figure_of(ctx: Context, files: list[Path], caption: str) -> Figure:
    png, svg, pdf = (next(p for p in files if p.suffix == s) for s in (".png", ".svg", ".pdf"))
    return Figure(ctx.relative(png), caption, ctx.relative(svg), ctx.relative(pdf))


def _loss_figure(run: Any, ctx: Context, curves: dict[str, tuple[list[int], list[float]]], what: str,
                 lines: str | None = None) -> list[Block]:
    curves = {k: v for k, v in curves.items() if v[0]}
    if not curves:
        return [Text("*No loss was logged by this run (no per-step log or training history).*")]
    right = {REGULARIZER_TERMS[k]: v for k, v in curves.items() if k in REGULARIZER_TERMS}
    left = {k: v for k, v in curves.items() if k not in REGULARIZER_TERMS}
    files = plots.step_curves(ctx.figure_stem(run, "loss"), left, title=f"Training loss, {what}", right=right,
                              right_label="regularizer term")
    lines = lines if len(curves) > 1 and lines else "one line per run" if len(curves) > 1 else "one line"
    axis = "; the regularizer, on another scale, dashed against the right axis" if right else ""
    return [_figure_of(ctx, files, f"Training loss over optimizer steps, {what} ({lines}{axis}; each point is "
                       "the mean loss since the previous logged step).")]


def _adjust_blocks(run: Any, ctx: Context) -> list[Block]:
    sig = run.summary
    cfg = sig.get("config", {})
    m = sig.get("metrics", {})
    model = sig.get("model", {})
    corpora = ", ".join(f"`{c.get('path')}`" for c in sig.get("aligned_corpora", [])) or "–"
    rows = [["base model", f"`{model.get('spec', cfg.get('model', '–'))}`"],
            ["aligned corpora", corpora],
            ["objective", str(cfg.get("objective", "–"))],
            ["pairs / links", f"{sig.get('data', {}).get('pairs', '–')} / {sig.get('data', {}).get('links', '–')}"],
            ["optimizer steps", str(m.get("steps", "–"))],
            ["loss at start → end", f"{fmt(m.get('loss_start'), 4)} → {fmt(m.get('loss_end'), 4)}"],
            ["training time", f"{fmt(m.get('train_seconds'), 1)} s ({fmt(m.get('pairs_per_s'), 1)} pairs/s)"],
            ["seed", str(sig.get("seed", "–"))]]
    curves = {("total loss" if k == "loss" else k): v for k, v in loss_curves(run.path, parts=True).items()}
    return [Text("\n".join(table(["", "value"], rows))),
            *_loss_figure(run, ctx, curves, f"adjustment ({cfg.get('objective', '?')})", "the total and its terms")]


def _finetune_blocks(run: Any, ctx: Context) -> list[Block]:
    meta = run.summary
    metrics = meta.get("metrics", {})
    primary = metrics.get("primary_metric") or meta.get("primary_metric") or "accuracy"
    rows = []
    if "dev" in metrics:
        rows.append(["dev", pct(metrics["dev"].get("metrics", {}).get(primary))])
    for lang, entry in metrics.get("test", {}).items():
        rows.append([f"test {lang}", pct(entry.get("metrics", {}).get(primary))])
    text = [f"Task `{meta.get('task', '?')}` from `{metrics.get('model', '?')}`, seed {metrics.get('seed', '–')}.", ""]
    if rows:
        text += table(["set", primary], rows)
    steps, losses = loss_history(run.path)
    return [Text("\n".join(text)), *_loss_figure(run, ctx, {"fine-tuning": (steps, losses)},
                                                  f"fine-tuning {meta.get('task', '')}")]


def _transfer_blocks(run: Any, ctx: Context) -> list[Block]:
    blocks = embed_run_text(run, ctx, run.text, drop_title=False) if run.text else []
    curves = {}
    for seed_dir in sorted(run.path.glob("runs/*/seed-*")):
        curves[f"{seed_dir.parent.name} {seed_dir.name}"] = loss_history(seed_dir)
    return blocks + _loss_figure(run, ctx, curves, f"fine-tuning {run.summary.get('task', '')} per model and seed")


def _generic_blocks(run: Any, ctx: Context) -> list[Block]:
    blocks = embed_run_text(run, ctx, run.text, drop_title=run.kind == "probe") if run.text else []
    shown = {Path(f.src).name for f in blocks if isinstance(f, Figure)}
    for png in run.plots:
        target = f"{ctx.label(run)}_{png.name}"
        if png.name in shown or target in shown or "_".join(png.relative_to(run.path).parts) in shown:
            continue
        src = ctx.adopt(run, png)
        svg = ctx.adopt(run, png.with_suffix(".svg"))
        pdf = ctx.adopt(run, png.with_suffix(".pdf"))
        if src is not None:
            blocks.append(Figure(src, KNOWN_PLOTS.get(png.name, f"{png.stem} ({run.kind} run)"), svg, pdf))
    if not blocks:
        scalars = [[k, str(v)] for k, v in run.summary.items() if isinstance(v, (str, int, float, bool))]
        blocks.append(Text("\n".join(table(["key", "value"], scalars)) if scalars else "*Nothing to show.*"))
    return blocks


GEOMETRY_CURVES = {"d_related": "d(w,r)", "d_unrelated": "d(w,u)", "delta": "Δ = d(w,u) − d(w,r)",
                   "p_at_1": "word P@1 (CSLS)"}


def geometry_curves(run_dir: Path) -> tuple[int | None, dict[str, tuple[list[int], list[float]]]]:
    """The layer and ``{quantity: (steps, values)}`` of a run's ``geometry.jsonl`` (the
    last layer probed when there are several); ``(None, {})`` when there is none."""
    path = Path(run_dir) / GEOMETRY_FILE
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and isinstance(row.get("layer"), int):
                rows.append(row)
    if not rows:
        return None, {}
    layer = max(r["layer"] for r in rows)
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for row in sorted((r for r in rows if r["layer"] == layer), key=lambda r: r["step"]):
        for key, name in GEOMETRY_CURVES.items():
            value = row.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                steps, values = curves.setdefault(name, ([], []))
                steps.append(row["step"])
                values.append(float(value))
    return layer, curves


def geometry_blocks(run: Any, ctx: Context) -> list[Block]:
    """The geometry curves of a training run with ``--probe-every``: one figure, or nothing."""
    layer, curves = geometry_curves(run.path)
    if not curves:
        return []
    files = plots.step_curves(ctx.figure_stem(run, "geometry"), curves, title=f"Geometry during training, layer {layer}",
                              ylabel="cosine distance / P@1")
    n = len(next(iter(curves.values()))[0])
    return [_figure_of(ctx, files, f"Geometry of the encoder during training on a fixed held-out set of triples "
                   f"(w, r, u), layer {layer}, at {n} probed optimizer steps: mean cosine distance d(w,r) of a word "
                   "to its aligned translation, d(w,u) to an unrelated word of the same translation, their "
                   "paired difference Δ = d(w,u) − d(w,r), and word-retrieval P@1 (CSLS, mean of both "
                   "directions) over the held-out aligned words.")]


RUN_BLOCKS: dict[str, Callable[[Any, Context], list[Block]]] = {
    "adjust": _adjust_blocks, "finetune": _finetune_blocks, "transfer": _transfer_blocks,
}


def run_sections(runs: Sequence[Any], ctx: Context) -> list[Section]:
    sections = []
    for run in runs:
        title = f"{KIND_TITLES.get(run.kind, run.kind.capitalize())}: {ctx.label(run)}"
        where = Text(f"Run directory `{run.path}`.")
        blocks = [where, *RUN_BLOCKS.get(run.kind, _generic_blocks)(run, ctx), *geometry_blocks(run, ctx)]
        sections.append(Section(title, blocks))
    return sections


SECTIONS: list[SectionBuilder] = [headline_section, runs_section, run_sections]
"""The report's sections in order; append a builder to add one."""


def build_sections(runs: Sequence[Any], ctx: Context) -> list[Section]:
    for run in runs:  # labels in the order the runs were given
        ctx.label(run)
    return [section for builder in SECTIONS for section in builder(runs, ctx)]
