"""Speed and memory of the adjust loop against a straightforward L2 implementation, in one run.

All arms train the offline model with the l2 objective on the same en-es sentence pairs
(the first ``--pairs`` lines of the data pack's en-es training text, aligned with eflomal,
intersection), one epoch, learning rate 5e-5:

- ``straightforward``: the project's own direct implementation, which follows the design of
  the public reference code (Efimov et al.'s alignment script) and stands in for it: 32 pairs
  per optimizer step in sub-batches of 4 padded to their longest sentence, a frozen copy of
  the model run on the English side every sub-batch (under no_grad), fp32, a dense Adam
  update of every parameter (betas 0.9/0.98, eps 1e-9, warmup over 10% of the steps, then
  constant), target words pulled toward the trainable English vectors plus the English
  drift from the frozen ones (λ = 1), [CLS]/[SEP] aligned as words, words pooled with
  tensor operations;
- ``reference settings``: ``xladjust adjust`` with the reference's settings (the same
  objective, batch, optimizer, schedule, dense embedding updates, no clipping; its own
  choices otherwise: bf16 autocast where the CPU has it, frozen targets cached once,
  length-bucketed batches);
- ``defaults``: ``xladjust adjust`` with its defaults (frozen partner, sparse
  embedding-row updates, AdamW, clipping at 1, batch 16);
- memory options on the defaults: gradient checkpointing, a smaller token budget per
  micro-batch, and torch's other Adam kernels (``loop``: one tensor at a time; ``foreach``);
- the compact allocator (freed tensor memory goes back to the system, :mod:`xladjust.allocator`)
  on the defaults and on the reference settings: the same math, less resident memory;
- ``model alone``: the ceiling of any loop around this model. The set-up of the defaults or
  of the reference settings (the same pairs, frozen pass, micro-batches, dropout and
  embedding gradients), then only the encoder's forward and backward over each step's
  micro-batches (a sum of squared hidden states as the loss): no pooling, objective,
  optimizer, clipping or bookkeeping. ``model alone, pure bf16`` does the same
  with the encoder's weights in bf16 and no autocast (no casts; a different precision, so
  only a bound, never a training setting). A speed target above these arms' ratios is out
  of reach of the loop on this machine, whatever the loop does.

Each arm runs in its own process, one after another, so its peak RSS (``ru_maxrss``) is its
own; pairs/s counts all training work of a run, the frozen English pass included. Also
measured in the same run at the same thread count: the fp32 and bf16 matmul rates, and the
adjust loop's achieved FLOP rate (6 · non-embedding parameters per trained subword,
2 · per subword of the frozen pass; attention score FLOPs left out).

    python benchmarks/adjust.py               # 2,000 pairs, 1 thread: the acceptance run
    python benchmarks/adjust.py --quick       # 256 pairs, for a quick look
    python benchmarks/adjust.py --pairs 500 --threads 2 --arms straightforward,reference,defaults
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from xladjust.adjust.config import REFERENCE_PRESET  # noqa: E402

# xladjust config of each arm (on top of the corpus, out and run-control settings); the
# reference arm is the project's one definition of the reference code's settings
REFERENCE_SETTINGS = dict(REFERENCE_PRESET)
LR = REFERENCE_SETTINGS["lr"]
REF_BATCH, REF_SPLIT = REFERENCE_SETTINGS["batch_size"], 4  # the reference's batch and the sub-batches it is cut into
REF_BETAS = (REFERENCE_SETTINGS["adam_beta1"], REFERENCE_SETTINGS["adam_beta2"])
REF_EPS, REF_WARMUP = REFERENCE_SETTINGS["adam_eps"], REFERENCE_SETTINGS["warmup_ratio"]
DEFAULTS: dict = {"objective": "l2"}
ARMS = {
    "reference": ("reference settings", REFERENCE_SETTINGS),
    "defaults": ("defaults", DEFAULTS),
    "checkpointing": ("defaults + gradient checkpointing", {**DEFAULTS, "gradient_checkpointing": True}),
    "budget": ("defaults + max_tokens 2048", {**DEFAULTS, "max_tokens": 2048}),
    "loop": ("defaults + optimizer_kernel loop", {**DEFAULTS, "optimizer_kernel": "loop"}),
    "foreach": ("defaults + optimizer_kernel foreach", {**DEFAULTS, "optimizer_kernel": "foreach"}),
    "compact": ("defaults + allocator compact", {**DEFAULTS, "allocator": "compact"}),
    "reference-compact": ("reference settings + allocator compact", {**REFERENCE_SETTINGS, "allocator": "compact"}),
}
# upper bounds of the loop (see module doc): arm -> (label, the adjust arm whose set-up it takes, pure bf16)
CEILINGS = {
    "model-alone": ("model alone, defaults' batches", "defaults", False),
    "model-alone-bf16": ("model alone, defaults' batches, pure bf16", "defaults", True),
    "reference-alone": ("model alone, reference's batches", "reference", False),
    "reference-alone-bf16": ("model alone, reference's batches, pure bf16", "reference", True),
}
ALL_ARMS = ["straightforward", *ARMS, *CEILINGS]
TARGETS = {"reference_speed": 10.0, "reference_memory": 0.5, "defaults_speed": 15.0, "defaults_gb": 3.0,
           "flop_share": 0.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000, help="first N en-es pairs, one epoch (default 2000)")
    parser.add_argument("--quick", action="store_true", help="256 pairs (unless --pairs is given)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every arm (default 1)")
    parser.add_argument("--arms", default=",".join(ALL_ARMS), help=f"comma-separated subset of {','.join(ALL_ARMS)}")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("XLADJUST_SHARED_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--work", type=Path, default=None, help="scratch directory; the aligned corpus is reused")
    args = parser.parse_args()
    if args.quick and "--pairs" not in sys.argv:
        args.pairs = 256
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ALL_ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ALL_ARMS)}")

    work = args.work or Path(tempfile.mkdtemp(prefix="xladjust-bench-"))
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    corpus = prepare_corpus(args.data, work, args.pairs)
    ctx = mp.get_context("spawn")
    load = os.getloadavg()[0]
    print(f"adjust benchmark: offline model, first {args.pairs} en-es pairs (eflomal intersect), one epoch, "
          f"{args.threads} thread(s), load average {load:.1f} at start")
    rates = run_child(ctx, measure_matmul, args.threads)
    print(f"matmul 2048x2048 at {args.threads} thread(s): fp32 {rates['fp32'] / 1e9:.1f} GFLOP/s, "
          f"bf16 {rates['bf16'] / 1e9:.1f} GFLOP/s")
    results: dict[str, dict] = {}
    for arm in arms:
        started = time.perf_counter()
        if arm == "straightforward":
            results[arm] = run_child(ctx, run_straightforward, args.threads, str(corpus))
        elif arm in CEILINGS:
            _, like, pure = CEILINGS[arm]
            results[arm] = run_child(ctx, run_model_alone, args.threads, str(corpus), str(work / f"run-{arm}"),
                                     ARMS[like][1], pure)
        else:
            results[arm] = run_child(ctx, run_adjust, args.threads, str(corpus), str(work / f"run-{arm}"), ARMS[arm][1])
        r = results[arm]
        print(f"  {arm}: {r['pairs_per_s']:.2f} pairs/s, peak {r['peak_mb']:.0f} MB "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    report(results, rates, load, os.getloadavg()[0])


def report(results: dict[str, dict], rates: dict[str, float], load_start: float, load_end: float) -> None:
    base = results.get("straightforward")
    print()
    print(f"{'arm':<38}{'pairs/s':>9}{'vs s.f.':>9}{'peak MB':>9}{'vs s.f.':>9}{'train s':>9}{'frozen s':>9}"
          f"{'GFLOP/s':>9}{'% bf16':>8}")
    for arm, r in results.items():
        name = "straightforward (reference design)" if arm == "straightforward" else _label(arm)
        speed = f"{r['pairs_per_s'] / base['pairs_per_s']:.2f}x" if base else "-"
        memory = f"{r['peak_mb'] / base['peak_mb']:.2f}x" if base else "-"
        achieved = r["flops"] / r["seconds"]
        print(f"{name:<38}{r['pairs_per_s']:>9.2f}{speed:>9}{r['peak_mb']:>9.0f}{memory:>9}"
              f"{r['train_seconds']:>9.1f}{r.get('targets_seconds', 0.0):>9.1f}{achieved / 1e9:>9.1f}"
              f"{100 * achieved / rates['bf16']:>7.0f}%")
    print()
    checks = []
    for arm, label, speed_target, memory in (("reference", "reference settings", "reference_speed", "ratio"),
                                             ("defaults", "defaults", "defaults_speed", "gb"),
                                             ("reference-compact", "reference settings + compact", "reference_speed",
                                              "ratio"),  # the same settings and math, another allocator
                                             ("compact", "defaults + compact", "defaults_speed", "gb")):
        r = results.get(arm)
        if r is None:
            continue
        if base:
            checks.append((f"{label}: pairs/s vs straightforward", r["pairs_per_s"] / base["pairs_per_s"],
                           TARGETS[speed_target], ">="))
        if memory == "gb":
            checks.append((f"{label}: peak RSS in GB", r["peak_mb"] / 1024, TARGETS["defaults_gb"], "<="))
        elif base:
            checks.append((f"{label}: peak RSS vs straightforward", r["peak_mb"] / base["peak_mb"],
                           TARGETS["reference_memory"], "<="))
    for arm in ("defaults", "reference"):
        if arm in results:
            r = results[arm]
            checks.append((f"{ARMS[arm][0]}: loop FLOP rate / bf16 matmul rate", r["flops"] / r["seconds"] / rates["bf16"],
                           TARGETS["flop_share"], ">="))
    for label, value, target, sense in checks:
        met = value >= target if sense == ">=" else value <= target
        print(f"{label:<58}{value:>8.2f}  target {sense} {target:<5} {'met' if met else 'NOT met'}")
    for arm, (label, like, _) in CEILINGS.items():  # upper bounds: no loop around the model beats its own passes
        r = results.get(arm)
        if r is None:
            continue
        speed = f"{r['pairs_per_s'] / base['pairs_per_s']:.2f}x straightforward, " if base else ""
        loop = (f"; the {ARMS[like][0]} loop runs at {results[like]['pairs_per_s'] / r['pairs_per_s']:.2f} of it"
                if like in results else "")
        print(f"ceiling, {label}: {speed}{r['flops'] / r['seconds'] / rates['bf16']:.2f} of the bf16 rate{loop}")
    print(f"load average: {load_start:.1f} at start, {load_end:.1f} at end (2 cores shared: ratios are noisy)")


def _label(arm: str) -> str:
    return CEILINGS[arm][0] if arm in CEILINGS else ARMS[arm][0]


def prepare_corpus(data: Path, work: Path, pairs: int) -> Path:
    """The first ``pairs`` lines of the en-es training text as an aligned corpus (cached)."""
    from helpers_adjust import align_parallel, read_lines

    target = work / f"corpus-{pairs}"
    if (target / ".complete").exists():
        return target
    en = read_lines(data / "parallel" / "en-es" / "train.en", pairs)
    es = read_lines(data / "parallel" / "en-es" / "train.es", pairs)
    return align_parallel(en, es, "en", "es", {f"corpus-{pairs}": (0, pairs)}, work)[f"corpus-{pairs}"]


def run_child(ctx, fn, threads, *args):
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, threads, args))
    proc.start()
    result = queue.get()
    proc.join()
    if isinstance(result, BaseException):
        raise result
    return result


def _child(queue, fn, threads, args) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
        result = fn(*args)
        if isinstance(result, dict):
            result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put(result)
    except BaseException as exc:  # noqa: BLE001 - reported in the parent
        queue.put(RuntimeError(f"{fn.__name__} failed: {exc!r}"))


def measure_matmul() -> dict[str, float]:
    import torch

    out = {}
    n = 2048
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        a @ b
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        out[name] = 2 * n**3 / best
    return out


def non_embedding_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()


def saved_non_embedding_parameters(checkpoint: Path) -> int:
    """Parameters of a saved encoder minus its word-embedding matrix, from the safetensors
    header: loading the weights again would add to the peak RSS being measured."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        for key in f.keys():
            if not key.endswith("word_embeddings.weight"):
                total += math.prod(f.get_slice(key).get_shape())
    return total


