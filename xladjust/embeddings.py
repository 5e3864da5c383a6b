"""Contextual word embeddings shared by every stage.

Words come pre-split (a list of sentences, each a list of words). Words are mapped to
subwords with the fast tokenizer's ``word_ids()``, which works for WordPiece (mBERT) and
SentencePiece (XLM-R, the offline model) alike. A word's vector pools its subword
vectors as :mod:`xladjust.pooling` defines: ``mean`` (default) over all of them,
``first`` (the first subword that is not a bare SentencePiece ``▁``) or ``last``.

Words that get no vector are never dropped silently: ``WordEmbeddings.valid`` is False
for a word that tokenizes to nothing (an empty string, a character the tokenizer
deletes) or whose subwords were cut by the model's maximum length; its vector is zeros.
(WordPiece tokenizers such as mBERT's map a word of more than 100 characters to a single
``[UNK]`` piece; such a word keeps the ``[UNK]`` vector and stays valid.)
Sentences are batched by length and run without gradients.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xladjust.errors import InputError
from xladjust.finite import check_finite_array
from xladjust.models import position_limit
from xladjust.modes import eval_mode
from xladjust.pooling import Pooling, PoolingPlan, pool_words, pooling_plan, sentencepiece_space_id
from xladjust.progress import progress as progress_bar

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class WordEmbeddings:
    """One vector per word and requested layer.

    ``vectors[k, w]`` is word ``w``'s vector at hidden layer ``layers[k]`` (0 = embeddings).
    The words of sentence ``i`` are ``offsets[i]:offsets[i + 1]``.
    """

    layers: tuple[int, ...]
    vectors: np.ndarray  # (n_layers, n_words, hidden), float32
    offsets: np.ndarray  # (n_sentences + 1,), int64
    valid: np.ndarray  # (n_words,), bool

    @property
    def n_sentences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_words(self) -> int:
        return int(self.offsets[-1])

    def layer(self, layer: int) -> np.ndarray:
        """All word vectors at hidden layer ``layer`` (an absolute index in ``layers``)."""
        try:
            return self.vectors[self.layers.index(layer)]
        except ValueError:
            raise InputError(f"layer {layer} was not extracted; extracted: {list(self.layers)}") from None

    def sentence(self, i: int, layer: int | None = None) -> np.ndarray:
        """Word vectors of sentence ``i`` at ``layer`` (default: the last extracted)."""
        k = len(self.layers) - 1 if layer is None else self.layers.index(layer)
        return self.vectors[k, self.offsets[i] : self.offsets[i + 1]]


def validate_sentences(sentences: Any) -> list[list[str]]:
    """Check that ``sentences`` is a list of lists of strings; return it as such."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Sequence):
        raise InputError("sentences must be a list of sentences, each a list of word strings")
    out: list[list[str]] = []
    for i, sent in enumerate(sentences):
        if isinstance(sent, (str, bytes)) or not isinstance(sent, Sequence):
            raise InputError(
                f"sentence {i} is a {type(sent).__name__}, not a list of words; "
                "split sentences into words first (e.g. text.split())"
            )
        for j, word in enumerate(sent):
            if not isinstance(word, str):
                raise InputError(f"sentence {i}, word {j} is a {type(word).__name__}, not a string")
        out.append(list(sent))
    return out


def resolve_layers(layers: int | str | Sequence[int], num_layers: int) -> tuple[int, ...]:
    """Turn ``"last"``, ``"all"``, an int or ints (negative counts from the end) into
    absolute hidden-state indices in ``0..num_layers``."""
    if isinstance(layers, str):
        if layers == "last":
            return (num_layers,)
        if layers == "all":
            return tuple(range(num_layers + 1))
        try:
            layers = [int(x) for x in layers.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"bad layer list {layers!r}; use 'last', 'all' or N[,M...]") from None
    if isinstance(layers, int):
        layers = [layers]
    out = []
    for layer in layers:
        absolute = layer + num_layers + 1 if layer < 0 else layer
        if not 0 <= absolute <= num_layers:
            raise InputError(
                f"layer {layer} is out of range: this model has hidden states 0..{num_layers} "
                f"(0 = embeddings, {num_layers} = last; negative indices count from the end)"
            )
        out.append(absolute)
    if not out:
        raise InputError("no layers requested")
    return tuple(dict.fromkeys(out))


def model_max_length(model: Any, tokenizer: Any) -> int:
    """The longest input (in subwords, specials included) the model accepts."""
    positions = position_limit(model.config)
    tok_max = getattr(tokenizer, "model_max_length", positions) or positions
    return int(min(positions, tok_max))


