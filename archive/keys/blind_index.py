"""Blind index: keyword search over encrypted messages without storing any plaintext.

Text goes through `tagging.normalize.normalize` (the very function keyword rules use, so a
full-width or Traditional query finds Simplified text), is split at whitespace into runs,
and every character (unigram) and every adjacent pair inside a run (bigram) becomes a
token ``HMAC-SHA256(index_key, label || gram)[:16]``. A query uses the bigrams of its
runs (a one-character run uses its unigram), so its tokens are a subset of the tokens of
any text that contains it. Candidates are decrypted and checked afterwards, so a token
collision costs only time, never a wrong result.

Truncation to 16 bytes: accidental collisions need ~2**64 distinct grams (there are
fewer than 10**9); shorter tokens (say 4 bytes) would add deliberate false positives
that blur frequencies a little, at the cost of more decryption per query. Hashed filter
columns (`hash_filter_value`) keep all 32 bytes: they are exact-match keys.

LEAKAGE — what someone holding the database (but not the index key) learns:

* token frequencies: equal grams give equal tokens, so common bigrams stand out and can
  be guessed by frequency analysis against ordinary Chinese text; which messages share
  grams (and so probably words) is visible;
* equality of hashed ids: which messages involve the same customer, staff member or room,
  and how many each has, though not who they are;
* message lengths: the number of distinct tokens roughly follows the text length, and the
  ciphertext length gives it exactly;
* coarse time: the partition (corp, month) and the row order inside a conversation;
* the queries: a reviewer's keyword tokens, matched against rows, are as visible as rows.

What it does not leak without the key: the text, the grams themselves (HMAC, not a plain
hash, so no dictionary of all bigrams can be precomputed), the ids behind hashed filter
values, or tokens usable with another deployment's index key. Rotating the index key
means re-indexing every message: keep it for the archive's lifetime.
"""

from __future__ import annotations

import hmac
import re
from typing import Final

from tagging.normalize import normalize

TOKEN_BYTES: Final = 16
_GRAM_LABEL: Final = b"scrm.archive.blind-index.v1\x00"
_FILTER_LABEL: Final = b"scrm.archive.filter.v1\x00"
_KIND_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")


def index_grams(text: str) -> set[str]:
    """Return every unigram and in-run bigram of the normalised text."""
    grams: set[str] = set()
    for run in normalize(text).split():
        grams.update(run)
        grams.update(run[i : i + 2] for i in range(len(run) - 1))
    return grams


def query_grams(keyword: str) -> set[str]:
    """Return the grams a match must contain: bigrams, or the unigram of a 1-character run."""
    grams: set[str] = set()
    for run in normalize(keyword).split():
        grams.update([run] if len(run) == 1 else (run[i : i + 2] for i in range(len(run) - 1)))
    if not grams:
        raise ValueError("keyword is empty after normalisation; it would match every message")
    return grams


class BlindIndex:
    """Turn text and keywords into keyed tokens; its repr never shows the key."""

    __slots__ = ("_key", "_size")

    def __init__(self, index_key: bytes, token_bytes: int = TOKEN_BYTES) -> None:
        if len(index_key) < 16:
            raise ValueError("index key must be at least 16 bytes")
        if not 8 <= token_bytes <= 32:
            raise ValueError("token_bytes must be between 8 and 32")
        self._key = bytes(index_key)
        self._size = token_bytes

    def __repr__(self) -> str:
        return f"BlindIndex(token_bytes={self._size})"

    def _token(self, gram: str) -> bytes:
        # hmac.digest is the one-shot C path: several times faster than hmac.new per gram.
        return hmac.digest(self._key, _GRAM_LABEL + gram.encode("utf-8"), "sha256")[: self._size]

    def gram_token(self, gram: str) -> bytes:
        """Return the token of one gram (for callers that cache tokens per gram)."""
        return self._token(gram)

    def index_tokens(self, text: str) -> set[bytes]:
        """Return the tokens to store for one message's text."""
        return {self._token(gram) for gram in index_grams(text)}

    def query_tokens(self, keyword: str) -> set[bytes]:
        """Return the tokens every matching message's token set contains."""
        return {self._token(gram) for gram in query_grams(keyword)}


def hash_filter_value(index_key: bytes, kind: str, value: str) -> bytes:
    """Key-hash an id column (customer, staff, room ...) so equal ids match but stay hidden."""
    if not _KIND_RE.fullmatch(kind):
        raise ValueError(f"filter kind {kind!r} must match {_KIND_RE.pattern}")
    message = _FILTER_LABEL + kind.encode("ascii") + b"\x00" + value.encode("utf-8")
    return hmac.digest(index_key, message, "sha256")
