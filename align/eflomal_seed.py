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

The claim is checked before it is made: the library is named by its source and the
machine's architecture (a home shared by machines of two kinds keeps one of each), its
SHA-256 is recorded beside it when it is built and compared before each use (a truncated
or replaced file is rebuilt), and a short child process run with it preloaded must read
the seed's own bytes from ``/dev/urandom``. Where any step fails (no C compiler, no
``LD_PRELOAD``, an unusable cache, a library that does not load) eflomal runs unseeded
and the manifest says so (``deterministic: false`` with the reason).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from xladjust.io import sha256_file
from xladjust.models import cache_dir

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
    """The compiled preload library (built on first use into the cache), checked against
    its recorded hash and verified to seed a child process, or the reason there is none."""
    if not sys.platform.startswith("linux"):
        return SeedShim(None, f"seeding eflomal needs LD_PRELOAD (Linux); this is {sys.platform}")
    if cache is None:
        cache = cache_dir()
    digest = hashlib.sha256(_SOURCE.encode()).hexdigest()[:16]
    library = cache / "eflomal-seed" / f"seed-{digest}-{platform.machine() or 'unknown'}.so"
    try:
        return _checked_or_built(library)
    except OSError as exc:  # a cache that cannot be searched or read
        return SeedShim(None, f"the eflomal seeding library's cache {library.parent} is unusable "
                              f"({exc.strerror or exc})")


def _checked_or_built(library: Path) -> SeedShim:
    """The library at ``library`` after its hash and seeding checks, built (again) when it
    is missing or fails them and a compiler is at hand."""
    if library.is_file():
        problem = _recorded_hash_problem(library)
        if problem is None:
            shim = _verified(library)
            if shim.available or _compiler() is None:
                return shim
            problem = "does not seed a test process"
        log.info("the eflomal seeding library %s %s; building it again", library, problem)
        shim = _build(library)
        if not shim.available:
            return SeedShim(None, f"the cached eflomal seeding library {library} {problem}, and {shim.reason}")
        return _verified(library)
    shim = _build(library)
    return _verified(library) if shim.available else shim


def _hash_record(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def _recorded_hash_problem(library: Path) -> str | None:
    """None when ``library`` has the SHA-256 recorded when it was built, else what is wrong."""
    try:
        recorded = _hash_record(library).read_text(encoding="ascii").strip()
        actual = sha256_file(library)
    except (OSError, UnicodeDecodeError):
        return "has no readable hash record"
    return None if recorded == actual else "differs from the hash recorded when it was built (truncated or replaced?)"


def expected_bytes(seed: int, thread: int = 0, n: int = 8) -> bytes:
    """The first ``n`` bytes the library serves thread ``thread`` for ``seed`` (the same
    splitmix64 stream as its C source), to check that a preloaded run gets them."""
    mask = (1 << 64) - 1
    golden = 0x9E3779B97F4A7C15
    x = (seed * golden + thread + 1) & mask
    out = b""
    while len(out) < n:
        x = (x + golden) & mask
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out += z.to_bytes(8, "little")
    return out[:n]


_PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
f = libc.fopen(b"/dev/urandom", b"rb")
buf = ctypes.create_string_buffer(8)
n = libc.fread(buf, 1, 8, f) if f else 0
sys.stdout.write(buf.raw[:n].hex())
"""
_VERIFY_SEED = 12345
_VERIFIED: dict[str, SeedShim] = {}


def _verified(library: Path) -> SeedShim:
    """``library`` when a child process that preloads it reads the seed's bytes from
    ``/dev/urandom`` (the way eflomal does), else the reason it does not. Checked once per
    library file and process."""
    key = f"{library}:{library.stat().st_mtime_ns}"
    if key in _VERIFIED:
        return _VERIFIED[key]
    shim = SeedShim(library)
    env = {**os.environ, **shim.env(_VERIFY_SEED), "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        got, stderr = done.stdout.strip(), done.stderr
    except (OSError, subprocess.SubprocessError) as exc:
        got, stderr = "", str(exc)
    if got != expected_bytes(_VERIFY_SEED).hex():
        why = " | ".join(line.strip() for line in stderr.strip().splitlines()[-2:] if line.strip())
        shim = SeedShim(None, f"the eflomal seeding library {library} did not seed a test process"
                              + (f" ({why})" if why else " (another architecture, or LD_PRELOAD ignored?)"))
    _VERIFIED[key] = shim
    return shim


def _build(library: Path) -> SeedShim:
    """Compile the library into ``library`` and record its hash, or say why not."""
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

        record = _hash_record(library)
        record_partial = record.with_suffix(f".{os.getpid()}.tmp")
        record_partial.write_text(sha256_file(partial) + "\n", encoding="ascii")
        os.replace(partial, library)
        os.replace(record_partial, record)
    except OSError as exc:
        return SeedShim(None, f"cannot build the eflomal seeding library in {library.parent} ({exc.strerror})")
    finally:
        for path in (source, partial, _hash_record(library).with_suffix(f".{os.getpid()}.tmp")):
            with contextlib.suppress(OSError):
                path.unlink()
    log.info("built the eflomal seeding library %s", library)
    return SeedShim(library)
