"""Moses tokenization (sacremoses) of parallel text, in worker processes, streaming.

Each side is tokenized with ``MosesTokenizer(lang)`` with escaping off (``&`` stays ``&``),
after an optional ``MosesPunctNormalizer(lang)``. ``tokenize=False`` splits pre-tokenized
text on whitespace instead. Pairs flow through :func:`xladjust.align.parallel.imap_chunks`
in chunks, so memory stays flat however long the corpus is; the tokenized pairs are written
as ``src ||| tgt`` lines (:mod:`xladjust.align.joint`) that the aligners read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from xladjust.align.joint import format_joint, parse_joint_words
from xladjust.align.normalize import UNICODE_RULE, normalize_text
from xladjust.align.parallel import imap_chunks
from xladjust.align.readers import RawPair
from xladjust.align.segment import SEGMENTERS, load_segmenter, needs_segmenter

log = logging.getLogger(__name__)

CHUNK_SIZE = 500  # pairs per worker task
_MIN_PAIRS_PER_WORKER = 4 * CHUNK_SIZE  # below this, starting workers costs more than it saves


class WordSplitter:
    """Turns one side's text into words: Moses tokens, a segmenter's words for languages
    written without spaces (:mod:`xladjust.align.segment`), or whitespace words, after
    :func:`normalize_text`."""

    def __init__(self, lang: str, moses: bool = True, normalize_punct: bool = False):
        self.lang = lang
        self.moses = moses
        self._tokenizer: Any = None
        self._normalizer: Any = None
        self._segment: Any = None
        if moses and needs_segmenter(lang):
            self._segment = load_segmenter(lang)
        elif moses:
            from sacremoses import MosesPunctNormalizer, MosesTokenizer

            self._tokenizer = MosesTokenizer(lang=lang)
            self._normalizer = MosesPunctNormalizer(lang=lang) if normalize_punct else None

    def __call__(self, text: str) -> list[str]:
        text = normalize_text(text)
        if not self.moses:
            return text.split()
        if self._segment is not None:
            return self._segment(text)
        if self._normalizer is not None:
            text = self._normalizer.normalize(text)
        return self._tokenizer.tokenize(text, escape=False)


_WORKER: dict[str, WordSplitter] = {}


def _init_worker(src_lang: str, tgt_lang: str, moses: bool, normalize_punct: bool) -> None:
    _WORKER["src"] = WordSplitter(src_lang, moses, normalize_punct)
    _WORKER["tgt"] = WordSplitter(tgt_lang, moses, normalize_punct)


def _tokenize_chunk(chunk: list[RawPair]) -> list[str | None]:
    """Joint lines for a chunk; None where a side tokenizes to nothing."""
    src, tgt = _WORKER["src"], _WORKER["tgt"]
    out: list[str | None] = []
    for pair in chunk:
        s, t = src(pair.src), tgt(pair.tgt)
        out.append(format_joint(s, t) if s and t else None)
    return out


@dataclass
class TokenizeSettings:
    src_lang: str
    tgt_lang: str
    moses: bool = True
    normalize_punct: bool = False
    workers: int = 1

    def __post_init__(self) -> None:
        if self.moses:  # a missing segmenter is refused here, before any work, not in a worker
            for lang in (self.src_lang, self.tgt_lang):
                if needs_segmenter(lang):
                    load_segmenter(lang)

    def describe(self) -> dict[str, Any]:
        if not self.moses:
            return {"name": "whitespace", "note": "input was pre-tokenized; words split on whitespace",
                    "unicode": UNICODE_RULE}
        from importlib.metadata import version

        segmenters = {lang: f"{SEGMENTERS[lang].package} {version(SEGMENTERS[lang].package)}"
                      for lang in (self.src_lang, self.tgt_lang) if needs_segmenter(lang)}
        return {"name": "moses", "package": f"sacremoses {version('sacremoses')}", "escape": False,
                "unicode": UNICODE_RULE, **({"segmenters": segmenters} if segmenters else {}),
                "normalize_punct": self.normalize_punct, "src_lang": self.src_lang, "tgt_lang": self.tgt_lang}


def tokenize_pairs(pairs: Iterable[RawPair], settings: TokenizeSettings, *, expected: int | None = None,
                   progress: Any = None) -> Iterator[str | None]:
    """Joint lines (``None`` for a pair that tokenizes to an empty side), in input order.

    ``expected`` (the number of pairs, if known) lets small inputs skip the worker start-up;
    ``progress`` is a tqdm bar updated per chunk.
    """
    workers = settings.workers
    if expected is not None and expected < _MIN_PAIRS_PER_WORKER * 2:
        workers = 1
    initargs = (settings.src_lang, settings.tgt_lang, settings.moses, settings.normalize_punct)
    for lines in imap_chunks(_tokenize_chunk, pairs, workers=workers, chunk_size=CHUNK_SIZE,
                             initializer=_init_worker, initargs=initargs):
        if progress is not None:
            progress.update(len(lines))
        yield from lines


class JointFile:
    """The tokenized bitext of a run: ``src ||| tgt`` lines on disk, read back as words."""

    def __init__(self, path: Path):
        self.path = path
        self.n_pairs = 0
        self._f: TextIO | None = None

    def __enter__(self) -> JointFile:
        self._f = open(self.path, "w", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._f is not None
        self._f.close()
        self._f = None

    def write_line(self, line: str) -> None:
        assert self._f is not None, "open the JointFile with 'with' before writing"
        self._f.write(line + "\n")
        self.n_pairs += 1

    def write_words(self, src: list[str], tgt: list[str]) -> None:
        self.write_line(format_joint(src, tgt))

    def iter_words(self) -> Iterator[tuple[list[str], list[str]]]:
        with open(self.path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                yield parse_joint_words(line, f"{self.path}:{lineno}")

    def iter_side(self, side: int, lowercase: bool = False) -> Iterator[str]:
        """One side's lines (space-separated words), e.g. for eflomal."""
        for words in self.iter_words():
            text = " ".join(words[side])
            yield (text.lower() if lowercase else text) + "\n"
