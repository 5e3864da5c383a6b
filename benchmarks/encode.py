"""Word-embedding extraction speed on FLORES devtest with the offline model.

Measured side by side in one run, on the same whitespace-split sentences:
  extraction  xladjust.embeddings.embed_words (length batches, bf16, pooling, bookkeeping)
  bare        the same batches through the model with no pooling or bookkeeping
  naive       one sentence per forward pass in fp32, pooling words in a Python loop
              (timed on a subsample; tokens/s is comparable)
Targets: extraction >= 3x naive and >= 0.85x bare.

    python benchmarks/encode.py [--data ../shared/data] [--naive-sentences 300]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch

from xladjust.embeddings import _encode, _length_batches, _pad, embed_words, model_max_length
from xladjust.models import OFFLINE_SPEC, load_model
from xladjust.pooling import Pooling

LANGS = ("en", "es", "ru", "vi", "hi", "de", "fr")


def read_flores(data: Path, per_language: int | None = None) -> list[list[str]]:
    sentences = []
    for lang in LANGS:
        lines = (data / "flores" / f"devtest.{lang}").read_text(encoding="utf-8").splitlines()[:per_language]
        sentences += [line.split() for line in lines]
    return sentences


def bare_forward(model, tokenizer, sentences, batch_size, max_tokens, bf16) -> int:
    encs, _ = _encode(tokenizer, sentences, model_max_length(model, tokenizer), Pooling.MEAN)
    n_tokens = 0
    with torch.inference_mode():
        for batch in _length_batches([len(e.ids) for e in encs], batch_size, max_tokens):
            ids, mask = _pad([encs[k] for k in batch], tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
            n_tokens += int(mask.sum())
    return n_tokens


def naive_loop(model, tokenizer, sentences) -> int:
    n_tokens = 0
    with torch.no_grad():
        for words in sentences:
            enc = tokenizer([words], is_split_into_words=True, return_tensors="pt", truncation=True, max_length=512)
            hidden = model(**enc).last_hidden_state[0]
            wids = enc.word_ids(0)
            for w in range(len(words)):
                rows = [t for t, x in enumerate(wids) if x == w]
                if rows:
                    hidden[rows].mean(0).numpy()
            n_tokens += enc["input_ids"].shape[1]
    return n_tokens


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    default_data = Path(os.environ.get("XLADJUST_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--naive-sentences", type=int, default=300)
    parser.add_argument("--per-language", type=int, default=None, help="first N sentences per language (default all)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument("--fp32", action="store_true", help="extraction and bare pass in fp32 instead of bf16")
    args = parser.parse_args()

    sentences = read_flores(args.data, args.per_language)
    loaded = load_model(OFFLINE_SPEC, device="cpu")
    model, tok = loaded.model, loaded.tokenizer
    bf16 = not args.fp32
    # warm up kernels and allocator on a few batches
    embed_words(model, tok, sentences[:64], bf16=bf16)

    # Extraction and the bare pass alternate chunk by chunk (one language at a time), so
    # that load from other processes drifting over the run affects both alike.
    t_extract = t_bare = 0.0
    n_tokens = n_words = 0
    per_lang = len(sentences) // len(LANGS)
    for k in range(len(LANGS)):
        chunk = sentences[k * per_lang:(k + 1) * per_lang]
        emb, dt = timed(lambda chunk=chunk: embed_words(model, tok, chunk, batch_size=args.batch_size,
                                            max_tokens=args.max_tokens, bf16=bf16))
        t_extract += dt
        n_words += emb.n_words
        n, dt = timed(lambda chunk=chunk: bare_forward(model, tok, chunk, args.batch_size, args.max_tokens, bf16))
        t_bare += dt
        n_tokens += n
    rng = np.random.default_rng(0)
    picks = rng.choice(len(sentences), size=min(args.naive_sentences, len(sentences)), replace=False)
    sample = [sentences[i] for i in picks]
    n_naive_tokens, t_naive = timed(lambda: naive_loop(model, tok, sample))

    extract_rate = n_tokens / t_extract
    bare_rate = n_tokens / t_bare
    naive_rate = n_naive_tokens / t_naive
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    precision = "bf16" if bf16 else "fp32"
    print(f"model {OFFLINE_SPEC}; {len(sentences)} FLORES sentences ({len(LANGS)} languages), "
          f"{n_words} words, {n_tokens} subword tokens; torch threads {torch.get_num_threads()}")
    print(f"extraction ({precision}, pooled)  {extract_rate:9.0f} tokens/s  ({t_extract:.1f} s)")
    print(f"bare forward ({precision})        {bare_rate:9.0f} tokens/s  ({t_bare:.1f} s)")
    print(f"naive loop (fp32, 1 sentence)  {naive_rate:9.0f} tokens/s  ({t_naive:.1f} s on {len(sample)} sentences)")
    print(f"ratio extraction / naive: {extract_rate / naive_rate:5.2f}x   (target >= 3)")
    print(f"ratio extraction / bare:  {extract_rate / bare_rate:5.2f}x   (target >= 0.85)")
    print(f"peak memory (max RSS): {peak_mb:.0f} MiB")


if __name__ == "__main__":
    main()
