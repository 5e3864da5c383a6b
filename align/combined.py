"""The combined aligner: a statistical aligner's links and the embedding aligner's links,
joined by a symmetrization heuristic.

The statistical aligner (eflomal or fast_align, ``combined.statistical``) aligns the whole
bitext in both directions and its two directions are symmetrized first
(``combined.statistical_symmetrize``, default ``intersect``); the embedding aligner
(``aligner.embedding`` options) aligns each pair on its own. The backend hands the two link
files on in the places of a directional pair (statistical first, embedding second, named
``statistical`` and ``embedding`` in reports), so the run's ``symmetrize`` heuristic combines them with the same code (or atools) that
joins two directions: ``intersect`` keeps links both aligners agree on, ``union`` all of
them, ``grow-diag-final-and`` starts from the agreement and grows into the union.

For ``align evaluate`` only the gold lines are scored, so :attr:`score_lines` (set by the
evaluator) limits the embedding aligner to them; the extra text still trains the
statistical model.
"""

from __future__ import annotations

import logging
from itertools import islice
from pathlib import Path
from typing import Any

from xladjust.align.backends import AlignerOutput, create_backend
from xladjust.align.config import AlignerSpec
from xladjust.align.corpus import to_pharaoh
from xladjust.align.links import iter_pharaoh_file
from xladjust.align.symmetrize import symmetrize
from xladjust.align.tokenize import JointFile
from xladjust.config import config_to_dict

log = logging.getLogger(__name__)


class CombinedBackend:
    name = "combined"
    uses_extra_text = True
    directional = True

    def __init__(self, spec: AlignerSpec, seed: int = 0):
        from dataclasses import replace

        self.options = spec.combined
        self.statistical = create_backend(replace(spec, name=self.options.statistical), seed=seed)
        self.embedding = create_backend(replace(spec, name="embedding"), seed=seed)
        self.samples = getattr(self.statistical, "samples", False)
        self.score_lines: int | None = None  # align only the first N pairs with the embedding aligner

    def check(self) -> None:
        self.statistical.check()
        self.embedding.check()

    def align(self, bitext: JointFile, work: Path, progress: bool = False) -> AlignerOutput:
        stat_dir, emb_dir = work / "statistical", work / "embedding"
        stat_dir.mkdir(exist_ok=True)
        emb_dir.mkdir(exist_ok=True)
        stat = self.statistical.align(bitext, stat_dir, progress)
        assert stat.forward is not None and stat.reverse is not None
        heuristic = self.options.statistical_symmetrize.value
        statistical = work / "statistical.pharaoh"
        with open(statistical, "w", encoding="utf-8") as out:
            for fwd, rev in zip(iter_pharaoh_file(stat.forward, self.statistical.name),
                                iter_pharaoh_file(stat.reverse, self.statistical.name), strict=True):
                out.write(to_pharaoh(symmetrize(fwd, rev, heuristic)) + "\n")
        embedding = work / "embedding.pharaoh"
        n = bitext.n_pairs if self.score_lines is None else min(self.score_lines, bitext.n_pairs)
        with open(embedding, "w", encoding="utf-8") as out:
            for links in self.embedding.align_words(islice(bitext.iter_words(), n)):  # type: ignore[attr-defined]
                out.write(to_pharaoh(links) + "\n")
            out.write("\n" * (bitext.n_pairs - n))  # lines that are not scored: no embedding links
        info: dict[str, Any] = {
            "statistical": {"name": self.statistical.name, "symmetrize": heuristic, **stat.info},
            "embedding": {"name": "embedding",
                          "layer": self.embedding.layer(self.embedding._model().num_layers),  # type: ignore[attr-defined]
                          "options": config_to_dict(self.embedding.options)},  # type: ignore[attr-defined]
            "deterministic": stat.info.get("deterministic", False),
            "note": "the statistical links (its two directions symmetrized) and the embedding links are "
                    "joined by the run's symmetrize heuristic",
        }
        if n < bitext.n_pairs:
            info["embedding"]["aligned_pairs"] = n
        return AlignerOutput(forward=statistical, reverse=embedding, info=info, halves=("statistical", "embedding"))
