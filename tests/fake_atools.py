#!/usr/bin/env python3
"""A STAND-IN for fast_align's atools, for tests only: ``-i A -j B -c intersect|union``.

Only the two set operations are implemented (with its own code, not xladjust's), enough to
test the atools path of the pipeline; other commands fail as atools does. Output: one
Pharaoh line per input line, links sorted. ``FAKE_ATOOLS_MODE=fail`` makes it abort.
Standard library only.
"""

from __future__ import annotations

import getopt
import os
import sys


def read(path: str) -> list[set[tuple[int, int]]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            rows.append({tuple(int(x) for x in item.split("-")) for item in line.split()})
    return rows


def main(argv: list[str]) -> int:
    opts, _ = getopt.getopt(argv, "i:j:c:")
    options = dict(opts)
    command = options.get("-c", "")
    if os.environ.get("FAKE_ATOOLS_MODE") == "fail":
        print("BAD ALIGNMENT: simulated failure", file=sys.stderr)
        return 134
    if command not in ("intersect", "union"):
        print(f"Don't understand command: {command}", file=sys.stderr)
        return 1
    a, b = read(options["-i"]), read(options["-j"])
    for x, y in zip(a, b, strict=True):
        links = x & y if command == "intersect" else x | y
        print(" ".join(f"{i}-{j}" for i, j in sorted(links)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
