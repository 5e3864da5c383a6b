"""Seeding eflomal, whose binary has no seed option.

eflomal 2.0's binary (``eflomal/bin/eflomal`` in the pip package) seeds each direction's
random state from 8 bytes of ``/dev/urandom``, read with ``fopen`` inside the OpenMP team
that runs the two directions (thread 0 forward, thread 1 reverse), and runs each
direction's samplers in a nested team. Two things make a run a pure function of its input
and seed:

- a tiny preload library (C source below, compiled once with the system's C compiler into
  the xladjust cache) answers ``fopen("/dev/urandom")`` with bytes derived from
  ``$XLADJUST_EFLOMAL_SEED`` and the OpenMP thread number, so each direction gets its own
  fixed seed; every other ``fopen`` goes to the C library;
- ``OMP_NUM_THREADS=2,1``: the two directions in parallel, each direction's samplers one
  after the other in a fixed order (samplers that run at once update shared counts in an
  order that varies, measured: different links on every run).

Without a C compiler (or on a system without ``LD_PRELOAD``) eflomal runs unseeded and the
manifest says so (``deterministic: false`` with the reason).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SEED_VARIABLE = "XLADJUST_EFLOMAL_SEED"

_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xladjust: answer fopen("/dev/urandom") with bytes fixed by $XLADJUST_EFLOMAL_SEED and
   the OpenMP thread (one per alignment direction); splitmix64 spreads the seed. */
FILE *fopen(const char *path, const char *mode) {
    static FILE *(*real_fopen)(const char *, const char *) = 0;
    if (!real_fopen) real_fopen = (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "fopen");
    const char *seed = getenv("XLADJUST_EFLOMAL_SEED");
    if (seed != 0 && strcmp(path, "/dev/urandom") == 0) {
        unsigned char *buf = malloc(256);
        uint64_t x = strtoull(seed, 0, 10) * 0x9E3779B97F4A7C15ULL + (uint64_t)omp_get_thread_num() + 1;
        for (int k = 0; k < 32; k++) {
            uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            z ^= z >> 31;
            memcpy(buf + 8 * k, &z, 8);
        }
        return fmemopen(buf, 256, "r");
    }
    return real_fopen(path, mode);
}
"""


@dataclass(frozen=True)
class SeedShim:
    """How to run eflomal seeded: extra environment, or why it cannot be."""

    library: Path | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.library is not None

    def env(self, seed: int) -> dict[str, str]:
        if self.library is None:
            return {}
        preload = os.environ.get("LD_PRELOAD")
        return {"LD_PRELOAD": f"{self.library}:{preload}" if preload else str(self.library),
                SEED_VARIABLE: str(seed), "OMP_NUM_THREADS": "2,1"}


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def seed_shim(cache: Path | None = None) -> SeedShim:
    """The compiled preload library (built on first use into the cache), or the reason
    there is none."""
    if not sys.platform.startswith("linux"):
        return SeedShim(None, f"seeding eflomal needs LD_PRELOAD (Linux); this is {sys.platform}")
    if cache is None:
        from xladjust.models import cache_dir

        cache = cache_dir()
    digest = hashlib.sha256(_SOURCE.encode()).hexdigest()[:16]
    library = cache / "eflomal-seed" / f"seed-{digest}.so"
    if library.is_file():
        return SeedShim(library)
    cc = _compiler()
    if cc is None:
        return SeedShim(None, "no C compiler (cc, gcc or clang) to build the seeding library; "
                              "install one (apt-get install gcc) for seeded eflomal runs")
    source = library.with_suffix(f".{os.getpid()}.c")
    partial = library.with_suffix(f".{os.getpid()}.tmp")
    try:
        library.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(_SOURCE, encoding="utf-8")
        done = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-fopenmp", "-o", str(partial), str(source), "-ldl"],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            return SeedShim(None, f"building the eflomal seeding library with {cc} failed: {tail}")
        os.replace(partial, library)
    except OSError as exc:
        return SeedShim(None, f"cannot build the eflomal seeding library in {library.parent} ({exc.strerror})")
    finally:
        for path in (source, partial):
            with contextlib.suppress(OSError):
                path.unlink()
    log.info("built the eflomal seeding library %s", library)
    return SeedShim(library)
