"""Personal fields at rest (a lead's phone number): sealed, and a keyed hash to find them by.

Only ``archive/`` holds keys, so features that keep a personal field get this object injected
(`Services.pii`) and never see key material:

- ``seal(value, field=…)`` → ``"1:<kek id>:<base64(nonce(12) || ciphertext || tag(16))>"``,
  AES-256-GCM under a key derived per KEK with HKDF-SHA256 (its own label, never the KEK
  itself nor a data key). The KEK id travels with the ciphertext, so after ``rotate-kek`` new
  values are sealed under the new KEK and older ones open while the old KEK is in the ring.
  The AAD binds the field name: a sealed phone copied into another field does not open.
- ``lookup_hash(field, value)`` → 64 hex characters, HMAC-SHA256 under a key derived from the
  ring's *index* key (stored, never rotated, like the blind index), so equal values match
  across KEK rotations and the hash of a phone number cannot be recomputed without the ring:
  dedupe and lookups find rows sealed before, during and after a rotation alike, and
  ``rotate-kek`` has no hash to recompute.
- ``personal_field(field)`` → the `Sealing` a model registers its column with
  (`archive.keys.sealed_columns.register_sealed_column`), so ``rotate-kek`` re-seals its values
  under the new KEK and ``retire-kek`` can then drop the old one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.errors import IntegrityError
from archive.keys.derived import DerivedCiphers, derive_key
from archive.keys.ring import KeyRing
from archive.runtime import ArchiveRuntime

VERSION: Final = "1"
NONCE_BYTES: Final = 12
_SEAL_LABEL: Final = b"scrm.pii.seal.v1"
_HASH_LABEL: Final = b"scrm.pii.hash.v1"


def _aad(kek_id: str, field: str) -> bytes:
    parts = (kek_id.encode("utf-8"), field.encode("utf-8"))
    return _SEAL_LABEL + b"".join(struct.pack(">I", len(p)) + p for p in parts)


def _seal(cipher: Callable[[str], AESGCM], kek_id: str, value: str, field: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    blob = nonce + cipher(kek_id).encrypt(nonce, value.encode("utf-8"), _aad(kek_id, field))
    return f"{VERSION}:{kek_id}:{base64.b64encode(blob).decode('ascii')}"


def _unseal(cipher: Callable[[str], AESGCM], sealed: str, field: str) -> str:
    version, _, rest = sealed.partition(":")
    kek_id, _, encoded = rest.partition(":")
    if version != VERSION or not kek_id or not encoded:
        raise IntegrityError(f"{field}: not a sealed value")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError(f"{field}: sealed value is not base64") from None
    nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        plain = cipher(kek_id).decrypt(nonce, body, _aad(kek_id, field))
    except (InvalidTag, ValueError):
        raise IntegrityError(f"{field}: sealed value does not open") from None
    return plain.decode("utf-8")


@dataclass(frozen=True)
class PersonalField:
    """The `Sealing` of one personal field's column: ``rotate-kek`` re-seals through it."""

    field: str
    version: str = VERSION

    def reseal(self, ring: KeyRing, sealed: str, kek_id: str) -> str:
        ciphers: dict[str, AESGCM] = {}

        def cipher(kek: str) -> AESGCM:
            if kek not in ciphers:
                ciphers[kek] = AESGCM(derive_key(ring.kek(kek), _SEAL_LABEL))
            return ciphers[kek]

        return _seal(cipher, kek_id, _unseal(cipher, sealed, self.field), self.field)


def personal_field(field: str) -> PersonalField:
    """How the column holding ``FieldSeal.seal(…, field=field)`` values is re-sealed."""
    return PersonalField(field)


class FieldSeal:
    """Seals, opens and hashes personal fields with keys derived from the archive's ring."""

    def __init__(self, runtime: ArchiveRuntime) -> None:
        self._runtime = runtime
        self._cipher = DerivedCiphers(runtime, _SEAL_LABEL)  # KEK id → its derived key
        self._hash_key = derive_key(runtime.ring.index_key, _HASH_LABEL)

    def __repr__(self) -> str:
        return f"FieldSeal({self._cipher!r})"

    def seal(self, value: str, *, field: str) -> str:
        """The value encrypted under the active KEK's field key, bound to ``field``."""
        return _seal(self._cipher, self._runtime.current_ring().active_kek_id, value, field)

    def unseal(self, sealed: str, *, field: str) -> str:
        """The value back; `IntegrityError` if it was altered, moved or is not a sealed value."""
        return _unseal(self._cipher, sealed, field)

    def lookup_hash(self, field: str, value: str) -> str:
        """A keyed hash of ``value`` for equality lookups (dedupe); not reversible."""
        message = _HASH_LABEL + field.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.digest(self._hash_key, message, "sha256").hex()
