"""``xladjust --help`` and every ``xladjust SUBCOMMAND --help`` import no torch: each runs
in its own process under ``python -X importtime``, whose report names every module the
process imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xladjust.cli import cli
from xladjust.cli.vocab import walk

COMMANDS = [path.split()[1:] for path, _ in walk(cli)]
HEAVY = ("torch", "transformers", "accelerate")


def imported_modules(args: list[str]) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "xladjust", *args, "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage: xladjust" in proc.stdout
    return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def test_every_command_is_checked():
    assert ["adjust"] in COMMANDS and ["align", "evaluate"] in COMMANDS and [] in COMMANDS
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "xladjust")
def test_help_imports_no_heavy_library(args):
    modules = imported_modules(args)
    assert "xladjust.cli" in modules  # the report is read
    assert not {m for m in modules if m.split(".")[0] in HEAVY}, f"xladjust {' '.join(args)} --help imports them"


def test_the_check_sees_torch_when_it_is_imported():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import torch"],
                          capture_output=True, text=True, timeout=120)
    assert any(line.rsplit("|", 1)[1].strip() == "torch" for line in proc.stderr.splitlines()
               if line.startswith("import time:"))
