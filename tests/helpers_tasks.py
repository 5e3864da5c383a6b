"""Tiny task data sets for the tasks stage's tests, written from the tiny vocabulary.

Each set has a rule a 2-layer tiny encoder learns in a few dozen steps, so tests can
assert that fine-tuning beats the trivial baseline.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

NOUNS = ["house", "dog", "cat", "water", "river", "casa", "perro", "gato", "agua", "haus", "hund"]
FILLER = ["the", "is", "big", "small", "and", "a", "of", "in", "on", "with", "la", "es", "el", "y"]
CUES = {"red": "entailment", "blue": "neutral", "green": "contradiction"}


def write_nli(path: Path, n: int, seed: int = 0) -> Path:
    """Pairs whose label is given by the colour word that starts the hypothesis."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        premise = " ".join(rng.choices(NOUNS + FILLER, k=rng.randint(4, 8)))
        cue = rng.choice(list(CUES))
        words = rng.choices(NOUNS + FILLER, k=rng.randint(2, 5))
        words.insert(0, cue)
        lines.append(f"{premise}\t{' '.join(words)}\t{CUES[cue]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ENTITY = {"dog": "PER", "cat": "PER", "perro": "PER", "house": "LOC", "casa": "LOC", "river": "ORG", "haus": "LOC"}


def write_ner(path: Path, n: int, seed: int = 0) -> Path:
    """Sentences where some nouns are entities; 'big X' makes a two-word entity."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(3, 9)):
            word = rng.choice(list(ENTITY) + FILLER)
            if word in ENTITY:
                if rng.random() < 0.3:
                    tokens += ["big", word]
                    tags += [f"B-{ENTITY[word]}", f"I-{ENTITY[word]}"]
                else:
                    tokens.append(word)
                    tags.append(f"B-{ENTITY[word]}")
            else:
                tokens.append(word if word != "big" else "small")
                tags.append("O")
        blocks.append("\n".join(f"{t}\t{g}" for t, g in zip(tokens, tags, strict=True)))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def write_squad(path: Path, n: int, seed: int = 0, context_words: tuple[int, int] = (6, 14)) -> Path:
    """Questions 'where is red' answered by the word after 'red' in the context."""
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        words = rng.choices(FILLER, k=rng.randint(*context_words))
        answer = rng.choice(NOUNS)
        pos = rng.randint(0, len(words))
        words[pos:pos] = ["red", answer]
        context = " ".join(words)
        start = len(" ".join(words[: pos + 1])) + 1
        assert context[start : start + len(answer)] == answer
        paragraphs.append({"context": context, "qas": [
            {"id": f"q{i}", "question": "where is red", "answers": [{"text": answer, "answer_start": start}]}]})
    doc = {"version": "1.1", "data": [{"title": "tiny", "paragraphs": paragraphs}]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
