"""The tables ``xladjust run`` prints at the end, read from the finished stages' files."""

from __future__ import annotations

from functools import partial
from typing import Any

from xladjust.formatting import number
from xladjust.io import read_json_object
from xladjust.pipeline import PipelineConfig
from xladjust.probes.headline import headline_rows

_num = partial(number, spec=".3f", missing="-", ints=False)


def summary_table(cfg: PipelineConfig) -> str | None:
    """The short before/after table from the probe run, if there is one."""
    summary_path = cfg.out / "probe" / "summary.json"
    if not summary_path.is_file():
        return None
    return headline_table(read_json_object(summary_path, "the probe run's summary"))


def study_tables(cfg: PipelineConfig) -> list[str]:
    """Each transfer's comparison table and each after-fine-tuning probe's cells at its
    primary layer, the landscape summary over seeds (with its paired tests), and the claims'
    verdict table, from the finished stages."""
    out = []
    for spec in cfg.transfer:
        task = spec.get("finetune", {}).get("task", "task")
        comparison = cfg.out / f"transfer-{task}" / "comparison.md"
        if comparison.is_file():
            out.append(comparison.read_text(encoding="utf-8").split("\n## ")[0].strip())
        cells = cfg.out / f"probe-after-{task}" / "summary.json"
        if cells.is_file():
            out.append(cells_table(read_json_object(cells, "the probe run's summary"), task))
    landscape = cfg.out / "landscape" / "summary" / "summary.md"
    if cfg.landscape is not None and landscape.is_file():  # the seed means, the MDE and the paired tests
        out.append(landscape.read_text(encoding="utf-8").strip())
    verdicts = cfg.out / "verdicts" / "verdicts.md"
    if cfg.claims is not None and verdicts.is_file():
        out.append(verdicts.read_text(encoding="utf-8").strip())
    return out


def cells_table(summary: dict[str, Any], task: str) -> str:
    """Mean cosine d(w,r), d(w,u) and Δ per bitext and cell at the primary layer."""
    lines = [f"probes before/after {task} fine-tuning (cosine, primary layer; seeds averaged per triple)",
             "bitext    layer  cell                            d(w,r)   d(w,u)        Δ"]
    for bitext, entry in summary.get("bitexts", {}).items():
        layer = entry["primary_layer"]
        for cell, m in entry["layers"][str(layer)].items():
            lines.append(f"{bitext:<8}  {layer:>5}  {cell:<30}  {_num(m.get('mean_related')):>7}  "
                         f"{_num(m.get('mean_unrelated')):>7}  {_num(m.get('mean_delta')):>7}")
    return "\n".join(lines)


def headline_table(summary: dict[str, Any]) -> str:
    """Share Δ > 0 and d(w,u)/d(w,r) (primary, scale-free), mean Δ (secondary) and word
    retrieval P@1 per held-out bitext and checkpoint."""
    lines = ["bitext    checkpoint  share Δ>0  d(w,u)/d(w,r)   mean Δ   P@1 cosine   P@1 CSLS",
             "--------  ----------  ---------  -------------  -------  -----------  ---------"]
    for row in headline_rows(summary):
        dist, ret = row.distances, row.words
        lines.append(f"{row.bitext:<8}  {row.checkpoint:<10}  {_num(dist.get('share_delta_positive')):>9}  "
                     f"{_num(dist.get('ratio')):>13}  {_num(dist.get('mean_delta')):>7}  "
                     f"{_num(ret.get('p_at_1_cosine')):>11}  {_num(ret.get('p_at_1_csls')):>9}")
    lines.append("primary: the scale-free share Δ>0 and ratio; mean Δ shrinks when the whole space contracts")
    return "\n".join(lines)
