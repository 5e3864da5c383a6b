"""The adjusted encoder as a Hugging Face checkpoint that sentence-transformers also loads.

The encoder is saved with ``save_pretrained`` (config + safetensors weights) beside its
tokenizer (saved when training starts, see :func:`snapshot_tokenizer`), then
sentence-transformers writes its module files (mean pooling over subwords) into the same
directory, so both ``AutoModel.from_pretrained(DIR)`` and
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

from xladjust.extras import installed

log = logging.getLogger(__name__)


TOKENIZER_SNAPSHOT = ".tokenizer"  # inside the run directory, until the export


def snapshot_tokenizer(tokenizer: Any, run_dir: Path) -> Path:
    """Save ``tokenizer`` into the run directory now, so the run need not hold it (330 MB
    resident for a 250k-entry vocabulary) until the export; return the folder."""
    folder = Path(run_dir) / TOKENIZER_SNAPSHOT
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tokenizer.save_pretrained(folder)
    return folder


def save_encoder(encoder: Any, tokenizer_files: Path, run_dir: Path) -> list[str]:
    """Save ``encoder`` beside the tokenizer files of :func:`snapshot_tokenizer` into
    ``run_dir`` (the snapshot is used up); return the names written."""
    run_dir = Path(run_dir)
    stage = run_dir / ".export.tmp"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        encoder.save_pretrained(stage, safe_serialization=True)
        for path in Path(tokenizer_files).iterdir():
            shutil.copy2(path, stage / path.name)
        _add_sentence_transformers_files(stage)
        names = sorted(p.name for p in stage.iterdir())
        for name in names:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(stage / name, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(tokenizer_files, ignore_errors=True)
    return names


def _add_sentence_transformers_files(directory: Path) -> None:
    """Copy sentence-transformers' module files (mean pooling) into ``directory``.

    sentence-transformers writes them for the installed version's format. They describe the
    pipeline (hidden size, sequence limit, pooling), not the weights, so it loads a stand-in
    of the same architecture: the checkpoint's config with one layer and a tiny vocabulary,
    beside the real tokenizer, instead of a second copy of the model (which cost 650 MB
    peak memory for the offline model). Its own save would also rewrite the weights
    (adding an untrained pooler), so it saves into a scratch directory and only the files
    the encoder checkpoint lacks are copied.
    """
    import logging as _logging
    import tempfile

    if not installed("sentence_transformers"):
        log.info(
            "sentence-transformers is not installed: the checkpoint loads in transformers but carries no "
            "sentence-transformers files (pip install 'xladjust[hub]' adds them to later checkpoints)")
        return
    from sentence_transformers import SentenceTransformer

    st_log = _logging.getLogger("sentence_transformers")
    level = st_log.level
    st_log.setLevel(_logging.ERROR)  # it warns that it creates mean pooling: that is the intent
    try:
        with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
            stand_in = Path(scratch) / "stand-in"
            _write_stand_in(directory, stand_in)
            model = SentenceTransformer(str(stand_in), device="cpu", local_files_only=True, trust_remote_code=False)
            saved = Path(scratch) / "saved"
            model.save(str(saved))
            ours = {p.name for p in directory.iterdir()}
            for path in saved.iterdir():
                if path.name in ours or path.name == "README.md" or path.suffix == ".safetensors":
                    continue
                if path.is_dir():
                    shutil.copytree(path, directory / path.name)
                else:
                    shutil.copy2(path, directory / path.name)
    finally:
        st_log.setLevel(level)


def _write_stand_in(directory: Path, stand_in: Path) -> None:
    """A tiny checkpoint of ``directory``'s architecture: same config but one layer and an
    8-entry vocabulary, random weights, and ``directory``'s tokenizer files."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    config.num_hidden_layers = 1
    config.vocab_size = 8
    if getattr(config, "pad_token_id", None) is not None and config.pad_token_id >= 8:
        config.pad_token_id = 0
    AutoModel.from_config(config).save_pretrained(stand_in, safe_serialization=True)
    for path in directory.iterdir():
        if path.is_file() and not (stand_in / path.name).exists() and path.suffix != ".safetensors":
            shutil.copy2(path, stand_in / path.name)
