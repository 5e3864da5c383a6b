"""NER (WikiANN / PAN-X): BIO token classification, entity-level F1 (seqeval).

Local data: ``token<TAB>tag`` lines with a blank line between sentences; hub:
``hf:wikiann:LANG[:SPLIT]``. Each word's tag is learned and predicted on one subword, its
first (a bare SentencePiece ``▁`` piece is skipped, as it carries no word content); with
``label_subwords='all'`` the word's other subwords are trained too, with ``I-X`` after a
``B-X``. Words cut by the length limit are predicted ``O`` (and counted in the log).
Baseline: tagging every word ``O`` (F1 0).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.pooling import SENTENCEPIECE_SPACE
from xladjust.tasks.base import EncodeOptions, Task, TaskDefaults, pad_id_of
from xladjust.tasks.batching import run_model
from xladjust.tasks.examples import TaggedSentence
from xladjust.tasks.metrics import SumMetric, entity_counts, f1_of_counts, prf_from_counts
from xladjust.tasks.readers import iter_tagged, read_tagged
from xladjust.tasks.sources import tagged_from_rows

log = logging.getLogger(__name__)

NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
IGNORE = -100


def word_label_positions(word_ids: Sequence[int | None], bare_space: Sequence[bool], n_words: int) -> list[int]:
    """For each word, the token that carries its label: its first subword that is not a
    bare ``▁`` (or the first subword if all are bare); -1 for words with no token left."""
    first: list[int] = [-1] * n_words
    fallback: list[int] = [-1] * n_words
    for t, w in enumerate(word_ids):
        if w is None:
            continue
        if fallback[w] < 0:
            fallback[w] = t
        if first[w] < 0 and not bare_space[t]:
            first[w] = t
    return [f if f >= 0 else fb for f, fb in zip(first, fallback, strict=True)]


def align_word_labels(
    word_ids: Sequence[int | None],
    word_labels: Sequence[int],
    bare_space: Sequence[bool],
    *,
    mode: str = "first",
    continuation: dict[int, int] | None = None,
) -> list[int]:
    """Token labels from word labels (-100 = ignored by the loss).

    ``mode='first'``: only each word's label-carrying token (see
    :func:`word_label_positions`) gets the word's label. ``mode='all'``: the word's other
    non-bare subwords get ``continuation.get(label, label)`` (``B-X`` → ``I-X``).
    Special tokens and bare ``▁`` pieces are always ignored.
    """
    if mode not in ("first", "all"):
        raise ValueError(f"mode must be 'first' or 'all', not {mode!r}")
    positions = word_label_positions(word_ids, bare_space, len(word_labels))
    labels = [IGNORE] * len(word_ids)
    continuation = continuation or {}
    for t, w in enumerate(word_ids):
        if w is None:
            continue
        if t == positions[w]:
            labels[t] = word_labels[w]
        elif mode == "all" and not bare_space[t]:
            labels[t] = continuation.get(word_labels[w], word_labels[w])
    return labels


def continuation_map(tags: Sequence[str]) -> dict[int, int]:
    """Index map ``B-X`` → ``I-X`` for the tags that have both."""
    index = {t: i for i, t in enumerate(tags)}
    return {index[t]: index["I-" + t[2:]] for t in tags if t.startswith("B-") and "I-" + t[2:] in index}


class NERTask(Task):
    name = "ner"
    labels = NER_TAGS
    primary_metric = "f1"
    score_columns = ("tp", "n_pred", "n_gold")
    baseline_name = "all O"
    defaults = TaskDefaults(max_length=128, batch_size=32, learning_rate=2e-5, epochs=3.0)
    model_outputs = ("logits",)
    token_level = True

    def read_file(self, path: Path) -> list[TaggedSentence]:
        return read_tagged(path, self.labels)

    def iter_file(self, path: Path) -> Iterator[Any]:
        return iter_tagged(path, self.labels)

    def from_hub_rows(self, rows: Any, where: str) -> list[TaggedSentence]:
        return tagged_from_rows(rows, self.labels, where)

    def auto_model_class(self) -> Any:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def _encode(self, examples: Sequence[TaggedSentence], tokenizer: Any, options: EncodeOptions) -> list[dict[str, Any]]:
        """Features with, per word, the position of its label-carrying token."""
        enc = tokenizer([e.tokens for e in examples], is_split_into_words=True, truncation=True,
                        max_length=options.max_length)
        vocab = tokenizer.get_vocab()
        space_id = vocab.get(SENTENCEPIECE_SPACE)
        keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
        features = []
        for i, e in enumerate(examples):
            ids = enc["input_ids"][i]
            word_ids = enc.word_ids(i)
            counts = np.bincount([w for w in word_ids if w is not None], minlength=len(e.tokens))
            bare = [space_id is not None and tok == space_id and w is not None and counts[w] > 1
                    for tok, w in zip(ids, word_ids, strict=True)]
            f = {k: enc[k][i] for k in keys}
            f["_word_ids"] = word_ids
            f["_bare"] = bare
            f["_positions"] = word_label_positions(word_ids, bare, len(e.tokens))
            features.append(f)
        return features

    def encode_train(self, examples: Sequence[TaggedSentence], tokenizer: Any, options: EncodeOptions) -> list[dict[str, Any]]:
        index = {t: i for i, t in enumerate(self.labels)}
        cont = continuation_map(self.labels)
        out = []
        for f, e in zip(self._encode(examples, tokenizer, options), examples, strict=True):
            labels = align_word_labels(f.pop("_word_ids"), [index[t] for t in e.tags], f.pop("_bare"),
                                       mode=options.label_subwords, continuation=cont)
            f.pop("_positions")
            f["labels"] = labels
            out.append(f)
        return out

    def loss(self, outputs: Any, batch: dict[str, Any]) -> Any:
        import torch.nn.functional as F

        logits = outputs["logits"].float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1), ignore_index=IGNORE)

    def predict(
        self, model: Any, tokenizer: Any, examples: Sequence[TaggedSentence], options: EncodeOptions, *,
        batch_size: int, bf16: bool, progress: bool,
    ) -> list[dict[str, Any]]:
        features = self._encode(examples, tokenizer, options)
        positions = [f.pop("_positions") for f in features]
        for f in features:
            f.pop("_word_ids")
            f.pop("_bare")
        outputs = run_model(model, features, pad_id_of(tokenizer), self.model_outputs, token_level=True,
                            batch_size=batch_size, bf16=bf16, progress=progress)
        records = []
        cut = 0
        for e, out, pos in zip(examples, outputs, positions, strict=True):
            best = out["logits"].argmax(-1)
            pred = [self.labels[int(best[p])] if p >= 0 else "O" for p in pos]
            cut += sum(p < 0 for p in pos)
            tp, n_pred, n_gold = entity_counts(e.tags, pred)
            records.append({"id": e.id, "tokens": e.tokens, "gold": e.tags, "pred": pred,
                            "stats": [tp, n_pred, n_gold]})
        if cut:
            log.warning("%d word(s) beyond the %d-subword limit were predicted 'O'", cut, options.max_length)
        return records

    def metrics(self, stats: np.ndarray) -> dict[str, float]:
        tp, n_pred, n_gold = (float(x) for x in stats.sum(axis=0)) if len(stats) else (0.0, 0.0, 0.0)
        precision, recall, f1 = prf_from_counts(tp, n_pred, n_gold)
        return {"f1": f1, "precision": precision, "recall": recall}

    def primary(self) -> SumMetric:
        return f1_of_counts()

    def baseline(self, examples: Sequence[TaggedSentence]) -> float:
        return 0.0  # tagging every word O finds no entity


NER = NERTask()  # the task xladjust.tasks.registry.TASKS names