def run_adjust(corpus: str, out: str, settings: dict) -> dict:
    from xladjust.adjust import AdjustConfig, adjust
    from xladjust.config import build_config
    from xladjust.io import read_json

    config = build_config(AdjustConfig, {
        **settings, "aligned": [corpus], "out": out, "overwrite": True, "progress": False, "checkpoint_every": None,
    })
    adjust(config)
    manifest = read_json(Path(out) / "xladjust.json")
    metrics = manifest["metrics"]
    n_params = saved_non_embedding_parameters(Path(out))
    trained = metrics["tokens_seen"]
    frozen = metrics.get("frozen_tokens", 0)
    seconds = metrics["train_seconds"] + metrics["targets_seconds"]
    return {"pairs_per_s": metrics["pairs_per_s"], "train_seconds": metrics["train_seconds"],
            "targets_seconds": metrics["targets_seconds"], "seconds": seconds, "pairs": metrics["pairs_seen"],
            "flops": 6 * n_params * trained + 2 * n_params * frozen, "precision": manifest["training"]["mixed_precision"]}


def run_model_alone(corpus: str, out: str, settings: dict, pure_bf16: bool) -> dict:
    """The encoder's forward and backward over the micro-batches of an adjust run with
    ``settings``, nothing else (see module doc): the time any loop around this model needs
    at least. Nothing is written to ``out``."""
    import torch

    from xladjust.adjust import AdjustConfig
    from xladjust.adjust.batching import collate_pairs
    from xladjust.adjust.dataset import scan_corpora
    from xladjust.adjust.forward import hidden_states
    from xladjust.adjust.run import make_accelerator, set_up
    from xladjust.config import build_config
    from xladjust.training_common import training_attention

    config = build_config(AdjustConfig, {**settings, "aligned": [corpus], "out": out, "progress": False})
    accelerator = make_accelerator(config)
    setup = set_up(config, accelerator, scan_corpora(config))
    loop = setup.loop
    encoder, layer, num_layers = loop.encoder, loop.module.layer, setup.loaded.num_layers
    autocast, dtype = accelerator.autocast, None
    if pure_bf16:
        encoder.to(torch.bfloat16)
        autocast, dtype = contextlib.nullcontext, torch.bfloat16
    encoder.train(config.dropout)
    with_source = loop.objective.needs_trainable_source
    pairs = tokens = 0
    start = time.perf_counter()
    for step in loop.steps:
        for indices in step.micro_batches:
            packed = collate_pairs(loop.examples, indices, with_source=with_source, cache_offsets=None,
                                   pad_id=loop.pad_id).packed
            ids, mask = torch.from_numpy(packed.ids), torch.from_numpy(packed.mask)
            with autocast(), training_attention("cpu", ids.shape[-1], dtype):
                hidden = hidden_states(encoder, ids, mask, layer, num_layers)
            hidden.pow(2).sum().backward()
            pairs += len(indices)
            tokens += packed.n_tokens
        for p in encoder.parameters():
            p.grad = None
    seconds = time.perf_counter() - start
    targets = setup.timing["targets_seconds"]
    n_params = non_embedding_parameters(encoder)
    return {"pairs_per_s": pairs / (seconds + targets), "train_seconds": seconds, "targets_seconds": targets,
            "seconds": seconds + targets, "pairs": pairs, "tokens": tokens, "steps": len(loop.steps),
            "flops": 6 * n_params * tokens + 2 * n_params * setup.timing["frozen_tokens"]}


