"""The aligned-corpus format: the align stage's output, read by adjust and probes.

A directory with ``pairs.jsonl`` (one object per sentence pair:
``{"src": [words], "tgt": [words], "links": [[i, j], ...]}``, 0-indexed, source word i
↔ target word j) and ``manifest.json`` (languages, aligner and options, tokenizer,
counts, input checksums, versions). A directory is complete only when its
``.complete`` marker exists. This module is the one reader and the one writer.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.errors import InputError
from xladjust.io import (
    atomic_dir,
    atomic_path,
    is_complete,
    iter_text_lines,
    mark_complete,
    read_json_object,
    write_json_atomic,
)

PAIRS_FILE = "pairs.jsonl"
MANIFEST_FILE = "manifest.json"
PHARAOH_FILE = "links.pharaoh"  # optional: the links as Pharaoh lines, one per pair


@dataclass(frozen=True)
class AlignedPair:
    """One sentence pair with word links (source index, target index), 0-indexed."""

    src: list[str]
    tgt: list[str]
    links: list[tuple[int, int]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"src": self.src, "tgt": self.tgt, "links": [list(x) for x in self.links]},
                          ensure_ascii=False)


@dataclass(frozen=True)
class EncodedPair:
    """A pair already serialized by :func:`encode_pair` (e.g. in a worker process)."""

    json: str  # its pairs.jsonl line, without newline
    pharaoh: str  # its Pharaoh line, without newline
    n_links: int


def encode_pair(pair: AlignedPair) -> EncodedPair:
    return EncodedPair(pair.to_json(), to_pharaoh(pair.links), len(pair.links))


def parse_pair(line: str, where: str) -> AlignedPair:
    """Parse and check one ``pairs.jsonl`` line; ``where`` names file and line in errors."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected an object with src, tgt and links")
    src, tgt, links = obj.get("src"), obj.get("tgt"), obj.get("links", [])
    for name, words in (("src", src), ("tgt", tgt)):
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise InputError(f"{where}: '{name}' must be a list of word strings")
    if not isinstance(links, list):
        raise InputError(f"{where}: 'links' must be a list of [i, j] pairs")
    parsed: list[tuple[int, int]] = []
    for link in links:
        if (not isinstance(link, (list, tuple)) or len(link) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in link)):
            raise InputError(f"{where}: malformed link {link!r}; links are [i, j] integer pairs")
        i, j = link
        if not (0 <= i < len(src) and 0 <= j < len(tgt)):
            raise InputError(
                f"{where}: link {i}-{j} is out of range for {len(src)} source and {len(tgt)} target words"
            )
        parsed.append((i, j))
    return AlignedPair(src=src, tgt=tgt, links=parsed)


def iter_pairs(directory: str | Path) -> Iterator[AlignedPair]:
    """Stream the pairs of an aligned corpus, checking each line."""
    path = Path(directory) / PAIRS_FILE
    if not path.is_file():
        raise InputError(f"{directory} is not an aligned corpus: {PAIRS_FILE} is missing")
    for lineno, line in iter_text_lines(path):
        if line.strip():
            yield parse_pair(line, f"{path}:{lineno}")


def read_pairs(directory: str | Path) -> list[AlignedPair]:
    return list(iter_pairs(directory))


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise InputError(f"{directory} is not an aligned corpus: {MANIFEST_FILE} is missing")
    return read_json_object(path, "the aligned corpus's manifest")


def check_aligned_corpus(directory: str | Path) -> dict[str, Any]:
    """Check that ``directory`` is a complete aligned corpus; return its manifest."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"aligned corpus {d} does not exist")
    manifest = read_manifest(d)
    if not is_complete(d):
        raise InputError(f"aligned corpus {d} is incomplete (interrupted run?); rerun 'xladjust align'")
    return manifest


def write_aligned_corpus(
    directory: str | Path,
    pairs: Iterable[AlignedPair | EncodedPair],
    manifest: dict[str, Any] | Callable[[], dict[str, Any]],
    *,
    pharaoh: bool = False,
) -> Path:
    """Write pairs and manifest atomically; the directory is marked complete last.

    ``manifest['counts']`` gains ``pairs`` and ``links`` totals. ``manifest`` may be a
    callable, called once the last pair is written (so that statistics gathered while the
    pairs stream can go in). With ``pharaoh`` the links are also written as Pharaoh lines
    to ``links.pharaoh`` in the same pass. Pairs may come already encoded
    (:func:`encode_pair`), so that worker processes can share the serialization.
    """
    with atomic_dir(directory) as tmp:
        n_pairs = n_links = 0
        with contextlib.ExitStack() as stack:
            f = stack.enter_context(open(tmp / PAIRS_FILE, "w", encoding="utf-8"))
            ph = stack.enter_context(open(tmp / PHARAOH_FILE, "w", encoding="utf-8")) if pharaoh else None
            for pair in pairs:
                encoded = pair if isinstance(pair, EncodedPair) else encode_pair(pair)
                f.write(encoded.json + "\n")
                if ph is not None:
                    ph.write(encoded.pharaoh + "\n")
                n_pairs += 1
                n_links += encoded.n_links
        manifest = dict(manifest() if callable(manifest) else manifest)
        manifest["counts"] = {**manifest.get("counts", {}), "pairs": n_pairs, "links": n_links}
        write_json_atomic(tmp / MANIFEST_FILE, manifest)
        mark_complete(tmp)
    return Path(directory)


def to_pharaoh(links: Iterable[tuple[int, int]]) -> str:
    """Links as one Pharaoh line: ``i-j`` pairs separated by spaces, sorted."""
    return " ".join(f"{i}-{j}" for i, j in sorted(links))


def export_pharaoh(directory: str | Path, out: str | Path) -> int:
    """Write the corpus's links as Pharaoh lines (one per pair); return the line count."""
    n = 0
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for pair in iter_pairs(directory):
            f.write(to_pharaoh(pair.links) + "\n")
            n += 1
    return n