@dataclass
class _Encoded:
    """One sentence's kept subword ids and how they pool into its words."""

    ids: list[int]
    plan: PoolingPlan  # over ``ids``; words cut by truncation are left out
    valid: list[bool]  # per word


def _encode(tokenizer: Any, sentences: list[list[str]], max_length: int,
            pooling: Pooling) -> tuple[list[_Encoded], int]:
    """Tokenize pre-split sentences, truncate each to ``max_length`` subwords and plan
    their pooling. Returns the encodings and the number of words cut by truncation."""
    space_id = sentencepiece_space_id(tokenizer)
    batch = tokenizer(sentences, is_split_into_words=True, add_special_tokens=True, truncation=False)
    encoded: list[_Encoded] = []
    cut_words = 0
    for i, words in enumerate(sentences):
        ids = batch["input_ids"][i]
        wids = batch.word_ids(i)
        content = [t for t, w in enumerate(wids) if w is not None]
        lead = [t for t in range(len(ids)) if wids[t] is None and (not content or t < content[0])]
        trail = [t for t in range(len(ids)) if wids[t] is None and content and t > content[-1]]
        kept = content[: max(max_length - len(lead) - len(trail), 0)]
        n_tokens = np.bincount([wids[t] for t in content], minlength=len(words))
        n_kept = np.bincount([wids[t] for t in kept], minlength=len(words))
        valid = (n_tokens > 0) & (n_kept == n_tokens)
        cut_words += int(np.sum((n_tokens > 0) & (n_kept < n_tokens)))
        order = lead + kept + trail
        kept_ids = np.array([ids[t] for t in order], dtype=np.int64)
        word_of_token = np.array([-1 if wids[t] is None or not valid[wids[t]] else wids[t] for t in order],
                                 dtype=np.int64)
        plan = pooling_plan(kept_ids, word_of_token, len(words), pooling, space_id)
        encoded.append(_Encoded(ids=kept_ids.tolist(), plan=plan, valid=valid.tolist()))
    return encoded, cut_words


