"""A full probe of one checkpoint on FLORES devtest for four languages, timed.

One ``run_probes`` call with the default settings (word layers: last; Tatoeba: all layers)
on FLORES devtest en-es, en-ru, en-vi and en-hi (aligned with eflomal together with extra
parallel text, see tests/helpers_probes.py; built once and cached under --work) and the
four Tatoeba sets. Printed side by side from the same run:

  wall time, time inside the model's forward passes (hooks on the model), and the share
  of wall time outside them (target: under 25%), with and without model loading;
  the breakdown outside the forward passes (load, tokenize + pool, probes, writing);
  peak resident memory.

    python benchmarks/probe.py [--data ../shared/data] [--work /tmp/xladjust-bench-probe]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

from xladjust.config import build_config
from xladjust.io import read_json
from xladjust.models import OFFLINE_SPEC
from xladjust.probes.config import ProbeConfig
from xladjust.probes.run import run_probes

REPO = Path(__file__).resolve().parents[1]
LANGS = ("es", "ru", "vi", "hi")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_bitexts(data: Path, work: Path, langs: tuple[str, ...]) -> dict[str, Path]:
    sys.path.insert(0, str(REPO / "tests"))
    from helpers_probes import build_flores_bitext

    out = {}
    for lang in langs:
        path = work / f"flores-en-{lang}"
        if not (path / ".complete").exists():
            start = time.perf_counter()
            build_flores_bitext(data, lang, path)
            print(f"aligned FLORES en-{lang} with eflomal in {time.perf_counter() - start:.0f} s (cached in {path})")
        out[lang] = path
    return out


def main() -> None:
    default_data = Path(os.environ.get("XLADJUST_SHARED_DATA", REPO.parent / "shared" / "data"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--work", type=Path, default=Path("/tmp/xladjust-bench-probe"))
    parser.add_argument("--model", default=OFFLINE_SPEC)
    parser.add_argument("--langs", default=",".join(LANGS))
    parser.add_argument("--layers", default="last")
    parser.add_argument("--fp32", action="store_true", help="forward passes in fp32 instead of bf16 autocast")
    args = parser.parse_args()

    langs = tuple(args.langs.split(","))
    bitexts = ensure_bitexts(args.data, args.work, langs)
    config = build_config(ProbeConfig, {
        "models": [{"name": "vanilla", "spec": args.model}],
        "bitexts": [{"path": str(bitexts[lang])} for lang in langs],
        "tatoeba": str(args.data / "tatoeba" / "tatoeba"),
        "layers": args.layers,
        "bf16": not args.fp32,
        "out": str(args.work / "run"),
    })
    rss_before = peak_rss_mib()
    start = time.perf_counter()
    out = run_probes(config, overwrite=True)  # the benchmark's own scratch run
    wall = time.perf_counter() - start
    summary = read_json(out / "summary.json")
    ckpt = summary["checkpoints"]["vanilla"]
    timing = ckpt["timing"]
    forward, load = timing["forward"], timing["load"]
    writing = wall - summary["timing"]["results"]
    outside = wall - forward

    print(f"\nfull probe of {args.model} on FLORES devtest {', '.join(f'en-{x}' for x in langs)} "
          f"+ Tatoeba ({'fp32' if args.fp32 else 'bf16 autocast'}, word layers {args.layers}, Tatoeba all layers)")
    print(f"  wall time                    {wall:8.1f} s")
    print(f"  forward passes               {forward:8.1f} s  ({timing['forward_calls']} batches)")
    print(f"  outside forward passes       {outside:8.1f} s  = {100 * outside / wall:5.1f}% of wall (target < 25%)")
    print(f"  ... excluding model loading  {outside - load:8.1f} s  = "
          f"{100 * (outside - load) / (wall - load):5.1f}% of wall without loading")
    print("  breakdown outside forward:")
    print(f"    model load + hashing       {load:8.1f} s")
    print(f"    inputs, triples, checks    {summary['timing']['inputs']:8.1f} s")
    print(f"    tokenize + pool            {timing['embedding_outside_forward']:8.1f} s")
    print(f"    probes (distances, bootstrap, retrieval) {timing['probes']:6.1f} s")
    print(f"    writing CSV, plots, report {writing:8.1f} s")
    other = outside - load - summary["timing"]["inputs"] - timing["embedding_outside_forward"] - timing["probes"] - writing
    print(f"    other                      {other:8.1f} s")
    print(f"  peak resident memory         {peak_rss_mib():8.0f} MiB (before the run: {rss_before:.0f} MiB)")
    print("\nbaseline figures (cosine distance at the last layer; retrieval P@1 mean of both directions):")
    print(f"  {'lang':5} {'d(w,r)':>7} {'d(w,u)':>7} {'Δ':>7} {'Δ>0':>6} {'P@1 cos':>8} {'P@1 CSLS':>9} "
          f"{'Tatoeba best (layer)':>21} {'triples':>8}")
    for b in summary["inputs"]["bitexts"]:
        res = ckpt["results"][b["name"]]
        dist = res["distances"]["metrics"]
        top = dist["by_layer"][str(dist["primary_layer"])]["cosine"]
        words = res["word-retrieval"]["metrics"]
        tat = ckpt["results"].get(f"tatoeba-{b['tgt_lang']}", {}).get("sentence-retrieval", {}).get("metrics")
        tat_text = f"{100 * tat['best_accuracy']:.1f}% ({tat['best_layer']})" if tat else "–"
        print(f"  {b['tgt_lang']:5} {top['mean_related']:7.3f} {top['mean_unrelated']:7.3f} {top['mean_delta']:7.3f} "
              f"{100 * top['share_delta_positive']:5.1f}% {100 * words['p_at_1_cosine']:7.1f}% "
              f"{100 * words['p_at_1_csls']:8.1f}% {tat_text:>21} {dist['n_triples']:8d}")
    print(f"\nreport: {out / 'report.md'}")


if __name__ == "__main__":
    main()
