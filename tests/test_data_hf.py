"""``datasets`` in: save_to_disk folders and in-memory datasets for parallel text and task data."""

from __future__ import annotations

import pytest

from xladjust.align.config import InputSpec
from xladjust.align.readers import open_bitext
from xladjust.data.hf import as_source, is_saved_dataset, load_split
from xladjust.errors import InputError
from xladjust.tasks.registry import get_task
from xladjust.tasks.sources import parse_source

datasets = pytest.importorskip("datasets")

PAIRS = [{"translation": {"en": "the house is big", "es": "la casa es grande"}},
         {"translation": {"en": "the dog", "es": "el perro"}}]
NLI = {"premise": ["a dog runs", "a cat sleeps", "the sun"], "hypothesis": ["an animal moves", "a dog", "it"],
       "label": [0, 2, 1]}


def test_parallel_text_from_a_save_to_disk_folder(tmp_path):
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(PAIRS).save_to_disk(str(folder))
    assert is_saved_dataset(folder) and not is_saved_dataset(tmp_path)
    bitext = open_bitext(InputSpec(hf=str(folder)), "en", "es")
    assert [(p.src, p.tgt) for p in bitext] == [("the house is big", "la casa es grande"), ("the dog", "el perro")]
    dd = tmp_path / "dict"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(PAIRS[:1]),
                          "test": datasets.Dataset.from_list(PAIRS)}).save_to_disk(str(dd))
    assert len(list(open_bitext(InputSpec(hf=str(dd), hf_split="test"), "en", "es"))) == 2
    with pytest.raises(InputError, match=r"has no split 'dev'; its splits are train, test"):
        open_bitext(InputSpec(hf=str(dd), hf_split="dev"), "en", "es")


def test_in_memory_datasets_enter_through_as_source(tmp_path):
    ds = datasets.Dataset.from_list(PAIRS)
    source = as_source(ds, tmp_path / "cache")
    assert source.startswith("hf:") and as_source(datasets.Dataset.from_list(PAIRS), tmp_path / "cache") == source
    assert as_source(datasets.Dataset.from_list(PAIRS[:1]), tmp_path / "cache") != source  # other data, other folder
    bitext = open_bitext(InputSpec(hf=source.removeprefix("hf:")), "en", "es")
    assert len(list(bitext)) == 2
    with pytest.raises(InputError, match="takes a datasets.Dataset or DatasetDict, not list"):
        as_source(PAIRS)
    assert len(load_split(datasets.DatasetDict({"train": ds}), None, "train")) == 2  # objects pass through


def test_task_data_from_a_folder_and_from_memory(tmp_path):
    nli = get_task("nli")
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})
    ds = datasets.Dataset.from_dict(NLI, features=features)
    folder = tmp_path / "xnli-like"
    datasets.DatasetDict({"test": ds}).save_to_disk(str(folder))
    for text in (str(folder), f"hf:{folder}", f"hf:{folder}::test"):
        examples = nli.read(parse_source(text), "test")
        assert [e.label for e in examples] == ["entailment", "contradiction", "neutral"], text
    examples = nli.read(parse_source(as_source(ds, tmp_path / "cache")), "train")
    assert len(examples) == 3 and examples[0].premise == "a dog runs"
    with pytest.raises(InputError, match=r"has no split 'validation'; its splits are test"):
        nli.read(parse_source(str(folder)), "dev")


def test_a_file_given_as_a_dataset_says_what_to_do(tmp_path):
    (tmp_path / "pairs.tsv").write_text("a\tb\n")
    with pytest.raises(InputError, match="is a file; give a folder written by save_to_disk"):
        open_bitext(InputSpec(hf=str(tmp_path / "pairs.tsv")), "en", "es")