def run_straightforward(corpus: str) -> dict:
    """The l2 objective written the direct way, following the reference's design; see module doc."""
    import copy

    import torch

    from xladjust.adjust import AdjustConfig
    from xladjust.adjust.dataset import draw_examples, scan_corpora
    from xladjust.config import build_config
    from xladjust.embeddings import model_max_length
    from xladjust.models import OFFLINE_SPEC, load_model

    loaded = load_model(OFFLINE_SPEC, device="cpu", for_training=True)
    model, tok = loaded.model, loaded.tokenizer
    frozen = copy.deepcopy(model).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    # the same pairs, links and subword pooling plans as the adjust arms (data preparation only)
    config = build_config(AdjustConfig, {"aligned": [corpus], "out": "unused", "special_tokens": True})
    examples = draw_examples(config, scan_corpora(config), tok, model_max_length(model, tok)).examples
    examples.sort(key=lambda e: e.index)  # corpus order
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=REF_BETAS, eps=REF_EPS)
    steps = math.ceil(len(examples) / REF_BATCH)
    warmup = max(1, int(REF_WARMUP * steps))
    model.train()
    n_params = non_embedding_parameters(model)
    trained = frozen_tokens = 0
    start = time.perf_counter()
    for step, first in enumerate(range(0, len(examples), REF_BATCH)):
        for group in optimizer.param_groups:
            group["lr"] = LR * min(1.0, (step + 1) / warmup)
        batch = examples[first : first + REF_BATCH]
        for sub in range(0, len(batch), REF_SPLIT):
            chunk = batch[sub : sub + REF_SPLIT]
            src_ids, src_mask = _pad([e.src.ids for e in chunk], tok.pad_token_id)
            tgt_ids, tgt_mask = _pad([e.tgt.ids for e in chunk], tok.pad_token_id)
            trained += int(src_mask.sum() + tgt_mask.sum())
            frozen_tokens += int(src_mask.sum())
            with torch.no_grad():
                src_frozen = frozen(input_ids=src_ids, attention_mask=src_mask).last_hidden_state
            src_h = model(input_ids=src_ids, attention_mask=src_mask).last_hidden_state
            tgt_h = model(input_ids=tgt_ids, attention_mask=tgt_mask).last_hidden_state
            align, reg = [], []
            for k, e in enumerate(chunk):
                s_f, s_t, t_t = (_pool(h[k], f) for h, f in ((src_frozen, e.src), (src_h, e.src), (tgt_h, e.tgt)))
                links = torch.from_numpy(e.links)
                align.append((t_t[links[:, 1]] - s_t[links[:, 0]]).pow(2).sum(-1))
                reg.append((s_t - s_f).pow(2).sum(-1))
            loss = torch.cat(align).mean() + torch.cat(reg).mean()
            loss.backward()  # the sub-batches' losses add up, as in the reference
        optimizer.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    return {"pairs_per_s": len(examples) / seconds, "train_seconds": seconds, "seconds": seconds, "pairs": len(examples),
            "flops": 6 * n_params * trained + 2 * n_params * frozen_tokens}


def _pad(rows, pad_id):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.from_numpy(r)
        mask[i, : len(r)] = 1
    return ids, mask


def _pool(hidden, feats):
    import torch

    out = torch.zeros(feats.n_words, hidden.shape[-1])
    tok = torch.from_numpy(feats.pool_token)
    return out.index_add(0, torch.from_numpy(feats.pool_word), hidden[tok] * torch.from_numpy(feats.pool_weight)[:, None])


if __name__ == "__main__":
    main()
