"""The robot webhook key: sealed by the archive's key ring, shown masked, never logged."""

from __future__ import annotations

from archive.keys.ring import KeyRing
from archive.keys.sealed_secrets import open_secret, seal_secret

PURPOSE = "group_channel.webhook_key"


def seal_webhook_key(ring: KeyRing, key: str) -> str:
    return seal_secret(ring, PURPOSE, key)


def open_webhook_key(ring: KeyRing, sealed: str) -> str:
    return open_secret(ring, PURPOSE, sealed)


def mask(key: str) -> str:
    """``1b2c****-****-****-****-********9f3e``: enough to tell two robots apart."""
    return f"{key[:4]}****…{key[-4:]}" if len(key) > 8 else "****"
