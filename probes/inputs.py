"""The probe inputs: held-out aligned bitexts (with their triples) and Tatoeba sentence
sets, read and checked before any model loads."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xladjust.align.corpus import (
    MANIFEST_FILE,
    PAIRS_FILE,
    AlignedPair,
    check_aligned_corpus,
    iter_pairs,
)
from xladjust.align.gold import read_gold
from xladjust.errors import ConfigError, InputError
from xladjust.io import sha256_file, sha256_json
from xladjust.probes.pairs import Triples, Unrelated, WordLinks, sample_triples, usable_links

log = logging.getLogger(__name__)

_LANG_PAIR = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")


@dataclass(frozen=True)
class Bitext:
    """An aligned corpus with its usable links and triples."""

    name: str
    path: Path
    src_lang: str | None
    tgt_lang: str | None
    pairs: list[AlignedPair]
    links: WordLinks
    triples: Triples
    counts: dict[str, int]
    sha256: str  # of pairs.jsonl, or of the text and links files of external alignments
    files: dict[str, str] = field(default_factory=dict)  # every file read -> its sha256

    @property
    def label(self) -> str:
        return f"{self.src_lang or 'src'}-{self.tgt_lang or 'tgt'}"


@dataclass(frozen=True)
class SentenceSet:
    """Line-parallel sentences for retrieval: ``src[i]`` (English) translates ``tgt[i]``."""

    name: str
    src_lang: str
    tgt_lang: str
    src: list[str]
    tgt: list[str]
    src_path: Path
    tgt_path: Path
    sha256: dict[str, str]


def manifest_languages(manifest: dict[str, Any]) -> tuple[str | None, str | None]:
    """Source and target language of an aligned corpus's manifest, where it says."""
    langs = manifest.get("languages")
    if isinstance(langs, dict):
        return langs.get("src") or langs.get("source"), langs.get("tgt") or langs.get("target")
    if isinstance(langs, (list, tuple)) and len(langs) == 2:
        return str(langs[0]), str(langs[1])
    if isinstance(langs, str) and _LANG_PAIR.match(langs):
        src, tgt = langs.split("-")
        return src, tgt
    return manifest.get("src_lang"), manifest.get("tgt_lang")


def external_pairs(text: Path, alignments: Path, one_indexed: bool) -> list[AlignedPair]:
    """Sentence pairs of a tokenized ``src ||| tgt`` file with the links of a Pharaoh file
    (``i-j`` per link, line by line; another aligner's output or a gold set), checked as
    align's evaluation checks gold files: same line counts, links in range. Gold sets'
    possible links (``ipj``) are left out: only sure links drive the distances."""
    pairs = read_gold(text, alignments, one_indexed=one_indexed)
    return [AlignedPair(src=p.src, tgt=p.tgt, links=sorted(p.links.sure)) for p in pairs]


def load_bitext(
    path: Path,
    name: str | None = None,
    *,
    unrelated: Unrelated = Unrelated.SAME_SENTENCE,
    seed: int = 0,
    keep_punctuation: bool = False,
    max_sentences: int | None = None,
    alignments: Path | None = None,
    one_indexed: bool = True,
) -> Bitext:
    """Read an aligned corpus, or with ``alignments`` a tokenized ``src ||| tgt`` file and
    its links (:func:`external_pairs`), and build its triples; a corpus without a usable
    link is an error that says what was found."""
    path = Path(path)
    if alignments is not None:
        if not path.is_file():
            raise InputError(f"bitext {path} is not a file; with --alignments, --bitext names the tokenized "
                             "'src ||| tgt' text the links refer to")
        all_pairs = external_pairs(path, Path(alignments), one_indexed)
        files = {str(path): sha256_file(path), str(alignments): sha256_file(Path(alignments))}
        manifest: dict[str, Any] = {}
    elif not path.is_dir():
        raise InputError(f"bitext {path} does not exist; pass an aligned corpus directory (align's output)")
    elif (path / MANIFEST_FILE).is_file():
        manifest = check_aligned_corpus(path)
    elif (path / PAIRS_FILE).is_file():
        log.warning("bitext %s has no %s; its languages are taken from its name if given", path, MANIFEST_FILE)
        manifest = {}
    else:
        raise InputError(f"{path} is not an aligned corpus: {PAIRS_FILE} is missing")
    src_lang, tgt_lang = manifest_languages(manifest)
    if (src_lang is None or tgt_lang is None) and name and _LANG_PAIR.match(name):
        src_lang, tgt_lang = name.split("-")
    if alignments is None:
        files = {str(path / PAIRS_FILE): sha256_file(path / PAIRS_FILE)}
        all_pairs = iter_pairs(path)
    pairs: list[AlignedPair] = []
    for pair in all_pairs:
        if max_sentences is not None and len(pairs) >= max_sentences:
            break
        pairs.append(pair)
    links, counts = usable_links(pairs, keep_punctuation)
    triples = sample_triples(pairs, links, unrelated, seed, keep_punctuation)
    counts["triples"] = len(triples)
    if not len(links) or not len(triples):
        raise InputError(
            f"bitext {path} has no usable links: {counts['pairs']} sentence pairs, "
            f"{counts['links']} links, {counts['one_to_one']} of them 1-to-1, "
            f"{counts['punctuation_dropped']} dropped as punctuation, {counts['triples']} triples "
            f"with an unrelated word ({unrelated.value}). Probes need sentence pairs with 1-to-1 "
            "word links between words; check that the corpus was aligned (align's output)"
        )
    label = f"{src_lang}-{tgt_lang}" if src_lang and tgt_lang else path.name
    return Bitext(
        name=name or label, path=path, src_lang=src_lang, tgt_lang=tgt_lang, pairs=pairs, links=links,
        triples=triples, counts=counts, files=files,
        sha256=next(iter(files.values())) if len(files) == 1 else sha256_json(files),
    )


