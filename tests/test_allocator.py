"""The compact allocator: freed tensor memory goes back to the system (glibc only)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xladjust.allocator import _glibc

pytestmark = pytest.mark.skipif(_glibc() is None, reason="needs glibc's malloc")

# In a fresh process: free a 16 MiB tensor (glibc then raises its mmap threshold to 16 MiB),
# allocate 1 MiB and print whether malloc mapped it (its mapped bytes grew by >= 1 MiB).
_PROBE = """
import ctypes, sys
import torch
from xladjust.allocator import use_compact_allocator
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "compact":
    assert use_compact_allocator()
big = torch.empty(4 << 20, dtype=torch.float32)
del big
before = libc.mallinfo2().hblkhd
small = torch.ones(256 << 10, dtype=torch.float32)
print(libc.mallinfo2().hblkhd - before >= (1 << 20))
"""


def _mapped(mode: str) -> bool:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def test_compact_allocator_maps_tensors_the_default_would_keep_in_the_heap():
    assert not _mapped("default")  # the threshold adapted upward: the tensor came from the heap
    assert _mapped("compact")  # held at 128 KiB: mapped, so it is unmapped when freed


def test_allocator_option_is_run_control_and_checked(tmp_path):
    from xladjust.adjust.config import RUN_CONTROL_KEYS, AdjustConfig, Allocator
    from xladjust.config import build_config
    from xladjust.errors import ConfigError

    assert "allocator" in RUN_CONTROL_KEYS  # no effect on the result: a resume may change it
    config = build_config(AdjustConfig, {"aligned": [str(tmp_path)], "out": str(tmp_path / "o"), "allocator": "compact"})
    assert config.allocator is Allocator.COMPACT
    with pytest.raises(ConfigError, match="allocator"):
        build_config(AdjustConfig, {"aligned": [str(tmp_path)], "out": str(tmp_path / "o"), "allocator": "tiny"})


def test_compact_allocator_without_glibc_keeps_the_default_and_says_so(monkeypatch, caplog):
    import xladjust.allocator as allocator

    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    with caplog.at_level("WARNING", logger="xladjust.allocator"):
        assert allocator.use_compact_allocator() is False
    assert "default allocator stays" in caplog.text
