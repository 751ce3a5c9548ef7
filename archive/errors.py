"""Errors of the archive crypto core; none of them ever carries key material."""

from __future__ import annotations


class ArchiveCryptoError(Exception):
    """Base class, so callers can refuse to start on any archive key problem."""


class KeyRingError(ArchiveCryptoError, ValueError):
    """The key ring could not be loaded: bad format, bad file permissions, bad key length."""


class MissingKeyError(KeyRingError, LookupError):
    """A key id is needed but the ring does not hold it (never configured, or retired)."""

    def __init__(self, kek_id: str) -> None:
        super().__init__(
            f"archive key {kek_id!r} is not in the key ring "
            "(retired or never configured); data wrapped under it cannot be read"
        )
        self.kek_id = kek_id


class IntegrityError(ArchiveCryptoError):
    """Authenticated decryption or a signature check failed: data was tampered with or moved."""
