"""Envelope encryption: per-partition data keys wrapped under KEKs, messages under data keys.

Formats (all AES-256-GCM, 96-bit random nonce, 128-bit tag):

* wrapped data key blob: ``0x01 || nonce(12) || ciphertext(32) || tag(16)`` under the KEK
  named by `WrappedKey.kek_id`; AAD binds the partition id (and KEK id), so a key copied to
  another partition's row does not unwrap;
* message blob: ``0x01 || nonce(12) || ciphertext || tag(16)`` under the partition's data
  key; AAD binds msgid, partition id and chain position, so a ciphertext copied to another
  row, partition or position fails to decrypt.

A partition is one corp's month, ``"<corp_id>:YYYY-MM"`` (see `partition_id`). Random
nonces are safe here: far fewer than 2**32 messages are encrypted per data key.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from datetime import date
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.errors import IntegrityError
from archive.keys.ring import KEY_BYTES, KeyRing

VERSION: Final = b"\x01"
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
_WRAP_LABEL: Final = b"scrm.archive.dek.v1"
_MESSAGE_LABEL: Final = b"scrm.archive.msg.v1"


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key as stored: only ever wrapped, with the id of the KEK that wrapped it."""

    kek_id: str
    blob: bytes


def partition_id(corp_id: str, month: date) -> str:
    """Name the partition of one corp's month, e.g. ``"ww123:2026-11"``."""
    if not corp_id or ":" in corp_id:
        raise ValueError("corp_id must be non-empty and contain no ':'")
    return f"{corp_id}:{month.year:04d}-{month.month:02d}"


def new_data_key() -> bytes:
    """Return a fresh random 32-byte data key (store it only wrapped)."""
    return os.urandom(KEY_BYTES)


def _aad(label: bytes, *fields: bytes) -> bytes:
    """Length-prefix every field so no two different field lists give the same AAD."""
    return label + b"".join(struct.pack(">I", len(field)) + field for field in fields)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[:1] != VERSION:
        raise IntegrityError(f"{what}: malformed or unknown-version blob")
    nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise IntegrityError(
            f"{what}: authentication failed (tampered, moved or wrong key)"
        ) from None


def wrap_data_key(
    ring: KeyRing, dek: bytes, partition: str, kek_id: str | None = None
) -> WrappedKey:
    """Wrap `dek` for `partition` under `kek_id`, by default the ring's active KEK."""
    if len(dek) != KEY_BYTES:
        raise ValueError(f"a data key is {KEY_BYTES} bytes")
    kek_id = kek_id or ring.active_kek_id
    aad = _aad(_WRAP_LABEL, partition.encode("utf-8"), kek_id.encode("utf-8"))
    return WrappedKey(kek_id, _seal(ring.kek(kek_id), dek, aad))


def unwrap_data_key(ring: KeyRing, wrapped: WrappedKey, partition: str) -> bytes:
    """Unwrap a data key; `MissingKeyError` if its KEK is gone, `IntegrityError` if moved."""
    aad = _aad(_WRAP_LABEL, partition.encode("utf-8"), wrapped.kek_id.encode("utf-8"))
    what = f"data key of partition {partition!r} (KEK {wrapped.kek_id!r})"
    return _open(ring.kek(wrapped.kek_id), wrapped.blob, aad, what)


def rewrap(ring: KeyRing, wrapped: WrappedKey, partition: str, new_kek_id: str) -> WrappedKey:
    """Re-wrap a data key under `new_kek_id` (rotation); message ciphertexts stay untouched."""
    return wrap_data_key(ring, unwrap_data_key(ring, wrapped, partition), partition, new_kek_id)


def _message_aad(msgid: str, partition: str, position: int) -> bytes:
    if position < 0:
        raise ValueError("position must be >= 0")
    return _aad(
        _MESSAGE_LABEL,
        msgid.encode("utf-8"),
        partition.encode("utf-8"),
        struct.pack(">Q", position),
    )


def encrypt_message(
    dek: bytes, plaintext_json: bytes, *, msgid: str, partition: str, position: int
) -> bytes:
    """Encrypt one message, bound to its msgid, partition and chain position."""
    return _seal(dek, plaintext_json, _message_aad(msgid, partition, position))


def decrypt_message(dek: bytes, blob: bytes, *, msgid: str, partition: str, position: int) -> bytes:
    """Decrypt one message; `IntegrityError` if it was altered or moved to another row."""
    what = f"message {msgid!r} at position {position} of {partition!r}"
    return _open(dek, blob, _message_aad(msgid, partition, position), what)
