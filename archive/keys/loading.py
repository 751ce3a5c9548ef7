"""Where the archive's key ring comes from, and the start-up check that every stored key opens."""

from __future__ import annotations

import logging
from pathlib import Path

from archive.errors import KeyRingError, MissingKeyError
from archive.keys.key_file import generate_key_file, load_key_file
from archive.keys.ring import KeyRing, parse_key_string
from archive.keys.sealed_columns import count_sealed_outside
from config import Settings
from scrm.db import Database

log = logging.getLogger(__name__)


class ArchiveStartError(KeyRingError):
    """The archive must not start: writing on would produce data nobody can read."""


def load_ring(settings: Settings) -> tuple[KeyRing, Path | None]:
    """Load the ring from SCRM_ARCHIVE_KEYS or the key file; generate one only in dev."""
    archive = settings.archive
    if archive.keys:
        return parse_key_string(archive.keys.value), None
    path = archive.key_file
    if path.exists():
        return load_key_file(path), path
    if settings.is_postgres and not settings.sandbox:
        raise ArchiveStartError(
            f"no archive keys: set SCRM_ARCHIVE_KEYS or create the key file {path} "
            "(production does not generate keys on its own)"
        )
    ring = generate_key_file(path)
    banner = "!" * 78
    # One record per line: the log filter escapes line breaks inside a record (scrm.logsafe).
    for line in (
        banner,
        f"GENERATED A NEW ARCHIVE KEY FILE at {path} (development default).",
        "Whoever holds this file can read the archive; losing it loses the archive.",
        "Back it up and move it off this host, or set SCRM_ARCHIVE_KEYS, before production.",
        banner,
    ):
        log.warning("%s", line)
    return ring, path


async def check_stored_keks(db: Database, ring: KeyRing) -> None:
    """Refuse to start when a stored data key or sealed value names a KEK the ring lacks."""
    rows = await db.fetch(
        "SELECT DISTINCT kek_id FROM archive_partitions WHERE wrapped_key IS NOT NULL"
    )
    missing = sorted({row["kek_id"] for row in rows} - set(ring.kek_ids))
    if missing:
        names = ", ".join(repr(kek_id) for kek_id in missing)
        raise ArchiveStartError(
            f"archive data keys are wrapped under KEK {names}, which the key ring lacks "
            f"(ring has {', '.join(ring.kek_ids)}); add it back to SCRM_ARCHIVE_KEYS or the "
            "key file — refusing to start rather than write data that cannot be read"
        ) from MissingKeyError(missing[0])
    if outside := await count_sealed_outside(db, ring.kek_ids):
        listed = ", ".join(f"{count} in {name}" for name, count in outside.items())
        raise ArchiveStartError(
            f"values are sealed under a KEK the key ring lacks ({listed}; ring has "
            f"{', '.join(ring.kek_ids)}); add it back to SCRM_ARCHIVE_KEYS or the key file, "
            "run rotate-kek --resume, then remove it — refusing to start with values nobody "
            "can open"
        )