def _length_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> Iterator[list[int]]:
    """Group indices sorted by length so that a padded batch stays under ``max_tokens``."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        longest = max(lengths[i], *(lengths[j] for j in batch[-1:])) if batch else lengths[i]
        if batch and (len(batch) >= batch_size or longest * (len(batch) + 1) > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _batch_plan(encs: list[_Encoded], word_base: list[int], width: int) -> tuple[np.ndarray, ...]:
    """A padded batch's pooling plan: (flat token index, batch word index, weight) triples
    and, per batch word, its index among all the words."""
    tokens, words, weights, targets = [], [], [], []
    n = 0
    for b, enc in enumerate(encs):
        plan = enc.plan
        tokens.append(b * width + plan.token)
        words.append(n + plan.word)
        weights.append(plan.weight)
        targets.append(word_base[b] + np.flatnonzero(plan.word_map >= 0))
        n += plan.n_words
    return tuple(np.concatenate(x) if x else np.zeros(0, dtype=np.int64) for x in (tokens, words, weights, targets))


def _pad(encs: list[_Encoded], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(e.ids) for e in encs)
    ids = np.full((len(encs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encs), width), dtype=np.int64)
    for b, e in enumerate(encs):
        ids[b, : len(e.ids)] = e.ids
        mask[b, : len(e.ids)] = 1
    return ids, mask


def _forward_hidden(model: Any, ids: np.ndarray, mask: np.ndarray, layers: tuple[int, ...], bf16: bool) -> Any:
    """Stacked hidden states ``(n_layers, B, T, H)`` for the requested layers."""
    import torch

    from xladjust.truncate import first_layers  # imports torch at its top, as the line above

    device = next(model.parameters()).device
    input_ids = torch.from_numpy(ids).to(device)
    attention = torch.from_numpy(mask).to(device)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16), first_layers(model, max(layers)):
        out = model(input_ids=input_ids, attention_mask=attention, output_hidden_states=True)
    return torch.stack([out.hidden_states[k] for k in layers]).float()


def embed_words(
    model: Any,
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    *,
    layers: int | str | Sequence[int] = "last",
    pooling: str | Pooling = Pooling.MEAN,
    batch_size: int = 64,
    max_tokens: int = 8192,
    max_length: int | None = None,
    bf16: bool = False,
    progress: bool = False,
) -> WordEmbeddings:
    """Contextual vectors for pre-split words, one per word and requested layer.

    ``layers``: ``"last"`` (default), ``"all"``, an index or a list (0 = embeddings,
    negative from the end). ``max_length`` defaults to the model's limit; words cut by it
    are marked invalid (and logged), never dropped. ``bf16`` enables bfloat16 autocast.
    """
    import torch

    sentences = validate_sentences(sentences)
    pool = Pooling.parse(pooling)
    num_layers = int(model.config.num_hidden_layers)
    layer_ids = resolve_layers(layers, num_layers)
    limit = model_max_length(model, tokenizer)
    if max_length is not None:
        if max_length < 3:
            raise InputError(f"max_length must be at least 3 subwords, got {max_length}")
        limit = min(limit, max_length)
    if batch_size < 1 or max_tokens < 1:
        raise InputError("batch_size and max_tokens must be positive")

    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sentences], out=offsets[1:])
    n_words = int(offsets[-1])
    hidden = int(model.config.hidden_size)
    vectors = np.zeros((len(layer_ids), n_words, hidden), dtype=np.float32)
    valid = np.zeros(n_words, dtype=bool)
    nonempty = [i for i, s in enumerate(sentences) if s]
    if not nonempty:
        return WordEmbeddings(layer_ids, vectors, offsets, valid)

    encs, cut = _encode(tokenizer, [sentences[i] for i in nonempty], limit, pool)
    if cut:
        log.warning("%d word(s) cut by the model's %d-subword limit are marked invalid", cut, limit)
    for k, i in enumerate(nonempty):
        valid[offsets[i] : offsets[i + 1]] = encs[k].valid
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    batches = list(_length_batches([len(e.ids) for e in encs], batch_size, max_tokens))
    with eval_mode(model), torch.inference_mode():
        for batch in progress_bar(batches, desc="embedding", unit="batch", enabled=progress):
            b_encs = [encs[k] for k in batch]
            ids, mask = _pad(b_encs, pad_id)
            base = [int(offsets[nonempty[k]]) for k in batch]
            tok_idx, word_idx, weight, target = _batch_plan(b_encs, base, ids.shape[1])
            if len(tok_idx) == 0:
                continue
            states = _forward_hidden(model, ids, mask, layer_ids, bf16)
            plan = [torch.from_numpy(x).to(device) for x in (tok_idx, word_idx, weight)]
            for k in range(len(layer_ids)):
                vectors[k, target] = pool_words(states[k], *plan, len(target)).cpu().numpy()
    check_finite_array(vectors, "word vectors")
    return WordEmbeddings(layer_ids, vectors, offsets, valid)


def embed_sentences(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    layers: int | str | Sequence[int] = "last",
    prefix: str = "",
    include_special: bool = False,
    batch_size: int = 64,
    max_tokens: int = 8192,
    bf16: bool = False,
    progress: bool = False,
) -> tuple[tuple[int, ...], np.ndarray]:
    """Mean-pooled sentence vectors ``(n_layers, n_texts, hidden)`` from raw text.

    Special tokens join the mean only with ``include_special`` (as E5 models pool).
    Texts longer than the model limit are truncated.
    """
    import torch

    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise InputError("texts must be a list of strings")
    layer_ids = resolve_layers(layers, int(model.config.num_hidden_layers))
    hidden = int(model.config.hidden_size)
    out = np.zeros((len(layer_ids), len(texts), hidden), dtype=np.float32)
    if not texts:
        return layer_ids, out
    limit = model_max_length(model, tokenizer)
    enc = tokenizer([prefix + t for t in texts], truncation=True, max_length=limit, return_special_tokens_mask=True)
    lengths = [len(x) for x in enc["input_ids"]]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with eval_mode(model), torch.inference_mode():
        for batch in progress_bar(list(_length_batches(lengths, batch_size, max_tokens)), desc="sentences", unit="batch",
                                  enabled=progress):
            encs = [_Encoded(enc["input_ids"][k], [], []) for k in batch]
            ids, mask = _pad(encs, pad_id)
            keep = mask.copy()
            if not include_special:
                for b, k in enumerate(batch):
                    special = enc["special_tokens_mask"][k]
                    keep[b, : len(special)] *= 1 - np.asarray(special, dtype=np.int64)
            states = _forward_hidden(model, ids, mask, layer_ids, bf16)
            weights = torch.from_numpy(keep).to(states.device, states.dtype)
            summed = (states * weights[None, :, :, None]).sum(dim=2)
            counts = weights.sum(dim=1).clamp(min=1.0)[None, :, None]
            out[:, batch] = (summed / counts).cpu().numpy()
    check_finite_array(out, "sentence vectors")
    return layer_ids, out


