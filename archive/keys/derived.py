"""Keys derived from the ring's KEKs, one per purpose, so no KEK encrypts data itself.

A KEK wraps data keys; anything else sealed under the ring (inbox content, personal fields,
robot webhook keys) uses a key HKDF derives from a KEK under that purpose's own label. The
ciphertext names its KEK id, so values sealed before a rotation still open.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from archive.errors import MissingKeyError
from archive.runtime import ArchiveRuntime


def derive_key(material: bytes, label: bytes) -> bytes:
    """A 32-byte key for one purpose: HKDF-SHA256 over ``material`` with ``label`` as info."""
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=label).derive(material)


class DerivedCiphers:
    """AES-GCM under the key ``label`` derives from each KEK, built once per KEK id."""

    def __init__(self, runtime: ArchiveRuntime, label: bytes) -> None:
        self._runtime = runtime
        self._label = label
        self._ciphers: dict[str, AESGCM] = {}
        self._ring = runtime.ring  # the ring the cached keys come from

    def __repr__(self) -> str:
        return f"DerivedCiphers(kek_ids={sorted(self._ciphers)!r})"

    def __call__(self, kek_id: str) -> AESGCM:
        if self._runtime.ring is not self._ring:  # reloaded: an id may name other material
            self._ciphers.clear()
            self._ring = self._runtime.ring
        cipher = self._ciphers.get(kek_id)
        if cipher is None:
            try:
                kek = self._ring.kek(kek_id)
            except MissingKeyError:
                if not self._runtime.reload_ring():  # rotate-kek may have added it on disk
                    raise
                self._ciphers.clear()
                self._ring = self._runtime.ring
                kek = self._ring.kek(kek_id)
            cipher = self._ciphers[kek_id] = AESGCM(derive_key(kek, self._label))
        return cipher
