"""The embedding aligner: SimAlign (Jalili Sabet et al., 2020) on the encoder's own words.

Word vectors come from :func:`xladjust.embeddings.embed_words` at one hidden layer (default
8 for a 12-layer model, two thirds of the depth otherwise), for any model spec the
foundation loads. Links come from the similarity matrix of each pair through a method of
:data:`xladjust.align.similarity.METHODS` (``argmax``, ``itermax``, ``match``, and the
probability methods ``softmax``, ``entmax``, ``ot`` with a threshold); the result
is symmetric already, so no symmetrization follows. Pairs are embedded ``chunk_pairs`` at a
time, so memory does not grow with the corpus. A word without a vector (cut by the model's
length limit, or tokenizing to nothing) gets no link.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xladjust.align.backends import AlignerOutput
from xladjust.align.config import AlignerSpec, EmbeddingOptions, default_layer
from xladjust.align.corpus import to_pharaoh
from xladjust.align.parallel import chunked, default_workers
from xladjust.align.similarity import (
    DEFAULT_TEMPERATURE,
    align_by_similarity,
    apply_distortion,
    cosine_similarity01,
)
from xladjust.align.tokenize import JointFile
from xladjust.config import config_to_dict
from xladjust.embeddings import embed_words, resolve_layers
from xladjust.models import load_model, resolve_spec
from xladjust.progress import progress as progress_bar

log = logging.getLogger(__name__)

Link = tuple[int, int]


def choose_threads(requested: int | None) -> int | None:
    """Torch threads for the aligner: ``requested``, else 1 when other jobs keep the CPU
    busy (load average at or above the core count), else None (torch's default).

    Each sentence batch is many small matrix products; when the cores are shared, threads
    of one product wait for each other at every step (measured here: 8x the CPU time and
    wall time with 2 threads on 2 busy cores, against 1 thread).
    """
    if requested is not None:
        return requested
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not available on every platform
        return None
    cores = default_workers()
    if cores > 1 and load >= cores - 0.5:
        log.info("embedding aligner: 1 torch thread, the CPU is busy (load %.1f on %d cores); "
                 "pass --embedding-threads N to choose", load, cores)
        return 1
    return None


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Within the block torch uses ``n`` intra-op threads (None: unchanged)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pair_similarity(src_vectors: np.ndarray, tgt_vectors: np.ndarray, src_valid: np.ndarray, tgt_valid: np.ndarray,
                    distortion: float = 0.0) -> np.ndarray:
    """The similarity matrix of one sentence pair, ``-inf`` for words without a vector (pure)."""
    sim = apply_distortion(cosine_similarity01(src_vectors, tgt_vectors), distortion)
    return np.where(src_valid[:, None] & tgt_valid[None, :], sim, -np.inf)


def pair_links(src_vectors: np.ndarray, tgt_vectors: np.ndarray, src_valid: np.ndarray, tgt_valid: np.ndarray,
               method: str, distortion: float = 0.0, threshold: float | None = None,
               temperature: float = DEFAULT_TEMPERATURE) -> list[Link]:
    """Links of one sentence pair from its word vectors (pure)."""
    if len(src_vectors) == 0 or len(tgt_vectors) == 0:
        return []
    sim = pair_similarity(src_vectors, tgt_vectors, src_valid, tgt_valid, distortion)
    return align_by_similarity(sim, method, threshold, temperature)


class EmbeddingBackend:
    name = "embedding"
    uses_extra_text = False
    directional = False
    samples = False

    def __init__(self, spec: AlignerSpec, loaded: Any = None, seed: int = 0):  # no randomness
        self.options: EmbeddingOptions = spec.embedding
        self._loaded = loaded  # a LoadedModel, to reuse one already in memory
        self.threads_used: int | None = None

    def check(self) -> None:
        if self._loaded is None:
            resolve_spec(self.options.model)

    def _model(self) -> Any:
        if self._loaded is None:
            self._loaded = load_model(self.options.model, device=self.options.device)
        return self._loaded

    def layer(self, num_layers: int) -> int:
        layer = self.options.layer if self.options.layer is not None else default_layer(num_layers)
        return resolve_layers(layer, num_layers)[0]

    def iter_similarities(self, pairs: Iterable[tuple[Sequence[str], Sequence[str]]], layers: Sequence[int],
                          progress: Any = None) -> Iterator[dict[int, np.ndarray]]:
        """For each (source words, target words) pair, in order, its similarity matrix at
        each of ``layers`` (absolute hidden-state indices), one forward pass for all."""
        loaded = self._model()
        opts = self.options
        layers = list(layers)
        kwargs = dict(layers=layers, pooling=opts.pooling, batch_size=opts.batch_size, bf16=opts.bf16)
        on_cpu = next(loaded.model.parameters()).device.type == "cpu"
        self.threads_used = choose_threads(opts.threads) if on_cpu else None
        for chunk in chunked(pairs, opts.chunk_pairs):
            with torch_threads(self.threads_used):  # embed_words computes no layer above max(layers)
                src = embed_words(loaded.model, loaded.tokenizer, [list(s) for s, _ in chunk], **kwargs)
                tgt = embed_words(loaded.model, loaded.tokenizer, [list(t) for _, t in chunk], **kwargs)
            for k in range(len(chunk)):
                s0, s1 = src.offsets[k], src.offsets[k + 1]
                t0, t1 = tgt.offsets[k], tgt.offsets[k + 1]
                yield {layer: pair_similarity(src.vectors[n, s0:s1], tgt.vectors[n, t0:t1], src.valid[s0:s1],
                                              tgt.valid[t0:t1], opts.distortion)
                       for n, layer in enumerate(layers)}
            if progress is not None:
                progress.update(len(chunk))

    def align_words(self, pairs: Iterable[tuple[Sequence[str], Sequence[str]]], progress: Any = None) -> Iterator[list[Link]]:
        """Links for each (source words, target words) pair, in order."""
        opts = self.options
        layer = self.layer(self._model().num_layers)
        for sims in self.iter_similarities(pairs, [layer], progress):
            yield align_by_similarity(sims[layer], opts.method, opts.threshold, opts.temperature)

    def align(self, bitext: JointFile, work: Path, progress: bool = False) -> AlignerOutput:
        loaded = self._model()
        layer = self.layer(loaded.num_layers)
        out = work / "links.pharaoh"
        bar = progress_bar(total=bitext.n_pairs, desc="embedding aligner", unit="pair", enabled=progress)
        try:
            with open(out, "w", encoding="utf-8") as f:
                for links in self.align_words(bitext.iter_words(), bar):
                    f.write(to_pharaoh(links) + "\n")
        finally:
            if bar is not None:
                bar.close()
        info = {
            "model": {"spec": self.options.model, "path": str(loaded.path), "num_layers": loaded.num_layers},
            "layer": layer,
            "torch_threads": self.threads_used or "torch default",
            "options": config_to_dict(self.options),
            "deterministic": True,
            "note": "links are symmetric (SimAlign); no symmetrization heuristic is applied",
        }
        return AlignerOutput(links=out, info=info)
