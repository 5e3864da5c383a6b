"""Reading pre-tokenized text and writing word vectors with their index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xladjust.embeddings import WordEmbeddings
from xladjust.errors import InputError
from xladjust.finite import check_finite_array
from xladjust.io import (
    disk_full_names,
    iter_text_lines,
    real_path,
    replace_files,
    temporary_beside,
    write_json_atomic,
)


def read_pretokenized(path: str | Path) -> list[list[str]]:
    """One sentence per line, words separated by whitespace. Errors name the line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"input file {p} does not exist")
    return [line.split() for _, line in iter_text_lines(p)]


def index_path(out: Path) -> Path:
    """The index written beside word vectors ``out`` (beside the file a symlink points to,
    which is the file written)."""
    real = real_path(out)
    return real.with_name(real.name + ".index.json")


def write_word_vectors(out: Path, emb: WordEmbeddings, sentences: list[list[str]], meta: dict[str, Any]) -> Path:
    """Write ``emb.vectors`` (layers x words x hidden) to .npy or .safetensors, and
    ``OUT.index.json`` with the layers, sentence offsets, words and validity. Both are
    written to temporary files first and renamed together (:func:`xladjust.io.replace_files`),
    so a failure never leaves new vectors beside an old index."""
    check_finite_array(emb.vectors, f"vectors for {out}")
    array = np.ascontiguousarray(emb.vectors)
    index = index_path(out)
    with temporary_beside(out) as vectors_tmp, temporary_beside(index) as index_tmp, disk_full_names(out):
        if out.suffix == ".npy":
            with open(vectors_tmp, "wb") as f:
                np.save(f, array)
        else:
            from safetensors.numpy import save_file

            save_file({"vectors": array, "offsets": emb.offsets, "valid": emb.valid.astype(np.uint8)},
                      str(vectors_tmp))
        write_json_atomic(index_tmp, {
            **meta,
            "shape": list(array.shape),
            "layers": list(emb.layers),
            "offsets": emb.offsets.tolist(),
            "words": [w for s in sentences for w in s],
            "valid": emb.valid.tolist(),
        })
        replace_files([(vectors_tmp, out), (index_tmp, index)])
    return index
