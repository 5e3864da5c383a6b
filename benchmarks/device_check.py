"""The GPU path in one prepared check: adjust, fidelity against the CPU, NLI fine-tuning, probes.

Written for a short loan of one NVIDIA GPU (a few minutes, no network, at most 64 MiB of
files travelling with the repository), and kept working on the CPU so CI runs it:

- ``adjust``: the l2 defaults and the reference settings over the first ``--pairs`` en-es
  pairs of the data pack (eflomal, intersection), on randomly initialised models with
  mBERT's shape (WordPiece, 119,547 rows, 768 wide, 12 layers) and XLM-R base's shape
  (SentencePiece-style unigram, 250,002 rows). Speed does not depend on the weights, so no
  weights travel. The tokenizers are trained on the corpus itself (real tokenizer files
  are not on the GPU machine); the models keep the real vocabulary sizes, so the embedding
  matrix, its sparse or dense updates and the optimizer state are those of the real models.
  Printed: pairs/s, peak GPU memory, achieved TFLOP/s (6 x non-embedding parameters per
  trained subword, 2 x per subword of the frozen pass, attention scores left out) and its
  share of the card's bf16 matmul rate, measured in the same run;
- ``batch curve``: the defaults on the XLM-R shape at growing batch sizes (micro-batches
  forwarded whole) until throughput stops growing by 5% or memory runs out;
- ``fidelity``: the same short adjust run of a small model on the CPU and on the GPU, same
  seed, in fp32 and in bf16; the held-out d(w,r) and d(w,u) of both results, measured by
  the probe stage on the CPU, must agree within ``FIDELITY_TOLERANCE``;
- ``nli``: an English NLI fine-tuning of the small model for a few hundred steps on the GPU
  and on the CPU, zero-shot on Spanish: steps/s and the scores side by side; and the XLM-R
  shape on the GPU for its steps/s;
- ``probe``: the distances probe on the held-out pairs with the XLM-R shape: triples/s.

Without CUDA (or with ``--cpu``) the same steps run on tiny models and a few pairs in under
two minutes, and the GPU columns say ``cpu``: CI runs it so the script keeps working.

    python benchmarks/device_check.py --out device_check.json            # CPU smoke run
    python benchmarks/device_check.py --prepare .device-data             # here: align, cut data
    python benchmarks/device_check.py --prepared .device-data --out $OUT/device_check.json   # on the GPU
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

# the reference settings of the adjust benchmark, so the two benchmarks measure the same arm
_spec = importlib.util.spec_from_file_location("adjust_benchmark", REPO / "benchmarks" / "adjust.py")
adjust_benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(adjust_benchmark)
REFERENCE_SETTINGS = adjust_benchmark.REFERENCE_SETTINGS

WIDE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
SHAPES = {  # name -> (tokenizer kind, BertConfig sizes); vocab_size None: the trained tokenizer's
    "mbert": ("wordpiece", {**WIDE, "vocab_size": 119547, "max_position_embeddings": 512}),
    "xlmr": ("unigram", {**WIDE, "vocab_size": 250002, "max_position_embeddings": 514}),
    "small": ("unigram", {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                          "intermediate_size": 1024, "vocab_size": None, "max_position_embeddings": 512}),
}
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
        "vocab_size": None, "max_position_embeddings": 512}
# sizes of the GPU run and of the CPU smoke run
SIZES = {
    "gpu": {"pairs": 2000, "heldout": 500, "batches": [16, 32, 64, 128, 256, 512], "fidelity_steps": 40,
            "nli_steps": 300, "nli_train": 2000, "nli_dev": 400, "nli_test": 1000, "matmul_n": 8192},
    "cpu": {"pairs": 32, "heldout": 16, "batches": [8, 16], "fidelity_steps": 2,
            "nli_steps": 4, "nli_train": 64, "nli_dev": 16, "nli_test": 16, "matmul_n": 1024},
}
# largest difference allowed between the CPU's and the GPU's held-out mean distances after
# the same fidelity run (cosine distances lie in [0, 2]); fp32 is the claim, bf16 is shown
FIDELITY_TOLERANCE = {"fp32": 2e-3, "bf16": 2e-2}
GROWTH = 1.05  # the batch curve stops when throughput grows by less than this


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("device_check.json"), help="JSON file of every figure")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--cpu", action="store_true", help="the CPU smoke run even when a GPU is visible")
    parser.add_argument("--pairs", type=int, default=None, help="adjust pairs (default 2000 on a GPU, 64 on the CPU)")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("XLADJUST_SHARED_DATA", REPO.parent / "shared" / "data")),
                        help="the data pack (default ../shared/data)")
    parser.add_argument("--prepare", type=Path, default=None,
                        help="only align the corpus and cut the NLI files into this folder, to carry to a GPU machine")
    parser.add_argument("--prepared", type=Path, default=None, help="a folder written by --prepare")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    cuda = torch.cuda.is_available() and not args.cpu
    mode = "gpu" if cuda and args.prepare is None else "cpu"
    sizes = dict(SIZES[mode])
    if args.pairs:
        sizes["pairs"] = args.pairs
    if args.prepare is not None:
        sizes = dict(SIZES["gpu"], **({"pairs": args.pairs} if args.pairs else {}))
        prepare(args.data, args.prepare, sizes)
        print(f"prepared {args.prepare}: carry it and run with --prepared {args.prepare}")
        return
    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="xladjust-device-"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.prepared or prepare(args.data, work / "data", sizes)
    device = "cuda" if cuda else "cpu"
    result: dict[str, Any] = {"environment": environment(device), "mode": mode, "sizes": sizes}
    print(f"device check on {result['environment']['device_name']} ({mode} sizes)", flush=True)
    result["matmul"] = matmul_rates(device, sizes["matmul_n"])
    print(f"matmul {sizes['matmul_n']}^2: fp32 {result['matmul']['fp32'] / 1e12:.2f}, "
          f"bf16 {result['matmul']['bf16'] / 1e12:.2f} TFLOP/s", flush=True)
    bf16_rate = result["matmul"]["bf16"]
    seconds = result["section_seconds"] = {"prepare and matmul": round(time.perf_counter() - started, 1)}

    def timed(name: str, fn, *fn_args):
        start = time.perf_counter()
        value = fn(*fn_args)
        seconds[name] = round(time.perf_counter() - start, 1)
        return value

    models = timed("models", lambda: {name: build_model(name, data, work / "models", tiny=not cuda)
                                      for name in SHAPES})
    result["models"] = {name: {k: v for k, v in m.items() if k != "path"} for name, m in models.items()}
    result["adjust"] = timed("adjust", lambda: [
        adjust_arm(models[shape], data, work, arm, settings, cuda, bf16_rate)
        for shape in ("mbert", "xlmr") for arm, settings in (("defaults", {}), ("reference", REFERENCE_SETTINGS))])
    result["batch_curve"] = timed("batch_curve", batch_curve, models["xlmr"], data, work, sizes["batches"], cuda,
                                  bf16_rate)
    result["fidelity"] = timed("fidelity", fidelity, models["small"], data, work, sizes["fidelity_steps"], cuda)
    result["nli"] = timed("nli", nli, models, data, work, sizes["nli_steps"], cuda)
    result["probe"] = timed("probe", probe_speed, models["xlmr"], data, work, device)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result["section_seconds"].items()))
    print(f"\nwrote {args.out} ({result['wall_seconds']:.0f} s)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    if not result["fidelity"]["within_tolerance"]:
        sys.exit("fidelity: the CPU and the GPU disagree beyond the tolerance (see the JSON)")


def environment(device: str) -> dict[str, Any]:
    import torch

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    name = torch.cuda.get_device_name(0) if device == "cuda" else (platform.processor() or platform.machine())
    return {"device": device, "device_name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
            "commit": commit, "threads": torch.get_num_threads()}


def prepare(data: Path, folder: Path, sizes: dict[str, Any]) -> Path:
    """The aligned train and held-out corpora and the NLI files of the check, in ``folder``:
    everything the check reads, small enough to travel to a GPU machine."""
    from helpers_adjust import align_parallel, read_lines

    if (folder / ".complete").exists():
        return folder
    n, held = sizes["pairs"], sizes["heldout"]
    en = read_lines(data / "parallel" / "en-es" / "train.en", n + held)
    es = read_lines(data / "parallel" / "en-es" / "train.es", n + held)
    align_parallel(en, es, "en", "es", {"train": (0, n), "heldout": (n, n + held)}, folder)
    shutil.rmtree(folder / "_all")
    shutil.rmtree(folder / "_text")
    nli = folder / "nli"
    nli.mkdir(exist_ok=True)
    rows = (data / "xnli" / "dev-en.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    dev = sizes["nli_dev"]
    train = min(sizes["nli_train"], len(rows) - dev)
    (nli / "train-en.tsv").write_text("".join(rows[:train]), encoding="utf-8")  # English dev: disjoint rows
    (nli / "dev-en.tsv").write_text("".join(rows[train : train + dev]), encoding="utf-8")
    test = (data / "xnli" / "test-es.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (nli / "test-es.tsv").write_text("".join(test[: sizes["nli_test"]]), encoding="utf-8")
    (folder / ".complete").write_text("")
    return folder


def matmul_rates(device: str, n: int) -> dict[str, float]:
    import torch

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        best = float("inf")
        for _ in range(6):
            _sync(device)
            start = time.perf_counter()
            a @ b
            _sync(device)
            best = min(best, time.perf_counter() - start)
        out[name] = 2 * n**3 / best
    return out


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def training_text(data: Path) -> list[str]:
    from xladjust.align.corpus import read_pairs

    return [" ".join(words) for p in read_pairs(data / "train") for words in (p.src, p.tgt)]


def build_model(name: str, data: Path, root: Path, *, tiny: bool) -> dict[str, Any]:
    """A randomly initialised BERT-architecture encoder of the named shape with a tokenizer
    trained on the corpus, saved as a checkpoint folder."""
    import torch
    from transformers import BertConfig, BertModel

    kind, sizes = SHAPES[name]
    sizes = dict(TINY if tiny else sizes)
    tokenizer = train_tokenizer(kind, training_text(data))
    real_rows = SHAPES[name][1]["vocab_size"]
    rows = max(len(tokenizer), real_rows or 0) if not tiny else len(tokenizer)
    torch.manual_seed(0)
    config = BertConfig(**{**sizes, "vocab_size": rows}, pad_token_id=tokenizer.pad_token_id)
    model = BertModel(config, add_pooling_layer=False)
    folder = root / name
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    embedding = config.vocab_size * config.hidden_size
    params = sum(p.numel() for p in model.parameters())
    return {"name": name, "path": folder, "shape": "tiny" if tiny else name, "vocab_rows": rows,
            "parameters": params, "non_embedding_parameters": params - embedding}


def train_tokenizer(kind: str, text: list[str]):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "wordpiece":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.train_from_iterator(text, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=specials))
        cls, sep, pad, unk, mask = specials[2], specials[3], specials[0], specials[1], specials[4]
    else:
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.train_from_iterator(text, trainers.UnigramTrainer(vocab_size=8000, special_tokens=specials,
                                                              unk_token="<unk>"))
        cls, sep, pad, unk, mask = specials[0], specials[2], specials[1], specials[3], specials[4]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B {sep}",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, cls_token=cls, sep_token=sep, pad_token=pad,
                                   unk_token=unk, mask_token=mask, model_max_length=512)


def run_adjust(model: dict[str, Any], data: Path, out: Path, settings: dict[str, Any], cuda: bool,
               corpus: str = "train") -> dict[str, Any]:
    """One adjust run; its speed, memory and FLOP figures. The run folder is removed."""
    import torch

    from xladjust.adjust import AdjustConfig, adjust
    from xladjust.config import build_config
    from xladjust.io import read_json

    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    config = build_config(AdjustConfig, {
        "objective": "l2", **settings, "model": str(model["path"]), "aligned": [str(data / corpus)], "out": str(out),
        "overwrite": True, "progress": False, "checkpoint_every": None, "device": "cuda" if cuda else "cpu"})
    adjust(config)
    manifest = read_json(out / "xladjust.json")
    m = manifest["metrics"]
    seconds = m["train_seconds"] + m["targets_seconds"]
    n = model["non_embedding_parameters"]
    flops = 6 * n * m["tokens_seen"] + 2 * n * m.get("frozen_tokens", 0)
    return {"pairs_per_s": m["pairs_per_s"], "seconds": round(seconds, 2), "steps": m.get("steps"),
            "tflops": flops / seconds / 1e12 if seconds > 0 else None, "precision": manifest["training"]["mixed_precision"],
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None}


def adjust_arm(model, data, work, arm, settings, cuda, bf16_rate) -> dict[str, Any]:
    out = work / "runs" / f"{model['name']}-{arm}"
    r = run_adjust(model, data, out, settings, cuda)
    shutil.rmtree(out, ignore_errors=True)
    r.update(model=model["name"], shape=model["shape"], arm=arm,
             share_of_bf16=r["tflops"] * 1e12 / bf16_rate if r["tflops"] else None)
    print(f"  adjust {model['name']} {arm}: {r['pairs_per_s']:.1f} pairs/s", flush=True)
    return r


def batch_curve(model, data, work, batches, cuda, bf16_rate) -> list[dict[str, Any]]:
    """The defaults at growing batch sizes, micro-batches forwarded whole, until throughput
    stops growing by ``GROWTH`` or memory runs out."""
    import torch

    rows: list[dict[str, Any]] = []
    for batch in batches:
        tokens = max(8192, 256 * batch)
        settings = {"batch_size": batch, "max_tokens": tokens, "forward_tokens": None}
        try:
            r = run_adjust(model, data, work / "runs" / f"curve-{batch}", settings, cuda)
        except torch.cuda.OutOfMemoryError:
            rows.append({"batch_size": batch, "out_of_memory": True})
            break
        finally:
            shutil.rmtree(work / "runs" / f"curve-{batch}", ignore_errors=True)
        r.update(batch_size=batch, max_tokens=tokens, share_of_bf16=r["tflops"] * 1e12 / bf16_rate)
        rows.append(r)
        print(f"  batch {batch}: {r['pairs_per_s']:.1f} pairs/s", flush=True)
        if len(rows) > 1 and r["pairs_per_s"] < GROWTH * rows[-2]["pairs_per_s"]:
            break
    return rows


def held_out_distances(model_path: Path, data: Path, out: Path) -> dict[str, float]:
    """Mean cosine d(w,r) and d(w,u) at the last layer on the held-out pairs, by the probe
    stage on the CPU in fp32, so only the training device differs between two models."""
    from xladjust.config import build_config
    from xladjust.io import read_json
    from xladjust.probes.config import ProbeConfig
    from xladjust.probes.run import run_probes

    cfg = build_config(ProbeConfig, {
        "models": [{"name": "m", "spec": str(model_path)}], "bitexts": [{"path": str(data / "heldout")}],
        "probes": ["distances"], "layers": "last", "resamples": 100, "bf16": False, "device": "cpu",
        "out": str(out)})
    summary = read_json(run_probes(cfg) / "summary.json")
    metrics = summary["checkpoints"]["m"]["results"]["en-es"]["distances"]["metrics"]
    cosine = metrics["by_layer"][str(metrics["layers"][-1])]["cosine"]
    return {"related": cosine["mean_related"], "unrelated": cosine["mean_unrelated"], "triples": metrics["n_triples"]}


def fidelity(model, data, work, steps, cuda) -> dict[str, Any]:
    """The same short adjust run on the CPU and on the training device, fp32 and bf16."""
    rows = {}
    for precision in ("fp32", "bf16"):
        found = {}
        for where, on_gpu in (("cpu", False), ("device", cuda)):
            out = work / "runs" / f"fidelity-{precision}-{where}"
            run_adjust(model, data, out, {"max_steps": steps, "precision": precision, "seed": 0}, on_gpu)
            found[where] = held_out_distances(out, data, work / "runs" / f"fidelity-probe-{precision}-{where}")
        diff = max(abs(found["cpu"][k] - found["device"][k]) for k in ("related", "unrelated"))
        rows[precision] = {**found, "max_abs_difference": diff, "tolerance": FIDELITY_TOLERANCE[precision],
                           "ratio_cpu": found["cpu"]["related"] / found["cpu"]["unrelated"],
                           "ratio_device": found["device"]["related"] / found["device"]["unrelated"]}
    return {"steps": steps, "device": "cuda" if cuda else "cpu", **rows,
            "within_tolerance": rows["fp32"]["max_abs_difference"] <= FIDELITY_TOLERANCE["fp32"]}


def finetune_nli(model, data, out: Path, steps: int, cuda: bool) -> dict[str, Any]:
    from xladjust.config import build_config
    from xladjust.tasks.config import FinetuneConfig
    from xladjust.tasks.finetune import finetune, read_run

    nli = data / "nli"
    cfg = build_config(FinetuneConfig, {
        "task": "nli", "model": str(model["path"]), "train": [str(nli / "train-en.tsv")], "dev": str(nli / "dev-en.tsv"),
        "test": {"es": str(nli / "test-es.tsv")}, "out": str(out), "max_steps": steps, "batch_size": 32,
        "max_length": 128, "save_model": False, "progress": False, "device": "cuda" if cuda else "cpu", "seed": 0})
    run = read_run(finetune(cfg))
    shutil.rmtree(out, ignore_errors=True)
    train = run["train"]
    metric = run["primary_metric"]
    return {"model": model["name"], "shape": model["shape"], "device": "cuda" if cuda else "cpu",
            "steps": train["steps"], "steps_per_s": train["steps"] / train["seconds"] if train["seconds"] else None,
            "dev_en": run["dev"]["metrics"][metric], "test_es": run["test"]["es"]["metrics"][metric]}


def nli(models, data, work, steps, cuda) -> dict[str, Any]:
    rows = [finetune_nli(models["small"], data, work / "runs" / "nli-small-cpu", steps, False)]
    if cuda:
        rows.append(finetune_nli(models["small"], data, work / "runs" / "nli-small-gpu", steps, True))
        rows.append(finetune_nli(models["xlmr"], data, work / "runs" / "nli-xlmr-gpu", steps, True))
    for r in rows:
        print(f"  nli {r['model']} on {r['device']}: {r['steps_per_s']:.2f} steps/s, es {r['test_es']:.3f}", flush=True)
    return {"runs": rows}


def probe_speed(model, data, work, device: str) -> dict[str, Any]:
    from xladjust.config import build_config
    from xladjust.io import read_json
    from xladjust.probes.config import ProbeConfig
    from xladjust.probes.run import run_probes

    cfg = build_config(ProbeConfig, {
        "models": [{"name": "m", "spec": str(model["path"])}], "bitexts": [{"path": str(data / "heldout")}],
        "probes": ["distances"], "layers": "last", "resamples": 100, "device": device,
        "out": str(work / "runs" / "probe")})
    start = time.perf_counter()
    out = run_probes(cfg)
    seconds = time.perf_counter() - start
    summary = read_json(out / "summary.json")
    triples = summary["checkpoints"]["m"]["results"]["en-es"]["distances"]["metrics"]["n_triples"]
    return {"model": model["name"], "shape": model["shape"], "device": device, "triples": triples,
            "seconds": round(seconds, 2), "triples_per_s": triples / seconds}


def print_table(r: dict[str, Any]) -> None:
    env = r["environment"]
    print(f"\n{env['device_name']} ({env['device']}), torch {env['torch']}, commit {env['commit']}")
    print(f"{'adjust':<22}{'pairs/s':>9}{'peak MB':>9}{'TFLOP/s':>9}{'% bf16':>8}")
    for a in r["adjust"]:
        peak = f"{a['peak_gpu_mb']:.0f}" if a["peak_gpu_mb"] is not None else "-"
        print(f"{a['model'] + ' ' + a['arm']:<22}{a['pairs_per_s']:>9.1f}{peak:>9}{a['tflops']:>9.3g}"
              f"{100 * a['share_of_bf16']:>7.1f}%")
    print("batch curve (xlmr, defaults): " + ", ".join(
        f"{c['batch_size']}: " + ("out of memory" if c.get("out_of_memory") else f"{c['pairs_per_s']:.1f} pairs/s")
        for c in r["batch_curve"]))
    f = r["fidelity"]
    for precision in ("fp32", "bf16"):
        p = f[precision]
        print(f"fidelity {precision}: d(w,r) {p['cpu']['related']:.4f} cpu / {p['device']['related']:.4f} "
              f"{f['device']}, d(w,u) {p['cpu']['unrelated']:.4f} / {p['device']['unrelated']:.4f}, "
              f"max |diff| {p['max_abs_difference']:.2e} (tolerance {p['tolerance']:g})")
    for n in r["nli"]["runs"]:
        print(f"nli {n['model']} on {n['device']}: {n['steps_per_s']:.2f} steps/s, dev en {n['dev_en']:.3f}, "
              f"test es {n['test_es']:.3f}")
    p = r["probe"]
    print(f"probe {p['model']} on {p['device']}: {p['triples_per_s']:.0f} triples/s ({p['triples']} triples)")


if __name__ == "__main__":
    main()
