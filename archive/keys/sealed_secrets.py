"""Small secrets other features must keep (a group robot's webhook key), sealed under a KEK.

Only archive/ sees key material, so a feature hands its secret here and stores the sealed
string. Format: ``v1:<kek id>:<base64 blob>``; AES-256-GCM under a key derived from the named
KEK (`archive.keys.derived`: a KEK itself only wraps data keys), the AAD binds
the purpose (e.g. ``"group_channel.webhook_key"``) so a sealed value cannot be reused for
another. Values sealed before a rotation open while their KEK is in the ring; a feature
registers its column with ``sealed_secret(purpose)``
(`archive.keys.sealed_columns.register_sealed_column`) so ``rotate-kek`` re-seals them under
the new KEK and the old one can be retired.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.errors import IntegrityError, MissingKeyError
from archive.keys.derived import derive_key
from archive.keys.ring import KeyRing
from archive.runtime import ArchiveRuntime

VERSION = "v1"
_LABEL = b"scrm.sealed-secret.v1:"
_NONCE = 12


def seal_secret(ring: KeyRing, purpose: str, plaintext: str, kek_id: str | None = None) -> str:
    """Seal ``plaintext`` for ``purpose`` under ``kek_id`` (default: the ring's active KEK)."""
    kek_id = kek_id or ring.active_kek_id
    nonce = os.urandom(_NONCE)
    blob = nonce + _cipher(ring, kek_id).encrypt(nonce, plaintext.encode(), _aad(purpose, kek_id))
    return f"{VERSION}:{kek_id}:{base64.b64encode(blob).decode()}"


def open_secret(ring: KeyRing, purpose: str, sealed: str) -> str:
    """Open a value `seal_secret` made; `IntegrityError` if altered, moved or malformed."""
    try:
        version, kek_id, encoded = sealed.split(":", 2)
        blob = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        raise IntegrityError(f"sealed {purpose}: malformed") from None
    if version != VERSION or len(blob) <= _NONCE:
        raise IntegrityError(f"sealed {purpose}: malformed")
    try:
        plain = _cipher(ring, kek_id).decrypt(blob[:_NONCE], blob[_NONCE:], _aad(purpose, kek_id))
    except InvalidTag:
        raise IntegrityError(f"sealed {purpose}: authentication failed") from None
    return plain.decode()


def _cipher(ring: KeyRing, kek_id: str) -> AESGCM:
    return AESGCM(derive_key(ring.kek(kek_id), _LABEL))


def _aad(purpose: str, kek_id: str) -> bytes:
    return _LABEL + purpose.encode() + b"\x00" + kek_id.encode()


@dataclass(frozen=True)
class SealedSecret:
    """The `Sealing` of a column of one purpose's secrets: ``rotate-kek`` re-seals through it."""

    purpose: str
    version: str = VERSION

    def reseal(self, ring: KeyRing, sealed: str, kek_id: str) -> str:
        return seal_secret(ring, self.purpose, open_secret(ring, self.purpose, sealed), kek_id)


def sealed_secret(purpose: str) -> SealedSecret:
    """How a column of ``SecretSeal.seal(purpose, …)`` values is re-sealed."""
    return SealedSecret(purpose)


class SecretSeal:
    """Seals and opens small secrets for other features, so they never hold the key ring."""

    def __init__(self, runtime: ArchiveRuntime) -> None:
        self._runtime = runtime

    def __repr__(self) -> str:
        return "SecretSeal()"

    def seal(self, purpose: str, plaintext: str) -> str:
        return seal_secret(self._runtime.current_ring(), purpose, plaintext)

    def open(self, purpose: str, sealed: str) -> str:
        try:
            return open_secret(self._runtime.ring, purpose, sealed)
        except MissingKeyError:  # sealed under a KEK rotate-kek (another process) added
            if not self._runtime.reload_ring():
                raise
            return open_secret(self._runtime.ring, purpose, sealed)
