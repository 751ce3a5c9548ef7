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
  across KEK rotations and the hash of a phone number cannot be recomputed without the ring.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
from typing import Final

from cryptography.exceptions import InvalidTag

from archive.errors import IntegrityError
from archive.keys.derived import DerivedCiphers, derive_key
from archive.runtime import ArchiveRuntime

VERSION: Final = "1"
NONCE_BYTES: Final = 12
_SEAL_LABEL: Final = b"scrm.pii.seal.v1"
_HASH_LABEL: Final = b"scrm.pii.hash.v1"


def _aad(kek_id: str, field: str) -> bytes:
    parts = (kek_id.encode("utf-8"), field.encode("utf-8"))
    return _SEAL_LABEL + b"".join(struct.pack(">I", len(p)) + p for p in parts)


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
        kek_id = self._runtime.ring.active_kek_id
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + self._cipher(kek_id).encrypt(
            nonce, value.encode("utf-8"), _aad(kek_id, field)
        )
        return f"{VERSION}:{kek_id}:{base64.b64encode(blob).decode('ascii')}"

    def unseal(self, sealed: str, *, field: str) -> str:
        """The value back; `IntegrityError` if it was altered, moved or is not a sealed value."""
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
            plain = self._cipher(kek_id).decrypt(nonce, body, _aad(kek_id, field))
        except (InvalidTag, ValueError):
            raise IntegrityError(f"{field}: sealed value does not open") from None
        return plain.decode("utf-8")

    def lookup_hash(self, field: str, value: str) -> str:
        """A keyed hash of ``value`` for equality lookups (dedupe); not reversible."""
        message = _HASH_LABEL + field.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.digest(self._hash_key, message, "sha256").hex()
