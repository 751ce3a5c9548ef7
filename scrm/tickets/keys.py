"""The robot webhook key: sealed by the archive (scrm never holds its key ring), shown masked,
never logged."""

from __future__ import annotations

from archive.keys.sealed_secrets import SecretSeal
from archive.runtime import ArchiveRuntime

PURPOSE = "group_channel.webhook_key"


def seal_webhook_key(archive: ArchiveRuntime, key: str) -> str:
    return SecretSeal(archive).seal(PURPOSE, key)


def open_webhook_key(archive: ArchiveRuntime, sealed: str) -> str:
    return SecretSeal(archive).open(PURPOSE, sealed)


def mask(key: str) -> str:
    """``1b2c****-****-****-****-********9f3e``: enough to tell two robots apart."""
    return f"{key[:4]}****…{key[-4:]}" if len(key) > 8 else "****"