def tatoeba_paths(prefix: Path, lang: str, english: str = "en") -> tuple[Path, Path]:
    """XTREME's layout: ``PREFIX.XX-en.en`` and ``PREFIX.XX-en.XX``. A directory as
    ``PREFIX`` means ``DIR/tatoeba``."""
    prefix = Path(prefix)
    if prefix.is_dir():
        prefix = prefix / "tatoeba"
    stem = f"{prefix.name}.{lang}-{english}"
    return prefix.with_name(f"{stem}.{english}"), prefix.with_name(f"{stem}.{lang}")


def read_lines(path: Path) -> list[str]:
    """Non-empty UTF-8 lines; an empty file or an empty line is an error naming it."""
    if not path.is_file():
        raise InputError(f"file {path} does not exist")
    lines: list[str] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{lineno}: invalid UTF-8 at byte {exc.start}") from None
            if not line.strip():
                raise InputError(f"{path}:{lineno}: empty line; every line must hold one sentence")
            lines.append(line)
    if not lines:
        raise InputError(f"file {path} is empty; sentence retrieval needs one sentence per line")
    return lines


def read_tatoeba(prefix: Path, lang: str, max_sentences: int | None = None) -> SentenceSet:
    """One language's Tatoeba pairs (English side first)."""
    en_path, xx_path = tatoeba_paths(prefix, lang)
    missing = [str(p) for p in (en_path, xx_path) if not p.is_file()]
    if missing:
        raise InputError(
            f"no Tatoeba files for {lang!r}: {', '.join(missing)} not found "
            f"(expected {en_path.name} and {xx_path.name} for --tatoeba {prefix})"
        )
    en, xx = read_lines(en_path), read_lines(xx_path)
    if len(en) != len(xx):
        raise InputError(f"Tatoeba files differ in length: {en_path} has {len(en)} lines, {xx_path} {len(xx)}")
    if max_sentences is not None:
        en, xx = en[:max_sentences], xx[:max_sentences]
    return SentenceSet(
        name=f"tatoeba-{lang}", src_lang="en", tgt_lang=lang, src=en, tgt=xx, src_path=en_path,
        tgt_path=xx_path, sha256={str(en_path): sha256_file(en_path), str(xx_path): sha256_file(xx_path)},
    )


def tatoeba_languages(explicit: list[str], bitexts: list[Bitext]) -> list[str]:
    """The Tatoeba languages to read: as given, else the bitexts' target languages."""
    if explicit:
        return list(dict.fromkeys(explicit))
    langs = [b.tgt_lang for b in bitexts if b.tgt_lang and b.tgt_lang != "en"]
    if not langs:
        raise ConfigError(
            "cannot tell which Tatoeba languages to read: name them (--tatoeba-lang es) "
            "or give bitexts whose manifests state their languages"
        )
    return list(dict.fromkeys(langs))
