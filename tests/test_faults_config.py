"""Fault injection, config side: hostile YAML through ``xladjust validate`` and the
stages' ``--config``, paths with ``~`` and ``$VAR``, and usage errors of the command line.

Every case asserts the exit status, a single error line, and that the config file (the
input) is unchanged and nothing was written.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers_cli import fail_one_line, run_cli, tree_hashes

from xladjust.config import build_config, expand_path, parse_yaml
from xladjust.errors import ConfigError

BOMB = """kind: adjust
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
"""

HOSTILE = [  # (name, file text, fragment of the one error line)
    ("alias-bomb", BOMB, "aliases expand to more than"),
    ("recursive-alias", "kind: adjust\nout: &a [*a]\n", "aliases expand to more than"),
    ("duplicate-key", "kind: adjust\naligned: [a]\nout: o\nlr: 5e-5\nseed: 1\nlr: 1e-4\n",
     "key 'lr' appears twice (lines 4 and 6)"),
    ("duplicate-nested", "kind: pipeline\nout: o\nadjust:\n  lr: 1\n  lr: 2\n", "key 'lr' appears twice (lines 4 and 5)"),
    ("not-yaml", "kind: adjust\naligned: [a\nout: o\n", "is not valid YAML at line"),
    ("not-a-mapping", "- kind\n- adjust\n", "must hold a mapping"),
    ("not-utf8", b"kind: adjust\nout: \xff\xfe\n", "is not UTF-8 text"),
    ("huge-value", "kind: adjust\naligned: [a]\nout: o\nseed: '" + "9" * 100_000 + "'\n", "expected an integer"),
    ("huge-choice", "kind: adjust\naligned: [a]\nout: o\npooling: " + "x" * 50_000 + "\n", "is not one of"),
    ("unset-variable", "kind: adjust\naligned: [a]\nout: $XLADJUST_SURELY_UNSET/run\n",
     "uses $XLADJUST_SURELY_UNSET, which is not set"),
    ("every-problem", "kind: adjust\naligned: [a]\nout: o\nlr: fast\nseed: abc\nbatch_size: -3\nbogus: 1\n",
     "4 config problems"),
    ("unknown-kind", "kind: nonsense\n", "unknown config kind 'nonsense'"),
]


@pytest.mark.parametrize(("text", "fragment"), [(t, f) for _, t, f in HOSTILE], ids=[n for n, _, _ in HOSTILE])
@pytest.mark.parametrize("how", ["validate", "adjust --config"])
def test_hostile_yaml(how, text, fragment, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text, encoding="utf-8")
    before = tree_hashes(tmp_path)
    if how == "validate":
        args = ["validate", str(config)]
    else:
        if "kind: adjust" not in str(text) and fragment != "is not UTF-8 text" and "kind" in str(text):
            pytest.skip("adjust --config reads adjust configs only")
        args = ["adjust", "--config", str(config), "--device", "cpu"]
    started = time.perf_counter()
    line = fail_one_line(capsys, args, fragment)
    assert time.perf_counter() - started < 30, "a hostile file must be refused quickly (a bomb takes minutes)"
    assert len(line) < 2000, "values echoed into the message are shortened"
    assert tree_hashes(tmp_path) == before, "the config is untouched and nothing was written"


def test_every_problem_is_reported(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("kind: adjust\naligned: [a]\nout: o\nlr: fast\nseed: abc\nbatch_size: -3\nbogus: 1\n",
                      encoding="utf-8")
    line = fail_one_line(capsys, ["validate", str(config)], "config problems")
    for fragment in ("unknown key 'bogus'", "lr: expected a number, got 'fast'", "seed: expected an integer",
                     "batch_size must be a positive integer"):
        assert fragment in line


def test_yaml_12_floats():
    data = parse_yaml("a: 5e-5\nb: 1E3\nc: .5\nd: -2.5e-3\ne: 12\nf: '5e-5'\ng: 1e\nh: .inf\n")
    assert data == {"a": 5e-5, "b": 1000.0, "c": 0.5, "d": -2.5e-3, "e": 12, "f": "5e-5", "g": "1e",
                    "h": float("inf")}
    assert isinstance(data["a"], float) and isinstance(data["e"], int)


def test_lr_5e_5_is_accepted(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"kind: adjust\naligned: [{tmp_path}]\nout: {tmp_path / 'o'}\nlr: 5e-5\n", encoding="utf-8")
    code, out, err = run_cli(["validate", str(config)], capsys)
    assert code == 0, err
    assert "valid AdjustConfig" in out


def test_merge_keys_are_not_duplicates():
    data = parse_yaml("base: &b {lr: 1, seed: 2}\nrun:\n  <<: *b\n  lr: 3\n")
    assert data["run"] == {"lr": 3, "seed": 2}


def test_home_and_variables_in_paths(tmp_path, monkeypatch):
    from xladjust.adjust.config import AdjustConfig

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XLADJUST_TEST_RUNS", str(tmp_path / "runs"))
    cfg = build_config(AdjustConfig, {"aligned": ["~/corpus", "${XLADJUST_TEST_RUNS}/c2"],
                                      "out": "$XLADJUST_TEST_RUNS/adjust"})
    assert cfg.out == tmp_path / "runs" / "adjust"
    assert cfg.aligned == [tmp_path / "home" / "corpus", tmp_path / "runs" / "c2"]
    assert expand_path("~/x") == tmp_path / "home" / "x"
    with pytest.raises(ConfigError, match="XLADJUST_SURELY_UNSET"):
        expand_path("$XLADJUST_SURELY_UNSET/x")


def test_model_spec_and_data_sources_expand_the_same_way(tmp_path, monkeypatch, tiny_checkpoints):
    from xladjust.models import resolve_spec
    from xladjust.tasks.sources import parse_source

    monkeypatch.setenv("XLADJUST_TEST_MODELS", str(Path(tiny_checkpoints["wordpiece"]).parent))
    assert resolve_spec("$XLADJUST_TEST_MODELS/wordpiece") == ("local", str(tiny_checkpoints["wordpiece"]))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_source("~/train.tsv").path == tmp_path / "train.tsv"


# ------------------------------------------------------------------------ usage errors

USAGE = [  # (args, fragment)
    (["adjust", "--no-such-option"], "No such option '--no-such-option'"),
    (["adjust", "--objective", "nope"], "Invalid value for '--objective'"),
    (["align", "--aligner", "nope"], "Invalid value for '--aligner'"),
    (["probe", "--resamples", "many"], "--resamples many: is not an integer"),
    (["embed", "--input"], "requires an argument"),
    (["embed", "--out", "x.npy"], "Missing option '--input'"),
    (["validate"], "Missing argument 'CONFIG'"),
    (["finetune", "--task", "nope"], "Invalid value for '--task'"),
    (["compare", "--out", "x"], "Missing argument 'RUN_DIRS...'"),
    (["no-such-command"], "No such command 'no-such-command'"),
    (["--threads", "0", "validate", "x"], "--threads 0: is out of range"),
]


@pytest.mark.parametrize(("args", "fragment"), USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_errors_are_one_line(args, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = fail_one_line(capsys, args, fragment)
    assert "Usage:" not in line
    assert list(tmp_path.iterdir()) == [], "nothing was written"


@pytest.mark.parametrize("args", [[], ["align"], ["model"]], ids=["xladjust", "align", "model"])
def test_bare_group_shows_its_help_not_an_error(args, capsys):
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert out.startswith("Usage: xladjust") and err == ""
