"""Moses tokenization in worker processes, streaming, in order."""

from __future__ import annotations

from xladjust.align.joint import parse_joint_words
from xladjust.align.parallel import chunked, imap_chunks
from xladjust.align.readers import RawPair
from xladjust.align.tokenize import JointFile, TokenizeSettings, WordSplitter, tokenize_pairs


def test_moses_tokens_without_escaping():
    en = WordSplitter("en")
    assert en("It's a test, isn't it? Tom & Jerry.") == [
        "It", "'s", "a", "test", ",", "isn", "'t", "it", "?", "Tom", "&", "Jerry", "."]
    assert WordSplitter("fr")("L'homme est là.") == ["L'", "homme", "est", "là", "."]


def test_punctuation_normalization_is_optional():
    text = "«Hola»  mundo"
    assert WordSplitter("es")(text) == ["«", "Hola", "»", "mundo"]
    assert WordSplitter("es", normalize_punct=True)(text) == ['"', "Hola", '"', "mundo"]


def test_pretokenized_text_splits_on_whitespace():
    assert WordSplitter("en", moses=False)("It's  a\ttest ,") == ["It's", "a", "test", ","]


def _pairs(n: int) -> list[RawPair]:
    return [RawPair(i + 1, f"Sentence number {i}, isn't it?", f"Frase número {i}.") for i in range(n)]


def test_worker_processes_give_the_same_lines_in_order():
    settings = TokenizeSettings("en", "es", workers=1)
    serial = list(tokenize_pairs(_pairs(1200), settings))
    parallel = list(tokenize_pairs(_pairs(1200), TokenizeSettings("en", "es", workers=2)))
    assert parallel == serial
    assert serial[7] == "Sentence number 7 , isn 't it ? ||| Frase número 7 ."


def test_a_side_that_tokenizes_to_nothing_gives_none():
    # Moses deletes ASCII control characters: this side is not empty before tokenizing
    pairs = [RawPair(1, "a", "\x01\x02"), RawPair(2, "a", "b")]
    assert list(tokenize_pairs(pairs, TokenizeSettings("en", "es"))) == [None, "a ||| b"]


def _square(chunk: list[int]) -> list[int]:
    return [x * x for x in chunk]


def test_imap_chunks_streams_with_a_bounded_number_of_chunks_in_flight():
    consumed = []

    def source():
        for i in range(100):
            consumed.append(i)
            yield i

    results = imap_chunks(_square, source(), workers=2, chunk_size=5)
    first = next(results)
    assert first == [0, 1, 4, 9, 16]
    # at most 2 * workers chunks were handed out before the first result came back
    assert len(consumed) <= 4 * 5 + 5
    rest = [x for chunk in results for x in chunk]
    assert first + rest == [i * i for i in range(100)]


def test_chunked():
    assert list(chunked(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunked([], 3)) == []


def test_joint_file_round_trip(tmp_path):
    joint = JointFile(tmp_path / "b.txt")
    with joint:
        joint.write_words(["Hello", "|||"], ["Hola"])
        joint.write_line("A B ||| c")
    assert joint.n_pairs == 2
    assert list(joint.iter_words()) == [(["Hello", "|||"], ["Hola"]), (["A", "B"], ["c"])]
    assert list(joint.iter_side(0, lowercase=True)) == ["hello |||\n", "a b\n"]
    assert parse_joint_words("x ||| y", "w") == (["x"], ["y"])


def test_settings_describe_the_tokenizer():
    assert TokenizeSettings("en", "es").describe()["name"] == "moses"
    assert TokenizeSettings("en", "es", moses=False).describe()["name"] == "whitespace"

