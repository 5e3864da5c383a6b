"""Self-training rounds of the embedding aligner on a tiny model: the bookkeeping of
models, aligned corpora and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

from helpers_align import write_small_corpus
from helpers_cli import run_cli

from xladjust.align.config import (
    AlignConfig,
    AlignerSpec,
    EmbeddingOptions,
    InputSpec,
    SelfTrainOptions,
)
from xladjust.align.corpus import check_aligned_corpus
from xladjust.align.selftrain import rounds_dir
from xladjust.io import is_complete


def test_two_rounds_record_each_model_and_corpus(tmp_path, tiny_checkpoints, capsys):
    src, tgt = write_small_corpus(tmp_path)
    model = str(tiny_checkpoints["wordpiece"])
    out = tmp_path / "out"
    code, stdout, err = run_cli(["-q", "align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src),
                                 "--tgt", str(tgt), "--aligner", "embedding", "--model", model, "--layer", "1",
                                 "--embedding-threads", "1", "--workers", "1", "--self-train", "2",
                                 "--self-train-steps", "2", "--out", str(out)], capsys)
    assert code == 0, err
    manifest = check_aligned_corpus(out)
    st = manifest["self_training"]
    rounds = rounds_dir(out)
    assert st["rounds"] == 2 and st["layer"] == 1 and [h["round"] for h in st["history"]] == [0, 1, 2]
    # round r aligns with model r and adjusts it into model r + 1; folder round-r holds model r
    assert st["history"][0]["model"] == model
    assert st["history"][1]["model"] == str(rounds / "round-1" / "model") == st["history"][0]["adjusted"]
    assert st["history"][2]["model"] == str(rounds / "round-2" / "model") == st["history"][1]["adjusted"]
    assert manifest["aligner"]["model"]["spec"] == str(rounds / "round-2" / "model")
    assert not (rounds / "round-0" / "model").exists() and not (rounds / "round-2" / "aligned").exists()
    for r in (0, 1):
        aligned = rounds / f"round-{r}" / "aligned"
        assert check_aligned_corpus(aligned)["aligner"]["model"]["spec"] == st["history"][r]["model"]
        assert st["history"][r]["links"] == check_aligned_corpus(aligned)["counts"]["links"]
        adjusted = rounds / f"round-{r + 1}" / "model"
        assert is_complete(adjusted)
        info = json.loads((adjusted / "xladjust.json").read_text())
        assert json.dumps(info).count("contrastive") >= 1
    assert "aligned corpus:" in stdout


def test_self_training_needs_the_embedding_aligner(tmp_path):
    cfg = AlignConfig("en", "es", tmp_path / "o", input=InputSpec(src=Path("a"), tgt=Path("b")),
                      aligner=AlignerSpec(name="eflomal"), self_train=SelfTrainOptions(rounds=1, lr=0))
    problems = cfg.check()
    assert "self_train.lr must be positive, got 0" in problems
    assert any("self_train.rounds needs the embedding aligner" in p for p in problems)
    ok = AlignConfig("en", "es", tmp_path / "o", input=InputSpec(src=Path("a"), tgt=Path("b")),
                     aligner=AlignerSpec(name="embedding", embedding=EmbeddingOptions()),
                     self_train=SelfTrainOptions(rounds=1))
    assert ok.check() == []


def test_a_model_inside_the_rounds_folder_is_refused_and_kept(tmp_path, tiny_checkpoints, capsys):
    """Continuing from an earlier run's round model with the same --out would adjust later
    rounds into the folder the input model lives in: refused before any round runs."""
    src, tgt = write_small_corpus(tmp_path)
    out = tmp_path / "out"
    common = ["-q", "align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src), "--tgt", str(tgt),
              "--aligner", "embedding", "--layer", "1", "--embedding-threads", "1", "--workers", "1",
              "--self-train-steps", "2", "--out", str(out)]
    code, _, err = run_cli([*common, "--model", str(tiny_checkpoints["wordpiece"]), "--self-train", "2"], capsys)
    assert code == 0, err
    earlier = rounds_dir(out) / "round-1" / "model"
    before = {p.name: p.read_bytes() for p in earlier.iterdir() if p.is_file()}
    code, _, err = run_cli([*common, "--model", str(earlier), "--self-train", "2"], capsys)
    assert code == 2
    assert "lies inside" in err or "contains" in err, err
    assert str(rounds_dir(out)) in err
    assert {p.name: p.read_bytes() for p in earlier.iterdir() if p.is_file()} == before


def test_presets_fill_in_what_a_config_does_not_set():
    from xladjust.align.config import with_preset
    from xladjust.config import build_config

    assert with_preset({}) == {}
    assert with_preset({"preset": "quality"})["self_train"] == {"rounds": 2, "steps": 100}
    own = with_preset({"preset": "quality", "self_train": {"steps": 50}})
    assert own["self_train"] == {"rounds": 2, "steps": 50}  # the config's own key wins
    other = {"preset": "quality", "aligner": {"name": "eflomal"}}
    assert with_preset(other) == other  # a preset applies only to the embedding aligner
    base = {"src_lang": "en", "tgt_lang": "es", "out": "o", "input": {"src": "a", "tgt": "b"}}
    config = build_config(AlignConfig, with_preset({**base, "preset": "quality"}))
    assert config.self_train.rounds == 2 and config.aligner.name == "embedding"
    assert build_config(AlignConfig, with_preset(base)).self_train.rounds == 0
    bad = AlignConfig("en", "es", Path("o"), input=InputSpec(src=Path("a"), tgt=Path("b")), preset="best")
    assert bad.check() == ["preset 'best' is not one of: fast, quality"]


def test_the_cli_default_is_the_embedding_aligner_s_fast_preset(tmp_path, tiny_checkpoints, capsys):
    src, tgt = write_small_corpus(tmp_path)
    out = tmp_path / "out"
    code, _, err = run_cli(["-q", "align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src), "--tgt", str(tgt),
                            "--model", str(tiny_checkpoints["wordpiece"]), "--embedding-threads", "1", "--workers", "1",
                            "--out", str(out)], capsys)
    assert code == 0, err
    manifest = check_aligned_corpus(out)
    options = manifest["aligner"]["options"]
    assert manifest["aligner"]["name"] == "embedding" and "self_training" not in manifest
    assert (options["method"], options["temperature"], options["distortion"]) == ("softmax", 0.03, 0.1)
    code, _, err = run_cli(["align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src), "--tgt", str(tgt),
                            "--preset", "best", "--out", str(out)], capsys)
    assert code == 2 and "'best' is not one of 'fast', 'quality'" in err
