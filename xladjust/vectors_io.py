"""Reading pre-tokenized text and writing word vectors with their index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xladjust.embeddings import WordEmbeddings
from xladjust.errors import InputError
from xladjust.finite import check_finite_array
from xladjust.io import atomic_path, iter_text_lines, write_json_atomic


def read_pretokenized(path: str | Path) -> list[list[str]]:
    """One sentence per line, words separated by whitespace. Errors name the line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"input file {p} does not exist")
    return [line.split() for _, line in iter_text_lines(p)]


def write_word_vectors(out: Path, emb: WordEmbeddings, sentences: list[list[str]], meta: dict[str, Any]) -> Path:
    """Write ``emb.vectors`` (layers x words x hidden) to .npy or .safetensors, and
    ``OUT.index.json`` with the layers, sentence offsets, words and validity."""
    check_finite_array(emb.vectors, f"vectors for {out}")
    array = np.ascontiguousarray(emb.vectors)
    if out.suffix == ".npy":
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, array)
    else:
        from safetensors.numpy import save_file

        with atomic_path(out) as tmp:
            save_file({"vectors": array, "offsets": emb.offsets, "valid": emb.valid.astype(np.uint8)}, str(tmp))
    index = out.with_name(out.name + ".index.json")
    write_json_atomic(index, {
        **meta,
        "shape": list(array.shape),
        "layers": list(emb.layers),
        "offsets": emb.offsets.tolist(),
        "words": [w for s in sentences for w in s],
        "valid": emb.valid.tolist(),
    })
    return index
