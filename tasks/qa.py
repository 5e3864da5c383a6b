"""Extractive QA (SQuAD v1.1 format: XQuAD, MLQA, TyDi QA GoldP): answer spans, EM and F1.

A question and its context become one or more windows of at most ``max_length`` tokens:
the question (cut to ``max_question_length`` tokens) then a slice of the context;
consecutive slices overlap by ``doc_stride`` tokens, so an answer cut by one window's
edge lies whole in the next. In training a window whose slice does not hold the whole
first answer points at the first token (index 0, "no answer here"). At prediction the
best span over all windows of a question wins (start + end logit, end ≥ start, at most
``max_answer_length`` tokens, context tokens only) and maps back to the context text
through the tokenizer's character offsets. Baseline: the empty answer (EM = F1 = 0).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.errors import InputError
from xladjust.tasks.base import EncodeOptions, Task, TaskDefaults, pad_id_of
from xladjust.tasks.batching import run_model
from xladjust.tasks.examples import QAExample
from xladjust.tasks.metrics import SumMetric, mean_of, squad_scores
from xladjust.tasks.readers import read_squad
from xladjust.tasks.sources import qa_from_rows

log = logging.getLogger(__name__)

N_BEST = 20


def char_span_to_tokens(
    offsets: Sequence[tuple[int, int]], in_context: Sequence[bool], start_char: int, end_char: int
) -> tuple[int, int] | None:
    """Token indices ``(first, last)`` covering characters ``[start_char, end_char)`` of the
    context, or None when the window's context tokens do not hold the whole span.

    ``offsets[t]`` is token t's character range in the context (a SentencePiece token's
    range may include the space before it); ``in_context[t]`` marks context tokens.
    """
    ctx = [t for t, inside in enumerate(in_context) if inside and offsets[t][1] > offsets[t][0]]
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return None
    first = next((t for t in ctx if offsets[t][1] > start_char), None)
    last = next((t for t in reversed(ctx) if offsets[t][0] < end_char), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    in_context: Sequence[bool],
    *,
    n_best: int = N_BEST,
    max_answer_length: int = 30,
) -> tuple[float, int, int] | None:
    """The best ``(score, first, last)`` token span of one window, or None if no valid span."""
    ctx = np.flatnonzero(np.asarray(in_context, dtype=bool))
    if len(ctx) == 0:
        return None
    s = np.asarray(start_logits)[ctx]
    e = np.asarray(end_logits)[ctx]
    top_s = ctx[np.argsort(-s, kind="stable")[:n_best]]
    top_e = ctx[np.argsort(-e, kind="stable")[:n_best]]
    best: tuple[float, int, int] | None = None
    for i in top_s:
        for j in top_e:
            if j < i or j - i + 1 > max_answer_length:
                continue
            score = float(start_logits[i] + end_logits[j])
            if best is None or score > best[0]:
                best = (score, int(i), int(j))
    return best


def question_budget(tokenizer: Any, questions: Sequence[str], options: EncodeOptions) -> list[str]:
    """Questions cut to ``max_question_length`` tokens; raises if no room is left for a
    context window longer than the stride."""
    enc = tokenizer(list(questions), add_special_tokens=False, return_offsets_mapping=True)
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    out = []
    for q, ids, offs in zip(questions, enc["input_ids"], enc["offset_mapping"], strict=True):
        if len(ids) > options.max_question_length:
            q = q[: offs[options.max_question_length - 1][1]]
        room = options.max_length - min(len(ids), options.max_question_length) - specials
        if room <= options.doc_stride:
            raise InputError(
                f"max_length {options.max_length} leaves {room} context tokens per window after the "
                f"question, not more than doc_stride {options.doc_stride}; raise max_length or lower "
                "doc_stride / max_question_length"
            )
        out.append(q)
    return out


def encode_windows(examples: Sequence[QAExample], tokenizer: Any, options: EncodeOptions) -> list[dict[str, Any]]:
    """Context windows of every example: features with ``_example`` (index), ``_offsets``
    and ``_in_context`` for mapping spans back to text."""
    if not examples:
        return []
    questions = question_budget(tokenizer, [e.question for e in examples], options)
    enc = tokenizer(
        questions, [e.context for e in examples], truncation="only_second", max_length=options.max_length,
        stride=options.doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
    )
    keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
    features = []
    for w in range(len(enc["input_ids"])):
        seq_ids = enc.sequence_ids(w)
        f = {k: enc[k][w] for k in keys}
        f["_example"] = int(enc["overflow_to_sample_mapping"][w])
        f["_offsets"] = [tuple(o) for o in enc["offset_mapping"][w]]
        f["_in_context"] = [s == 1 for s in seq_ids]
        features.append(f)
    return features


class QATask(Task):
    name = "qa"
    primary_metric = "f1"
    score_columns = ("exact_match", "f1")
    baseline_name = "empty answer"
    defaults = TaskDefaults(max_length=384, batch_size=32, learning_rate=3e-5, epochs=2.0)
    model_outputs = ("start_logits", "end_logits")
    token_level = True

    def read_file(self, path: Path) -> list[QAExample]:
        return read_squad(path)

    def from_hub_rows(self, rows: Any, where: str) -> list[QAExample]:
        return qa_from_rows(rows, where)

    def auto_model_class(self) -> Any:
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering

    def encode_train(self, examples: Sequence[QAExample], tokenizer: Any, options: EncodeOptions) -> list[dict[str, Any]]:
        out = []
        for f in encode_windows(examples, tokenizer, options):
            e = examples[f.pop("_example")]
            if not e.answers:
                raise InputError(f"training question {e.id} has no answer; SQuAD v1.1 training needs one")
            answer = e.answers[0]
            span = char_span_to_tokens(f.pop("_offsets"), f.pop("_in_context"), answer.start, answer.end)
            f["start_positions"], f["end_positions"] = span if span is not None else (0, 0)
            out.append(f)
        return out

    def loss(self, outputs: Any, batch: dict[str, Any]) -> Any:
        import torch.nn.functional as F

        start = F.cross_entropy(outputs["start_logits"].float(), batch["start_positions"])
        end = F.cross_entropy(outputs["end_logits"].float(), batch["end_positions"])
        return (start + end) / 2

    def predict(
        self, model: Any, tokenizer: Any, examples: Sequence[QAExample], options: EncodeOptions, *,
        batch_size: int, bf16: bool, progress: bool,
    ) -> list[dict[str, Any]]:
        features = encode_windows(examples, tokenizer, options)
        meta = [(f.pop("_example"), f.pop("_offsets"), f.pop("_in_context")) for f in features]
        outputs = run_model(model, features, pad_id_of(tokenizer), self.model_outputs, token_level=True,
                            batch_size=batch_size, bf16=bf16, progress=progress)
        best: dict[int, tuple[float, int, int]] = {}
        for (ex, offsets, in_context), out in zip(meta, outputs, strict=True):
            span = best_span(out["start_logits"], out["end_logits"], in_context,
                             max_answer_length=options.max_answer_length)
            if span is None:
                continue
            score, first, last = span
            if ex not in best or score > best[ex][0]:
                best[ex] = (score, offsets[first][0], offsets[last][1])
        records = []
        for i, e in enumerate(examples):
            text = e.context[best[i][1] : best[i][2]].strip() if i in best else ""
            golds = [a.text for a in e.answers]
            em, f1 = squad_scores(text, golds)
            records.append({"id": e.id, "question": e.question, "gold": golds, "pred": text, "stats": [em, f1]})
        return records

    def metrics(self, stats: np.ndarray) -> dict[str, float]:
        if not len(stats):
            return {"f1": 0.0, "exact_match": 0.0}
        return {"f1": float(stats[:, 1].mean()), "exact_match": float(stats[:, 0].mean())}

    def primary(self) -> SumMetric:
        return mean_of(1)

    def baseline(self, examples: Sequence[QAExample]) -> float:
        return 0.0  # the empty answer matches no gold answer


QA = QATask()  # the task xladjust.tasks.registry.TASKS names
