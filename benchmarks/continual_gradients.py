"""Why the continual-learning arm stays at chance: the gradient norm each fine-tuning sees.

Runs the first steps of two fine-tunings of a finished transfer run with its own resolved
config (an arm without continual learning and the continual arm, same seed) and prints
the gradient norm before clipping, logged every step, beside the clipping threshold
(``max_grad_norm`` 1.0 in ``xladjust.tasks.training``). Clipping scales the whole gradient,
so when the continual term's gradient dominates the norm, the task's share of each update
shrinks by about the ratio of the norms.

    python benchmarks/continual_gradients.py runs/efimov2022-offline/transfer-nli --steps 8
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("transfer", type=Path, help="a finished transfer run directory")
    parser.add_argument("--arms", default="adjusted,adjusted-continual", help="two arm names, comma separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()

    from xladjust.config import build_config
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune, read_run

    print(f"transfer run {args.transfer}, seed {args.seed}, first {args.steps} steps, max_grad_norm 1.0")
    print("| arm | step | loss (total) | task loss | grad norm before clipping | clip factor min(1, 1/norm) |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for arm in args.arms.split(","):
            stored = json.loads((args.transfer / "runs" / arm / f"seed-{args.seed}" / "xladjust.json")
                                .read_text(encoding="utf-8"))["signature"]["config"]
            stored.update(out=str(Path(tmp) / arm), max_steps=args.steps, eval_every=1, save_model=False,
                          test={}, progress=False, resume=False, checkpoint_every=None)
            cfg = build_config(FinetuneConfig, stored, where=arm)
            finetune(cfg)
            for h in read_run(Path(tmp) / arm)["train"]["history"]:
                extra = h.get("align", 0.0) * (cfg.continual.weight if cfg.continual else 0.0) + \
                    h.get("reg", 0.0) * (cfg.continual.regularizer_weight if cfg.continual else 0.0)
                task = h["loss"] - extra
                share = min(1.0, 1.0 / h["grad_norm"])  # every term of the update is scaled by it
                print(f"| {arm} | {h['step']} | {h['loss']:.3f} | {task:.3f} | {h['grad_norm']:.2f} | ×{share:.2f} |")


if __name__ == "__main__":
    main()
