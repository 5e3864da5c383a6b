#!/usr/bin/env python3
"""A STAND-IN for fast_align, for tests only: same command line, same output contract.

It accepts fast_align's options (``-i FILE -d -o -v [-r] [-I N] [-T x] [-a x] [-q x] [-N]
[-p FILE] [-s] ...``), reads ``src ||| tgt`` lines from ``-i`` and writes one Pharaoh
line per input line on stdout, in source-target order in both directions, with
diagnostics (``ITERATION n`` lines) on stderr. It does not learn anything: a target word
(a source word with ``-r``) links to an identical word (ignoring case) of the other side
if there is one, else to the position on the diagonal. Standard library only.

Environment switches for error paths (set with monkeypatch in tests):
``FAKE_FAST_ALIGN_MODE`` = ``fail`` (exit 3 after some stderr), ``fail-reverse`` (fail
only with ``-r``), ``short`` (drop the last line), ``garbage`` (a malformed link),
``range`` (a link past the sentence end); ``FAKE_FAST_ALIGN_SLEEP`` = seconds to sleep;
``FAKE_FAST_ALIGN_LOG`` = a file to append ``start/end`` times and argv to.
"""

from __future__ import annotations

import getopt
import json
import os
import sys
import time


def link_one(word: str, position: int, length: int, other: list[str]) -> int:
    lowered = [w.lower() for w in other]
    if word.lower() in lowered:
        return lowered.index(word.lower())
    return min(len(other) - 1, round(position * len(other) / max(length, 1)))


def main(argv: list[str]) -> int:
    try:
        opts, _ = getopt.getopt(argv, "i:rI:df:m:t:q:T:ova:Np:b:s")
    except getopt.GetoptError as exc:
        print(f"fake fast_align: {exc}", file=sys.stderr)
        return 1
    options = dict(opts)
    if "-i" not in options:
        print("Usage: fast_align -i file.fr-en", file=sys.stderr)
        return 1
    reverse = "-r" in options
    iterations = int(options.get("-I", "5"))
    mode = os.environ.get("FAKE_FAST_ALIGN_MODE", "")
    log = os.environ.get("FAKE_FAST_ALIGN_LOG")
    start = time.time()
    time.sleep(float(os.environ.get("FAKE_FAST_ALIGN_SLEEP", "0")))
    for k in range(iterations):
        print(f"ITERATION {k + 1}{' (FINAL)' if k == iterations - 1 else ''}", file=sys.stderr)
    if mode == "fail" or (mode == "fail-reverse" and reverse):
        print("ARG=i", file=sys.stderr)
        print("Can't read the corpus: simulated failure", file=sys.stderr)
        return 3
    try:
        with open(options["-i"], encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        print(f"Can't read {options['-i']}", file=sys.stderr)
        return 1
    out = []
    for line in lines:
        src_text, _, tgt_text = line.partition(" ||| ")
        src, tgt = src_text.split(), tgt_text.split()
        if reverse:
            links = [(i, link_one(w, i, len(src), tgt)) for i, w in enumerate(src)]
        else:
            links = [(link_one(w, j, len(tgt), src), j) for j, w in enumerate(tgt)]
        out.append(" ".join(f"{i}-{j}" for i, j in links))
    if mode == "short":
        out = out[:-1]
    elif mode == "garbage" and out:
        out[0] = "0-0 x-1"
    elif mode == "range" and out:
        out[0] = "0-999"
    sys.stdout.write("".join(line + "\n" for line in out))
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"argv": argv, "start": start, "end": time.time()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
