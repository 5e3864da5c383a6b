"""Test and benchmark helpers for the probes: aligned FLORES bitexts and small Tatoeba files.

FLORES devtest is aligned with the align stage (:func:`xladjust.align.pipeline.align_corpus`:
Moses tokenization, eflomal, intersection symmetrization). eflomal on 1,012 sentences alone
is weak, so FLORES is aligned together with extra parallel text from ``parallel/en-XX``
(placed after it) and only the FLORES part is kept.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from xladjust.align.corpus import iter_pairs, read_manifest, write_aligned_corpus

MAX_WORDS = 200  # the align stage skips longer sides; extra text is pre-filtered to keep indices


def _read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def build_flores_bitext(
    shared_data: Path, lang: str, out: Path, *, n_sentences: int | None = None, n_extra: int = 5000
) -> Path:
    """Write an aligned corpus of FLORES devtest en-``lang`` (its first ``n_sentences``),
    aligned together with ``n_extra`` pairs of ``parallel/en-lang``."""
    from xladjust.align.config import AlignConfig, AlignerSpec, InputSpec
    from xladjust.align.pipeline import align_corpus

    flores_en = _read(shared_data / "flores" / "devtest.en")[:n_sentences]
    flores_xx = _read(shared_data / "flores" / f"devtest.{lang}")[:n_sentences]
    extra = [(e, x) for e, x in zip(_read(shared_data / "parallel" / f"en-{lang}" / "train.en"),
                                    _read(shared_data / "parallel" / f"en-{lang}" / f"train.{lang}"), strict=True)
             if e.strip() and x.strip() and len(e.split()) <= MAX_WORDS and len(x.split()) <= MAX_WORDS]
    extra = extra[:n_extra]
    with tempfile.TemporaryDirectory(prefix="flores-align.") as tmp:
        work = Path(tmp)
        (work / "src.txt").write_text("".join(f"{s}\n" for s in flores_en + [e for e, _ in extra]), encoding="utf-8")
        (work / "tgt.txt").write_text("".join(f"{s}\n" for s in flores_xx + [x for _, x in extra]), encoding="utf-8")
        config = AlignConfig(
            src_lang="en", tgt_lang=lang, out=work / "aligned",
            input=InputSpec(src=work / "src.txt", tgt=work / "tgt.txt", max_words=MAX_WORDS),
            aligner=AlignerSpec(name="eflomal", symmetrize="intersect"), workers=1, pharaoh=False,
        )
        result = align_corpus(config)
        manifest = read_manifest(result.out)
        n_total = manifest["counts"]["pairs"]
        if n_total != len(flores_en) + len(extra):
            raise RuntimeError(f"the aligner kept {n_total} of {len(flores_en) + len(extra)} pairs; "
                               "FLORES indices would shift")
        pairs = [pair for _, pair in zip(range(len(flores_en)), iter_pairs(result.out), strict=False)]
        manifest["source"] = f"FLORES-200 devtest en-{lang}, first {len(pairs)} pairs"
        manifest["aligned_with_extra_pairs"] = len(extra)
        manifest.pop("counts", None)
        return write_aligned_corpus(out, pairs, manifest)


def write_tatoeba(directory: Path, lang: str, english: list[str], other: list[str]) -> Path:
    """Write ``tatoeba.LANG-en.{en,LANG}`` under ``directory``; return the prefix."""
    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "tatoeba"
    (directory / f"tatoeba.{lang}-en.en").write_text("".join(f"{s}\n" for s in english), encoding="utf-8")
    (directory / f"tatoeba.{lang}-en.{lang}").write_text("".join(f"{s}\n" for s in other), encoding="utf-8")
    return prefix
