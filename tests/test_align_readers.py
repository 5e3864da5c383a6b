"""Parallel-text readers, the src ||| tgt format, and every input error path."""

from __future__ import annotations

import json

import pytest
from helpers_align import EN, ES, write_lines, write_small_corpus

from xladjust.align.config import InputSpec
from xladjust.align.joint import format_joint, parse_joint_words, split_joint
from xladjust.align.readers import FilterCounts, RawPair, filter_pairs, open_bitext, scan_bitext
from xladjust.errors import InputError


def pairs_of(spec: InputSpec, src_lang: str = "en", tgt_lang: str = "es") -> list[tuple[str, str]]:
    return [(p.src, p.tgt) for p in open_bitext(spec, src_lang, tgt_lang)]


def test_two_line_aligned_files(tmp_path):
    src, tgt = write_small_corpus(tmp_path)
    bitext = open_bitext(InputSpec(src=src, tgt=tgt), "en", "es")
    pairs = list(bitext)
    assert [(p.src, p.tgt) for p in pairs] == list(zip(EN, ES, strict=True))
    assert [p.line for p in pairs] == [1, 2, 3, 4]
    assert list(bitext) == pairs  # re-iterable
    assert set(bitext.hashes()) == {str(src), str(tgt)}
    assert bitext.where(3, "tgt") == f"{tgt}:3"


def test_joint_file(tmp_path):
    path = write_lines(tmp_path / "c.en-es", [f"{a} ||| {b}" for a, b in zip(EN, ES, strict=True)])
    assert pairs_of(InputSpec(joint=path)) == list(zip(EN, ES, strict=True))


def test_tsv_file(tmp_path):
    path = write_lines(tmp_path / "c.tsv", [f"{a}\t{b}" for a, b in zip(EN, ES, strict=True)])
    assert pairs_of(InputSpec(tsv=path)) == list(zip(EN, ES, strict=True))


def test_hf_dataset_from_a_local_directory(tmp_path):
    rows = [{"translation": {"en": a, "es": b}} for a, b in zip(EN, ES, strict=True)]
    write_lines(tmp_path / "ds" / "train.jsonl", [json.dumps(r) for r in rows])
    bitext = open_bitext(InputSpec(hf=str(tmp_path / "ds")), "en", "es")
    assert [(p.src, p.tgt) for p in bitext] == list(zip(EN, ES, strict=True))
    assert list(bitext.hashes())[0].startswith("hf:")


def test_hf_dataset_with_language_columns(tmp_path):
    write_lines(tmp_path / "ds" / "train.jsonl", [json.dumps({"en": "Hi .", "es": "Hola ."})])
    assert pairs_of(InputSpec(hf=str(tmp_path / "ds"))) == [("Hi .", "Hola .")]


def test_hf_dataset_without_the_languages_is_an_error(tmp_path):
    write_lines(tmp_path / "ds" / "train.jsonl", [json.dumps({"text": "Hi", "label": 1})])
    with pytest.raises(InputError, match=r"cannot find the two sides.*'text'"):
        open_bitext(InputSpec(hf=str(tmp_path / "ds")), "en", "es")
    write_lines(tmp_path / "ds2" / "train.jsonl", [json.dumps({"translation": {"en": "Hi", "de": "Hallo"}})])
    with pytest.raises(InputError, match=r"row 1: 'translation' has no 'en' and 'es'.*\['de', 'en'\]"):
        list(open_bitext(InputSpec(hf=str(tmp_path / "ds2")), "en", "es"))


def test_hf_dataset_that_cannot_load_says_why(tmp_path):
    with pytest.raises(InputError, match=r"could not load dataset 'no-such-dataset-for-xladjust'.*network"):
        open_bitext(InputSpec(hf="no-such-dataset-for-xladjust"), "en", "es")


def test_mismatched_line_counts_name_both_counts_and_the_short_file(tmp_path):
    src = write_lines(tmp_path / "a.en", EN)
    tgt = write_lines(tmp_path / "a.es", ES[:2])
    with pytest.raises(InputError) as err:
        list(open_bitext(InputSpec(src=src, tgt=tgt), "en", "es"))
    msg = str(err.value)
    assert f"{src} has 4 lines, {tgt} has 2" in msg and f"{tgt} ends early (after line 2)" in msg
    with pytest.raises(InputError, match=rf"{src} has 2 lines, {tgt} has 4; {src} ends early"):
        list(open_bitext(InputSpec(src=write_lines(src, EN[:2]), tgt=write_lines(tgt, ES)), "en", "es"))


def test_invalid_utf8_names_file_and_line(tmp_path):
    src = write_lines(tmp_path / "a.en", EN)
    tgt = tmp_path / "a.es"
    tgt.write_bytes(("\n".join(ES[:2]) + "\n").encode() + b"caf\xe9 .\n" + ES[3].encode() + b"\n")
    with pytest.raises(InputError, match=rf"{tgt}:3: invalid UTF-8 at byte 3"):
        scan_bitext(open_bitext(InputSpec(src=src, tgt=tgt), "en", "es"), 200, False)


