"""Task data readers and sources: formats, hub rows, and every bad-input error."""

from __future__ import annotations

import json

import pytest

from xladjust.errors import InputError
from xladjust.tasks.ner import NER_TAGS
from xladjust.tasks.nli import NLI_LABELS
from xladjust.tasks.readers import read_pair_tsv, read_squad, read_tagged, take
from xladjust.tasks.sources import (
    missing_sources,
    pairs_from_rows,
    parse_source,
    qa_from_rows,
    tagged_from_rows,
)


def _squad(context: str, answers: list[dict], qid: str = "q1") -> dict:
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": context, "qas": [{"id": qid, "question": "Who? ", "answers": answers}]}]}]}


def test_pair_tsv_reads_rows_and_skips_header(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("premise\thypothesis\tlabel\nA man.\tA person.\tentailment\n\nB.\tC.\tneutral\n", encoding="utf-8")
    rows = read_pair_tsv(path, NLI_LABELS)
    assert [(r.premise, r.hypothesis, r.label) for r in rows] == [("A man.", "A person.", "entailment"),
                                                                 ("B.", "C.", "neutral")]
    assert [r.id for r in rows] == ["0", "1"]


@pytest.mark.parametrize(("text", "message"), [
    ("A\tB\tmaybe\n", r"x.tsv:1: label 'maybe' is not in the label set \(entailment, neutral, contradiction\)"),
    ("A\tentailment\n", r"x.tsv:1: expected 3 tab-separated fields .* found 2"),
    ("A\tB\tneutral\n\tB\tneutral\n", r"x.tsv:2: empty premise or hypothesis"),
    ("\n\n", r"holds no examples"),
])
def test_pair_tsv_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "x.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_pair_tsv(path, NLI_LABELS)


def test_invalid_utf8_and_missing_file(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"A\tB\tneutral\n\xff\xfe\tB\tneutral\n")
    with pytest.raises(InputError, match=r"bad.tsv:2: invalid UTF-8"):
        read_pair_tsv(path, NLI_LABELS)
    with pytest.raises(InputError, match="does not exist"):
        read_tagged(tmp_path / "nope.tsv", NER_TAGS)


def test_tagged_reads_sentences_split_by_blank_lines(tmp_path):
    path = tmp_path / "ner.tsv"
    path.write_text("R.H.\tB-ORG\nSaunders\tI-ORG\n(\tO\n\n\nParis\tB-LOC\n", encoding="utf-8")
    sents = read_tagged(path, NER_TAGS)
    assert [s.tokens for s in sents] == [["R.H.", "Saunders", "("], ["Paris"]]
    assert [s.tags for s in sents] == [["B-ORG", "I-ORG", "O"], ["B-LOC"]]


@pytest.mark.parametrize(("text", "message"), [
    ("Paris\tB-CITY\n", r"ner.tsv:1: tag 'B-CITY' is not in the label set"),
    ("Paris B-LOC\n", r"ner.tsv:1: expected 'token<TAB>tag'"),
    ("Paris\tB-LOC\textra\n", r"ner.tsv:1: expected 'token<TAB>tag'"),
    ("\n", "holds no sentences"),
])
def test_tagged_errors(tmp_path, text, message):
    path = tmp_path / "ner.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_tagged(path, NER_TAGS)


def test_squad_reads_questions_and_checks_answers(tmp_path):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(_squad("Paris is in France.", [{"text": "France", "answer_start": 12}])))
    (ex,) = read_squad(path)
    assert ex.id == "q1" and ex.question == "Who?" and ex.answers[0].end == 18
    assert ex.context[ex.answers[0].start : ex.answers[0].end] == "France"


@pytest.mark.parametrize(("doc", "message"), [
    (_squad("Paris is in France.", [{"text": "France", "answer_start": 3}]),
     r"question q1: answer 'France' does not match the context at answer_start=3 .*occurs at 12"),
    (_squad("Paris is in France.", [{"text": "Spain", "answer_start": 0}]), "not in the context at all"),
    (_squad("Paris.", [{"text": "Paris"}]), "lacks 'text' or 'answer_start'"),
    (_squad("Paris.", [{"text": "", "answer_start": 0}]), "empty answer text.*unlabelled"),
    ({"version": "1.1"}, "not SQuAD v1.1 JSON"),
    ({"data": [{"title": "t"}]}, r"data\[0\] has no 'paragraphs' list"),
    ({"data": []}, "holds no questions"),
])
def test_squad_errors(tmp_path, doc, message):
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message):
        read_squad(path)


def test_squad_malformed_json_names_line(tmp_path):
    path = tmp_path / "qa.json"
    path.write_text('{"data": [\n  {"paragraphs": }\n]}')
    with pytest.raises(InputError, match=r"qa.json:2: not valid JSON"):
        read_squad(path)


def test_take_first_or_seeded_sample():
    items = list(range(10))
    assert take(items, 3) == [0, 1, 2]
    assert take(items, None) == items
    sample = take(items, 4, seed=0)
    assert sample == sorted(sample) and len(set(sample)) == 4
    assert take(items, 4, seed=0) == sample


def test_parse_source_forms(tmp_path):
    assert parse_source("data/x.tsv").path is not None
    src = parse_source("hf:google/xquad:xquad.es:validation")
    assert (src.name, src.config, src.split, src.is_hub) == ("google/xquad", "xquad.es", "validation", True)
    assert parse_source("hf:xnli:es").split is None
    with pytest.raises(InputError, match="bad hub source"):
        parse_source("hf::a")
    problems = missing_sources({"test[vi]": str(tmp_path / "none.tsv"), "dev": "hf:xnli:en"})
    assert problems == [f"test[vi]: data file {tmp_path / 'none.tsv'} does not exist"]


def test_hub_rows_convert_class_labels():
    datasets = pytest.importorskip("datasets")
    nli = datasets.Dataset.from_dict(
        {"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [0, 2, -1]},
        features=datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=list(NLI_LABELS))}),
    )
    rows = pairs_from_rows(nli, NLI_LABELS, "hf:xnli:xx")
    assert [r.label for r in rows] == ["entailment", "contradiction"]  # unlabelled row skipped
    ner = datasets.Dataset.from_dict(
        {"tokens": [["Paris", "is"]], "ner_tags": [[5, 0]]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "ner_tags": datasets.Sequence(datasets.ClassLabel(names=list(NER_TAGS)))}),
    )
    assert tagged_from_rows(ner, NER_TAGS, "hf:wikiann:xx")[0].tags == ["B-LOC", "O"]
    with pytest.raises(InputError, match="tag 'B-DATE' is not in the label set"):
        tagged_from_rows([{"tokens": ["x"], "ner_tags": ["B-DATE"]}], NER_TAGS, "hub")
    qa = qa_from_rows([{"id": "7", "question": "q", "context": "in Paris",
                        "answers": {"text": ["Paris"], "answer_start": [3]}}], "hub")
    assert qa[0].answers[0].text == "Paris"
    with pytest.raises(InputError, match="does not match the context"):
        qa_from_rows([{"id": "7", "question": "q", "context": "in Paris",
                       "answers": {"text": ["Paris"], "answer_start": [0]}}], "hub")


def test_unreachable_hub_dataset_says_to_use_a_file(monkeypatch):
    datasets = pytest.importorskip("datasets")
    from xladjust.tasks.registry import get_task

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(InputError, match=r"could not load dataset 'xnli' \(config 'es', split 'test'\).*use a local file"):
        get_task("nli").read(parse_source("hf:xnli:es"), "test")
