"""End-to-end ``xladjust align`` against the same steps done naively, side by side.

For each aligner (eflomal; fast_align when its binary is found through ``FAST_ALIGN`` or
PATH), on ``parallel/en-es`` of the data pack (33k pairs):

- ``naive``: what the papers' shell scripts do, one step after the other: Moses-tokenize
  both sides in one process (sacremoses, the same settings), align forward, then reverse
  (``fast_align -d -o -v`` then ``-d -o -v -r`` with fast_align's default threads; eflomal's
  API asked for one direction at a time), then symmetrize (atools when found, else the
  built-in heuristics, as the pipeline does);
- ``xladjust``: the ``xladjust align`` command end to end (validation, tokenization in
  worker processes, both directions at once, symmetrization, writing ``pairs.jsonl`` +
  ``links.pharaoh`` + manifest; work the naive script does not even do).

Every run is a separate process; its wall time and the peak resident memory of its whole
process tree (sampled every 50 ms) are measured from outside, with its CPU time and the
load average when it started: on a CPU shared with other jobs the wall times say little. Runs are interleaved
(naive, xladjust, xladjust, naive, ...) so that load from other processes hits both alike;
the ratio is the median over repeats. Link agreement between the two outputs (Jaccard of
link sets) shows they did the same work (both aligners vary a little from run to run).

    python benchmarks/align.py [--data ../shared/data] [--pairs N] [--repeats 3] [--aligners eflomal,fast_align]

``--speed`` instead times the aligners themselves on the same corpus, end to end through
``xladjust align``: the embedding aligner (the default configuration of the docs, options
after ``--embedding-options``) in sentence pairs per second, against eflomal's wall time
(and fast_align's when found):

    python benchmarks/align.py --speed [--pairs N] [--repeats 1] [--embedding-threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- naive steps
def naive(aligner: str, src: Path, tgt: Path, work: Path, pairs: int | None) -> dict[str, float]:
    """The sequential script; returns step times. Writes work/naive.sym (Pharaoh)."""
    from sacremoses import MosesTokenizer

    times: dict[str, float] = {}
    t = time.perf_counter()
    tok_src, tok_tgt = MosesTokenizer(lang="en"), MosesTokenizer(lang="es")
    with open(src, encoding="utf-8") as fs, open(tgt, encoding="utf-8") as ft, \
            open(work / "joint", "w", encoding="utf-8") as fj, open(work / "src", "w", encoding="utf-8") as fa, \
            open(work / "tgt", "w", encoding="utf-8") as fb:
        for k, (a, b) in enumerate(zip(fs, ft, strict=True)):
            if pairs is not None and k >= pairs:
                break
            ta = tok_src.tokenize(a.strip(), escape=False, return_str=True)
            tb = tok_tgt.tokenize(b.strip(), escape=False, return_str=True)
            if not ta or not tb:
                continue
            fj.write(f"{ta} ||| {tb}\n")
            fa.write(ta + "\n")
            fb.write(tb + "\n")
    times["tokenize"] = time.perf_counter() - t

    for direction in ("forward", "reverse"):
        t = time.perf_counter()
        out = work / f"naive.{direction}"
        if aligner == "fast_align":
            cmd = [os.environ["BENCH_FAST_ALIGN"], "-i", str(work / "joint"), "-d", "-o", "-v"]
            cmd += ["-r"] if direction == "reverse" else []
            with open(out, "w") as f:
                subprocess.run(cmd, stdout=f, stderr=subprocess.DEVNULL, check=True)
        else:
            import eflomal

            with open(work / "src", encoding="utf-8") as a, open(work / "tgt", encoding="utf-8") as b:
                kwargs = {"links_filename_fwd" if direction == "forward" else "links_filename_rev": str(out)}
                eflomal.Aligner().align(a, b, quiet=True, **kwargs)
        times[direction] = time.perf_counter() - t

    t = time.perf_counter()
    atools = os.environ.get("BENCH_ATOOLS")
    if atools:
        with open(work / "naive.sym", "w") as f:
            subprocess.run([atools, "-i", str(work / "naive.forward"), "-j", str(work / "naive.reverse"),
                            "-c", "grow-diag-final-and"], stdout=f, check=True)
    else:
        from xladjust.align.corpus import to_pharaoh
        from xladjust.align.links import parse_pharaoh
        from xladjust.align.symmetrize import symmetrize

        with open(work / "naive.forward") as ff, open(work / "naive.reverse") as fr, open(work / "naive.sym", "w") as f:
            for a, b in zip(ff, fr, strict=True):
                f.write(to_pharaoh(symmetrize(parse_pharaoh(a, "f"), parse_pharaoh(b, "r"), "grow-diag-final-and")) + "\n")
    times["symmetrize"] = time.perf_counter() - t
    return times


# --------------------------------------------------------------------------- measurement
def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (kB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (the whole tree), peak tree memory (MB) and stdout of ``cmd``."""
    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return wall, cpu, peak / 1024, out