def test_missing_or_directory_input(tmp_path):
    with pytest.raises(InputError, match="input file .*nope.en does not exist"):
        open_bitext(InputSpec(src=tmp_path / "nope.en", tgt=tmp_path / "nope.es"), "en", "es")
    with pytest.raises(InputError, match="is not a file"):
        open_bitext(InputSpec(joint=tmp_path), "en", "es")


@pytest.mark.parametrize("spec, message", [
    (InputSpec(), "no parallel text given"),
    (InputSpec(src="a"), "src needs its partner"),
    (InputSpec(joint="a", tsv="b"), "give one form of parallel text, not joint and tsv"),
    (InputSpec(joint="a", max_words=0), "max_words must be at least 1"),
])
def test_input_spec_problems(spec, message):
    assert any(message in p for p in spec.check())
    with pytest.raises(InputError, match=message):
        open_bitext(spec, "en", "es")


def test_joint_line_without_one_separator(tmp_path):
    path = write_lines(tmp_path / "c", ["a ||| b", "no separator here", "x ||| y"])
    with pytest.raises(InputError, match=rf"{path}:2: expected one 'source \|\|\| target' separator, found 0"):
        list(open_bitext(InputSpec(joint=path), "en", "es"))
    write_lines(path, ["a ||| b ||| c"])
    with pytest.raises(InputError, match=":1: expected one .* found 2"):
        list(open_bitext(InputSpec(joint=path), "en", "es"))


def test_tsv_line_with_wrong_column_count(tmp_path):
    path = write_lines(tmp_path / "c.tsv", ["a\tb", "a\tb\tc"])
    with pytest.raises(InputError, match=rf"{path}:2: expected 2 tab-separated columns .* found 3"):
        list(open_bitext(InputSpec(tsv=path), "en", "es"))


def test_crlf_and_byte_order_mark_are_stripped(tmp_path):
    src = tmp_path / "a.en"
    src.write_bytes("\ufeffHello .\r\nBye .\r\n".encode())
    tgt = write_lines(tmp_path / "a.es", ["Hola .", "Adiós ."])
    assert pairs_of(InputSpec(src=src, tgt=tgt)) == [("Hello .", "Hola ."), ("Bye .", "Adiós .")]


def _bitext_with_problems(tmp_path):
    src = write_lines(tmp_path / "p.en", ["one two", "  ", "x " * 12, "ok ."])
    tgt = write_lines(tmp_path / "p.es", ["uno dos", "algo", "y", ""])
    return open_bitext(InputSpec(src=src, tgt=tgt), "en", "es"), src, tgt


def test_empty_and_long_sides_are_skipped_and_counted(tmp_path):
    bitext, src, tgt = _bitext_with_problems(tmp_path)
    counts = FilterCounts()
    kept = list(filter_pairs(bitext, 10, False, counts))
    assert [(p.line, p.src) for p in kept] == [(1, "one two")]
    assert (counts.lines, counts.kept, counts.skipped_empty, counts.skipped_long) == (4, 1, 2, 1)
    assert counts.examples == [f"{src}:2: empty", f"{src}:3: over 10 words", f"{tgt}:4: empty"]
    assert scan_bitext(bitext, 10, False).to_dict()["skipped_empty"] == 2


def test_strict_makes_empty_and_long_sides_errors(tmp_path):
    bitext, src, tgt = _bitext_with_problems(tmp_path)
    with pytest.raises(InputError, match=rf"{src}:2: empty source side; remove the pair or drop --strict"):
        scan_bitext(bitext, 10, True)
    src2 = write_lines(tmp_path / "q.en", ["x " * 12])
    tgt2 = write_lines(tmp_path / "q.es", ["y"])
    with pytest.raises(InputError, match=r":1: over 10 words source side; raise --max-words \(now 10\)"):
        scan_bitext(open_bitext(InputSpec(src=src2, tgt=tgt2), "en", "es"), 10, True)


def test_nothing_usable_is_an_error(tmp_path):
    src = write_lines(tmp_path / "e.en", ["", " "])
    tgt = write_lines(tmp_path / "e.es", ["a", "b"])
    with pytest.raises(InputError, match=r"no usable sentence pairs \(2 lines read, 2 with an empty side"):
        scan_bitext(open_bitext(InputSpec(src=src, tgt=tgt), "en", "es"), 10, False)


def test_limit_reads_only_the_first_lines(tmp_path):
    src, tgt = write_small_corpus(tmp_path)
    assert len(pairs_of(InputSpec(src=src, tgt=tgt, max_pairs=2))) == 2


def test_joint_format_round_trip_escapes_a_separator_word():
    line = format_joint(["a", "|||", "b"], ["c"])
    assert line == "a &#124;&#124;&#124; b ||| c"
    assert parse_joint_words(line, "x") == (["a", "|||", "b"], ["c"])
    assert split_joint("  a b |||  c  \n", "x") == ("a b", "c")
    assert split_joint("||| c", "x") == ("", "c")
    assert RawPair(1, "a", "b").line == 1
