"""A finished continual fine-tuning run again, with only the continual regularizer's weight changed.

Reads the resolved config a run stored (``xladjust.json``), replaces
``continual.regularizer_weight`` by each value given, fine-tunes once per value (one
thread, no saved model) and prints the test accuracies and the logged gradient norms
beside the original run's. Everything else (data, seed, schedule, the other continual
settings) is the stored run's, so the rows differ in λ alone.

    python benchmarks/continual_weight.py runs/ablations-5k/nli/runs/vanilla-continual/seed-1 \\
        --reg-weights 0.1,0 --out runs/continual-diag
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished fine-tuning run with continual learning")
    parser.add_argument("--reg-weights", required=True, help="comma-separated regularizer weights")
    parser.add_argument("--out", type=Path, required=True, help="where the new runs go (OUT/reg-W)")
    args = parser.parse_args()

    from xladjust.config import build_config
    from xladjust.io import is_complete
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune

    stored = json.loads((args.run / "xladjust.json").read_text(encoding="utf-8"))["signature"]["config"]
    if not stored.get("continual"):
        raise SystemExit(f"continual_weight: error: {args.run} has no continual learning")
    rows = [(f"{stored['continual']['regularizer_weight']:g} (the run)", args.run)]
    for text in args.reg_weights.split(","):
        weight = float(text)
        out = args.out / f"reg-{weight:g}"
        if not is_complete(out):
            data = {**stored, "continual": {**stored["continual"], "regularizer_weight": weight},
                    "out": str(out), "threads": 1, "progress": False, "save_model": False, "resume": False}
            finetune(build_config(FinetuneConfig, data, where=f"regularizer weight {weight:g}"))
        rows.append((f"{weight:g}", out))
    langs = list(_metrics(args.run)["test"])
    print("| continual λ | " + " | ".join(f"test {lang}" for lang in langs) + " | dev | grad norm per log window |")
    print("|---|" + "---:|" * (len(langs) + 2))
    for label, run in rows:
        m = _metrics(run)
        tests = [f"{100 * m['test'][lang]['metrics'][_primary(m)]:.1f}" for lang in langs]
        norms = " / ".join(f"{h['grad_norm']:.2f}" for h in m["train"]["history"] if "grad_norm" in h)
        print(f"| {label} | " + " | ".join(tests) + f" | {100 * m['dev']['metrics'][_primary(m)]:.1f} | {norms} |")


def _metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))


def _primary(m: dict[str, Any]) -> str:
    return str(m["primary_metric"])


if __name__ == "__main__":
    main()
