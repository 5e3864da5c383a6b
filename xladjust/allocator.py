"""How a process gives freed memory back to the system (glibc's malloc, Linux).

torch takes CPU tensor memory from malloc. glibc's malloc serves an allocation above its
mmap threshold with a mapping of its own, returned to the system when freed, and smaller
ones from its heap, which keeps freed memory for reuse. The threshold adapts: each time
a mapped block is freed it rises to that block's size (up to 32 MiB on 64-bit systems),
so after the first training steps most activation tensors come from the heap, and the
freed gaps between live tensors stay resident. Measured on the adjust loop (reference
settings, 2,000 pairs, 1 thread): peak RSS 3.66 GB, of which malloc held 1.77 GB live
and 0.9 GB free in its heap.

``compact`` fixes the threshold at :data:`COMPACT_THRESHOLD`: every tensor of that size
or more is mapped on allocation and unmapped when freed, so resident memory follows what
is live (same run: 2.63 GB), at the cost of zeroing fresh pages for every such tensor
(same run: about 40% slower; ``benchmarks/adjust.py`` measures both). It is process-wide
and stays in force for the rest of the process. Elsewhere (macOS, Windows, musl) it does
nothing and says so.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

COMPACT_THRESHOLD = 128 * 1024  # bytes: glibc's initial threshold, held fixed
_M_MMAP_THRESHOLD = -3  # mallopt parameter number (malloc.h)


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
    except (OSError, AttributeError):
        return None
    return libc


def use_compact_allocator() -> bool:
    """Fix glibc's mmap threshold at :data:`COMPACT_THRESHOLD` (see module doc); return
    whether it took effect."""
    libc = _glibc()
    if libc is None or libc.mallopt(_M_MMAP_THRESHOLD, COMPACT_THRESHOLD) != 1:
        log.warning("allocator: compact needs glibc's malloc (Linux); the default allocator stays")
        return False
    log.info("allocator: compact (tensors of %d KiB or more are returned to the system when freed)",
             COMPACT_THRESHOLD // 1024)
    return True
