"""Normalise chat text and keywords the same way so that matching ignores cosmetic variation.

Steps, in order: zero-width characters (and emoji presentation selectors) removed, Unicode
NFKC (full-width → half-width, compatibility forms such as "㍿" → "株式会社"), case-folded,
Traditional → Simplified Chinese.

Traditional → Simplified uses OpenCC's t2s *character* table (opencc-python-reimplemented),
turned once at import into a ``str.translate`` table. We deliberately do not call OpenCC's
phrase converter per message: it is ~100× slower and its phrase-level choices (乾隆 keeps
乾, 乾淨 becomes 干净) only matter for display, not for matching, because keywords and
messages go through this very same function. Where t2s lists several candidates we take
the first, as OpenCC does.

The archive's blind index imports ``normalize``: changing it changes every stored index.
"""

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from opencc import OpenCC

# Invisible characters people (and anti-spam evasion) put inside words.
ZERO_WIDTH: Final[str] = (
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # arabic letter mark
    "\u180e"  # mongolian vowel separator
    "\u200b\u200c\u200d\u200e\u200f"  # zero-width space / non-joiner / joiner, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2060\u2061\u2062\u2063\u2064"  # word joiner, invisible operators
    "\u2066\u2067\u2068\u2069"  # bidi isolates
    "\ufe0e\ufe0f"  # text / emoji presentation selectors: "❤" and "❤️" are one keyword
    "\ufeff"  # byte-order mark / zero-width no-break space
)
_ZERO_WIDTH_RE: Final = re.compile(f"[{ZERO_WIDTH}]")


def _fold(text: str) -> str:
    """Apply NFKC and case folding until stable, the NFKC_Casefold closure in practice."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    folded = text.casefold()
    if folded != text and not unicodedata.is_normalized("NFKC", folded):
        folded = unicodedata.normalize("NFKC", folded)
    return folded


def _build_t2s_table() -> dict[int, str]:
    """Turn OpenCC's t2s single-character dictionary into a translate table, once."""
    converter = OpenCC("t2s")
    # opencc-python-reimplemented 0.1.7 (pinned) keeps each loaded dictionary as
    # (max key length, min key length, mapping); the character table is the one of length 1.
    characters: dict[str, str] = next(
        mapping
        for group in converter._dict_chain_data
        for max_len, _min_len, mapping in group
        if max_len == 1
    )
    first = {key: value.split(" ")[0] for key, value in characters.items() if len(key) == 1}
    table: dict[int, str] = {}
    for key, value in first.items():
        seen = {key}
        while value in first and value not in seen:  # resolve chains such as 薴 → 苧 → 苎
            seen.add(value)
            value = first[value]
        value = _fold(value)
        if value != key:
            table[ord(key)] = value
    return table


T2S_TABLE: Final[dict[int, str]] = _build_t2s_table()


def _reference(text: str) -> str:
    """Normalise step by step; the definition the fast path must agree with."""
    return _fold(_ZERO_WIDTH_RE.sub("", text)).translate(T2S_TABLE)


def _build_fast_table() -> dict[int, str | None]:
    """Map every character that changes on its own (zero-width, full-width, t2s, case)."""
    table: dict[int, str | None] = {ord(char): None for char in ZERO_WIDTH}
    for code in [0x3000, *range(0xFF01, 0xFF5F)]:  # ideographic space, full-width ASCII
        table[code] = _reference(chr(code))
    for code in range(0x20000):  # letters with case live in the first two planes only
        char = chr(code)
        if char.casefold() != char and not 0xD800 <= code < 0xE000:
            table[code] = _reference(char)
    for code in T2S_TABLE:
        table[code] = _reference(chr(code))
    return table


def _changing_pattern(codes: Iterable[int]) -> re.Pattern[str]:
    """Compile a character class matching ``codes``, cheap to search.

    ``re`` tests a class of BMP characters with a bitmap, but walks astral literals one
    by one; astral codes are therefore merged into a few ranges (a superset is harmless:
    it only sends a message to the translate step, which leaves other characters alone).
    """
    bmp = [re.escape(chr(code)) for code in sorted(codes) if code <= 0xFFFF]
    ranges: list[list[int]] = []
    for code in sorted(code for code in codes if code > 0xFFFF):
        if ranges and code - ranges[-1][1] < 0x1000:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    astral = [f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges]
    return re.compile("[" + "".join(bmp + astral) + "]")


_FAST_TABLE: Final[dict[int, str | None]] = _build_fast_table()
_CHANGING: Final[re.Pattern[str]] = _changing_pattern(_FAST_TABLE)


def normalize(text: str) -> str:
    """Return the matching form of ``text``; the same function serves keywords and messages."""
    if text.isascii():
        return text.lower()
    # NFKC costs ~0.2 µs per character and translate ~0.1 µs: first look (one regex scan)
    # whether any character changes on its own, and translate only then. Whatever the
    # table cannot do (composition, compatibility forms) fails the NFKC check and takes
    # the reference path.
    folded = text.translate(_FAST_TABLE) if _CHANGING.search(text) is not None else text
    if unicodedata.is_normalized("NFKC", folded):
        return folded
    return _reference(text)


def _clusters(text: str) -> list[tuple[int, int]]:
    """Split ``text`` into spans NFKC treats independently: a starter plus combining marks."""
    spans: list[tuple[int, int]] = []
    start = 0
    for index in range(1, len(text)):
        if unicodedata.combining(text[index]) == 0:
            spans.append((start, index))
            start = index
    if text:
        spans.append((start, len(text)))
    return spans


def normalize_with_spans(text: str) -> tuple[str, list[int], list[int]]:
    """Normalise and give, per output character, the original [start, end) it came from."""
    normalized = normalize(text)
    starts: list[int] = []
    ends: list[int] = []
    pieces: list[str] = []
    for start, end in _clusters(text):
        piece = normalize(text[start:end])
        pieces.append(piece)
        starts.extend([start] * len(piece))
        ends.extend([end] * len(piece))
    if "".join(pieces) != normalized:
        # Composition across clusters (conjoining Hangul jamo, a mark after a zero-width
        # character): fall back to the slow but always consistent prefix method.
        starts, ends = _spans_by_prefix(text, normalized)
    return normalized, starts, ends


def _spans_by_prefix(text: str, normalized: str) -> tuple[list[int], list[int]]:
    """Attribute output characters to the shortest original prefix that produces them."""
    starts = [0] * len(normalized)
    ends = [len(text)] * len(normalized)
    done = 0
    previous_end = 0
    for end in range(1, len(text) + 1):
        prefix = normalize(text[:end])
        stable = 0
        limit = min(len(prefix), len(normalized))
        while stable < limit and prefix[stable] == normalized[stable]:
            stable += 1
        if stable > done:
            starts[done:stable] = [previous_end] * (stable - done)
            ends[done:stable] = [end] * (stable - done)
            done = stable
            previous_end = end
    return starts, ends


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalise and give, per output character, its index in the original text."""
    normalized, starts, _ends = normalize_with_spans(text)
    return normalized, starts


def original_span(starts: list[int], ends: list[int], start: int, end: int) -> tuple[int, int]:
    """Map a non-empty normalised [start, end) back to the original text's [start, end)."""
    return starts[start], ends[end - 1]
