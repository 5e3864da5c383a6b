"""Speed of the adjust loop against a straightforward L2 implementation, side by side.

Both train the offline model with the same L2 objective (Cao et al.: target word ↔ frozen
English partner + λ·English drift, λ = 1) on the same en-es sentence pairs, one epoch,
batch 16, same learning rate:

- ``adjust``: ``xladjust.adjust.adjust`` with its defaults (bf16 autocast where the CPU has
  it, sparse embedding-row updates, frozen targets computed once per sentence under
  inference mode, length-bucketed batches);
- ``straightforward``: fp32, a frozen copy of the model run on the English side every step
  (under no_grad), pairs batched in corpus order and padded to the longest, dense AdamW over
  all parameters, words pooled with tensor operations.

Each variant runs in its own process (so peak memory is its own); they run one after the
other. Also measured here: the machine's matmul rate (fp32 and bf16) and the adjust loop's
achieved FLOP rate (6 · non-embedding parameters per trained subword, 2 · per cached one).

    python benchmarks/adjust.py [--pairs 256] [--data ../shared/data]

Aligned pairs come from eflomal through the test helper until the align stage's API is used.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

BATCH = 16
LR = 5e-5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=256, help="sentence pairs (one epoch)")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("XLADJUST_SHARED_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="xladjust-bench-"))
    corpus = prepare_corpus(args.data, work, args.pairs)
    ctx = mp.get_context("spawn")
    print(f"adjust benchmark: offline model, {args.pairs} en-es pairs, batch {BATCH}, one epoch")
    rates = run_child(ctx, measure_matmul, args.threads)
    print(f"matmul 2048x2048: fp32 {rates['fp32'] / 1e9:.1f} GFLOP/s, bf16 {rates['bf16'] / 1e9:.1f} GFLOP/s")
    ours = run_child(ctx, run_adjust, args.threads, str(corpus), str(work / "adjust-run"), args.pairs)
    base = run_child(ctx, run_straightforward, args.threads, str(corpus), args.pairs)

    print()
    print(f"{'variant':<16}{'pairs/s':>10}{'train s':>10}{'total s':>10}{'peak MB':>10}")
    for name, r in (("adjust", ours), ("straightforward", base)):
        print(f"{name:<16}{r['pairs_per_s']:>10.2f}{r['train_seconds']:>10.1f}{r['total_seconds']:>10.1f}"
              f"{r['peak_mb']:>10.0f}")
    print(f"speed-up (training pairs/s): {ours['pairs_per_s'] / base['pairs_per_s']:.2f}x")
    print(f"speed-up (incl. frozen-target caching): "
          f"{(ours['pairs'] / ours['loop_seconds']) / base['pairs_per_s']:.2f}x")
    achieved = ours["flops"] / ours["loop_seconds"]
    print(f"adjust loop: {ours['flops'] / 1e12:.2f} TFLOP in {ours['loop_seconds']:.1f} s = "
          f"{achieved / 1e9:.1f} GFLOP/s, {100 * achieved / rates['bf16']:.0f}% of the measured bf16 matmul rate "
          f"(precision {ours['precision']}, {ours['tokens']} subwords trained)")
    achieved_base = base["flops"] / base["train_seconds"]
    print(f"straightforward: {achieved_base / 1e9:.1f} GFLOP/s, "
          f"{100 * achieved_base / rates['fp32']:.0f}% of the measured fp32 matmul rate")


def prepare_corpus(data: Path, work: Path, pairs: int) -> Path:
    from helpers_adjust import align_parallel, read_lines

    target = work / "corpus"
    if (target / ".complete").exists():
        return target
    n = max(pairs, 2000)  # align more lines than used, for better eflomal statistics
    en = read_lines(data / "parallel" / "en-es" / "train.en", n)
    es = read_lines(data / "parallel" / "en-es" / "train.es", n)
    return align_parallel(en, es, "en", "es", {"corpus": (0, n)}, work)["corpus"]


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

        if threads:
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
    emb = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - emb


def run_adjust(corpus: str, out: str, pairs: int) -> dict[str, float]:
    from xladjust.adjust import AdjustConfig, adjust
    from xladjust.config import build_config
    from xladjust.io import read_json

    config = build_config(AdjustConfig, {
        "aligned": [corpus], "out": out, "objective": "l2", "max_pairs": pairs, "batch_size": BATCH, "lr": LR,
        "overwrite": True, "progress": False, "checkpoint_every": None,
    })
    start = time.perf_counter()
    adjust(config)
    total = time.perf_counter() - start
    manifest = read_json(Path(out) / "xladjust.json")
    metrics = manifest["metrics"]
    from xladjust.models import load_config

    cfg = load_config(str(out))
    n_params = _non_embedding_from_config(cfg)
    selection = manifest["aligned_corpora"][0]["selection"]
    trained_tokens = metrics["tokens_seen"]
    # frozen targets: one inference pass over the English side (about half the subwords)
    flops = 6 * n_params * trained_tokens + 2 * n_params * trained_tokens / 2
    loop_seconds = _loop_seconds(Path(out), metrics)
    return {"pairs_per_s": metrics["pairs_per_s"], "train_seconds": metrics["train_seconds"], "pairs": metrics["pairs_seen"],
            "total_seconds": total, "loop_seconds": loop_seconds, "flops": flops, "tokens": trained_tokens,
            "precision": manifest["training"]["mixed_precision"], "selected": selection["pairs_selected"]}


def _loop_seconds(run_dir: Path, metrics: dict) -> float:
    """Training time plus the frozen-target pass (from the run's log timestamps if present)."""
    return metrics["train_seconds"] + metrics.get("targets_seconds", 0.0)


def _non_embedding_from_config(cfg) -> int:
    h, layers, ffn = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    per_layer = 4 * h * h + 4 * h + 2 * h * ffn + ffn + h + 4 * h
    return layers * per_layer + (cfg.max_position_embeddings + cfg.type_vocab_size + 2) * h


def run_straightforward(corpus: str, pairs: int) -> dict[str, float]:
    """The same L2 objective written the direct way; see module doc."""
    import copy

    import torch

    from xladjust.adjust.features import encode_sentences
    from xladjust.adjust.pairs import select_links
    from xladjust.align.corpus import read_pairs
    from xladjust.models import OFFLINE_SPEC, load_model
    from xladjust.pooling import Pooling

    loaded = load_model(OFFLINE_SPEC, device="cpu", for_training=True)
    model, tok = loaded.model, loaded.tokenizer
    frozen = copy.deepcopy(model).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    data = [p for p in read_pairs(corpus) if select_links(p)[0]][:pairs]
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    model.train()
    n_params = non_embedding_parameters(model)
    tokens = 0
    start = time.perf_counter()
    for first in range(0, len(data), BATCH):
        batch = data[first : first + BATCH]
        src = encode_sentences(tok, [p.src for p in batch], Pooling.MEAN, False)
        tgt = encode_sentences(tok, [p.tgt for p in batch], Pooling.MEAN, False)
        src_ids, src_mask = _pad([s.ids for s in src], tok.pad_token_id)
        tgt_ids, tgt_mask = _pad([t.ids for t in tgt], tok.pad_token_id)
        tokens += int(src_mask.sum() + tgt_mask.sum())
        with torch.no_grad():
            src_frozen = frozen(input_ids=src_ids, attention_mask=src_mask).last_hidden_state
        src_h = model(input_ids=src_ids, attention_mask=src_mask).last_hidden_state
        tgt_h = model(input_ids=tgt_ids, attention_mask=tgt_mask).last_hidden_state
        align, reg = [], []
        for k, pair in enumerate(batch):
            s_f, s_t, t_t = (_pool(h[k], f) for h, f in ((src_frozen, src[k]), (src_h, src[k]), (tgt_h, tgt[k])))
            links = torch.tensor([(src[k].word_map[i], tgt[k].word_map[j]) for i, j in select_links(pair)[0]])
            links = links[(links >= 0).all(dim=1)]
            align.append((t_t[links[:, 1]] - s_f[links[:, 0]]).pow(2).sum(-1))
            reg.append((s_t - s_f).pow(2).sum(-1))
        loss = torch.cat(align).mean() + torch.cat(reg).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    flops = 6 * n_params * tokens + 2 * n_params * tokens / 2
    return {"pairs_per_s": len(data) / seconds, "train_seconds": seconds, "total_seconds": seconds,
            "pairs": len(data), "flops": flops}


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
