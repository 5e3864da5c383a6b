"""The Unicode rule applied to every word before alignment: NFC, without invisible format
characters. One module, so tokenization and gold reading share it."""

from __future__ import annotations

# Invisible format characters that carry no letter: zero-width space, non-joiner and joiner,
# word joiner, byte-order mark, soft hyphen, and the bidirectional marks, embeddings,
# overrides and isolates. Inside a word they split it (Moses) or make two spellings of it.
INVISIBLE = frozenset("\u00ad\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                      "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff")
_DROP_INVISIBLE = {ord(c): None for c in INVISIBLE}
UNICODE_RULE = "NFC; zero-width and bidirectional format characters removed"


def normalize_text(text: str) -> str:
    """``text`` in Unicode NFC without invisible format characters, so that "café" written
    with a combining accent (NFD) and "café" with a zero-width space inside are one word."""
    import unicodedata

    return unicodedata.normalize("NFC", text.translate(_DROP_INVISIBLE))
