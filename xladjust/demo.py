"""A small offline demonstration: do aligned translation words sit closer than
unrelated words in the offline model's contextual space?

Runs on the hand-aligned English–Spanish sample shipped in ``xladjust.data``.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np


def load_hand_aligned() -> list[dict]:
    path = resources.files("xladjust.data") / "samples" / "hand-aligned-en-es" / "pairs.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    from xladjust.embeddings import embed_words
    from xladjust.models import OFFLINE_SPEC, load_model

    pairs = load_hand_aligned()
    loaded = load_model(OFFLINE_SPEC)
    print(f"model {OFFLINE_SPEC}: {loaded.num_layers} layers, hidden {loaded.hidden_size}")
    src = embed_words(loaded.model, loaded.tokenizer, [p["src"] for p in pairs], layers="all")
    tgt = embed_words(loaded.model, loaded.tokenizer, [p["tgt"] for p in pairs], layers="all")
    rng = np.random.default_rng(0)
    print(f"{len(pairs)} hand-aligned en-es sentence pairs")
    print("layer  cos-dist(related)  cos-dist(unrelated)  share related closer")
    for layer in src.layers:
        rel, unrel = [], []
        for i, pair in enumerate(pairs):
            s, t = _unit(src.sentence(i, layer)), _unit(tgt.sentence(i, layer))
            for a, b in pair["links"]:
                others = [j for j in range(len(pair["tgt"])) if j != b and pair["tgt"][j] != pair["src"][a]]
                u = int(rng.choice(others))
                rel.append(1 - s[a] @ t[b])
                unrel.append(1 - s[a] @ t[u])
        rel_a, unrel_a = np.array(rel), np.array(unrel)
        print(f"{layer:5d}  {rel_a.mean():17.3f}  {unrel_a.mean():19.3f}  {np.mean(unrel_a > rel_a):20.2f}")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-12)


if __name__ == "__main__":
    main()
