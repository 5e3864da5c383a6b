"""Word segmentation for languages written without spaces between words.

Moses splits on spaces and punctuation, so a Chinese or Japanese sentence would come out
as one "word". These languages go through a dictionary-based segmenter instead, from the
``cjk`` extra: jieba for Chinese (``zh``), MeCab through fugashi with the UniDic-lite
dictionary for Japanese (``ja``). Without the extra, tokenizing such text is refused with
the install line; pre-tokenized text (``--no-tokenize``) needs no segmenter.

Other scripts without spaces (Thai, Khmer, Lao, Burmese) have no segmenter here: the
align stage warns when most sentences of a side come out as one word
(:func:`one_word_share`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xladjust.errors import ConfigError

INSTALL = "pip install 'xladjust[cjk]'"
ONE_WORD_WARNING_SHARE = 0.5  # warn when more than this share of a side's sentences is one word
ONE_WORD_MIN_SENTENCES = 10  # ... among at least this many sentences


@dataclass(frozen=True)
class Segmenter:
    language: str
    package: str  # the module to import, as pip names it in the extra
    loader: Callable[[], Callable[[str], list[str]]]


def _jieba() -> Callable[[str], list[str]]:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading at INFO otherwise
    return lambda text: [w for w in jieba.lcut(text) if w.strip()]


def _fugashi() -> Callable[[str], list[str]]:
    import fugashi

    tagger = fugashi.Tagger()  # UniDic-lite, installed with the extra
    return lambda text: [w.surface for w in tagger(text) if w.surface.strip()]


SEGMENTERS = {"zh": Segmenter("Chinese", "jieba", _jieba), "ja": Segmenter("Japanese", "fugashi", _fugashi)}


def needs_segmenter(lang: str) -> bool:
    return lang in SEGMENTERS


def load_segmenter(lang: str) -> Callable[[str], list[str]]:
    """The word splitter of ``lang`` (one of :data:`SEGMENTERS`), or a one-line
    :class:`ConfigError` saying how to install it or to pre-tokenize instead."""
    seg = SEGMENTERS[lang]
    try:
        return seg.loader()
    except ImportError:
        raise ConfigError(
            f"{seg.language} ({lang}) text has no spaces between words and its segmenter ({seg.package}) is not "
            f"installed: run {INSTALL}, or pass text already split into words with --no-tokenize") from None


def one_word_share(word_counts: Sequence[int]) -> float:
    """Share of sentences that came out as a single word."""
    return sum(1 for n in word_counts if n == 1) / len(word_counts) if word_counts else 0.0


def one_word_warning(lang: str, word_counts: Sequence[int]) -> str | None:
    """A warning when most of a side's sentences are one word (text without spaces)."""
    share = one_word_share(word_counts)
    if len(word_counts) < ONE_WORD_MIN_SENTENCES or share <= ONE_WORD_WARNING_SHARE:
        return None
    return (f"{lang}: {share:.0%} of {len(word_counts)} sentences came out as one word; is the text written "
            "without spaces between words? Split it into words yourself (and pass --no-tokenize), or tokenize "
            f"it under a language code that has a segmenter ({', '.join(SEGMENTERS)}: {INSTALL})")
