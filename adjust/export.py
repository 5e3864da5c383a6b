"""The adjusted encoder as a Hugging Face checkpoint that sentence-transformers also loads.

The encoder is saved with ``save_pretrained`` (config + safetensors weights) beside its
tokenizer, then sentence-transformers writes its module files (mean pooling over
subwords) into the same directory, so both ``AutoModel.from_pretrained(DIR)`` and
``SentenceTransformer(DIR)`` load it. Objective heads are not part of the encoder and are
left out. Everything is written to a staging directory first and moved into the run
directory file by file.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def save_encoder(encoder: Any, tokenizer: Any, run_dir: Path) -> list[str]:
    """Save ``encoder`` and ``tokenizer`` into ``run_dir``; return the names written."""
    run_dir = Path(run_dir)
    stage = run_dir / ".export.tmp"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        encoder.save_pretrained(stage, safe_serialization=True)
        tokenizer.save_pretrained(stage)
        _add_sentence_transformers_files(stage)
        names = sorted(p.name for p in stage.iterdir())
        for name in names:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(stage / name, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return names


def _add_sentence_transformers_files(directory: Path) -> None:
    """Copy sentence-transformers' module files (mean pooling) into ``directory``.

    sentence-transformers writes them for the installed version's format; it saves into a
    scratch directory because its own save would also rewrite the weights (adding an
    untrained pooler), and only the files the encoder checkpoint lacks are copied.
    """
    import logging as _logging
    import tempfile

    from sentence_transformers import SentenceTransformer

    st_log = _logging.getLogger("sentence_transformers")
    level = st_log.level
    st_log.setLevel(_logging.ERROR)  # it warns that it creates mean pooling: that is the intent
    try:
        model = SentenceTransformer(str(directory), device="cpu", local_files_only=True, trust_remote_code=False)
        with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
            model.save(scratch)
            ours = {p.name for p in directory.iterdir()}
            for path in Path(scratch).iterdir():
                if path.name in ours or path.name == "README.md" or path.suffix == ".safetensors":
                    continue
                if path.is_dir():
                    shutil.copytree(path, directory / path.name)
                else:
                    shutil.copy2(path, directory / path.name)
    finally:
        st_log.setLevel(level)