def read_links(path: Path) -> list[set[tuple[int, int]]]:
    with open(path) as f:
        return [{tuple(map(int, x.split("-"))) for x in line.split()} for line in f]


def agreement(a: list[set], b: list[set]) -> float:
    inter = sum(len(x & y) for x, y in zip(a, b, strict=True))
    union = sum(len(x | y) for x, y in zip(a, b, strict=True))
    return inter / union if union else 1.0


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("XLADJUST_SHARED_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--pairs", type=int, default=None, help="use the first N pairs (default: all 33,136)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--aligners", default="eflomal,fast_align")
    parser.add_argument("--speed", action="store_true", help="embedding aligner pairs/s against eflomal's wall time")
    parser.add_argument("--embedding-options", default="--layer 6 --method softmax --threshold 0.3 --temperature 0.05",
                        help="options of the embedding aligner under --speed")
    parser.add_argument("--embedding-threads", type=int, default=None, help="torch threads of the embedding aligner")
    parser.add_argument("--run", choices=["naive"], help=argparse.SUPPRESS)
    parser.add_argument("--aligner", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    src, tgt = args.data / "parallel" / "en-es" / "train.en", args.data / "parallel" / "en-es" / "train.es"

    if args.run == "naive":  # a measured child process
        print(json.dumps(naive(args.aligner, src, tgt, args.work, args.pairs)))
        return

    sys.path.insert(0, str(REPO))
    from xladjust.align.config import FastAlignOptions
    from xladjust.align.fast_align import find_atools, find_fast_align
    from xladjust.errors import ExternalToolError

    env = dict(os.environ)
    aligners = [a for a in args.aligners.split(",") if a]
    try:
        fast_align = find_fast_align(FastAlignOptions())
        env["BENCH_FAST_ALIGN"] = str(fast_align)
    except ExternalToolError:
        fast_align = None
        if "fast_align" in aligners:
            print("fast_align not found (set FAST_ALIGN): skipping it")
            aligners.remove("fast_align")
    atools = find_atools(FastAlignOptions())
    if atools is not None:
        env["BENCH_ATOOLS"] = str(atools)
    xladjust = shutil.which("xladjust", path=str(Path(sys.executable).parent)) or "xladjust"
    if args.speed:
        speed(args, xladjust, src, tgt, env, aligners + ["embedding"])
        return
    cores = os.cpu_count() or 1
    n_lines = sum(1 for _ in open(src, "rb"))
    n = min(args.pairs or n_lines, n_lines)
    print(f"align benchmark: parallel/en-es, {n} pairs, {os.cpu_count()} CPUs, repeats {args.repeats}, "
          f"symmetrize grow-diag-final-and with {'atools' if atools else 'the built-in code'}")
    print(f"fast_align: {fast_align or 'not found'}")

    results: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory(prefix="xladjust-align-bench-") as tmp:
        for rep in range(args.repeats):
            for aligner in aligners:
                order = ("naive", "xladjust") if rep % 2 == 0 else ("xladjust", "naive")
                for variant in order:
                    work = Path(tmp) / f"{aligner}-{variant}-{rep}"
                    work.mkdir()
                    if variant == "naive":
                        cmd = [sys.executable, __file__, "--run", "naive", "--aligner", aligner, "--work", str(work),
                               "--data", str(args.data)] + (["--pairs", str(args.pairs)] if args.pairs else [])
                    else:
                        cmd = [xladjust, "-q", "align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src),
                               "--tgt", str(tgt), "--aligner", aligner, "--symmetrize", "grow-diag-final-and",
                               "--out", str(work / "out")] + (["--max-pairs", str(args.pairs)] if args.pairs else [])
                    load = os.getloadavg()[0]
                    wall, cpu, peak, out = measure(cmd, env)
                    r = results.setdefault(aligner, {}).setdefault(variant, [])
                    steps = json.loads(out) if variant == "naive" else json.load(open(work / "out" / "manifest.json"))["timings_s"]
                    r.append({"wall": wall, "cpu": cpu, "peak": peak, "steps": steps, "work": work})
                    print(f"  run {rep + 1} {aligner:<10} {variant:<9} {wall:7.1f} s wall {cpu:7.1f} s CPU  "
                          f"peak {peak:6.0f} MB  load {load:4.1f}  "
                          + " ".join(f"{k}={v:.1f}" for k, v in steps.items()), flush=True)
        print()
        print(f"{'aligner':<11}{'naive s':>9}{'xladjust s':>12}{'ratio':>7}{'runs':>18}{'CPU naive':>11}"
              f"{'CPU ours':>10}{'floor':>7}{'naive MB':>10}{'ours MB':>9}{'agreement':>11}")
        for aligner, r in results.items():
            ratios = [x["wall"] / y["wall"] for x, y in zip(r["xladjust"], r["naive"], strict=True)]
            naive_links = read_links(r["naive"][-1]["work"] / "naive.sym")
            ours = read_links(r["xladjust"][-1]["work"] / "out" / "links.pharaoh")
            agree = agreement(naive_links, ours) if len(naive_links) == len(ours) else float("nan")
            med = {v: {k: statistics.median(x[k] for x in r[v]) for k in ("wall", "cpu")} for v in r}
            print(f"{aligner:<11}{med['naive']['wall']:9.1f}{med['xladjust']['wall']:12.1f}"
                  f"{statistics.median(ratios):7.2f}{' '.join(f'{x:.2f}' for x in ratios):>18}"
                  f"{med['naive']['cpu']:11.1f}{med['xladjust']['cpu']:10.1f}"
                  f"{med['naive']['cpu'] / (cores * med['naive']['wall']):7.2f}"
                  f"{max(x['peak'] for x in r['naive']):10.0f}{max(x['peak'] for x in r['xladjust']):9.0f}"
                  f"{agree:11.3f}")
        print("\nratio = xladjust wall time / naive wall time (median over repeats; target <= 0.7)")
        print(f"floor = naive CPU time / ({cores} cores x naive wall time): the ratio reached if the naive run's own\n"
              "CPU work were spread perfectly over every core. fast_align (OpenMP) and eflomal (parallel samplers)\n"
              "already keep several cores busy in the naive run, so a ratio below the floor needs less work, not\n"
              "more parallelism.")


def speed(args: argparse.Namespace, xladjust: str, src: Path, tgt: Path, env: dict[str, str],
          aligners: list[str]) -> None:
    """Each aligner through ``xladjust align`` on the same pairs: wall time, align-step time, pairs/s."""
    n_lines = sum(1 for _ in open(src, "rb"))
    n = min(args.pairs or n_lines, n_lines)
    print(f"aligner speed: parallel/en-es, {n} pairs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"repeats {args.repeats}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="xladjust-align-speed-") as tmp:
        for rep in range(args.repeats):
            for aligner in aligners:
                out = Path(tmp) / f"{aligner}-{rep}"
                cmd = [xladjust, "-q", "align", "--src-lang", "en", "--tgt-lang", "es", "--src", str(src),
                       "--tgt", str(tgt), "--aligner", aligner, "--symmetrize", "intersect", "--out", str(out)]
                cmd += ["--max-pairs", str(n)]
                if aligner == "embedding":
                    cmd += args.embedding_options.split()
                    if args.embedding_threads:
                        cmd += ["--embedding-threads", str(args.embedding_threads)]
                load = os.getloadavg()[0]
                wall, cpu, peak, _ = measure(cmd, env)
                manifest = json.load(open(out / "manifest.json"))
                pairs = manifest["counts"]["pairs"]
                align_s = manifest["timings_s"]["align"]
                rows.append((aligner, wall, align_s, pairs / align_s, cpu, peak, load))
                print(f"  run {rep + 1} {aligner:<10} {wall:7.1f} s wall, align step {align_s:7.1f} s = "
                      f"{pairs / align_s:7.1f} pairs/s, {cpu:7.1f} s CPU, peak {peak:6.0f} MB, load {load:4.1f}",
                      flush=True)
    print(f"\n{'aligner':<11}{'wall s':>9}{'align s':>9}{'pairs/s':>9}")
    for aligner in aligners:
        mine = [r for r in rows if r[0] == aligner]
        print(f"{aligner:<11}{statistics.median(r[1] for r in mine):9.1f}{statistics.median(r[2] for r in mine):9.1f}"
              f"{statistics.median(r[3] for r in mine):9.1f}")


if __name__ == "__main__":
    main()
