"""Test and benchmark helpers for the adjust stage (not part of the package).

- :func:`write_sample_corpus`: the hand-aligned en-es sample as a complete aligned corpus;
- :func:`align_parallel`: the align stage's ``align_corpus`` (Moses tokens, eflomal in both
  directions, intersection) over several slices at once, split into aligned corpora;
- :func:`aligned_distances`: mean cosine distance between aligned word pairs and between
  random unrelated pairs (a target word of the same sentence aligned to nothing the
  source word is aligned to) at the last layer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "samples" / "hand-aligned-en-es" / "pairs.jsonl"


def sample_pairs() -> list[Any]:
    from xladjust.align.corpus import AlignedPair

    pairs = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            pairs.append(AlignedPair(obj["src"], obj["tgt"], [tuple(x) for x in obj["links"]]))
    return pairs


def write_sample_corpus(directory: Path, pairs: Sequence[Any] | None = None, repeat: int = 1) -> Path:
    """The hand-aligned sample (or ``pairs``), ``repeat`` times, as a complete aligned corpus."""
    from xladjust.align.corpus import write_aligned_corpus

    pairs = list(pairs if pairs is not None else sample_pairs()) * repeat
    return write_aligned_corpus(directory, pairs, {"languages": {"src": "en", "tgt": "es"}, "aligner": "hand"})


def read_lines(path: Path, n: int | None = None, start: int = 0) -> list[str]:
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    return lines[start : None if n is None else start + n]


def align_parallel(src_lines: Sequence[str], tgt_lines: Sequence[str], src_lang: str, tgt_lang: str,
                   outs: dict[str, tuple[int, int]], root: Path) -> dict[str, Path]:
    """Align all lines together (better statistics) with the align stage (Moses tokens,
    eflomal, intersection), then write the slices ``outs[name] = (start, stop)`` as aligned
    corpora under ``root/name``."""
    from xladjust.align.config import AlignConfig
    from xladjust.align.corpus import read_manifest, read_pairs, write_aligned_corpus
    from xladjust.align.pipeline import align_corpus
    from xladjust.config import build_config

    text = root / "_text"
    text.mkdir(parents=True, exist_ok=True)
    (text / f"all.{src_lang}").write_text("".join(line + "\n" for line in src_lines), encoding="utf-8")
    (text / f"all.{tgt_lang}").write_text("".join(line + "\n" for line in tgt_lines), encoding="utf-8")
    config = build_config(AlignConfig, {
        "src_lang": src_lang, "tgt_lang": tgt_lang, "out": str(root / "_all"), "workers": 1,
        "input": {"src": str(text / f"all.{src_lang}"), "tgt": str(text / f"all.{tgt_lang}"), "max_words": 1000},
        "aligner": {"name": "eflomal", "symmetrize": "intersect"},
    })
    align_corpus(config)
    pairs = read_pairs(root / "_all")
    if len(pairs) != len(src_lines):
        raise RuntimeError(f"the align stage kept {len(pairs)} of {len(src_lines)} lines; slices would shift")
    manifest = read_manifest(root / "_all")
    return {name: write_aligned_corpus(root / name, pairs[start:stop], manifest)
            for name, (start, stop) in outs.items()}


def aligned_distances(model: Any, tokenizer: Any, pairs: Sequence[Any], seed: int = 0,
                      bf16: bool = True) -> dict[str, float]:
    """Mean cosine distances of aligned and unrelated word pairs at the last layer.

    Uses 1-to-1 links between different strings; the unrelated partner of source word i is a
    random target word of the same sentence not linked to i.
    """
    from xladjust.adjust.pairs import select_links
    from xladjust.embeddings import embed_words

    src = embed_words(model, tokenizer, [p.src for p in pairs], bf16=bf16)
    tgt = embed_words(model, tokenizer, [p.tgt for p in pairs], bf16=bf16)
    rng = np.random.default_rng(seed)
    related, unrelated = [], []
    for k, pair in enumerate(pairs):
        s, t = _unit(src.sentence(k)), _unit(tgt.sentence(k))
        s_ok = src.valid[src.offsets[k] : src.offsets[k + 1]]
        t_ok = tgt.valid[tgt.offsets[k] : tgt.offsets[k + 1]]
        linked = {}
        for i, j in pair.links:
            linked.setdefault(i, set()).add(j)
        for i, j in select_links(pair)[0]:
            if not (s_ok[i] and t_ok[j]):
                continue
            others = [u for u in range(len(pair.tgt)) if u not in linked[i] and t_ok[u] and pair.tgt[u] != pair.src[i]]
            if not others:
                continue
            u = int(rng.choice(others))
            related.append(1 - float(s[i] @ t[j]))
            unrelated.append(1 - float(s[i] @ t[u]))
    return {"related": float(np.mean(related)), "unrelated": float(np.mean(unrelated)), "n": len(related)}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-12)


def without_dropout(directory: Path) -> Path:
    """Turn off dropout in the checkpoint at ``directory`` (runs compared weight by weight
    must not draw dropout masks), in place; returns ``directory``."""
    config_file = Path(directory) / "config.json"
    config = json.loads(config_file.read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config_file.write_text(json.dumps(config))
    return Path(directory)
