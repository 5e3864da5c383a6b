"""Adjusted and fine-tuned tiny checkpoints, written by whichever versions are installed.

``tests/test_checkpoints_portable.py`` loads them; CI writes them with the newest versions
(``.venv``) and loads them with the lowest ones ``pyproject.toml`` allows (``.venv-low``):

    .venv/bin/python tests/helpers_checkpoints.py DIR
    XLADJUST_CHECKPOINTS_FROM=DIR .venv-low/bin/python -m pytest tests/test_checkpoints_portable.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KINDS = ("adjusted", "finetuned")


def write_checkpoints(root: Path) -> dict[str, Path]:
    """A tiny base model with a pooler (as the offline model's conversion has), an adjusted
    checkpoint of it and an NLI model fine-tuned from that."""
    from conftest import build_tiny_checkpoint
    from helpers_adjust import write_sample_corpus
    from helpers_tasks import write_nli

    from xladjust.adjust import AdjustConfig, adjust
    from xladjust.config import build_config
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune

    root = Path(root)
    base = build_tiny_checkpoint(root / "base", "unigram", pooler=True)
    corpus = write_sample_corpus(root / "aligned")
    adjusted = adjust(build_config(AdjustConfig, {
        "aligned": [str(corpus)], "out": str(root / "adjusted"), "model": str(base), "objective": "l2",
        "max_steps": 2, "batch_size": 4, "precision": "fp32", "progress": False}))
    nli = write_nli(root / "nli.tsv", 24, 0)
    finetuned = finetune(build_config(FinetuneConfig, {
        "task": "nli", "model": str(adjusted), "train": [str(nli)], "dev": str(nli), "test": {"es": str(nli)},
        "out": str(root / "finetuned"), "max_steps": 2, "batch_size": 8, "precision": "fp32", "progress": False}))
    made = {"adjusted": Path(adjusted), "finetuned": Path(finetuned)}
    (root / "made.json").write_text(json.dumps({k: str(v) for k, v in made.items()}), encoding="utf-8")
    return made


def read_checkpoints(root: Path) -> dict[str, Path]:
    return {k: Path(v) for k, v in json.loads((Path(root) / "made.json").read_text(encoding="utf-8")).items()}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    for kind, path in write_checkpoints(Path(sys.argv[1])).items():
        print(kind, path)
