"""The core install runs embed, align and adjust; a command that needs an extra that is
missing stops with one line naming the pip install."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_adjust import write_sample_corpus

from xladjust.extras import EXTRAS
from xladjust.stages import STAGES

REPO = Path(__file__).resolve().parents[1]
NOT_IN_CORE = sorted({module for modules in EXTRAS.values() for module in modules})

# what a core-only install looks like from inside Python: every extra's module missing
RUN_WITHOUT_EXTRAS = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # 'import name' now fails as if it were not installed
from xladjust.cli import main
main(sys.argv[1:])
"""


def run_core_only(*args: str) -> subprocess.CompletedProcess:
    code = RUN_WITHOUT_EXTRAS.format(blocked=NOT_IN_CORE)
    return subprocess.run([sys.executable, "-c", code, "-q", *args], capture_output=True, text=True, timeout=600)


def test_the_extras_table_is_pyprojects():
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        assert sorted(re.split(r"[<>=]", dep)[0] for dep in extras[extra]) == sorted(modules.values()), extra
    assert all(set(e.extras) <= set(EXTRAS) for e in STAGES.values())
    core = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert not {re.split(r"[<>=]", dep)[0] for dep in core} & {d for m in EXTRAS.values() for d in m.values()}


@pytest.mark.slow
def test_embed_and_adjust_run_on_the_core_install(tiny_checkpoints, tmp_path):
    model = tiny_checkpoints["unigram"]
    text = tmp_path / "tokens.txt"
    text.write_text("the house is big\nla casa es grande\n", encoding="utf-8")
    done = run_core_only("embed", "--model", str(model), "--input", str(text), "--out", str(tmp_path / "v.npy"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "v.npy").stat().st_size > 0
    corpus = write_sample_corpus(tmp_path / "corpus", repeat=4)
    out = tmp_path / "adjusted"
    done = run_core_only("adjust", "--model", str(model), "--aligned", str(corpus), "--max-steps", "2",
                         "--batch-size", "4", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / ".complete").is_file() and (out / "model.safetensors").is_file()
    assert not (out / "modules.json").exists()  # no sentence-transformers files without the hub extra


@pytest.mark.parametrize(("command", "extra"), [("probe", "probes"), ("transfer", "tasks"), ("compare", "report")])
def test_a_command_without_its_extra_says_what_to_install(command, extra, tiny_checkpoints, tmp_path):
    args = {
        "probe": ["--model", f"m={tiny_checkpoints['unigram']}", "--bitext", str(tmp_path), "--out", str(tmp_path / "o")],
        "transfer": ["--task", "nli", "--model", f"m={tiny_checkpoints['unigram']}", "--seeds", "1",
                     "--train", str(tmp_path / "t.tsv"), "--out", str(tmp_path / "o")],
        "compare": [str(tmp_path), "--out", str(tmp_path / "o")],
    }[command]
    done = run_core_only(command, *args)
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith(f"xladjust: error: xladjust {command} needs ") and f"xladjust[{extra}]" in lines[0]
    assert not (tmp_path / "o").exists()
    help_text = run_core_only(command, "--help")  # help needs no extra
    assert help_text.returncode == 0 and "Usage:" in help_text.stdout
