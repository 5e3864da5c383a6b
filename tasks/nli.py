"""NLI (XNLI): sentence-pair classification into entailment / neutral / contradiction.

Local data: TSV ``premise<TAB>hypothesis<TAB>label``; hub: ``hf:xnli:LANG[:SPLIT]``.
Metric: accuracy. Baseline: always predicting the evaluation set's most frequent label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.tasks.base import EncodeOptions, Task, TaskDefaults, pad_id_of
from xladjust.tasks.batching import run_model
from xladjust.tasks.examples import PairExample
from xladjust.tasks.metrics import SumMetric, mean_of
from xladjust.tasks.readers import iter_pair_tsv, read_pair_tsv
from xladjust.tasks.sources import pairs_from_rows

NLI_LABELS = ("entailment", "neutral", "contradiction")


class NLITask(Task):
    name = "nli"
    labels = NLI_LABELS
    primary_metric = "accuracy"
    score_columns = ("correct",)
    baseline_name = "majority class"
    defaults = TaskDefaults(max_length=128, batch_size=32, learning_rate=5e-5, epochs=2.0)
    model_outputs = ("logits",)
    token_level = False

    def read_file(self, path: Path) -> list[PairExample]:
        return read_pair_tsv(path, self.labels)

    def iter_file(self, path: Path) -> Iterator[Any]:
        return iter_pair_tsv(path, self.labels)

    def from_hub_rows(self, rows: Any, where: str) -> list[PairExample]:
        return pairs_from_rows(rows, self.labels, where)

    def auto_model_class(self) -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def _encode(self, examples: Sequence[PairExample], tokenizer: Any, options: EncodeOptions) -> list[dict[str, Any]]:
        enc = tokenizer(
            [e.premise for e in examples], [e.hypothesis for e in examples],
            truncation=True, max_length=options.max_length,
        )
        keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
        return [{k: enc[k][i] for k in keys} for i in range(len(examples))]

    def encode_train(self, examples: Sequence[PairExample], tokenizer: Any, options: EncodeOptions) -> list[dict[str, Any]]:
        index = {label: i for i, label in enumerate(self.labels)}
        features = self._encode(examples, tokenizer, options)
        for f, e in zip(features, examples, strict=True):
            f["labels"] = index[e.label]
        return features

    def loss(self, outputs: Any, batch: dict[str, Any]) -> Any:
        import torch.nn.functional as F

        return F.cross_entropy(outputs["logits"].float(), batch["labels"])

    def predict(
        self, model: Any, tokenizer: Any, examples: Sequence[PairExample], options: EncodeOptions, *,
        batch_size: int, bf16: bool, progress: bool,
    ) -> list[dict[str, Any]]:
        features = self._encode(examples, tokenizer, options)
        outputs = run_model(model, features, pad_id_of(tokenizer), self.model_outputs, token_level=False,
                            batch_size=batch_size, bf16=bf16, progress=progress)
        records = []
        for e, out in zip(examples, outputs, strict=True):
            pred = self.labels[int(np.argmax(out["logits"]))]
            records.append({"id": e.id, "gold": e.label, "pred": pred, "stats": [float(pred == e.label)]})
        return records

    def metrics(self, stats: np.ndarray) -> dict[str, float]:
        return {"accuracy": float(stats[:, 0].mean()) if len(stats) else 0.0}

    def primary(self) -> SumMetric:
        return mean_of(0)

    def baseline(self, examples: Sequence[PairExample]) -> float:
        if not examples:
            return 0.0
        return Counter(e.label for e in examples).most_common(1)[0][1] / len(examples)


NLI = NLITask()  # the task xladjust.tasks.registry.TASKS names
